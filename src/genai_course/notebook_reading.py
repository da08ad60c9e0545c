"""Reading submitted notebooks as untrusted data: finding them, opening them safely, parsing them.

A submission is data, never code: it is size-checked, parsed as JSON, validated with nbformat and
inspected. Nothing in it is executed, evaluated or rendered (no kernel, no ``eval``, no HTML).
Symbolic links are refused, and so is anything found in a folder that resolves outside it: a
"submission" must not make the grader read (and quote) the instructor's own files.
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4.rwbase import rejoin_lines

from genai_course.untrusted_text import clean

MAX_MEGABYTES = 20.0
SYMLINK_REFUSED = "a symbolic link: refused (it could point at any file, e.g. another student's or the instructor's)"


class CannotGrade(Exception):
    """The file is not a gradable notebook: verdict ``error``, with this message as the reason."""


@dataclass(frozen=True)
class Submission:
    """One file to grade, the student it belongs to, and why it is refused unread (None: it is not)."""

    student: str
    path: Path
    refused: str | None = None


def collect_submissions(paths: Iterable[str | Path]) -> list[Submission]:
    """The files to grade: files as given, folders searched for ``*.ipynb`` (checkpoints skipped).

    In a folder, ``alice.ipynb`` is student ``alice`` and ``alice/lab1_prompting.ipynb`` too (nbgrader's
    ``submitted/<student>/<assignment>/`` layout gives the student's folder name). Symbolic links and
    files that resolve outside the folder are listed as refused, so the table shows them.
    """
    found: list[Submission] = []
    for given in map(Path, paths):
        if given.is_symlink():
            found.append(Submission(given.stem, given, SYMLINK_REFUSED))
        elif given.is_dir():
            found.extend(_folder_submissions(given))
        else:  # a missing file is graded too: its verdict says it cannot be read
            found.append(Submission(given.stem, given))
    return found


def _folder_submissions(folder: Path) -> list[Submission]:
    root = folder.resolve()
    found = []
    for directory, subfolders, files in os.walk(folder, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if d != ".ipynb_checkpoints")
        here = Path(directory)
        linked = [d for d in subfolders if (here / d).is_symlink()]  # os.walk lists them but never enters
        names = [(name, True) for name in linked] + [(name, False) for name in files if name.endswith(".ipynb")]
        for name, is_folder in sorted(names):
            path = here / name
            relative = path.relative_to(folder)
            student = relative.parts[0] if len(relative.parts) > 1 or is_folder else path.stem
            found.append(Submission(student, path, _refusal(path, root, is_folder)))
    return found


def _refusal(path: Path, root: Path, is_folder: bool) -> str | None:
    if path.is_symlink():
        return "a symbolic link to a folder: refused, not searched" if is_folder else SYMLINK_REFUSED
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return f"resolves outside the folder given ({clean(root, 80)}): refused"
    return None


def read_notebook(path: str | Path, max_bytes: int) -> Any:
    """Parse a file as a notebook without trusting it: no links, size first, then JSON, then nbformat."""
    data = _read_json(Path(path), max_bytes)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        raise CannotGrade("JSON but not a Jupyter notebook (no 'cells' list and 'nbformat' version)")
    if data.get("nbformat") != 4:
        version = clean(data.get("nbformat"), 20)
        raise CannotGrade(f"notebook format {version} is not supported; save it with Jupyter (format 4)")
    return _validated(data)


def _read_json(path: Path, max_bytes: int) -> Any:
    limit_mb = max_bytes / 1_000_000
    try:
        info = os.lstat(path)
    except OSError as error:
        raise CannotGrade(f"cannot read the file ({error.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise CannotGrade(SYMLINK_REFUSED)
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise CannotGrade("not a regular file")
    if info.st_size > max_bytes:
        raise CannotGrade(f"file is {info.st_size / 1_000_000:.1f} MB, over the {limit_mb:g} MB limit (not parsed)")
    raw = _read_bounded(path, max_bytes)
    if len(raw) > max_bytes:  # it grew after stat
        raise CannotGrade(f"file is over the {limit_mb:g} MB limit (not parsed)")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CannotGrade("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise CannotGrade(f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except (RecursionError, ValueError) as error:
        raise CannotGrade(f"not valid JSON ({type(error).__name__})") from None


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    # O_NOFOLLOW: a file swapped for a link between lstat and open is refused, not followed.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise CannotGrade(f"cannot read the file ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise CannotGrade("not a regular file")
        return handle.read(max_bytes + 1)


def _validated(data: dict) -> Any:
    # nbformat.validate silently invents ids for cells without one and renames duplicated ids: keep the
    # ids as submitted, since provenance checks compare them with the release.
    submitted_ids = [cell.get("id") if isinstance(cell, dict) else None for cell in data["cells"]]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = nbformat.from_dict(data)
            nbformat.validate(notebook)
            rejoin_lines(notebook)  # sources stored as lists of lines become strings, as nbformat.read does
    except nbformat.ValidationError as error:
        where = "/".join(str(p) for p in getattr(error, "absolute_path", [])) or "top level"
        message = str(error.message)
        # jsonschema quotes the whole offending object; keep the part that says what is wrong
        message = message.rsplit("} ", 1)[-1] if message.startswith("{") else message
        raise CannotGrade(f"not a valid notebook (at {where}: {clean(message, 100)})") from None
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise CannotGrade(f"not a valid notebook ({type(error).__name__})") from None
    for cell, cell_id in zip(notebook.cells, submitted_ids):
        if isinstance(cell_id, str):
            cell["id"] = cell_id
        else:
            cell.pop("id", None)
    return notebook


# ----------------------------------------------------------------------------- reading cells


def nbgrader_meta(cell: Any) -> dict:
    """The cell's nbgrader metadata ({} when none or malformed)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def is_test_cell(cell: Any) -> bool:
    """An autograded test cell: nbgrader ``grade: true`` on a code cell that is not an answer."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def error_output(cell: Any) -> Any:
    """The cell's error output, or None (also None for cells tagged ``raises-exception``)."""
    tags = cell.get("metadata", {}).get("tags", [])
    if isinstance(tags, list) and "raises-exception" in tags:
        return None  # the author expects this cell to fail
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output
    return None


def describe_error(error: Any, limit: int) -> str:
    """``ValueError: boom`` from an error output, cleaned for printing."""
    return f"{clean(error.get('ename'), 40)}: {clean(error.get('evalue'), limit)}"


def first_line(cell: Any) -> str:
    """The first non-blank source line, cleaned and short: how a person recognises a cell."""
    for line in str(cell.get("source", "")).splitlines():
        if line.strip():
            return clean(line.strip(), 60)
    return ""


def where(index: int, cell: Any) -> str:
    """``cell 12 (record_results()`` — a cell named so a person can find it."""
    first = first_line(cell)
    return f"cell {index}" + (f" ({first})" if first else "")
