"""The lab notebooks are valid nbgrader assignments: their metadata is well-formed, the instructor
("source") version passes its own exercise tests, and the student version that nbgrader generates
fails them until answered.

Only the cells tagged ``setup`` or ``parameters`` and the nbgrader cells are executed (the labs
promise self-contained exercises), so this runs in seconds in CI, without training anything.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

pytest.importorskip("nbgrader", reason="nbgrader is a dev dependency: pip install -e '.[dev]'")
from nbclient import NotebookClient  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions, LockCells  # noqa: E402

from genai_course.results import LAB_NAMES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUN_TAGS = {"setup", "parameters"}
CELL_TIMEOUT = 120


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def metadata_problems(notebook) -> list[str]:
    """What is wrong with a notebook's nbgrader metadata (empty list: nothing)."""
    problems, seen = [], set()
    answers, tests_after = [], {}
    for index, cell in enumerate(notebook.cells):
        meta = nbgrader_meta(cell)
        if not meta:
            if "BEGIN SOLUTION" in cell.source or "BEGIN HIDDEN TESTS" in cell.source:
                problems.append(f"cell {index} has solution/hidden-test markers but no nbgrader metadata")
            continue
        grade_id = meta.get("grade_id")
        if not grade_id:
            problems.append(f"cell {index} has no grade_id")
        elif grade_id in seen:
            problems.append(f"grade_id {grade_id!r} is used twice")
        seen.add(grade_id)
        if meta.get("schema_version") != 3:
            problems.append(f"{grade_id}: schema_version is {meta.get('schema_version')!r}, expected 3")
        if meta.get("solution"):
            if cell.cell_type == "code" and not (
                "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            ):
                problems.append(f"{grade_id}: answer cell without ### BEGIN SOLUTION / ### END SOLUTION")
            if cell.cell_type == "code":
                answers.append(grade_id)
                tests_after[grade_id] = 0
        if meta.get("grade"):
            if cell.cell_type == "code" and not meta.get("locked"):
                problems.append(f"{grade_id}: test cell is not locked")
            if not isinstance(meta.get("points"), (int, float)) or meta.get("points") <= 0:
                problems.append(f"{grade_id}: test cell needs points > 0")
            if answers and cell.cell_type == "code":
                tests_after[answers[-1]] += 1
    exercises = [a for a in answers if tests_after[a] > 0]
    if len(exercises) < 2:
        problems.append(f"needs at least 2 exercises (an answer cell followed by a test cell), found {len(exercises)}")
    return problems


def student_version(notebook):
    """What ``nbgrader generate_assignment`` hands out: solutions stubbed, hidden tests removed."""
    student = copy.deepcopy(notebook)
    resources: dict = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests(), LockCells()):
        student, resources = preprocessor.preprocess(student, resources)
    return student


def is_run_tagged(cell) -> bool:
    return bool(RUN_TAGS & set(cell.metadata.get("tags", [])))


def exercise_cells(notebook) -> list:
    """The nbgrader code cells of a notebook, in order (copies)."""
    return [copy.deepcopy(c) for c in notebook.cells if c.cell_type == "code" and nbgrader_meta(c)]


def exercise_run(source_nb, student_nb):
    """One notebook to execute: the setup/parameters cells, then the student's exercise cells, then the
    source's. One kernel serves both versions (start-up dominates the cost); the student's cells run
    first, so nothing of the instructor's solution exists while the student's tests run."""
    setup = [copy.deepcopy(c) for c in source_nb.cells if c.cell_type == "code" and is_run_tagged(c)]
    student, source = exercise_cells(student_nb), exercise_cells(source_nb)
    for index, cell in enumerate(student):  # both versions share cell ids; ids must stay unique
        cell["id"] = f"student-{index}"
    notebook = new_notebook(cells=setup + student + source, metadata=source_nb.metadata)
    return notebook, setup, student, source


def execute(notebook, workdir: Path):
    """Run every cell even past errors, in the tiny profile, and return the executed notebook."""
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=dict(os.environ, GENAI_COURSE_PROFILE="tiny", HF_HUB_OFFLINE="1"))
    return notebook


