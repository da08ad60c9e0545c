"""``genai-course run`` on small crafted lab notebooks: outputs, report, exit codes and failures."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from genai_course import runner
from genai_course.grading import grade_notebook
from genai_course.provenance import fingerprint_notebook
from genai_course.results import LAB_NAMES
from genai_course.rubric import Rubric

# A 1x1 PNG, displayed by the fake labs as their "figure".
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def fake_lab(lab: str, *, fail: bool = False, record: bool = True):
    """A lab notebook that runs in a second: a figure, a results record (profile from the env)."""
    cells = [
        new_markdown_cell(f"# Fake {lab}"),
        new_code_cell(
            "import base64, os\nfrom IPython.display import Image, display\nfrom genai_course.results import record_results"
        ),
        new_code_cell(f"display(Image(data=base64.b64decode({PNG_B64!r})))"),
    ]
    if fail:
        cells.append(new_code_cell("value = 1\nraise ValueError('boom: the lab broke')"))
    if record:
        cells.append(
            new_code_cell(
                f"record_results({lab!r}, {{'n_eval': 3, 'rouge': {{'original': {{'rouge1': 0.25, 'rougeL': 0.2}}, "
                "'full': {'rouge1': 0.5, 'rougeL': 0.4}}, 'shots_curve': [{'shots': 0, 'fits': True}, {'shots': 3, 'fits': False}]}, "
                "profile=os.environ['GENAI_COURSE_PROFILE'])"
            )
        )
    cells.append(new_code_cell("print('the end')"))
    return new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    )


def write_labs(folder: Path, **variants: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for lab, stem in LAB_NAMES.items():
        nbformat.write(fake_lab(lab, **variants.get(lab, {})), folder / f"{stem}.ipynb")
    return folder


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    runner.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """`run all` where lab1 works, lab2 fails in a cell and lab3 never records its results."""
    root = tmp_path_factory.mktemp("mixed")
    notebooks = write_labs(root / "notebooks", lab2={"fail": True}, lab3={"record": False})
    out = root / "runs"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli(["run", "all", "--profile", "tiny", "--out", str(out), "--notebooks", str(notebooks)])
    return code, out, stdout.getvalue(), stderr.getvalue()


def test_a_failing_lab_gives_a_nonzero_exit_naming_lab_cell_and_error(mixed_run):
    code, _, _, stderr = mixed_run
    assert code == 1
    assert "lab2 failed at cell 3 (value = 1): ValueError: boom: the lab broke" in stderr


def test_the_partially_executed_notebook_is_still_written(mixed_run):
    _, out, _, _ = mixed_run
    executed = nbformat.read(out / "lab2" / "lab2_finetuning.ipynb", as_version=4)
    assert [o.output_type for o in executed.cells[3].outputs] == ["error"]
    assert executed.cells[1].execution_count == 1 and executed.cells[-1].execution_count is None
    assert not (out / "lab2" / "results.json").exists()


def test_other_labs_still_run_and_a_missing_record_is_a_failure(mixed_run):
    _, out, stdout, stderr = mixed_run
    assert json.loads((out / "lab1" / "results.json").read_text())["results"]["n_eval"] == 3
    assert "lab3 ran but recorded no results" in stderr
    assert "lab1: ok" in stdout and "lab2: FAILED" in stdout and "lab3: FAILED" in stdout
    report = (out / "report.md").read_text()
    assert "| lab2 | FAILED |" in report and "**Failed:** lab2 failed at cell 3" in report
    summary = json.loads((out / "summary.json").read_text())
    assert [summary["labs"][lab]["ok"] for lab in ("lab1", "lab2", "lab3")] == [True, False, False]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    notebooks = write_labs(root / "notebooks")
    out = root / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli(["run", "lab1", "--profile", "tiny", "--out", str(out), "--notebooks", str(notebooks)])
    return code, out, stdout.getvalue()


def test_a_good_run_exits_0_and_prints_the_times(good_run):
    code, out, stdout = good_run
    assert code == 0
    assert "lab1" in stdout and "total" in stdout and f"Report: {out / 'report.md'}" in stdout
    assert not (out / "lab2").exists()  # only the lab asked for


def test_executed_notebook_results_and_figures_are_written(good_run):
    _, out, _ = good_run
    executed = nbformat.read(out / "lab1" / "lab1_prompting.ipynb", as_version=4)
    counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    record = json.loads((out / "lab1" / "results.json").read_text())
    assert record["lab"] == "lab1" and record["profile"] == "tiny"  # the profile reached the kernel
    figure = out / "lab1" / "figures" / "cell02-1.png"
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_report_has_status_tables_and_figures(good_run):
    _, out, _ = good_run
    report = (out / "report.md").read_text()
    assert "| lab1 | ok | tiny |" in report
    assert "| rouge | rouge1 | rougeL |" in report and "| full | 0.5 | 0.4 |" in report
    assert "| shots | fits |" in report and "| 3 | no |" in report
    assert "![cell02-1](lab1/figures/cell02-1.png)" in report
    assert "Rubric check:" in report  # the crafted numbers are checked against labs/lab1_prompting/rubric.toml


def test_a_record_made_by_a_real_kernel_is_trusted_by_the_grader(good_run):
    _, out, _ = good_run
    rubric = Rubric.from_dict(
        {
            "lab": "lab1",
            "min_exercises": 0,
            "profiles": {"tiny": {"rules": [{"path": "n_eval", "op": ">=", "value": 3}]}},
        }
    )
    release = fingerprint_notebook(nbformat.read(out.parent / "notebooks" / "lab1_prompting.ipynb", as_version=4))
    report = grade_notebook(out / "lab1" / "lab1_prompting.ipynb", rubric, release=release)
    assert report.verdict == "pass", report.reasons


def test_missing_notebooks_exit_2_with_what_to_do(tmp_path, capsys):
    assert cli(["run", "all", "--notebooks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli(["run", "lab3", "--notebooks", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "lab3_detox_rlhf.ipynb does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_profile_comes_from_the_flag_then_the_environment_then_auto(monkeypatch):
    parser = argparse.ArgumentParser()
    runner.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "all", "--profile", "huge"])
    monkeypatch.delenv("GENAI_COURSE_PROFILE", raising=False)
    assert runner.requested_profile(parser.parse_args(["run", "all"]).profile) == "auto"
    monkeypatch.setenv("GENAI_COURSE_PROFILE", "tiny")  # asked for tiny online without a GPU: tiny, not cpu
    assert runner.requested_profile(None) == "tiny"
    assert runner.requested_profile("full") == "full"
    monkeypatch.setenv("GENAI_COURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match="GENAI_COURSE_PROFILE='huge' is not a profile"):
        runner.requested_profile(None)


def test_a_bad_profile_in_the_environment_stops_before_running(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENAI_COURSE_PROFILE", "huge")
    assert cli(["run", "lab1", "--out", str(tmp_path / "o")]) == 2
    assert "GENAI_COURSE_PROFILE='huge' is not a profile" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_course_folders_are_found_from_the_checkout_or_refused(tmp_path):
    assert runner.find_course_folder("labs") == Path(runner.__file__).resolve().parents[2] / "labs"
    with pytest.raises(runner.CourseFilesNotFound, match="not a folder"):
        runner.find_course_folder("notebooks", tmp_path / "missing")


def test_results_tables_render_matrices_lists_and_scalars():
    text = runner.results_tables(
        {
            "n_eval": 120,
            "overflow_detected": True,
            "params": {"full": {"trainable": 10, "percent": 100.0}, "lora": {"trainable": 1, "percent": 2.5}},
            "forgetting": {"task": "topic", "original": 0.81234},
        }
    )
    assert "| n_eval | 120 |" in text and "| overflow_detected | yes |" in text
    assert "| params | trainable | percent |" in text and "| lora | 1 | 2.5 |" in text
    assert "| forgetting.task | topic |" in text and "| forgetting.original | 0.8123 |" in text


def test_sigterm_stops_run_all_after_saving_the_partial_notebook(tmp_path, capsys):
    notebooks = write_labs(tmp_path / "notebooks")
    stopper = fake_lab("lab2")  # the kernel's parent is this process: as if the session were stopped
    stopper.cells.insert(
        2, new_code_cell("import os, signal, time\nos.kill(os.getppid(), signal.SIGTERM)\ntime.sleep(30)")
    )
    nbformat.write(stopper, notebooks / f"{LAB_NAMES['lab2']}.ipynb")
    out = tmp_path / "runs"
    assert cli(["run", "all", "--profile", "tiny", "--notebooks", str(notebooks), "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (out / "lab1" / "results.json").is_file()
    assert (out / "lab2" / f"{LAB_NAMES['lab2']}.ipynb").is_file(), "the partial notebook is kept"
    assert not (out / "lab3").exists(), "the labs after the interrupted one do not start"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labs"]["lab2"]["status"] == "interrupted" and summary["labs"]["lab1"]["status"] == "ok"
    assert "| lab2 | interrupted |" in (out / "report.md").read_text()
