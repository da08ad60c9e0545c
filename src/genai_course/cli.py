"""The ``genai-course`` command: doctor, build-tiny, run, grade.

A bad argument, path or setting ends in one line on stderr and exit code 2, never a traceback: the
library's own errors already say what is wrong and what to do, and an OS error (an unwritable or wrong
output path, a read-only cache) is named with its path.
"""

from __future__ import annotations

import argparse
import sys

from genai_course import doctor, grading, runner
from genai_course.cache import CacheError
from genai_course.choices import SettingError
from genai_course.data import DataError
from genai_course.finetune import FinetuneError
from genai_course.generation import ContextWindowError, GenerationSettingError
from genai_course.metrics import MetricInputError
from genai_course.models import ModelLoadError
from genai_course.paths import PathProblem
from genai_course.profiles import ProfileError
from genai_course.tiny import build_cli

USAGE_EXIT = 2
# Errors that mean "the input was wrong", each carrying its own explanation.
OUR_ERRORS = (CacheError, SettingError, DataError, FinetuneError, ContextWindowError, GenerationSettingError,
              MetricInputError, ModelLoadError, PathProblem, ProfileError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genai-course", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    doctor.register(sub)
    build_cli.register(sub)
    runner.register(sub)
    grading.register(sub)
    return parser


def one_line(error: BaseException) -> str:
    """The error as one line: its message with line breaks folded, and the path for an OS error."""
    if isinstance(error, OSError) and error.filename and str(error.filename) not in str(error):
        text = f"{error.strerror or error}: {error.filename}"
    else:
        text = str(error) or error.__class__.__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (*OUR_ERRORS, OSError) as error:
        print(f"genai-course {args.command}: error: {one_line(error)}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print(f"genai-course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
