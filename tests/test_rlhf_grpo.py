"""Lab 3's GRPO extra: the causal tokenizer, the tiny causal summarizer, sampling and a short GRPO run."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from genai_course.finetune import weights_hash
from genai_course.models import ModelLoadError, load_tokenizer
from genai_course.rlhf import grpo

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

ROWS = [
    {"topic": "noise complaint", "summary": "#Person1# asks #Person2# to keep the music down."},
    {"topic": "parking dispute", "summary": "#Person2# moves the car from the driveway."},
] * 8


@pytest.fixture(scope="module")
def tokenizer(tiny_world):
    return grpo.causal_tokenizer(load_tokenizer(str(tiny_world.tokenizer)))


def tiny_lm(tokenizer) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=1,
        n_head=2,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config).eval()


def test_causal_tokenizer_does_not_end_prompts_with_eos(tiny_world, tokenizer):
    original = load_tokenizer(str(tiny_world.tokenizer))
    prompt = grpo.topic_prompt("noise complaint")
    assert original(prompt)["input_ids"][-1] == original.eos_token_id  # the T5 layout appends </s>
    assert tokenizer(prompt)["input_ids"] == original(prompt)["input_ids"][:-1]
    assert original(prompt)["input_ids"][-1] == original.eos_token_id, "the original tokenizer was changed"
    assert prompt == "Topic: noise complaint. Summary:"


def test_tiny_causal_summarizer_learns_its_texts(tokenizer):
    texts = [f"{grpo.topic_prompt(r['topic'])} {r['summary']}{tokenizer.eos_token}" for r in ROWS[:2]]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)

    def loss(model) -> float:
        with torch.no_grad():
            return float(model(**encoded, labels=labels).loss)

    untrained = grpo.train_tiny_causal_summarizer(tokenizer, ROWS, steps=0, batch_size=4, progress=False)
    trained = grpo.train_tiny_causal_summarizer(tokenizer, ROWS, steps=40, batch_size=4, progress=False)
    assert loss(trained) < 0.5 * loss(untrained)
    assert not trained.training


def test_sampling_is_seeded_and_gives_one_list_per_prompt(tokenizer):
    model = tiny_lm(tokenizer)
    prompts = [grpo.topic_prompt("noise complaint"), grpo.topic_prompt("parking dispute")]
    first = grpo.sample_completions(model, tokenizer, prompts, samples=3, max_new_tokens=5, seed=1)
    again = grpo.sample_completions(model, tokenizer, prompts, samples=3, max_new_tokens=5, seed=1)
    other = grpo.sample_completions(model, tokenizer, prompts, samples=3, max_new_tokens=5, seed=2)
    assert first == again and first != other
    assert [len(samples) for samples in first] == [3, 3]


def test_grpo_trains_an_adapter_on_a_copy_and_logs_reward_and_kl(tokenizer, tmp_path):
    model = tiny_lm(tokenizer)
    before = weights_hash(model)
    prompts = [grpo.topic_prompt("noise complaint"), grpo.topic_prompt("parking dispute")]
    config = grpo.GRPODetoxConfig(
        steps=2, num_generations=4, prompts_per_step=1, max_completion_length=6, lora_r=4, output_dir=str(tmp_path)
    )
    policy, history = grpo.grpo_detox(model, tokenizer, lambda texts: [float(len(t)) for t in texts], prompts, config)
    assert weights_hash(model) == before, "GRPO must not modify the model it was given"
    assert [row["step"] for row in history] == [1, 2]
    assert all(set(row) == {"step", "reward_mean", "reward_std", "kl", "kl_coef"} for row in history)
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # a fresh adapter changes nothing yet
    assert history[0]["kl_coef"] == config.beta
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)


def test_grpo_trains_in_float32_on_a_cpu():
    """trl defaults to bf16 even on a CPU, and the autocast leaks into later Accelerators (the PPO's)."""
    if torch.cuda.is_available():
        pytest.skip("checks the CPU default")
    assert grpo.GRPODetoxConfig().trl_config().bf16 is False


def test_grpo_without_prompts_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="at least one prompt"):
        grpo.grpo_detox(tiny_lm(tokenizer), tokenizer, lambda texts: [0.0] * len(texts), [])


def test_missing_causal_model_path_is_a_clear_error(tokenizer, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        grpo.causal_policy(tokenizer, ROWS, model_name=str(tmp_path / "no-such-model"))
