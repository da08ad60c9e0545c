"""The verdict on executed lab notebooks, graded without running anything in them.

Each file gets ``pass``, ``fail`` (with reasons) or ``error`` (it could not be graded: refused,
too big, not JSON, not a notebook). A notebook passes when it is the right lab, ran top to bottom
without errors, its results record provably comes from the lab's own record cell
(:mod:`genai_course.provenance`) and meets the rubric (:mod:`genai_course.rubric`) for the profile it
ran with, and its exercises are answered and their unchanged test cells ran without an error.
What this can and cannot prove is in ``docs/grading.md``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from genai_course.notebook_reading import (
    MAX_MEGABYTES,
    CannotGrade,
    collect_submissions,
    describe_error,
    error_output,
    is_test_cell,
    nbgrader_meta,
    read_notebook,
    where,
)
from genai_course.provenance import ProvenanceError, check_record, check_test_cells, load_release, release_points
from genai_course.results import RecordedOutput, find_records, lab_id
from genai_course.rubric import Rubric, RubricError, RuleError
from genai_course.untrusted_text import clean, csv_safe

VERDICTS = ("pass", "fail", "error")
_UNANSWERED = re.compile(r"raise\s+NotImplementedError|YOUR ANSWER HERE")


@dataclass
class GradeReport:
    """The verdict on one submitted file, and why."""

    student: str
    path: str
    verdict: str = "pass"
    profile: str = ""
    rules_passed: int = 0
    rules_total: int = 0
    exercises_answered: int = 0
    exercises_total: int = 0
    tests_passed: int = 0
    tests_total: int = 0
    points: float = 0.0
    points_total: float = 0.0
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        """Add a reason; the verdict becomes ``fail`` unless it already is ``error``."""
        self.reasons.append(reason)
        if self.verdict == "pass":
            self.verdict = "fail"


def grade_notebook(
    path: str | Path,
    rubric: Rubric,
    *,
    student: str | None = None,
    profile: str | None = None,
    max_megabytes: float = MAX_MEGABYTES,
    release: dict | None = None,
) -> GradeReport:
    """Grade one executed notebook file without running anything in it. Never raises.

    ``profile`` (or the rubric's ``required_profile``) refuses notebooks run with another profile;
    ``release`` is the fingerprint of the released notebook (default: the shipped one for the lab).
    """
    path = Path(path)
    report = GradeReport(student=clean(student or path.stem, 80), path=clean(path, 200))
    try:
        release = release or load_release(rubric.lab)
        notebook = read_notebook(path, int(max_megabytes * 1_000_000))
        records = find_records(notebook)
        _flag_suspicious(notebook, report)
        if not _check_lab(notebook, rubric.lab, records, report):
            return report
        _check_execution(notebook, report)
        payload, problems = check_record(notebook, release)
        for problem in problems:
            report.fail(problem)
        if payload is not None:
            _check_results(payload, rubric, profile or rubric.required_profile, report)
        problems, untrusted_tests = check_test_cells(notebook, release)
        for problem in problems:
            report.fail(problem)
        _check_exercises(notebook, rubric, release_points(release), untrusted_tests, report)
    except (CannotGrade, ProvenanceError) as reason:
        report.verdict, report.reasons = "error", [str(reason)]
    except Exception as error:  # hostile input must never stop the batch
        report.verdict = "error"
        report.reasons.append(f"could not grade ({type(error).__name__}: {clean(error, 100)})")
    return report


def grade_paths(
    lab: str,
    paths: list[str | Path],
    rubric: Rubric,
    *,
    profile: str | None = None,
    max_megabytes: float = MAX_MEGABYTES,
    progress: bool = True,
) -> list[GradeReport]:
    """Grade every notebook found in ``paths`` for ``lab``; one report per file, in order."""
    if lab_id(lab) != rubric.lab:
        raise RubricError(f"The rubric {rubric.path or ''} is for {rubric.lab}, not {lab_id(lab)}.")
    reports = []
    for found in tqdm(collect_submissions(paths), desc=f"Grading {rubric.lab}", unit="notebook", disable=not progress):
        if found.refused:
            refused = GradeReport(clean(found.student, 80), clean(found.path, 200), "error", reasons=[found.refused])
            reports.append(refused)
        else:
            reports.append(
                grade_notebook(found.path, rubric, student=found.student, profile=profile, max_megabytes=max_megabytes)
            )
    return reports


# ----------------------------------------------------------------------------- the checks


def _check_lab(notebook: Any, lab: str, records: list[RecordedOutput], report: GradeReport) -> bool:
    """Whether this is the lab being graded, judged by its metadata, exercise ids and records."""
    claimed = notebook.metadata.get("genai_course", {})
    claimed = claimed.get("lab") if isinstance(claimed, dict) else None
    if claimed is not None:
        try:
            claimed = lab_id(claimed)
        except ValueError:
            pass
        if claimed != lab:
            report.fail(f"wrong lab: the notebook's metadata says {clean(claimed, 40)}, expected {lab}")
            return False
    prefixes = set()
    for cell in notebook.cells:
        match = re.match(r"(lab\d+)[-_]", str(nbgrader_meta(cell).get("grade_id", "")))
        if match:
            prefixes.add(match.group(1))
    if prefixes - {lab}:
        report.fail(f"wrong lab: its exercises belong to {', '.join(sorted(prefixes))}, expected {lab}")
        return False
    labs_recorded = {r.lab for r in records}
    if records and lab not in labs_recorded:
        shown = ", ".join(sorted(clean(x, 20) for x in labs_recorded))
        report.fail(f"wrong lab: it recorded results for {shown}, expected {lab}")
        return False
    return True


def _check_execution(notebook: Any, report: GradeReport) -> None:
    """Every code cell ran, in order, without errors (the record of a real top-to-bottom run)."""
    unrun, previous = [], None
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not str(cell.source).strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            unrun.append(index)
            if cell.get("outputs"):
                report.fail(f"{where(index, cell)} has outputs but no execution count (edited by hand?)")
            continue
        if previous is not None and count <= previous[1]:
            report.fail(
                f"cells ran out of order: {where(index, cell)} has execution count {count} "
                f"after {previous[1]} in cell {previous[0]}; restart the kernel and run all cells"
            )
        previous = (index, count)
        _check_outputs_belong(index, cell, report)
        error = error_output(cell)
        if error is not None and not is_test_cell(cell):  # failed tests are reported with the exercises
            report.fail(f"{where(index, cell)} raised {describe_error(error, 100)}")
    if unrun:
        shown = ", ".join(str(i) for i in unrun[:8]) + (" …" if len(unrun) > 8 else "")
        report.fail(f"{len(unrun)} code cell(s) were not run (cells {shown})")


def _check_outputs_belong(index: int, cell: Any, report: GradeReport) -> None:
    # An execute_result carries the count of the execution that made it: another number means the
    # outputs were pasted from another run.
    for output in cell.get("outputs", []):
        made_by = output.get("execution_count") if output.get("output_type") == "execute_result" else None
        if made_by is not None and made_by != cell.get("execution_count"):
            report.fail(
                f"{where(index, cell)} shows outputs of execution {made_by} but ran as "
                f"{cell.get('execution_count')}: outputs copied from another run?"
            )
            return


def _check_results(payload: dict, rubric: Rubric, required_profile: str | None, report: GradeReport) -> None:
    """The recorded numbers against the rubric's thresholds for the profile the notebook ran with."""
    profile = payload["profile"]
    report.profile = clean(profile, 20)
    if required_profile and profile != required_profile:
        report.fail(f"ran with profile '{report.profile}', this assignment requires '{required_profile}'")
        return
    rules = rubric.profiles.get(profile)
    if rules is None:
        known = ", ".join(rubric.profiles)
        report.fail(f"the rubric has no thresholds for profile '{report.profile}' (it has: {known})")
        return
    results = payload["results"]
    for key in rubric.missing(results):
        report.fail(f"missing result '{key}'")
    report.rules_total = len(rules)
    for rule in rules:
        try:
            ok, measured = rule.check(results)
        except RuleError as error:
            report.fail(f"rubric '{rule.name}': {clean(error, 200)}")
            continue
        if ok:
            report.rules_passed += 1
        else:
            report.fail(f"rubric '{rule.name}' not met: {measured}")


def _check_exercises(
    notebook: Any, rubric: Rubric, points: dict[str, float], untrusted: set[str], report: GradeReport
) -> None:
    """nbgrader answer cells filled in and run; their test cells ran without an error.

    Points come from the release (``points``), never from the submission's own metadata; a test cell
    that is not the release's (``untrusted``) earns nothing, whatever its outputs say.
    """
    for index, cell in enumerate(notebook.cells):
        meta = nbgrader_meta(cell)
        grade_id = clean(meta.get("grade_id", f"cell {index}"), 40)
        if meta.get("solution"):
            report.exercises_total += 1
            if _UNANSWERED.search(str(cell.source)):
                report.fail(f"exercise {grade_id} not answered")
            elif cell.cell_type == "code" and cell.get("execution_count") is None:
                report.fail(f"exercise {grade_id} answered but not run")
            else:
                report.exercises_answered += 1
        if is_test_cell(cell):
            worth = points.get(str(meta.get("grade_id")), 0.0)
            report.tests_total += 1
            report.points_total += worth
            error = error_output(cell)
            if str(meta.get("grade_id")) in untrusted:
                continue  # already a reason: changed or unknown
            if cell.get("execution_count") is None:
                report.fail(f"test {grade_id} was not run")
            elif error is not None:
                report.fail(f"test {grade_id} failed: {describe_error(error, 80)}")
            else:
                report.tests_passed += 1
                report.points += worth
    if report.exercises_total < rubric.min_exercises:
        report.fail(
            f"only {report.exercises_total} exercise answer cell(s) found, the lab has at least "
            f"{rubric.min_exercises} (were cells deleted?)"
        )


_SCRIPTED_MIMES = ("application/javascript", "text/javascript", "application/x-javascript")
_ACTIVE_MARKUP = re.compile(r"<\s*script|javascript:|<\s*iframe", re.IGNORECASE)


def _flag_suspicious(notebook: Any, report: GradeReport) -> None:
    """Script or active HTML anywhere in outputs or markdown: flagged for a human, never rendered."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and _ACTIVE_MARKUP.search(str(cell.source)):
            report.flags.append(f"cell {index}: script/active HTML in markdown")
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mime, value in (output.get("data") or {}).items():
                text = value if isinstance(value, str) else json.dumps(value) if mime.endswith("json") else str(value)
                if mime in _SCRIPTED_MIMES:
                    report.flags.append(f"cell {index}: {clean(mime, 40)} output")
                elif _ACTIVE_MARKUP.search(text):
                    report.flags.append(f"cell {index}: <script> or active HTML in {clean(mime, 40)} output")


# ----------------------------------------------------------------------------- the table and the CSV

CSV_COLUMNS = (
    "student",
    "file",
    "verdict",
    "profile",
    "rubric_passed",
    "rubric_total",
    "exercises_answered",
    "exercises_total",
    "tests_passed",
    "tests_total",
    "points",
    "points_total",
    "reasons",
    "flags",
)


def _row(report: GradeReport) -> dict:
    # Everything is cleaned again here: whatever reached a report, nothing unsafe leaves the grader.
    return {
        "student": clean(report.student, 80),
        "file": clean(report.path, 200),
        "verdict": report.verdict,
        "profile": clean(report.profile, 20),
        "rubric_passed": report.rules_passed,
        "rubric_total": report.rules_total,
        "exercises_answered": report.exercises_answered,
        "exercises_total": report.exercises_total,
        "tests_passed": report.tests_passed,
        "tests_total": report.tests_total,
        "points": f"{report.points:g}",
        "points_total": f"{report.points_total:g}",
        "reasons": " | ".join(clean(r, 500) for r in report.reasons),
        "flags": " | ".join(clean(f, 500) for f in report.flags),
    }


def format_table(reports: list[GradeReport]) -> str:
    """A fixed-width per-student table (with the profile each ran with), then every reason and flag."""
    header = ("student", "verdict", "profile", "rubric", "exercises", "tests", "points", "flags")
    rows = [
        (
            clean(r.student, 24),
            r.verdict,
            clean(r.profile, 20) or "-",
            f"{r.rules_passed}/{r.rules_total}",
            f"{r.exercises_answered}/{r.exercises_total}",
            f"{r.tests_passed}/{r.tests_total}",
            f"{r.points:g}/{r.points_total:g}",
            str(len(r.flags)) if r.flags else "",
        )
        for r in reports
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = []
    for r in reports:
        details += [f"  {clean(r.student, 24)} [{r.verdict}]: {clean(reason, 500)}" for reason in r.reasons]
        details += [f"  {clean(r.student, 24)} [suspicious]: {clean(flag, 500)}" for flag in r.flags]
    counts = ", ".join(f"{sum(r.verdict == v for r in reports)} {v}" for v in VERDICTS)
    details = ["", "Details:", *details] if details else []
    return "\n".join([*lines, *details, "", f"{len(reports)} notebook(s): {counts}"])


def write_csv(reports: list[GradeReport], path: str | Path) -> None:
    """One row per file with the verdict, profile, counts, reasons and flags (formula-safe)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for report in reports:
            writer.writerow({k: csv_safe(v) for k, v in _row(report).items()})
