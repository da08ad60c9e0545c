"""Recording a lab's key numbers inside the executed notebook, machine-readably.

``record_results`` shows the numbers as readable text *and* attaches the same dict as JSON under a
dedicated MIME type, so an executed notebook carries its results (for ``genai-course grade`` and
``genai-course run``) without being re-run. :func:`find_records` and :func:`read_results` read the
records back from an executed notebook without running anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_MIME = "application/vnd.genai-course.results+json"
LABS = ("lab1", "lab2", "lab3", "lab4", "lab5")
# The lab id, its folder under labs/ and its notebook under notebooks/ share this stem.
LAB_NAMES = {
    "lab1": "lab1_prompting",
    "lab2": "lab2_finetuning",
    "lab3": "lab3_detox_rlhf",
    "lab4": "lab4_pretraining_scaling",
    "lab5": "lab5_reasoning_retrieval",
}


class ResultsNotFoundError(LookupError):
    """An executed notebook that carries no recorded results (for the lab asked for)."""


def _jsonable(value: Any) -> Any:
    """Plain JSON types only: numpy/torch scalars become floats/ints, NaN is refused."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"Cannot record a non-finite number ({value}); fix the computation first.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot record a value of type {type(value).__name__}: {value!r}")


def results_payload(lab: str, results: dict, *, profile: str) -> dict:
    """The record as stored: ``{"lab", "profile", "results"}`` with plain JSON values."""
    if lab not in LABS:
        raise ValueError(f"Unknown lab {lab!r}; expected one of {', '.join(LABS)}.")
    return {"lab": lab, "profile": profile, "results": _jsonable(results)}


def record_results(lab: str, results: dict, *, profile: str) -> dict:
    """Display ``results`` in the notebook as text and as a machine-readable record; return the record."""
    payload = results_payload(lab, results, profile=profile)
    text = json.dumps(payload, indent=2, sort_keys=True)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:  # a plain script: the readable text only
        print(text)
    else:
        display({"text/plain": text, RESULTS_MIME: payload}, raw=True)
    return payload


def lab_id(name: str) -> str:
    """``"lab2"`` from ``"lab2"``, ``"LAB2"`` or ``"lab2_finetuning"``; a clear error otherwise."""
    key = str(name).strip().lower()
    for lab, stem in LAB_NAMES.items():
        if key in (lab, stem):
            return lab
    choices = ", ".join(f"{lab} ({stem})" for lab, stem in LAB_NAMES.items())
    raise ValueError(f"Unknown lab {name!r}; expected one of {choices}.")


@dataclass(frozen=True)
class RecordedOutput:
    """One results record found in a notebook's outputs, with the text shown next to it.

    ``payload`` is the machine-readable record exactly as stored (not validated); ``text`` is the
    same output's ``text/plain`` (None when missing), which a grader compares against the payload.
    """

    cell_index: int
    execution_count: int | None
    payload: Any
    text: str | None

    @property
    def lab(self) -> str | None:
        return self.payload.get("lab") if isinstance(self.payload, dict) else None


def _text(value: Any) -> str | None:
    # nbformat stores multi-line strings either joined or as a list of lines.
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value if isinstance(value, str) else None


def find_records(notebook: Any) -> list[RecordedOutput]:
    """Every results record in a notebook's outputs (a dict/NotebookNode), in cell order.

    Reads data only: tolerant of malformed cells and outputs, which are skipped.
    """
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    found: list[RecordedOutput] = []
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and RESULTS_MIME in data:
                count = cell.get("execution_count")
                found.append(
                    RecordedOutput(
                        cell_index=index,
                        execution_count=count if isinstance(count, int) else None,
                        payload=data[RESULTS_MIME],
                        text=_text(data.get("text/plain")),
                    )
                )
    return found


def read_results(notebook: Any, lab: str | None = None) -> dict:
    """The last results record (``{"lab", "profile", "results"}``) of an executed notebook.

    ``notebook`` is a path or an already-read notebook; ``lab`` restricts to that lab's records.
    Raises :class:`ResultsNotFoundError` saying what was found instead.
    """
    if isinstance(notebook, (str, Path)):
        with open(notebook, encoding="utf-8") as handle:
            notebook = json.load(handle)
    wanted = lab_id(lab) if lab else None
    records = [r for r in find_records(notebook) if isinstance(r.payload, dict)]
    matching = [r for r in records if wanted is None or r.lab == wanted]
    if not matching:
        seen = sorted({str(r.lab) for r in records})
        detail = f"it has records for {', '.join(seen)}" if seen else "it has no recorded results"
        raise ResultsNotFoundError(
            f"No results{' for ' + wanted if wanted else ''} in this notebook: {detail}. "
            "Run the notebook to the end (its record_results cell) and save it."
        )
    return matching[-1].payload
