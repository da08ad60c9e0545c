"""An offline rehearsal of the real (``full``/``cpu``) path: a flan-t5-base-shaped T5, random weights, built
from its config, with a stand-in tokenizer, through the library's own generation, evaluation-set and
fine-tuning functions, in float32 and in bfloat16 (requested explicitly, as on a CPU it must be).

What a download would add (real weights, SentencePiece) does not change shapes, dtypes or code paths; what
this catches is what only shows at the real size: FLAN-T5's 512-token window, dtype mismatches between
bf16 weights and fp32 inputs or adapters, and losses that turn non-finite.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from datasets import Dataset
from stand_in import word_tokenizer, words
from transformers import GenerationConfig, T5ForConditionalGeneration

from genai_course import finetune as ft
from genai_course import knowledge_cutoff as kc
from genai_course.evaluation import drop_over_long, group_references
from genai_course.generation import ContextWindowError, generate
from genai_course.models import flan_t5_base_config, pick_dtype, random_seq2seq
from genai_course.prompting import instruction_prompt
from genai_course.reasoning import correct, reasoning_prompt
from genai_course.tiny import town_reasoning
from genai_course.tiny.cutoff_facts import town

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
FEW_TOKENS = GenerationConfig(max_new_tokens=3, min_new_tokens=3, do_sample=False)


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module")
def fp32_model() -> T5ForConditionalGeneration:
    return random_seq2seq(flan_t5_base_config(), seed=0)  # the real shape; its weights' values do not matter


@pytest.fixture(scope="module", params=list(DTYPES))
def model(request, fp32_model) -> T5ForConditionalGeneration:
    """The base-shaped model in the dtype the policy gives for an explicit request on the CPU."""
    dtype = pick_dtype(torch.device("cpu"), request.param)
    assert dtype is DTYPES[request.param]
    return fp32_model if dtype is torch.float32 else copy.deepcopy(fp32_model).to(dtype)


def _test_split() -> Dataset:
    """Hub-style rows: a 600-word dialogue among short ones, each repeated once per reference."""
    dialogues = {"test_0": words(120), "test_1": words(600, start=200), "test_2": words(300, start=900)}
    return Dataset.from_list(
        [
            {"id": f"{key}_{k}", "dialogue": text, "summary": words(6, start=k), "topic": ""}
            for key, text in dialogues.items()
            for k in (1, 2)
        ]
    )


def test_generation_refuses_over_long_prompts_and_runs_after_the_filter(model, tokenizer):
    grouped = group_references(_test_split())
    prompts = [instruction_prompt(d) for d in grouped["dialogue"]]
    with pytest.raises(ContextWindowError, match=r"1 prompt\(s\) exceed the model's context window of 512"):
        generate(model, tokenizer, prompts, FEW_TOKENS, progress=False)
    kept, dropped = drop_over_long(grouped, tokenizer, instruction_prompt)
    assert dropped == 1 and kept["id"] == ["test_0", "test_2"]
    summaries = generate(
        model, tokenizer, [instruction_prompt(d) for d in kept["dialogue"]], FEW_TOKENS, batch_size=2, progress=False
    )
    assert len(summaries) == 2 and all(isinstance(s, str) for s in summaries)


def _train_rows() -> Dataset:
    return Dataset.from_list(
        [
            {"id": f"train_{i}", "dialogue": words(40, start=10 * i), "summary": words(8, start=i), "topic": ""}
            for i in range(4)
        ]
    )


def _settings(config_class, tmp_path, model) -> ft.FullFinetuneConfig | ft.LoraFinetuneConfig:
    """One step of two rows; bf16 mixed precision exactly when the weights are bf16 (the policy's rule)."""
    return config_class(
        output_dir=str(tmp_path / config_class.__name__),
        max_steps=1,
        per_device_train_batch_size=2,
        logging_steps=1,
        save_strategy="no",
        save_final=False,
        disable_tqdm=True,
        use_cpu=True,
        bf16=next(model.parameters()).dtype is torch.bfloat16,
    )


def _finite_losses(result: ft.FinetuneResult) -> list[float]:
    losses = [entry["loss"] for entry in result.loss_history]
    assert losses and all(math.isfinite(loss) for loss in losses), losses
    return losses


def test_one_full_finetuning_step(model, tokenizer, tmp_path):
    dtype = next(model.parameters()).dtype
    result = ft.full_finetune(model, tokenizer, _train_rows(), _settings(ft.FullFinetuneConfig, tmp_path, model))
    _finite_losses(result)
    assert result.global_step == 1
    # Trained in float32 (bf16 weights would swallow lr-sized updates), handed back in the caller's dtype.
    assert {p.dtype for p in result.model.parameters()} == {dtype}
    assert not torch.equal(result.model.shared.weight, model.shared.weight)  # it trained a copy, not ours


def test_one_lora_step(model, tokenizer, tmp_path):
    dtype = next(model.parameters()).dtype
    result = ft.lora_finetune(model, tokenizer, _train_rows(), _settings(ft.LoraFinetuneConfig, tmp_path, model))
    _finite_losses(result)
    adapters = {name: p for name, p in result.model.named_parameters() if "lora_" in name}
    frozen = {p.dtype for name, p in result.model.named_parameters() if "lora_" not in name}
    assert adapters and all(p.requires_grad for p in adapters.values())
    assert frozen == {dtype}  # the frozen base stays in the dtype it was loaded in
    # peft keeps adapters of a half-precision base in float32 (autocast_adapter_dtype): small updates survive.
    assert {p.dtype for p in adapters.values()} == {torch.float32}


def test_lab5_retrieval_prompts_fit_flan_t5s_window_and_generate(model, tokenizer):
    """Lab 5 on the real path: FLAN-T5's 512-token window bounds the packed passages, and the base shape
    answers retrieval prompts in both dtypes."""
    facts = town(0)
    index = kc.fact_index(facts)
    prompts = kc.retrieved_prompts(facts[:4], index, tokenizer, 3)
    answers = generate(model, tokenizer, prompts.prompts, FEW_TOKENS, batch_size=4, progress=False)
    assert len(answers) == 4 and prompts.dropped == 0
    assert set(kc.answer_sources(answers, facts[:4])) == {"current", "stale", "other"}
    everything = kc.retrieved_prompts(facts[:1], index, tokenizer, len(index))
    assert everything.dropped > 0
    assert len(tokenizer(everything.prompts[0])["input_ids"]) <= 512


def test_lab5_multi_step_questions_with_their_fact_generate_on_the_base_shape(model, tokenizer):
    """Lab 5's reasoning section on the real path: FLAN-T5 gets the fact as context and a worked example;
    the prompts of every form fit its window and the base shape answers them in both dtypes, scored
    without error."""
    every = [q for qs in town_reasoning.held_out_questions(0).values() for q in qs[:2]]
    for form in ("direct", "cot", "program"):
        questions = [q for q in every if form != "program" or q.program]  # programs: arithmetic only
        shot = town_reasoning.worked_example(0, questions[0].family, form)  # as the notebook asks FLAN-T5
        prompts = [reasoning_prompt(q.question, form, q.fact, example=shot) for q in questions]
        assert all(q.fact in p and p.startswith(shot[0]) for q, p in zip(questions, prompts))
        assert max(len(tokenizer(p)["input_ids"]) for p in prompts) < 200  # far inside 512
        outputs = generate(model, tokenizer, prompts, FEW_TOKENS, batch_size=4, progress=False)
        assert len(outputs) == len(questions)
        assert all(isinstance(ok, bool) for ok in correct(outputs, [q.answer for q in questions], form))
