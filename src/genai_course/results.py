"""Recording a lab's key numbers inside the executed notebook, machine-readably.

``record_results`` shows the numbers as readable text *and* attaches the same dict as JSON under a
dedicated MIME type, so an executed notebook carries its results (for ``genai-course grade`` and
``genai-course run``) without being re-run.
"""

from __future__ import annotations

import json
import math
from typing import Any

RESULTS_MIME = "application/vnd.genai-course.results+json"
LABS = ("lab1", "lab2", "lab3")


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
        from IPython.display import display

        display({"text/plain": text, RESULTS_MIME: payload}, raw=True)
    except ImportError:  # outside IPython: still visible
        print(text)
    return payload
