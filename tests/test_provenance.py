"""Issue 12, as a student who wants the points without doing the lab: each attack is a crafted copy of
the released notebook (outputs and execution counts added programmatically, nothing executed), and
must get the right verdict with a reason a person understands."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest
from crafted_notebooks import (
    REPO,
    cell_of,
    error_output,
    lab2_results,
    make_notebook,
    record_cell,
    record_output,
    write,
)
from nbformat.v4 import new_code_cell, new_output

from genai_course import provenance
from genai_course.grading import format_table, grade_notebook, grade_paths, write_csv
from genai_course.results import LABS
from genai_course.rubric import Rubric

BETTER = lab2_results(lora_rouge1=0.54)


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return Rubric.load(REPO / "labs" / "lab2_finetuning" / "rubric.toml")


def failing(notebook):
    """A genuine run whose numbers miss the rubric (LoRA far below full fine-tuning)."""
    return make_notebook(results=lab2_results(lora_rouge1=0.1)) if notebook is None else notebook


def grade(notebook, rubric, tmp_path, name="submission", **kwargs):
    return grade_notebook(write(notebook, tmp_path / f"{name}.ipynb"), rubric, **kwargs)


def reasons(report) -> str:
    return " | ".join(report.reasons)


def last_count(notebook) -> int:
    return max(c.execution_count or 0 for c in notebook.cells if c.cell_type == "code")


# ----------------------------------------------------------------------------- the fingerprints


def test_shipped_fingerprints_match_the_notebooks():
    shipped = json.loads(provenance.FINGERPRINTS_FILE.read_text(encoding="utf-8"))
    assert shipped == provenance.release_fingerprints(REPO / "notebooks"), (
        f"src/genai_course/{provenance.FINGERPRINTS_FILE.name} is stale: the lab notebooks changed. "
        f"Regenerate it with `{provenance.WRITE_COMMAND}` and commit it."
    )


def test_every_lab_has_a_record_cell_setup_cells_and_tests():
    for lab in LABS:
        release = provenance.load_release(lab)
        assert release["record_cell"]["id"] and len(release["setup_cells"]) >= 3 and len(release["test_cells"]) >= 2
        assert [c["role"] for c in release["setup_cells"]].count("parameters") == 1


def test_hidden_tests_and_whitespace_do_not_change_a_fingerprint():
    cell = cell_of(make_notebook(), "lab2-ex1-test")
    student = copy.deepcopy(cell)
    student.source = provenance.without_hidden_tests(cell.source).replace("\n", "  \r\n") + "\n\n"
    assert provenance.source_digest(student, "test") == provenance.source_digest(cell, "test")


# ----------------------------------------------------------------------------- the attacks


def test_a_genuine_looking_notebook_passes(rubric, tmp_path):
    report = grade(make_notebook(), rubric, tmp_path)
    assert report.verdict == "pass" and report.reasons == [] and report.profile == "tiny"


def test_choosing_the_profile_in_the_parameters_cell_is_allowed(rubric, tmp_path):
    notebook = make_notebook()
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = parameters.source.replace("PROFILE = None", 'PROFILE = "tiny"').replace(
        "TRAIN_EXAMPLES = None", "TRAIN_EXAMPLES = 2000"
    )
    assert grade(notebook, rubric, tmp_path).verdict == "pass"
    parameters.source += "\nimport genai_course.results as r; r.results_payload = lambda *a, **k: {}"
    report = grade(notebook, rubric, tmp_path, "patched")
    assert report.verdict == "fail" and "only the values of its settings may change" in reasons(report)


def test_an_appended_record_cell_fails_naming_it(rubric, tmp_path):
    notebook = failing(None)
    count = last_count(notebook) + 1
    forged = new_code_cell(
        'record_results("lab2", {...better numbers...}, profile="tiny")',
        execution_count=count,
        outputs=[record_output("lab2", BETTER)],
    )
    notebook.cells.append(forged)
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail"
    assert f'cell {len(notebook.cells) - 1} (record_results("lab2"' in reasons(report)
    assert "only the lab's record cell" in reasons(report) and "not counted" in reasons(report)


def test_the_record_cell_replaced_by_literals_fails(rubric, tmp_path):
    notebook = make_notebook(results=BETTER)
    record_cell(notebook).source = f"record_results('lab2', {BETTER!r}, profile='tiny')"
    report = grade(notebook, rubric, tmp_path)
    index = notebook.cells.index(record_cell(notebook))
    assert report.verdict == "fail" and f"the record cell (cell {index} " in reasons(report)
    assert "was edited: its source differs from the release" in reasons(report)


def test_a_second_record_from_a_copied_cell_fails(rubric, tmp_path):
    notebook = failing(None)
    copied = copy.deepcopy(record_cell(notebook))
    copied.id = "c0ffee00"  # Jupyter gives a pasted cell a new id
    copied.execution_count = last_count(notebook) + 1
    copied.outputs = [record_output("lab2", BETTER)]
    notebook.cells.append(copied)
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail" and f"cell {len(notebook.cells) - 1} (record_results(" in reasons(report)
    data = json.loads(nbformat.writes(notebook))
    data["cells"][-1]["id"] = record_cell(notebook).id  # copied by hand in the JSON, id and all
    (tmp_path / "same_id.ipynb").write_text(json.dumps(data), encoding="utf-8")  # nbformat.write would repair it
    report = grade_notebook(tmp_path / "same_id.ipynb", rubric)
    assert report.verdict == "fail" and "share the record cell's id" in reasons(report)


def test_a_test_cell_replaced_by_pass_fails_naming_it(rubric, tmp_path):
    notebook = make_notebook()
    cell_of(notebook, "lab2-ex1-test").source = "pass"
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail"
    assert "test lab2-ex1-test (cell 13) was changed: its source differs from the release" in reasons(report)
    assert (report.tests_passed, report.points, report.points_total) == (1, 1.0, 2.0)  # the changed test earns nothing


def test_a_test_cell_demoted_or_given_more_points_gains_nothing(rubric, tmp_path):
    notebook = make_notebook()
    cell_of(notebook, "lab2-ex1-test").metadata.nbgrader["grade"] = False
    cell_of(notebook, "lab2-ex2-test").metadata.nbgrader["points"] = 100
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail" and "test lab2-ex1-test (cell 13) is no longer marked" in reasons(report)
    assert report.points_total == 1.0  # the release's points, not the submission's


def test_test_outputs_copied_from_another_run_fail(rubric, tmp_path):
    notebook = make_notebook()
    test = cell_of(notebook, "lab2-ex2-test")
    test.outputs = [new_output("execute_result", data={"text/plain": "True"}, execution_count=41)]
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail" and "outputs copied from another run" in reasons(report)
    test.execution_count = test.outputs[0].execution_count = 41  # the other run's count too: now out of order
    report = grade(notebook, rubric, tmp_path, "counts")
    assert report.verdict == "fail" and "cells ran out of order" in reasons(report)


def test_a_record_from_an_earlier_run_followed_by_a_failing_rerun_fails(rubric, tmp_path):
    notebook = make_notebook()
    measurement = next(c for c in notebook.cells if c.source.startswith('scores["full"] = score('))
    measurement.execution_count = last_count(notebook) + 1  # re-run after the record was made, and failed
    measurement.outputs = [error_output("RuntimeError", "CUDA out of memory")]
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail"
    assert "ran after the record was made" in reasons(report) and "the record is from an earlier run" in reasons(report)
    rerun = make_notebook()
    record_cell(rerun).outputs.append(error_output("NameError", "name 'scores' is not defined"))
    report = grade(rerun, rubric, tmp_path, "record_rerun")
    assert report.verdict == "fail" and "failed when last run: its record is from an earlier run" in reasons(report)


def test_a_record_cell_with_a_new_id_is_explained(rubric, tmp_path):
    notebook = make_notebook()
    record_cell(notebook).id = "deadbeef"
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail" and "has its source under another id" in reasons(report)


def test_an_edited_measurement_cell_fails(rubric, tmp_path):
    notebook = make_notebook(results=BETTER)
    measurement = next(c for c in notebook.cells if c.source.startswith('scores["full"] = score('))
    measurement.source = "scores = {'full': {'rouge1': 0.55}, 'lora': {'rouge1': 0.54}}"
    report = grade(notebook, rubric, tmp_path)
    assert report.verdict == "fail" and "differs from the release, and the record depends on it" in reasons(report)


def test_a_symlinked_submission_is_refused(rubric, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(make_notebook(), elsewhere / "good.ipynb")
    submitted = tmp_path / "submitted"
    (submitted / "mallory").mkdir(parents=True)
    (submitted / "mallory" / "lab2_finetuning.ipynb").symlink_to(elsewhere / "good.ipynb")
    (submitted / "trudy").symlink_to(elsewhere, target_is_directory=True)
    reports = {r.student: r for r in grade_paths("lab2", [submitted], rubric, progress=False)}
    assert reports["mallory"].verdict == "error" and "a symbolic link: refused" in reasons(reports["mallory"])
    assert reports["trudy"].verdict == "error" and "symbolic link to a folder" in reasons(reports["trudy"])
    direct = grade_notebook(submitted / "mallory" / "lab2_finetuning.ipynb", rubric)
    assert direct.verdict == "error" and "symbolic link" in reasons(direct)


def test_a_bidi_student_name_is_stripped_from_table_and_csv(rubric, tmp_path):
    name = "eve\u202egnp.\u2066x\u200b\x1b[31m"
    write(make_notebook(), tmp_path / f"{name}.ipynb")
    reports = grade_paths("lab2", [tmp_path], rubric, progress=False)
    write_csv(reports, tmp_path / "grades.csv")
    for shown in (format_table(reports), (tmp_path / "grades.csv").read_text(encoding="utf-8")):
        assert not any(ch in shown for ch in "\u202e\u2066\u200b\x1b")
        assert "evegnp.x[31m" in shown


def test_a_required_profile_refuses_others(rubric, tmp_path):
    strict = copy.deepcopy(rubric)
    strict.required_profile = "full"
    report = grade(make_notebook(), strict, tmp_path)
    assert report.verdict == "fail" and "ran with profile 'tiny', this assignment requires 'full'" in reasons(report)
    assert "tiny" in format_table([report])


def test_notebook_saved_without_cell_ids_fails_with_a_reason(rubric, tmp_path):
    data = json.loads(nbformat.writes(make_notebook()))
    data["nbformat_minor"] = 4
    for cell in data["cells"]:
        cell.pop("id", None)
    (tmp_path / "old.ipynb").write_text(json.dumps(data), encoding="utf-8")
    report = grade_notebook(tmp_path / "old.ipynb", rubric)
    assert report.verdict == "fail" and "record cell (id" in reasons(report) and "is missing" in reasons(report)
