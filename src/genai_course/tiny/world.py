"""Building and locating the offline tiny world (work in progress: the builder lands next)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TINY_WORLD_VERSION = 1


@dataclass(frozen=True)
class TinyWorld:
    """Where the parts of a built tiny world are."""

    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "dialogsum-tiny"

    @property
    def tokenizer(self) -> Path:
        return self.root / "t5-tiny"

    @property
    def summarizer(self) -> Path:
        return self.root / "t5-tiny"

    @property
    def finetuned_summarizer(self) -> Path:
        return self.root / "t5-tiny-dialogsum"

    @property
    def classifier(self) -> Path:
        return self.root / "roberta-hate-tiny"


def ensure_tiny_world(force: bool = False, progress: bool = True) -> TinyWorld:
    raise NotImplementedError("the tiny-world builder is being written")
