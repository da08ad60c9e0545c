"""The ``genai-course`` command: doctor, build-tiny, run, grade.

A bad argument, path or setting ends in one line on stderr and exit code 2, never a traceback: the
library's own errors already say what is wrong and what to do, and an OS error (an unwritable or wrong
output path, a read-only cache) is named with its path.
"""

from __future__ import annotations

import argparse
import sys

from genai_course import doctor, grade_cli
from genai_course.project import RUNNER_INSTALL_HINT, RUNNER_MODULES
from genai_course.tiny import build_cli

# An optional dependency, imported at the top but allowed to be missing: `run` needs the [runner] extra
# (nbclient, ipykernel), which a Colab or Jupyter install leaves out so its own kernel packages stay as
# they are. Without it every other command works and `run` says what to install.
RUNNER_MISSING: str | None = None
try:
    from genai_course import runner
except ModuleNotFoundError as missing:
    if (missing.name or "").split(".")[0] not in RUNNER_MODULES:
        raise  # a genuinely broken install, not the optional extra
    runner = None
    RUNNER_MISSING = missing.name

USAGE_EXIT = 2
PACKAGE = "genai_course"


class MissingExtra(RuntimeError):
    """A command whose optional dependencies are not installed; the message says how to install them."""


def _register_missing_runner(subparsers) -> None:
    """A ``run`` command that explains what to install instead of running."""
    parser = subparsers.add_parser("run", help=f"execute the lab notebooks (needs: {RUNNER_INSTALL_HINT})")
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def explain(args: argparse.Namespace) -> int:
        raise MissingExtra(
            f"`genai-course run` executes notebooks and needs the runner extra ({RUNNER_MISSING} "
            f"is not installed): {RUNNER_INSTALL_HINT}"
        )

    parser.set_defaults(func=explain)


def is_ours(error: BaseException) -> bool:
    """Whether ``error`` is one of the library's own error classes (ProfileError, DataError, ModelLoadError,
    FinetuneError, CacheError, ...), each written to explain itself. Recognised by the module that defines
    the class, so the CLI need not import torch-heavy modules just to name their errors."""
    return any(cls.__module__.startswith(PACKAGE + ".") for cls in type(error).__mro__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genai-course", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    doctor.register(sub)
    build_cli.register(sub)
    if runner is not None:
        runner.register(sub)
    else:
        _register_missing_runner(sub)
    grade_cli.register(sub)
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
    except KeyboardInterrupt as interrupt:  # TrainingInterrupted says where the checkpoint is
        detail = f": {one_line(interrupt)}" if str(interrupt) else ""
        print(f"genai-course {args.command}: interrupted{detail}", file=sys.stderr)
        return 130
    except Exception as error:
        if not (is_ours(error) or isinstance(error, OSError)):
            raise  # a bug, not a bad input: keep the traceback
        print(f"genai-course {args.command}: error: {one_line(error)}", file=sys.stderr)
        return USAGE_EXIT


if __name__ == "__main__":
    sys.exit(main())
