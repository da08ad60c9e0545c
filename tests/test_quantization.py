"""int8 weight-only quantization (torchao): smaller Linear weights, the caller's model untouched, same outputs."""

import copy

import pytest
import torch
from datasets import load_from_disk
from torchao.quantization import Int8WeightOnlyConfig, quantize_

from genai_course import memory as mem
from genai_course.generation import generate
from genai_course.models import load_summarizer
from genai_course.prompting import instruction_prompt
from genai_course.quantization import int8_comparison, linear_weight_bytes, model_bytes, quantize_int8

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def finetuned(tiny_world):
    return load_summarizer(str(tiny_world.finetuned_summarizer), device="cpu", dtype="float32")


def test_int8_shrinks_linear_weights_four_times_and_leaves_the_original(finetuned):
    model, _ = finetuned
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    quantized = quantize_int8(model)
    assert linear_weight_bytes(model) / linear_weight_bytes(quantized) == pytest.approx(4.0, rel=0.06)
    assert model_bytes(quantized) < model_bytes(model) / 2
    assert model_bytes(quantized) == pytest.approx(mem.int8_weights_estimate(model).weights, rel=0.02)
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert all(type(p) is torch.nn.Parameter and p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="nn.Module"):
        quantize_int8("model")


def test_int8_greedy_outputs_mostly_agree(finetuned, tiny_world):
    model, tokenizer = finetuned
    rows = load_from_disk(str(tiny_world.corpus))["test"].select(range(24))
    prompts = [instruction_prompt(d) for d in rows["dialogue"]]
    result = int8_comparison(model, tokenizer, prompts, rows["summary"], batch_size=12)
    assert result["same_output_share"] >= 0.8
    assert abs(result["rouge1_change"]) < 0.03
    assert result["size_ratio"] > 2 and result["n"] == 24
    assert generate(model, tokenizer, prompts[:2], progress=False)  # the original still generates
    with pytest.raises(ValueError, match="one reference per prompt"):
        int8_comparison(model, tokenizer, prompts, rows["summary"][:3])


def test_int8_comparison_takes_the_callers_own_quantized_copy(finetuned, tiny_world):
    model, tokenizer = finetuned
    rows = load_from_disk(str(tiny_world.corpus))["test"].select(range(8))
    prompts = [instruction_prompt(d) for d in rows["dialogue"]]
    mine = copy.deepcopy(model)
    quantize_(mine, Int8WeightOnlyConfig())  # as the notebook does
    given = int8_comparison(model, tokenizer, prompts, rows["summary"], quantized=mine)
    made = int8_comparison(model, tokenizer, prompts, rows["summary"])
    for key in ("bytes", "int8_bytes", "linear_size_ratio", "rouge1", "int8_rouge1", "same_output_share"):
        assert given[key] == made[key], key
    with pytest.raises(ValueError, match="quantize a copy"):
        int8_comparison(model, tokenizer, prompts, rows["summary"], quantized=model)
