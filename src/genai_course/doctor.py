"""``genai-course doctor``: everything a learner should paste into a bug report."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys

import torch

from genai_course.cache import HOME_ENV, CacheError, course_home
from genai_course.models import ModelLoadError, pick_device, pick_dtype_with_reason
from genai_course.profiles import PROFILE_ENV, get_profile, hub_reachable, tiny_world_dir
from genai_course.tiny.world import TinyWorld

PACKAGES = (
    "genai-course",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "peft",
    "trl",
    "accelerate",
    "evaluate",
    "rouge_score",
    "nbval",
    "nbclient",
    "nbgrader",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="versions, device, Hub reachability, cache and profile")
    parser.set_defaults(func=run)


def report() -> list[tuple[str, str]]:
    """(label, value) rows describing this installation."""
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    for name in PACKAGES:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    rows.append(("cpu threads", str(torch.get_num_threads())))
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        memory = f"{props.total_memory / 2**30:.1f} GiB"
        major, minor = torch.cuda.get_device_capability(0)
        rows.append(("gpu", f"{props.name}, {memory}, compute capability {major}.{minor}"))
    else:
        rows.append(("gpu", "none (CPU only)"))
    rows.append(("dtype", _dtype_row()))
    online, why = hub_reachable()
    rows.append(("hugging face hub", ("reachable" if online else "unreachable") + f" ({why})"))
    try:
        world = TinyWorld(tiny_world_dir())
        rows.append((HOME_ENV, str(course_home())))
        rows.append(
            (
                "tiny world",
                f"built at {world.root}" if world.is_complete() else "not built yet (genai-course build-tiny)",
            )
        )
    except CacheError as error:  # the doctor reports a broken cache folder instead of failing on it
        rows.append((HOME_ENV, f"ERROR: {error}"))
    rows.append((PROFILE_ENV, os.environ.get(PROFILE_ENV, "(unset)")))
    try:
        profile = get_profile(verbose=False)
        rows.append(("profile", f"{profile.name}" + (f" ({'; '.join(profile.notes)})" if profile.notes else "")))
    except ValueError as error:
        rows.append(("profile", f"ERROR: {error}"))
    return rows


def _dtype_row() -> str:
    """The dtype ``auto`` picks on the default device, and why (a T4 reports bf16 "supported" but emulates it)."""
    try:
        choice = pick_dtype_with_reason(pick_device("auto"))
    except ModelLoadError as error:
        return f"ERROR: {error}"
    return choice.reason  # it starts with the dtype's name


def run(args: argparse.Namespace) -> int:
    rows = report()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0
