"""``genai-course build-tiny``: build (or rebuild with ``--force``) the offline tiny world."""

from __future__ import annotations

import argparse
import json
import time

from genai_course.tiny.world import ensure_tiny_world


def register(subparsers) -> None:
    parser = subparsers.add_parser("build-tiny", help="build the offline tiny world (once; cached)")
    parser.add_argument("--force", action="store_true", help="rebuild even if it is already built")
    parser.add_argument("--seed", type=int, default=None, help="world seed (default $GENAI_COURSE_TINY_SEED or 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    world = ensure_tiny_world(force=args.force, seed=args.seed)
    manifest = world.manifest
    print(f"Tiny world ready in {world.root} ({time.perf_counter() - started:.1f} s this call)")
    print(json.dumps({k: manifest[k] for k in ("corpus", "timings_s") if k in manifest}, indent=2))
    print(f"classifier held-out accuracy: {manifest['classifier']['held_out_accuracy']:.3f}")
    return 0
