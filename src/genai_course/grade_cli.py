"""``genai-course grade LAB PATH... [--csv FILE] [--profile P]``: the grader's command line.

Exit codes: 0 when every file got a pass/fail verdict, 1 when some could not be read or graded
(verdict ``error``: refused links, broken files), 2 with a one-line message for bad arguments or paths.
"""

from __future__ import annotations

import argparse
import os
import sys

from genai_course.grading import format_table, grade_paths, write_csv
from genai_course.notebook_reading import MAX_MEGABYTES
from genai_course.results import lab_id
from genai_course.rubric import Rubric, find_rubric

PROFILES = ("tiny", "full")
_EPILOG = """\
What is checked, and what is not (details: docs/grading.md): nothing in a submission is executed. The
grader proves the stored outputs are consistent with a real run of the released cells: the results
record comes from the lab's own record cell, unchanged and run after the cells it depends on; every
autograded test cell has the release's source and ran without an error. It cannot prove the outputs
were not forged by editing the file, and hidden tests (### BEGIN HIDDEN TESTS) cannot be checked
without executing them: for that, run nbgrader's own autograder, which executes every submission
(do it in a sandbox):  nbgrader autograde lab2_finetuning
"""


class UsageError(ValueError):
    """Bad arguments or paths: one line on stderr and exit code 2."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genai-course grade`` to the CLI."""
    parser = subparsers.add_parser(
        "grade",
        help="grade executed lab notebooks safely (nothing in them is run)",
        description=(
            "Grade executed lab notebooks without running anything in them: the right lab, cells run in "
            "order without errors, the results record from the lab's unchanged record cell and meeting "
            "labs/<lab>/rubric.toml for the profile it ran with, unchanged test cells passed, exercises "
            "answered. Prints a per-student table; --csv writes it out. Exit 0: every file graded; "
            "1: some could not be read or graded; 2: bad arguments."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("lab", help="lab1 ... lab5 (or the folder name, e.g. lab2_finetuning)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="executed notebooks, or folders holding them")
    parser.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        help="refuse notebooks run with another profile (default: any the rubric knows, or its required_profile)",
    )
    parser.add_argument("--rubric", metavar="FILE", help="rubric TOML (default: labs/<lab>/rubric.toml)")
    parser.add_argument("--labs", metavar="DIR", help="the course's labs/ folder (default: found from the checkout)")
    parser.add_argument("--max-mb", type=float, default=MAX_MEGABYTES, help="reject bigger files unread (default 20)")
    parser.set_defaults(func=main)


def _check_arguments(args: argparse.Namespace) -> None:
    if not args.max_mb > 0:
        raise UsageError(f"--max-mb must be a positive number of megabytes, not {args.max_mb:g}")
    missing = [path for path in args.paths if not os.path.lexists(path)]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")


def main(args: argparse.Namespace) -> int:
    """Run ``grade``: 0 when every file got a verdict, 1 when some could not be graded, 2 on misuse."""
    try:
        _check_arguments(args)
        lab = lab_id(args.lab)
        rubric = Rubric.load(args.rubric or find_rubric(lab, args.labs))
        reports = grade_paths(lab, args.paths, rubric, profile=args.profile, max_megabytes=args.max_mb)
        if not reports:
            raise UsageError(f"no .ipynb files found in {', '.join(args.paths)}")
        print(format_table(reports))
        if args.csv:
            write_csv(reports, args.csv)
            print(f"CSV written to {args.csv}")
    except (ValueError, OSError) as error:
        print(
            f"genai-course grade: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr
        )
        return 2
    ungraded = sum(report.verdict == "error" for report in reports)
    if ungraded:
        print(f"genai-course grade: {ungraded} file(s) could not be graded (verdict error)", file=sys.stderr)
        return 1
    return 0
