"""Recording results into a notebook's outputs and reading them back without running anything."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from genai_course.results import (
    RESULTS_MIME,
    ResultsNotFoundError,
    find_records,
    lab_id,
    read_results,
    record_results,
    results_payload,
)


def test_payload_turns_numpy_and_torch_scalars_into_plain_json():
    payload = results_payload(
        "lab2", {"a": np.float32(0.5), "b": torch.tensor(3), "c": (1, np.int64(2)), 4: True}, profile="tiny"
    )
    assert payload == {"lab": "lab2", "profile": "tiny", "results": {"a": 0.5, "b": 3, "c": [1, 2], "4": True}}
    assert type(payload["results"]["a"]) is float and type(payload["results"]["b"]) is int
    json.dumps(payload)  # plain JSON all the way down


@pytest.mark.parametrize(
    "bad, error", [(float("nan"), "non-finite"), (np.float64("inf"), "non-finite"), (object(), "type object")]
)
def test_payload_refuses_values_that_cannot_be_recorded(bad, error):
    with pytest.raises((ValueError, TypeError), match=error):
        results_payload("lab1", {"x": {"y": bad}}, profile="tiny")


def test_unknown_lab_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="expected one of lab1, lab2, lab3, lab4, lab5"):
        results_payload("lab9", {}, profile="tiny")


def test_record_results_outside_ipython_prints_the_record(capsys):
    payload = record_results("lab3", {"kl_final": 1.25}, profile="tiny")
    printed = json.loads(capsys.readouterr().out)
    assert printed == payload == {"lab": "lab3", "profile": "tiny", "results": {"kl_final": 1.25}}


def test_record_results_in_ipython_shows_text_and_the_machine_readable_record():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    try:
        with capture_output() as captured:
            record_results("lab1", {"rouge": {"flan": {"rouge1": 0.5}}}, profile="tiny")
    finally:
        InteractiveShell.clear_instance()
    (output,) = captured.outputs
    assert output.data[RESULTS_MIME]["results"]["rouge"]["flan"]["rouge1"] == 0.5
    # the text a reader sees is the same record, so a grader can detect edits of either one
    assert json.loads(output.data["text/plain"]) == output.data[RESULTS_MIME]


def _notebook_with_records(*records: tuple[str, dict]):
    cells = [
        new_markdown_cell("# results"),
        new_code_cell("print('hi')", execution_count=1, outputs=[new_output("stream", name="stdout", text="hi\n")]),
    ]
    for count, (lab, results) in enumerate(records, start=2):
        payload = results_payload(lab, results, profile="tiny")
        output = new_output("display_data", data={"text/plain": json.dumps(payload), RESULTS_MIME: payload})
        cells.append(new_code_cell("record_results(...)", execution_count=count, outputs=[output]))
    return new_notebook(cells=cells)


def test_find_records_lists_every_record_with_its_cell_and_text():
    notebook = _notebook_with_records(("lab1", {"n": 1}), ("lab2", {"n": 2}))
    records = find_records(notebook)
    assert [(r.cell_index, r.execution_count, r.lab) for r in records] == [(2, 2, "lab1"), (3, 3, "lab2")]
    assert json.loads(records[1].text) == records[1].payload


def test_find_records_ignores_malformed_cells_instead_of_crashing():
    hostile = {
        "cells": [
            None,
            3,
            {"cell_type": "code", "outputs": "x"},
            {"cell_type": "code", "outputs": [7, {"data": []}]},
            {"cell_type": "code", "execution_count": "1", "outputs": [{"data": {RESULTS_MIME: [1]}}]},
        ]
    }
    (record,) = find_records(hostile)
    assert record.payload == [1] and record.lab is None and record.execution_count is None and record.text is None
    assert find_records([]) == [] and find_records({"cells": "no"}) == []


def test_read_results_returns_the_last_record_of_the_lab(tmp_path):
    notebook = _notebook_with_records(("lab2", {"n": 1}), ("lab1", {"n": 5}), ("lab2", {"n": 2}))
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, path)
    assert read_results(path, "lab2")["results"] == {"n": 2}
    assert read_results(path, "lab1_prompting")["results"] == {"n": 5}
    assert read_results(notebook)["results"] == {"n": 2}  # any lab: the last one


def test_read_results_says_what_it_found_instead(tmp_path):
    with pytest.raises(ResultsNotFoundError, match="it has records for lab1"):
        read_results(_notebook_with_records(("lab1", {})), "lab3")
    with pytest.raises(ResultsNotFoundError, match="no recorded results"):
        read_results(_notebook_with_records())


@pytest.mark.parametrize("name, lab", [("lab1", "lab1"), (" LAB2 ", "lab2"), ("lab3_detox_rlhf", "lab3")])
def test_lab_id_accepts_ids_and_folder_names(name, lab):
    assert lab_id(name) == lab


def test_lab_id_rejects_others():
    with pytest.raises(ValueError, match="lab2 \\(lab2_finetuning\\)"):
        lab_id("finetuning")
