"""Building the offline tiny world, once, safely.

The build is seeded end to end, runs under an inter-process lock, and writes into a temporary folder
that is renamed into place only when every part (and the manifest, last) is written: a killed build
leaves nothing that a later run would trust, and the next run starts over cleanly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from genai_course.cache import atomic_directory, file_lock
from genai_course.threads import pinned_threads
from genai_course.tiny.classifier import build_classifier
from genai_course.tiny.corpus_build import build_corpus
from genai_course.tiny.paths import MANIFEST, TINY_WORLD_VERSION, TinyWorld, stale_worlds, tiny_world_dir, world_seed
from genai_course.tiny.recipe import Recipe
from genai_course.tiny.summarizer_build import build_summarizers

BUILD_MINUTES = "4-5"  # measured on 2 idle cores; said before a build starts


def ensure_tiny_world(force: bool = False, progress: bool = True, seed: int | None = None) -> TinyWorld:
    """The tiny world of ``seed`` (default ``$GENAI_COURSE_TINY_SEED`` or 0), built first if missing (or if
    ``force``); returns at once when already built."""
    seed = world_seed() if seed is None else seed
    world = TinyWorld(tiny_world_dir(seed))
    if world.is_complete() and not force:
        return world
    with file_lock(world.root.parent / (world.root.name + ".lock")):
        if world.is_complete() and not force:  # another process finished it while we waited
            return world
        if progress:
            for old in stale_worlds():
                print(f"[genai-course] ignoring an older tiny world in {old}; delete it with: rm -rf '{old}'")
            print(
                f"[genai-course] building tiny world v{TINY_WORLD_VERSION} (seed {seed}) in {world.root} "
                f"(once; about {BUILD_MINUTES} minutes on 2 cores)"
            )
        with atomic_directory(world.root) as tmp:
            build_into(tmp, Recipe(world_seed=seed), progress=progress)
    return world


def build_into(root: Path, recipe: Recipe, progress: bool = True) -> dict:
    """Build every part of the tiny world into ``root`` with torch pinned to the recipe's thread count."""
    with pinned_threads(recipe.build_threads):
        return _build(root, recipe, progress)


def _build(root: Path, recipe: Recipe, progress: bool) -> dict:
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str, fn: Callable, *args, **kwargs):
        if progress:
            print(f"[genai-course]   {name} ...", flush=True)
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t, 1)
        return out

    rows = step("corpus", build_corpus, root / "dialogsum-tiny", recipe)
    stats: dict = {"version": TINY_WORLD_VERSION, "seed": recipe.world_seed}
    stats["corpus"] = {split: len(r) for split, r in rows.items()}
    stats["summarizer"] = step("summarizer", build_summarizers, root, rows, recipe, progress=progress)
    stats["classifier"] = step(
        "classifier", build_classifier, root / "roberta-hate-tiny", rows, recipe, progress=progress
    )
    stats["timings_s"] = timings | {"total": round(time.perf_counter() - started, 1)}
    stats["threads"] = torch.get_num_threads()
    (root / MANIFEST).write_text(json.dumps(stats, indent=2))
    if progress:
        print(
            f"[genai-course]   done in {stats['timings_s']['total']:.0f} s: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
            + " ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in stats["summarizer"].get("phases_s", {}).items())
            + ")"
        )
    return stats
