"""Lab models of the tiny world that train on first use and are cached beside the world.

Lab 5's reader and its reasoning model are short seq2seq trainings that start from a model already in
the world's cache. Both train once per recipe and world, under the world's Lab 5 lock (two notebooks on
one world train once), into a folder that appears whole or not at all; later runs read it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from genai_course.cache import atomic_directory, file_lock
from genai_course.threads import pinned_threads
from genai_course.tiny.paths import TinyWorld
from genai_course.tiny.summarizer import Example, train_seq2seq

Trained = tuple[PreTrainedModel, PreTrainedTokenizerBase, list[float]]


class TrainingRecipe(Protocol):
    """What a short training needs from its recipe (a frozen dataclass)."""

    steps: int
    batch_size: int
    lr: float
    seed: int
    threads: int


def tokenized_pairs(tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]]) -> list[Example]:
    """(prompt, target) text pairs as token ids, in the same order."""
    sources = tokenizer([s for s, _ in pairs], verbose=False)["input_ids"]
    targets = tokenizer([t for _, t in pairs], verbose=False)["input_ids"]
    return list(zip(sources, targets))


def train_from(
    start: Path,
    examples: Callable[[PreTrainedTokenizerBase], list[Example]],
    recipe: TrainingRecipe,
    world_seed: int,
    *,
    desc: str,
    tokenizer_from: Path | None = None,
    progress: bool = True,
) -> Trained:
    """A fresh copy of the model in ``start`` after ``recipe``'s training on ``examples(tokenizer)``, the
    tokenizer read from ``tokenizer_from`` (default: ``start``); the model in ``start`` is not modified.
    Threads are pinned: the model must not depend on the machine."""
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_from or start))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(start))
    tokenized = examples(tokenizer)
    with pinned_threads(recipe.threads):
        losses = train_seq2seq(
            model,
            tokenized,
            steps=recipe.steps,
            batch_size=recipe.batch_size,
            lr=recipe.lr,
            seed=recipe.seed + 1000 * world_seed,
            pad_id=tokenizer.pad_token_id,
            progress=progress,
            desc=desc,
        )
    return model, tokenizer, losses


def cached(
    world: TinyWorld, folder: Path, marker: str, recipe: TrainingRecipe, train: Callable[[], Trained]
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """The model in ``folder``, trained by ``train()`` first if ``folder/marker`` is not there; the dict
    (stored as ``marker``) holds the recipe, the training losses and seconds."""
    with file_lock(world.root / ".lab5.lock"):
        if not (folder / marker).exists():
            began = time.perf_counter()
            model, tokenizer, losses = train()
            info = {"recipe": dataclasses.asdict(recipe), "losses": losses, "seconds": time.perf_counter() - began}
            with atomic_directory(folder) as tmp:
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                (tmp / marker).write_text(json.dumps(info))
    info = json.loads((folder / marker).read_text())
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder)).eval()
    return model, AutoTokenizer.from_pretrained(str(folder)), info
