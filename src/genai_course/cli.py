"""The ``genai-course`` command: doctor, build-tiny, run, grade."""

from __future__ import annotations

import argparse
import sys

from genai_course import doctor, grade_cli, runner
from genai_course.tiny import build_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genai-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    doctor.register(sub)
    build_cli.register(sub)
    runner.register(sub)
    grade_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
