"""Crafted submissions for the grader's tests, built from the released notebooks in notebooks/.

Nothing here executes a notebook: execution counts and outputs (a results record, errors) are added
programmatically to copies of the release, the way a kernel would have left them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_output

from genai_course.results import LAB_NAMES, RESULTS_MIME, results_payload

REPO = Path(__file__).resolve().parents[1]


def rouge_scores(r1: float) -> dict:
    return {"rouge1": r1, "rouge2": r1 / 2, "rougeL": r1 * 0.8, "rougeLsum": r1 * 0.8}


def lab2_results(lora_rouge1: float = 0.52) -> dict:
    """Numbers shaped like the tiny world's Lab 2 (the shared result keys), passing the tiny rubric."""
    return {
        "n_eval": 120,
        "rouge": {
            "original": rouge_scores(0.25),
            "best_prompt": rouge_scores(0.35),
            "full": rouge_scores(0.55),
            "lora": rouge_scores(lora_rouge1),
            "full_mixed": rouge_scores(0.54),
        },
        "params": {
            "full": {"trainable": 1_500_000, "total": 1_500_000, "percent": 100.0},
            "lora": {"trainable": 45_000, "total": 1_545_000, "percent": 2.9},
        },
        "cost": {
            "full": {"seconds": 60.0, "peak_memory_mb": 900.0, "saved_mb": 6.0},
            "lora": {"seconds": 55.0, "peak_memory_mb": 700.0, "saved_mb": 0.2},
        },
        "forgetting": {
            "task": "topic",
            "metric": "accuracy",
            "original": 0.8,
            "full": 0.3,
            "full_mixed": 0.7,
            "lora": 0.5,
            "lora_off": 0.8,
        },
        "forgetting_drop": {"full": 0.5, "full_mixed": 0.1, "lora": 0.3, "lora_off": 0.0, "mixed_over_full": 0.2},
        "forgetting_lora_off_is_original": True,
        "facts": {"reference": 1.0, "original": 0.0, "full": 0.95, "lora": 0.93},
    }


def record_output(lab: str, results: dict, profile: str = "tiny"):
    """The display_data output that record_results produces in a kernel."""
    payload = results_payload(lab, results, profile=profile)
    text = json.dumps(payload, indent=2, sort_keys=True)
    return new_output("display_data", data={"text/plain": text, RESULTS_MIME: payload})


RELEASED = {lab: nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4) for lab, stem in LAB_NAMES.items()}


def cell_of(notebook, grade_id: str):
    """The cell with this nbgrader grade_id."""
    return next(c for c in notebook.cells if (c.metadata.get("nbgrader") or {}).get("grade_id") == grade_id)


def record_cell(notebook):
    """The lab's record cell (the one calling record_results)."""
    return next(c for c in notebook.cells if c.cell_type == "code" and "record_results(" in c.source)


def make_notebook(lab: str = "lab2", results: dict | None = None, *, profile: str = "tiny"):
    """The released notebook of ``lab`` as if run top to bottom: counts 1..n, the record in the record cell.

    Nothing is executed: execution counts and the record output are added programmatically.
    """
    results = lab2_results() if results is None else results
    notebook = copy.deepcopy(RELEASED[lab])
    code = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    for count, cell in enumerate(code, start=1):
        cell.execution_count, cell.outputs = count, []
    record_cell(notebook).outputs = [record_output(lab, results, profile)]
    return notebook


def write(notebook, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


def error_output(ename: str = "ValueError", evalue: str = "boom"):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
