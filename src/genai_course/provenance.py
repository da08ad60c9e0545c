"""Release fingerprints, and whether a submission's record and tests come from the released cells.

A notebook's outputs are just JSON: anyone can type a results record into any cell. So a record
counts only when it is the output of the lab's own *record cell* (same cell id, same source as the
release), made after the cells it depends on ran, in the same kernel run; and an autograded test
cell counts only when its source is the release's. The release side of that comparison is
``release_fingerprints.json`` (package data), generated from ``notebooks/`` by::

    python -m genai_course.provenance --write

Run it after every edit of a lab notebook; a test fails while the file is stale.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

from genai_course.course_files import CourseFilesNotFound, find_course_folder, notebook_path
from genai_course.notebook_reading import error_output, first_line, is_test_cell, nbgrader_meta, where
from genai_course.results import LAB_NAMES, RecordedOutput, find_records
from genai_course.untrusted_text import clean

FINGERPRINTS_FILE = Path(__file__).with_name("release_fingerprints.json")
WRITE_COMMAND = "python -m genai_course.provenance --write"
FORMAT = 1
RECORD_CALL = re.compile(r"\brecord_results\s*\(")  # the call, not the import in the setup cell
_SETTING = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.*?)\s*(?:#.*)?$")
_HIDDEN_BEGIN, _HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


class ProvenanceError(ValueError):
    """Release fingerprints that cannot be made (a notebook without one record cell) or found."""


# ----------------------------------------------------------------------------- comparable sources


def normalized(source: str) -> str:
    """The source as compared: ``\\n`` line endings, no trailing whitespace, no blank first/last lines."""
    lines = str(source).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def without_hidden_tests(source: str) -> str:
    """The source without its hidden-test regions, as ``nbgrader generate_assignment`` hands it out."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if _HIDDEN_BEGIN in line:
            hidden = True
        elif _HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)  # parses only: literal_eval never calls or imports anything
    except Exception:  # SyntaxError, ValueError, RecursionError on hostile text: simply not a literal
        return False
    return bool(text)


def settings_blanked(source: str) -> str:
    """The parameters cell with the values of its ``NAME = <literal>`` lines blanked.

    Students are meant to choose ``PROFILE = "full"`` or a training budget there; any other change
    (a call, an import, a new line) stays visible and fails the comparison.
    """
    lines = []
    for line in source.split("\n"):
        match = _SETTING.match(line)
        lines.append(f"{match.group(1)} = <setting>" if match and _is_literal(match.group(2)) else line)
    return "\n".join(lines)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_digest(cell: Any, role: str) -> str:
    """The fingerprint of a cell's source in its role: ``record``, ``setup``, ``parameters`` or ``test``."""
    source = normalized(cell.get("source", ""))
    if role == "parameters":
        source = settings_blanked(source)
    elif role == "test":
        source = normalized(without_hidden_tests(source))
    return _digest(source)


# ----------------------------------------------------------------------------- fingerprinting a release


def fingerprint_notebook(notebook: Any) -> dict:
    """The cells of a released notebook a grader must find unchanged in a submission.

    ``record_cell``: the one code cell calling ``record_results(``; ``setup_cells``: the code cells
    above it that are not nbgrader cells (imports, parameters, measurements: the record depends on
    them); ``test_cells``: the autograded test cells, with their points.
    """
    cells = notebook.cells
    recording = [i for i, c in enumerate(cells) if c.cell_type == "code" and RECORD_CALL.search(c.source)]
    if len(recording) != 1:
        raise ProvenanceError(f"expected exactly one cell calling record_results(, found cells {recording}")
    record_index = recording[0]
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and not isinstance(cell.get("id"), str):
            raise ProvenanceError(f"cell {index} has no id; save the notebook with nbformat 4.5 or later")
    setup = [
        _setup_fingerprint(cell)
        for cell in cells[:record_index]
        if cell.cell_type == "code" and cell.source.strip() and not nbgrader_meta(cell)
    ]
    tests = [
        {
            "id": cell.id,
            "grade_id": str(nbgrader_meta(cell).get("grade_id")),
            "points": nbgrader_meta(cell).get("points", 0),
            "sha256": source_digest(cell, "test"),
        }
        for cell in cells
        if is_test_cell(cell)
    ]
    record = cells[record_index]
    return {
        "record_cell": {"id": record.id, "sha256": source_digest(record, "record"), "first_line": first_line(record)},
        "setup_cells": setup,
        "test_cells": tests,
    }


def _setup_fingerprint(cell: Any) -> dict:
    is_parameters = "parameters" in cell.get("metadata", {}).get("tags", [])
    role = "parameters" if is_parameters else "setup"
    return {"id": cell.id, "sha256": source_digest(cell, role), "first_line": first_line(cell), "role": role}