def error_of(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
    return None


def assignment_problems(notebook, workdir: Path) -> list[str]:
    """Source tests must pass; the generated student version's tests must fail (until answered)."""
    problems = metadata_problems(notebook)
    if problems:
        return problems
    combined, setup, student, source = exercise_run(notebook, student_version(notebook))
    execute(combined, workdir)  # the cells in setup/student/source are the executed ones
    for cell in setup:
        if error_of(cell):
            problems.append(f"setup/parameters cell fails: {error_of(cell)}")
    for cell in source:
        meta, error = nbgrader_meta(cell), error_of(cell)
        if error:
            problems.append(f"source version: {meta.get('grade_id')} fails: {error}")
    for cell in student:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and "NotImplementedError" not in cell.source:
            problems.append(f"student version: {meta['grade_id']} still holds the solution")
        if meta.get("grade") and error_of(cell) is None:
            problems.append(f"student version: test {meta['grade_id']} passes without an answer")
        if "BEGIN HIDDEN TESTS" in cell.source:
            problems.append(f"student version: {meta.get('grade_id')} still shows its hidden tests")
    return problems


# ----------------------------------------------------------------------------- the committed labs


@pytest.mark.parametrize("stem", list(LAB_NAMES.values()))
def test_lab_notebook_is_a_valid_nbgrader_assignment(stem, tmp_path):
    path = REPO / "notebooks" / f"{stem}.ipynb"
    if not path.exists():
        pytest.skip(f"{path.relative_to(REPO)} is not written yet")
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert assignment_problems(notebook, tmp_path) == []


# ----------------------------------------------------------------------------- the checker itself


def _nbgrader(grade_id: str, solution: bool) -> dict:
    meta = {
        "grade": not solution,
        "solution": solution,
        "locked": not solution,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    return {"nbgrader": {**meta, "points": 1} if not solution else meta}


def example_assignment():
    """A small lab-shaped assignment: setup and parameters cells, two exercises, and an expensive cell
    (standing in for training) that must not run."""
    cells = [
        new_markdown_cell("# Example lab"),
        new_code_cell("import math\nfrom genai_course import get_profile", metadata={"tags": ["setup"]}),
        new_code_cell(
            'PROFILE = None  # "tiny", "full" or "auto"\nprofile = get_profile(PROFILE)\nprint(profile.describe())',
            metadata={"tags": ["parameters"]},
        ),
        new_code_cell("raise RuntimeError('the training cell must not run in this test')"),
        new_code_cell(
            "def percent_trainable(trainable, total):\n    ### BEGIN SOLUTION\n    return 100 * trainable / total\n    ### END SOLUTION",
            metadata=_nbgrader("example-ex1-answer", True),
        ),
        new_code_cell(
            "assert percent_trainable(1, 4) == 25\n### BEGIN HIDDEN TESTS\nassert math.isclose(percent_trainable(3538944, 251116800), 1.41, abs_tol=0.01)\n### END HIDDEN TESTS",
            metadata=_nbgrader("example-ex1-test", False),
        ),
        new_code_cell(
            "def reward(logits, id2label):\n    ### BEGIN SOLUTION\n    index = {v: k for k, v in id2label.items()}['nothate']\n    return logits[index]\n    ### END SOLUTION",
            metadata=_nbgrader("example-ex2-answer", True),
        ),
        new_code_cell(
            "assert reward([0.5, -2.0], {0: 'nothate', 1: 'hate'}) == 0.5\nassert profile.is_tiny\n"
            "### BEGIN HIDDEN TESTS\nassert reward([0.5, -2.0], {1: 'nothate', 0: 'hate'}) == -2.0\n### END HIDDEN TESTS",
            metadata=_nbgrader("example-ex2-test", False),
        ),
    ]
    return new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    )


def test_example_assignment_passes_the_check(tmp_path):
    assert assignment_problems(example_assignment(), tmp_path) == []


def test_student_version_stubs_solutions_and_hides_tests():
    student = student_version(example_assignment())
    answer, test = student.cells[4], student.cells[5]
    assert "raise NotImplementedError()" in answer.source and "return 100" not in answer.source
    assert "HIDDEN" not in test.source and "1.41" not in test.source
    assert "percent_trainable(1, 4) == 25" in test.source


def test_only_setup_parameters_and_exercise_cells_are_run():
    notebook = example_assignment()
    combined, setup, student, source = exercise_run(notebook, student_version(notebook))
    assert (len(setup), len(student), len(source)) == (2, 4, 4)
    assert not any("must not run" in c.source for c in combined.cells)
    assert "NotImplementedError" in student[0].source and "return 100" in source[0].source


@pytest.mark.parametrize(
    "break_it, problem",
    [
        (lambda nb: nb.cells[5].metadata["nbgrader"].update(grade_id="example-ex1-answer"), "used twice"),
        (lambda nb: nb.cells[4].metadata["nbgrader"].update(schema_version=2), "schema_version is 2"),
        (
            lambda nb: setattr(nb.cells[6], "source", "def reward(logits, id2label):\n    return logits[0]"),
            "without ### BEGIN SOLUTION",
        ),
        (lambda nb: nb.cells.__delitem__(7), "at least 2 exercises"),
        (lambda nb: nb.cells[5].metadata["nbgrader"].update(points=0), "points > 0"),
        (
            lambda nb: nb.cells[3].update(source="x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"),
            "no nbgrader metadata",
        ),
    ],
)
def test_metadata_mistakes_are_caught(break_it, problem):
    notebook = example_assignment()
    break_it(notebook)
    assert any(problem in p for p in metadata_problems(notebook)), metadata_problems(notebook)


def test_a_test_that_passes_without_an_answer_is_caught(tmp_path):
    notebook = example_assignment()
    notebook.cells[7].source = "assert profile.is_tiny"  # no longer tests the answer
    problems = assignment_problems(notebook, tmp_path)
    assert problems == ["student version: test example-ex2-test passes without an answer"]
