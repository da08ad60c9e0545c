"""MKL-prepacked decoder weights: the same tokens as the plain kernels, applied only where they can pay,
and every module left as it was after the block."""

import copy
import random

import pytest
import torch
from peft import LoraConfig, get_peft_model
from stand_in import tiny_t5, word_tokenizer, words
from transformers import GenerationConfig

from genai_course import generation
from genai_course import packed_weights as pw
from genai_course.generation import generate_ids
from genai_course.rlhf import PPOConfig, Seq2SeqPPOTrainer

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(not pw._mkl_ops_available(), reason="this torch build has no MKL packed GEMM"),
]
GREEDY = GenerationConfig(max_new_tokens=10, do_sample=False)


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer(vocab_words=500)


@pytest.fixture(scope="module")
def wide(tokenizer):
    """A one-layer T5 as wide as flan-t5-small, so packing applies, with outputs that vary by prompt."""
    sizes = {"d_model": 512, "d_ff": 1024, "num_layers": 1, "num_heads": 8, "d_kv": 64}
    return tiny_t5(tokenizer, dropout_rate=0.0, initializer_factor=5.0, **sizes)


def prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [words(rng.randint(5, 40), start=rng.randrange(400)) for _ in range(n)]


def test_packing_applies_to_a_wide_cpu_float32_decoder_only(wide, tokenizer):
    assert pw.packing_applies(wide, 8)
    assert not pw.packing_applies(wide, 1)  # one row: MKL's matrix-vector kernel is already fast
    narrow = tiny_t5(tokenizer)  # width 32, like the tiny world's 128: nothing to gain
    assert not pw.packing_applies(narrow, 8)
    assert not pw.packing_applies(copy.deepcopy(wide).to(torch.bfloat16), 8)


def test_packed_batches_give_the_plain_kernels_tokens(wide, tokenizer):
    texts = prompts(11)
    packed = generate_ids(wide, tokenizer, texts, GREEDY, batch_size=4, progress=False, packed_weights=True)
    plain = generate_ids(wide, tokenizer, texts, GREEDY, batch_size=4, progress=False, packed_weights=False)
    single = generate_ids(wide, tokenizer, texts, GREEDY, batch_size=1, progress=False)
    assert [t.tolist() for t in packed] == [t.tolist() for t in plain] == [t.tolist() for t in single]
    assert len({tuple(t.tolist()) for t in packed}) > 1  # outputs vary: the comparison can fail


def test_the_block_packs_the_decoder_and_restores_every_module(wide):
    linears = pw.decoder_linears(wide)
    assert wide.lm_head in linears and all(isinstance(m, torch.nn.Linear) for m in linears)
    x = torch.randn(4, 1, 512)
    expected = wide.lm_head(x)
    with torch.no_grad(), pw.packed_decoder(wide, 4) as n:
        assert n == len(linears)
        assert all("forward" in m.__dict__ for m in linears)
        assert torch.allclose(wide.lm_head(x), expected, atol=1e-4)
        assert torch.allclose(wide.lm_head(x[:3]), expected[:3], atol=1e-4)  # other row counts fall back
    assert all("forward" not in m.__dict__ for m in linears)


def test_the_modules_are_restored_after_an_error(wide):
    with pytest.raises(RuntimeError, match="boom"), pw.packed_decoder(wide, 4):
        raise RuntimeError("boom")
    assert all("forward" not in m.__dict__ for m in pw.decoder_linears(wide))


def test_with_gradients_on_the_block_uses_the_plain_kernel(wide):
    x = torch.randn(4, 512, requires_grad=True)
    with pw.packed_decoder(wide, 4):
        out = wide.lm_head(x)
        out.sum().backward()  # MKL's packed op has no backward; the fallback does
    assert x.grad is not None and x.grad.shape == x.shape


def test_a_module_someone_else_wrapped_is_left_alone(wide):
    head = wide.lm_head
    head.forward = lambda x: torch.zeros(1)  # e.g. an accelerate hook
    try:
        with torch.no_grad(), pw.packed_decoder(wide, 4) as n:
            assert n == len(pw.decoder_linears(wide)) - 1
            assert head(torch.randn(4, 512)).shape == (1,)
        assert "forward" in head.__dict__  # still theirs
    finally:
        del head.forward


def test_a_lora_wrapped_decoder_packs_and_keeps_its_tokens(wide, tokenizer):
    """PPO's rollouts generate with a LoRA policy: peft's layers call their packed base layer."""
    policy = get_peft_model(copy.deepcopy(wide), LoraConfig(r=4, target_modules=["q", "v"], task_type="SEQ_2_SEQ_LM"))
    for name, param in policy.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)  # a trained adapter: the update changes the outputs
    texts = prompts(8, seed=1)
    assert pw.packing_applies(policy, 4)
    packed = generate_ids(policy, tokenizer, texts, GREEDY, batch_size=4, progress=False, packed_weights=True)
    plain = generate_ids(policy, tokenizer, texts, GREEDY, batch_size=4, progress=False, packed_weights=False)
    base = generate_ids(wide, tokenizer, texts, GREEDY, batch_size=4, progress=False)
    assert [t.tolist() for t in packed] == [t.tolist() for t in plain]
    assert [t.tolist() for t in packed] != [t.tolist() for t in base]  # the adapter took part


def test_generation_and_ppo_rollouts_pack_only_when_asked(wide, tokenizer, monkeypatch):
    """Off by default: it cost 16% on one CPU type (benchmarks/README.md); packed_weights=True opts in."""
    rows = []
    real = generation.packed_decoder
    monkeypatch.setattr(generation, "packed_decoder", lambda model, n: rows.append(n) or real(model, n))
    texts = prompts(4)
    generate_ids(wide, tokenizer, texts, GREEDY, batch_size=4, progress=False)
    generate_ids(wide, tokenizer, texts, GREEDY, batch_size=4, progress=False, packed_weights=True)
    assert rows == [1, 4]  # 1 row: packing never applies
    for packed in (False, True):
        trainer = Seq2SeqPPOTrainer(
            PPOConfig(max_new_tokens=4, packed_weights=packed, generation_batch_size=4),
            copy.deepcopy(wide),
            tokenizer,
            lambda queries, responses: [0.0] * len(responses),
        )
        trainer.rollout(texts, seed=0)
    assert rows == [1, 4, 1, 4]