def release_fingerprints(notebooks_dir: str | Path | None = None) -> dict:
    """The fingerprints of every lab notebook in ``notebooks_dir`` (default: the checkout's notebooks/)."""
    folder = find_course_folder("notebooks", notebooks_dir)
    labs = {}
    for lab in LAB_NAMES:
        path = notebook_path(lab, folder)
        try:
            labs[lab] = {"notebook": path.name, **fingerprint_notebook(nbformat.read(path, as_version=4))}
        except ProvenanceError as error:
            raise ProvenanceError(f"{path}: {error}") from None
    return {"format": FORMAT, "generated_by": WRITE_COMMAND, "labs": labs}


def write_fingerprints(notebooks_dir: str | Path | None = None, target: Path = FINGERPRINTS_FILE) -> Path:
    """Regenerate the shipped fingerprints file from the notebooks."""
    text = json.dumps(release_fingerprints(notebooks_dir), indent=1, sort_keys=True) + "\n"
    target.write_text(text, encoding="utf-8")
    return target


def load_release(lab: str, path: Path = FINGERPRINTS_FILE) -> dict:
    """The shipped fingerprints of one lab's released notebook."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["labs"][lab]
    except (OSError, ValueError, KeyError, TypeError):
        raise ProvenanceError(f"no release fingerprints for {lab} in {path}; generate them: {WRITE_COMMAND}") from None


# ----------------------------------------------------------------------------- checking a submission


def check_record(notebook: Any, release: dict) -> tuple[dict | None, list[str]]:
    """The record to grade, if it provably comes from the release's record cell; else the problems."""
    cells, expected = notebook.cells, release["record_cell"]
    records = find_records(notebook)
    index, problems = _record_cell_index(cells, expected)
    for record in records:
        if record.cell_index != index:
            problems.append(
                f"{where(record.cell_index, cells[record.cell_index])} emits a results record, but only the lab's "
                f"record cell (id {expected['id']}) may: a record from any other cell is not counted (forged?)"
            )
    if index is None:
        return None, problems
    cell = cells[index]
    if source_digest(cell, "record") != expected["sha256"]:
        problems.append(f"the record cell ({where(index, cell)}) was edited: its source differs from the release")
    mine = [r for r in records if r.cell_index == index]
    problems += _record_run_problems(index, cell, mine)
    if isinstance(cell.get("execution_count"), int):
        problems += _dependency_problems(cells, release["setup_cells"], index, cell.execution_count)
    payload = _consistent_payload(mine[0], problems) if len(mine) == 1 else None
    return (payload, problems) if not problems else (None, problems)


def _record_cell_index(cells: list, expected: dict) -> tuple[int | None, list[str]]:
    matches = [i for i, cell in enumerate(cells) if cell.get("id") == expected["id"]]
    if len(matches) == 1:
        return matches[0], []
    if matches:
        shown = ", ".join(f"cell {i}" for i in matches)
        return None, [f"{shown} share the record cell's id {expected['id']} (copied by hand?): none is trusted"]
    digest = expected["sha256"]
    same_source = [i for i, c in enumerate(cells) if c.cell_type == "code" and source_digest(c, "record") == digest]
    hint = f"; cell {same_source[0]} has its source under another id (ids must stay as released)" if same_source else ""
    return None, [f"the lab's record cell (id {expected['id']}, {clean(expected['first_line'], 40)}) is missing{hint}"]


def _record_run_problems(index: int, cell: Any, records: list[RecordedOutput]) -> list[str]:
    if not records:
        return ["no recorded results: run the notebook to the end (the record_results cell) and save it"]
    if len(records) > 1:
        return [f"the record cell ({where(index, cell)}) shows {len(records)} records; one run makes one"]
    if cell.get("execution_count") is None:
        return [f"the results record in cell {index} comes from a cell that never ran (forged?)"]
    if error_output(cell) is not None:
        return [f"the record cell ({where(index, cell)}) failed when last run: its record is from an earlier run"]
    return []


def _dependency_problems(cells: list, setup: list[dict], record_index: int, record_count: int) -> list[str]:
    """The released cells above the record cell: present, unchanged, and run before it in the same run."""
    positions = {cell.get("id"): i for i, cell in enumerate(cells)}
    problems = []
    for expected in setup:
        index = positions.get(expected["id"])
        name = f"the release's cell {expected['id']} ({clean(expected['first_line'], 40)})"
        if index is None or index > record_index:
            problems.append(f"{name} is missing above the record cell, and the record depends on it")
            continue
        cell, count = cells[index], cells[index].get("execution_count")
        if source_digest(cell, expected["role"]) != expected["sha256"]:
            only = "; only the values of its settings may change" if expected["role"] == "parameters" else ""
            problems.append(f"{where(index, cell)} differs from the release{only}, and the record depends on it")
        elif count is None:
            problems.append(f"{where(index, cell)} never ran, yet the record depends on it")
        elif count >= record_count:
            problems.append(
                f"{where(index, cell)} ran after the record was made (execution count {count} >= the record "
                f"cell's {record_count}): the record is from an earlier run"
            )
    return problems


