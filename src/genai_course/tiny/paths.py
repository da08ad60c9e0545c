"""Where the offline tiny world lives, which version and seed it is, and what a built one holds.

Kept apart from the build (``tiny.world``) so that profiles can name the tiny world's folders without
importing the trainers that build it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from genai_course.cache import course_home

TINY_WORLD_VERSION = 3  # bump whenever the build changes (sizes, steps, templates, the pre-training mix)
SEED_ENV = "GENAI_COURSE_TINY_SEED"
DEFAULT_SEED = 0
MANIFEST = "manifest.json"


def world_seed() -> int:
    """The build seed: ``$GENAI_COURSE_TINY_SEED`` or 0. Other seeds check that lessons are not luck."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return DEFAULT_SEED
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"${SEED_ENV} must be a non-negative integer, got {raw!r}.") from None
    if seed < 0:
        raise ValueError(f"${SEED_ENV} must be a non-negative integer, got {seed}.")
    return seed


def tiny_world_dir(seed: int | None = None) -> Path:
    """The folder of the tiny world of this version and ``seed`` (default: :func:`world_seed`)."""
    seed = world_seed() if seed is None else seed
    suffix = "" if seed == DEFAULT_SEED else f"-seed{seed}"
    return course_home() / f"tiny-world-v{TINY_WORLD_VERSION}{suffix}"


def stale_worlds() -> list[Path]:
    """Folders of older tiny-world versions in the cache: ignored, and safe to delete."""
    home = course_home()
    if not home.is_dir():
        return []
    current = f"tiny-world-v{TINY_WORLD_VERSION}"
    return sorted(
        p
        for p in home.glob("tiny-world-v*")
        if p.is_dir() and not (p.name == current or p.name.startswith(current + "-")) and ".partial-" not in p.name
    )


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

    @property
    def manifest(self) -> dict:
        """What the build measured: sizes, timings, classifier accuracy, sample outputs."""
        return json.loads((self.root / MANIFEST).read_text())

    def is_complete(self) -> bool:
        return (self.root / MANIFEST).exists()
