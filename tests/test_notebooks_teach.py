"""The lab notebooks teach the ecosystem's API (issue #32): the calls each lab is about stand in its
code cells, each lab has an exercise whose solution writes one of them, and the calls rooted in this
project's helpers stay at most half of what they were before the notebooks were rewritten.

Counted on the AST of the code cells by ``benchmarks/notebook_calls.py`` (the tool that reports the
counts); the spellings below are read from the cells' source.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("notebook_calls", REPO / "benchmarks" / "notebook_calls.py")
notebook_calls = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebook_calls)

# The calls of genai_course's helpers in each notebook before the rewrite (the tool's count at 822cb83).
BEFORE = {"lab1": 45, "lab2": 52, "lab3": 58, "lab4": 66, "lab5": 45}
NOTEBOOKS = {
    "lab1": "lab1_prompting",
    "lab2": "lab2_finetuning",
    "lab3": "lab3_detox_rlhf",
    "lab4": "lab4_pretraining_scaling",
    "lab5": "lab5_reasoning_retrieval",
}
# What each lab teaches, as it must appear in its code cells (regular expressions on the source).
CALLS = {
    "lab1": {
        "load_dataset": r"\bload_dataset\(",
        "AutoTokenizer.from_pretrained": r"\bAutoTokenizer\.from_pretrained\(",
        "AutoModelForSeq2SeqLM.from_pretrained": r"\bAutoModelForSeq2SeqLM\.from_pretrained\(",
        "the instruction as text": r"Summarize the following conversation\.",
        'tokenizer(..., return_tensors="pt")': r"return_tensors=\"pt\"",
        "GenerationConfig": r"\bGenerationConfig\(",
        "model.generate": r"\.generate\(",
        "tokenizer.decode": r"\.(batch_)?decode\(",
    },
    "lab2": {
        "dataset.map(..., batched=True)": r"\.map\((?s:.)*?batched=True",
        "the -100 label padding": r"-100",
        "Seq2SeqTrainingArguments": r"\bSeq2SeqTrainingArguments\(",
        "DataCollatorForSeq2Seq": r"\bDataCollatorForSeq2Seq\(",
        "Seq2SeqTrainer": r"\bSeq2SeqTrainer\(",
        "trainer.train()": r"\btrainer\.train\(",
        "LoraConfig": r"\bLoraConfig\(",
        "TaskType.SEQ_2_SEQ_LM": r"TaskType\.SEQ_2_SEQ_LM",
        "get_peft_model": r"\bget_peft_model\(",
        "print_trainable_parameters": r"\.print_trainable_parameters\(\)",
        "PeftModel.from_pretrained": r"\bPeftModel\.from_pretrained\(",
        "evaluate.load": r"\bevaluate\.load\(",
        ".compute(predictions=..., references=...)": r"\.compute\(predictions=",
    },
    "lab3": {
        'pipeline("text-classification", ..., top_k=None)': r"pipeline\(\s*\"text-classification\"(?s:.)*?top_k=None",
        "LoraConfig": r"\bLoraConfig\(",
        "the PPO step": r"\.step\(",
        "GRPOConfig": r"\bGRPOConfig\(",
        "GRPOTrainer": r"\bGRPOTrainer\(",
        "trainer.train()": r"\.train\(\)",
    },
    "lab4": {
        "from_config": r"\.from_config\(",
        "numel": r"\.numel\(\)",
        "torchao's quantize_": r"\bquantize_\(",
    },
    "lab5": {
        "bm25s's index": r"\.index\(",
        "bm25s's retrieve": r"\.retrieve\(",
        "model.generate": r"\.generate\(",
    },
}
_SOLUTION = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)


def _notebook(lab: str):
    return nbformat.read(REPO / "notebooks" / f"{NOTEBOOKS[lab]}.ipynb", as_version=4)


def _code(lab: str) -> str:
    return "\n".join(cell.source for cell in _notebook(lab).cells if cell.cell_type == "code")


@pytest.mark.parametrize("lab", sorted(CALLS))
def test_the_calls_the_lab_teaches_stand_in_its_cells(lab):
    code = _code(lab)
    missing = [name for name, pattern in CALLS[lab].items() if not re.search(pattern, code)]
    assert not missing, f"{lab} lacks, in its code cells: {missing}"


@pytest.mark.parametrize("lab", sorted(CALLS))
def test_an_exercise_has_the_learner_write_one_of_them(lab):
    solutions = "\n".join(
        match for cell in _notebook(lab).cells if cell.cell_type == "code" for match in _SOLUTION.findall(cell.source)
    )
    written = [name for name, pattern in CALLS[lab].items() if re.search(pattern, solutions)]
    assert written, f"no exercise of {lab} has the learner write any of {sorted(CALLS[lab])}"


@pytest.mark.parametrize("lab", sorted(CALLS))
def test_the_helpers_calls_fell_to_at_most_half(lab):
    count = notebook_calls.count_calls(REPO / "notebooks" / f"{NOTEBOOKS[lab]}.ipynb")
    assert count["ours"] <= BEFORE[lab] // 2, f"{lab}: {count['ours']} calls of genai_course (before: {BEFORE[lab]})"
    assert count["ecosystem"] > count["ours"] // 2, f"{lab}: only {count['ecosystem']} ecosystem calls"


def test_the_counter_tells_ours_from_the_ecosystem(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from genai_course import finetune as ft\nfrom transformers import AutoModel"),
        nbformat.v4.new_code_cell("model = AutoModel.from_pretrained('x')\nmodel.generate()\nft.train(model)\n%pip x"),
    ]
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, path)
    count = notebook_calls.count_calls(path)
    assert (count["ours"], count["ecosystem"]) == (1, 2)
    assert count["ecosystem_names"] == ["AutoModel.from_pretrained", "model.generate"]