def _consistent_payload(record: RecordedOutput, problems: list[str]) -> dict | None:
    """The record's payload if well-formed and identical to the text printed next to it."""
    payload = record.payload
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("profile"), str)
        and isinstance(payload.get("results"), dict)
    ):
        problems.append(f"malformed results record in cell {record.cell_index} (expected lab, profile and results)")
        return None
    if record.text is None:
        problems.append(f"the results record in cell {record.cell_index} has no printed text to check it against")
        return None
    try:
        difference = _first_difference(payload, json.loads(record.text))
    except (ValueError, RecursionError):
        difference = "(top level)"
    if difference:
        problems.append(
            f"tampered results: the record and the printed results in cell {record.cell_index} "
            f"disagree at '{clean(difference, 60)}'"
        )
        return None
    return payload


def _first_difference(record: Any, printed: Any, path: str = "") -> str | None:
    """The first dotted path where two JSON values differ (numbers compared to 1e-9), else None."""
    here = path or "(top level)"
    if isinstance(record, dict) and isinstance(printed, dict):
        for key in sorted(set(record) | set(printed), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in record or key not in printed:
                return sub
            found = _first_difference(record[key], printed[key], sub)
            if found:
                return found
        return None
    if isinstance(record, list) and isinstance(printed, list):
        if len(record) != len(printed):
            return here
        for i, (a, b) in enumerate(zip(record, printed)):
            found = _first_difference(a, b, f"{path}.{i}" if path else str(i))
            if found:
                return found
        return None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (record, printed))
    if numbers:
        return None if abs(record - printed) <= max(1e-12, 1e-9 * max(abs(record), abs(printed))) else here
    return None if (type(record) is type(printed) and record == printed) else here


def check_test_cells(notebook: Any, release: dict) -> tuple[list[str], set[str]]:
    """Every released autograded test cell present once, still a test, with the release's source.

    Returns the problems and the grade ids of the test cells that earn nothing (changed or unknown).
    """
    expected = {test["grade_id"]: test for test in release["test_cells"]}
    seen: dict[str, int] = {}
    problems, untrusted = [], set()
    for index, cell in enumerate(notebook.cells):
        grade_id = str(nbgrader_meta(cell).get("grade_id", ""))
        shown = clean(grade_id, 40)
        if grade_id not in expected:
            if is_test_cell(cell):
                untrusted.add(grade_id)
                problems.append(f"{where(index, cell)} is marked as test {shown}, which the release does not have")
            continue
        if grade_id in seen:
            problems.append(f"test {shown} appears twice (cells {seen[grade_id]} and {index})")
        seen[grade_id] = index
        if not is_test_cell(cell):
            problems.append(f"test {shown} (cell {index}) is no longer marked as an autograded test")
        elif source_digest(cell, "test") != expected[grade_id]["sha256"]:
            untrusted.add(grade_id)
            problems.append(f"test {shown} (cell {index}) was changed: its source differs from the release")
    problems += [f"test {clean(g, 40)} of the release is missing (deleted?)" for g in expected if g not in seen]
    return problems, untrusted


def release_points(release: dict) -> dict[str, float]:
    """Points per test grade_id as released (a submission's own metadata could claim more)."""
    return {test["grade_id"]: float(test.get("points") or 0) for test in release["test_cells"]}


# ----------------------------------------------------------------------------- the command


def main(argv: list[str] | None = None) -> int:
    """``python -m genai_course.provenance --write | --check [--notebooks DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m genai_course.provenance", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"regenerate {FINGERPRINTS_FILE.name} from the notebooks")
    action.add_argument("--check", action="store_true", help="exit 1 when the shipped fingerprints are stale")
    parser.add_argument("--notebooks", metavar="DIR", help="the course's notebooks/ folder (default: the checkout's)")
    args = parser.parse_args(argv)
    try:
        if args.write:
            print(f"wrote {write_fingerprints(args.notebooks)}")
            return 0
        current = json.loads(FINGERPRINTS_FILE.read_text(encoding="utf-8")) if FINGERPRINTS_FILE.exists() else None
        fresh = current == release_fingerprints(args.notebooks)
    except (ProvenanceError, CourseFilesNotFound, OSError, ValueError) as error:
        print(f"genai_course.provenance: {error}", file=sys.stderr)
        return 2
    print("fingerprints are up to date" if fresh else f"fingerprints are stale: run {WRITE_COMMAND}")
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
