"""Seq2SeqPPOTrainer on a tiny random T5: exact log-probs, KL 0 at the start, guards, and real learning."""

import time
from collections import Counter

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState, PartialState
from peft import PeftModel
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration, T5TokenizerFast

from genai_course.generation import generate, generate_ids, generation_settings
from genai_course.rlhf import core
from genai_course.rlhf.phases import PHASES
from genai_course.rlhf.ppo import (
    PPOConfig,
    PPOTrainingError,
    Seq2SeqPPOTrainer,
    add_fresh_adapter,
)
from genai_course.rlhf.value_head import ValueHead

WORDS = "alpha beta gamma delta good bad red blue green one two three four five six seven".split()
QUERIES = [" ".join(WORDS[i % 7 : i % 7 + 3]) for i in range(32)]


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return T5TokenizerFast(
        tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>", model_max_length=64
    )


def tiny_t5(seed: int = 0) -> T5ForConditionalGeneration:
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(WORDS) + 3,
        d_model=32,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        d_kv=16,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    return T5ForConditionalGeneration(config).eval()


def no_reward(queries, responses):
    return [0.0] * len(responses)


def word_share(word: str):
    """Toy reward: the share of ``word`` among a response's words."""

    def reward(queries, responses):
        return [sum(w == word for w in r.split()) / max(len(r.split()), 1) for r in responses]

    return reward


# --- log-probs, masks and the reference -----------------------------------------------------------------


def test_logprobs_match_the_sampling_distribution_including_the_first_token(tokenizer):
    trainer = Seq2SeqPPOTrainer(PPOConfig(max_new_tokens=8), tiny_t5(), tokenizer, no_reward)
    encoded = tokenizer(QUERIES[:3], return_tensors="pt", padding=True)
    torch.manual_seed(3)
    config = trainer.generation_config()
    config.update(output_scores=True, return_dict_in_generate=True)
    out = trainer.policy.generate(**encoded, generation_config=config)
    responses = out.sequences[:, 1:]
    mask = core.response_mask(responses, tokenizer.eos_token_id, tokenizer.pad_token_id)
    # Pure sampling (top_k 0, top_p 1, temperature 1): the scores are the model's own log-softmax.
    expected = torch.stack(out.scores, 1).log_softmax(-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1)
    logprobs, entropy, values = trainer.forward(
        trainer.policy, encoded.input_ids, encoded.attention_mask, responses, mask
    )
    assert torch.allclose(logprobs, expected * mask, atol=1e-5)
    assert logprobs[:, 0].abs().min() > 0  # the first generated token has a log-prob of its own
    assert values.shape == responses.shape and (entropy[mask == 0] == 0).all()


def _sampled_and_scored(trainer, tokenizer, queries, seed=3):
    """Sample with the trainer's generation config; return generate's own log-probs and the trainer's."""
    encoded = tokenizer(queries, return_tensors="pt", padding=True)
    torch.manual_seed(seed)
    config = trainer.generation_config()
    config.update(output_scores=True, return_dict_in_generate=True)
    with generation_settings(trainer.policy, config):  # as in rollout
        out = trainer.policy.generate(**encoded, generation_config=config)
    responses = out.sequences[:, 1:]
    mask = core.response_mask(responses, tokenizer.eos_token_id, tokenizer.pad_token_id)
    # generate's scores are the processed logits it sampled from (everything it applied, e.g. min_new_tokens).
    scores = torch.stack(out.scores, 1).log_softmax(-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1)
    expected = torch.where(mask.bool(), scores, torch.zeros_like(scores))
    logprobs, entropy, _ = trainer.forward(trainer.policy, encoded.input_ids, encoded.attention_mask, responses, mask)
    return responses, expected, logprobs, entropy


def test_min_new_tokens_is_scored_as_sampled(tokenizer):
    trainer = Seq2SeqPPOTrainer(
        PPOConfig(max_new_tokens=8, min_new_tokens=3, temperature=0.7), tiny_t5(), tokenizer, no_reward
    )
    responses, expected, logprobs, entropy = _sampled_and_scored(trainer, tokenizer, QUERIES[:6])
    assert (responses[:, :3] != tokenizer.eos_token_id).all()
    assert torch.allclose(logprobs, expected, atol=1e-5)
    assert torch.isfinite(entropy).all()


def test_truncated_sampling_is_refused_and_the_model_s_own_settings_are_ignored(tokenizer):
    for settings in ({"top_k": 50}, {"top_p": 0.9}):
        with pytest.raises(ValueError, match="top_k must be 0 and top_p 1.0"):
            PPOConfig(**settings)
    with pytest.raises(ValueError, match="min_new_tokens"):
        PPOConfig(max_new_tokens=4, min_new_tokens=5)
    model = tiny_t5()
    # Settings a checkpoint may ship with that generate would apply and the scoring would not see.
    model.generation_config.update(repetition_penalty=3.0, no_repeat_ngram_size=1, min_length=6, top_k=5)
    trainer = Seq2SeqPPOTrainer(PPOConfig(max_new_tokens=8), model, tokenizer, no_reward)
    config = trainer.generation_config()
    assert config.repetition_penalty in (None, 1.0) and config.no_repeat_ngram_size in (None, 0)
    assert config.min_length in (None, 0) and config.top_k == 0
    assert config.decoder_start_token_id == 0 and config.eos_token_id == 1
    _, expected, logprobs, _ = _sampled_and_scored(trainer, tokenizer, QUERIES[:6])
    assert torch.allclose(logprobs, expected, atol=1e-5)
    # The rollouts themselves: responses shorter than min_length, and repeated tokens (no_repeat_ngram_size=1).
    batch = trainer.rollout(QUERIES, seed=2)
    lengths = batch.mask.sum(dim=1).long()
    assert (lengths < 6).any()
    assert any(len(set(row[:n].tolist())) < n for row, n in zip(batch.response_ids, lengths.tolist()))
    assert model.generation_config.no_repeat_ngram_size == 1  # the model's own settings are back


def test_rollout_masks_match_the_generated_lengths(tokenizer):
    trainer = Seq2SeqPPOTrainer(PPOConfig(max_new_tokens=8), tiny_t5(), tokenizer, no_reward)
    batch = trainer.rollout(QUERIES[:16], seed=7)
    ids = generate_ids(
        trainer.policy, tokenizer, QUERIES[:16], trainer.generation_config(), batch_size=64, seed=7, progress=False
    )
    # A response that ended with EOS keeps its length; one without EOS ran to max_new_tokens, and the pad
    # tokens it sampled (trimmed by generate_ids for display) are part of what PPO must score.
    ended = [len(row) > 0 and int(row[-1]) == tokenizer.eos_token_id for row in ids]
    lengths = [len(row) if stop else 8 for row, stop in zip(ids, ended)]
    assert batch.mask.sum(dim=1).long().tolist() == lengths
    assert any(ended) and not all(ended) and len(set(lengths)) > 1  # the batch has padding to mask
    assert any(len(row) < 8 and not stop for row, stop in zip(ids, ended))  # ...and sampled pads to keep
    for row, stop, response in zip(ids, ended, batch.response_ids):
        assert torch.equal(response[: len(row)], row)
        if stop:  # after the EOS: padding, masked out
            assert (response[len(row) :] == tokenizer.pad_token_id).all()
    ends = core.response_mask(batch.response_ids, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert torch.equal(ends[torch.tensor(ended)], batch.mask[torch.tensor(ended)])


def test_kl_is_exactly_zero_at_step_zero_with_a_fresh_adapter(tokenizer):
    trainer = Seq2SeqPPOTrainer(
        PPOConfig(batch_size=8, mini_batch_size=4, max_new_tokens=8), tiny_t5(), tokenizer, word_share("blue")
    )
    old = trainer.evaluate(trainer.rollout(QUERIES[:8], seed=1))
    assert torch.equal(old["logprobs"], old["ref_logprobs"])
    first = trainer.step(QUERIES[:8])
    assert first["kl"] == 0.0 and first["non_score_reward"] == 0.0
    second = trainer.step(QUERIES[8:16])
    assert second["kl"] != 0.0  # the update moved the policy away from the reference
    # The adaptive controller moved beta by the legacy rule after step 1 (KL 0: error clipped at -0.2).
    assert second["kl_coef"] == pytest.approx(0.2 * (1 - 0.2 * 8 / 10_000))


def test_a_step_logs_the_seconds_of_each_phase(tokenizer):
    def slow_reward(queries, responses):
        time.sleep(0.2)  # a reward model's cost must land in time_scoring, not elsewhere
        return [0.0] * len(responses)

    trainer = Seq2SeqPPOTrainer(
        PPOConfig(batch_size=8, mini_batch_size=4, max_new_tokens=8), tiny_t5(), tokenizer, slow_reward
    )
    stats = [trainer.step(QUERIES[:8]), trainer.step(QUERIES[8:16])]
    for step in stats:
        phases = {phase: step[f"time_{phase}"] for phase in PHASES}
        assert all(seconds > 0 for seconds in phases.values()), phases
        assert phases["scoring"] >= 0.2
        assert sum(phases.values()) <= step["seconds"]  # per step: the second does not add the first's


def test_the_reference_is_the_original_model_not_the_trained_policy(tokenizer):
    config = PPOConfig(learning_rate=1e-2, batch_size=8, mini_batch_size=4, max_new_tokens=8)
    trainer = Seq2SeqPPOTrainer(config, tiny_t5(), tokenizer, word_share("blue"))
    trainer.train(QUERIES, steps=2, progress=False)
    batch = trainer.rollout(QUERIES[:8], seed=1)
    scored = trainer.evaluate(batch)
    # An independent copy of the original weights (built again from the same seed, never wrapped by peft).
    original = tiny_t5()
    rows = torch.arange(len(batch.queries))
    expected, _, _ = trainer.forward(original, *batch.select(rows), values=False)
    width = expected.shape[1]
    assert torch.allclose(scored["ref_logprobs"][:, :width], expected, atol=1e-6)
    # ...and the policy has moved away from it, so a reference that were the policy would fail above.
    assert not torch.allclose(scored["logprobs"][:, :width], expected, atol=1e-3)


# --- the input model, configs and guards ------------------------------------------------------------------


def test_the_input_model_is_never_mutated(tokenizer):
    model = tiny_t5()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Seq2SeqPPOTrainer(
        PPOConfig(learning_rate=1e-2, batch_size=8, mini_batch_size=4, max_new_tokens=8),
        model,
        tokenizer,
        word_share("blue"),
    )
    trainer.train(QUERIES, steps=2, progress=False)
    assert type(model) is T5ForConditionalGeneration and not isinstance(model, PeftModel)
    assert not any("lora" in name for name, _ in model.named_modules())
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # ...while the policy's adapter did learn.
    lora_b = [p for n, p in trainer.policy.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)


def test_a_peft_model_is_trained_in_place(tokenizer):
    policy = add_fresh_adapter(tiny_t5(), PPOConfig())
    trainer = Seq2SeqPPOTrainer(
        PPOConfig(learning_rate=1e-2, batch_size=8, mini_batch_size=8, max_new_tokens=6),
        policy,
        tokenizer,
        word_share("blue"),
        value_head=ValueHead(32),
    )
    trainer.step(QUERIES[:8])
    assert trainer.unwrapped_policy is policy
    assert any(p.abs().sum() > 0 for n, p in policy.named_parameters() if "lora_B" in n)


def test_a_frozen_peft_model_is_refused(tokenizer, tmp_path):
    add_fresh_adapter(tiny_t5(), PPOConfig()).save_pretrained(tmp_path)
    frozen = PeftModel.from_pretrained(tiny_t5(), tmp_path)  # is_trainable defaults to False
    with pytest.raises(ValueError, match="no trainable parameters.*is_trainable=True"):
        Seq2SeqPPOTrainer(PPOConfig(), frozen, tokenizer, no_reward)
    trainable = PeftModel.from_pretrained(tiny_t5(), tmp_path, is_trainable=True)
    assert Seq2SeqPPOTrainer(PPOConfig(), trainable, tokenizer, no_reward).unwrapped_policy is trainable


@pytest.fixture
def fresh_accelerate_state():
    """accelerate's process-wide state, empty before and after the test."""
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_ppo_leaves_no_accelerate_state_behind(tokenizer, fresh_accelerate_state):
    trainer = Seq2SeqPPOTrainer(
        PPOConfig(batch_size=4, mini_batch_size=4, max_new_tokens=4), tiny_t5(), tokenizer, word_share("blue")
    )
    trainer.step(QUERIES[:4])
    # The shared Borg dicts stay empty: nothing was set up (reading them creates nothing either).
    assert not AcceleratorState._shared_state and not PartialState._shared_state and not GradientState._shared_state
    # A later run gets its own settings (with a PPO-made state this raised "already been initialized").
    assert Accelerator(cpu=True, mixed_precision="bf16").mixed_precision == "bf16"


def test_an_earlier_mixed_precision_accelerator_does_not_change_ppo_numerics(tokenizer, fresh_accelerate_state):
    Accelerator(cpu=True, mixed_precision="bf16")  # e.g. a bf16 Trainer earlier in the same kernel
    trainer = Seq2SeqPPOTrainer(PPOConfig(max_new_tokens=8), tiny_t5(), tokenizer, no_reward)
    _, expected, logprobs, _ = _sampled_and_scored(trainer, tokenizer, QUERIES[:6])
    assert torch.allclose(logprobs, expected, atol=1e-5)  # float32, not bf16 autocast


def test_config_and_model_checks(tokenizer):
    with pytest.raises(ValueError, match="mini_batch_size"):
        PPOConfig(batch_size=4, mini_batch_size=8)
    with pytest.raises(ValueError, match="must be > 0"):
        PPOConfig(learning_rate=0)
    causal = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=30))
    with pytest.raises(TypeError, match="encoder-decoder"):
        Seq2SeqPPOTrainer(PPOConfig(), causal, tokenizer, no_reward)
    trainer = Seq2SeqPPOTrainer(PPOConfig(batch_size=8, mini_batch_size=4), tiny_t5(), tokenizer, no_reward)
    with pytest.raises(ValueError, match="at least batch_size=8 queries"):
        trainer.train(QUERIES[:4], steps=1, progress=False)


def test_guards_stop_on_nan_rewards_and_wrong_reward_counts(tokenizer):
    config = PPOConfig(batch_size=4, mini_batch_size=4, max_new_tokens=4)
    nan_trainer = Seq2SeqPPOTrainer(config, tiny_t5(), tokenizer, lambda q, r: [float("nan")] * len(r))
    with pytest.raises(PPOTrainingError, match="reward scores contain NaN or inf"):
        nan_trainer.step(QUERIES[:4])
    short = Seq2SeqPPOTrainer(config, tiny_t5(), tokenizer, lambda q, r: [1.0])
    with pytest.raises(ValueError, match="1 scores for 4 responses"):
        short.step(QUERIES[:4])


def test_guard_stops_a_runaway_policy(tokenizer):
    config = PPOConfig(
        learning_rate=0.3,
        batch_size=16,
        mini_batch_size=4,
        ppo_epochs=4,
        max_new_tokens=8,
        init_kl_coef=0.0,
        max_kl=1.0,
    )
    trainer = Seq2SeqPPOTrainer(config, tiny_t5(), tokenizer, word_share("blue"))
    with pytest.raises(PPOTrainingError, match="running away"):
        trainer.train(QUERIES, steps=10, progress=False)
    assert 1 <= len(trainer.history) < 10


# --- it learns ----------------------------------------------------------------------------------------------


def test_ppo_raises_a_toy_reward(tokenizer):
    """Reward = share of one word in the response: PPO must make the policy say it more often."""
    model = tiny_t5()
    config = PPOConfig(learning_rate=3e-2, batch_size=16, mini_batch_size=8, ppo_epochs=2, max_new_tokens=8, seed=0)
    probe = Seq2SeqPPOTrainer(config, model, tokenizer, no_reward).generation_config()
    initial = generate(model, tokenizer, QUERIES * 2, probe, progress=False, seed=1)
    counts = Counter(w for text in initial for w in text.split())
    # A word the untrained model says now and then (not its favourite): room to grow, signal to learn from.
    target = sorted(counts, key=counts.get)[len(counts) // 2]
    reward = word_share(target)
    trainer = Seq2SeqPPOTrainer(config, model, tokenizer, reward)
    history = trainer.train(QUERIES, steps=20, progress=False)

    def share(policy) -> float:
        texts = generate(policy, tokenizer, QUERIES * 2, probe, progress=False, seed=5)
        return sum(reward(None, texts)) / len(texts)

    before, after = share(model), share(trainer.policy)
    assert after > 2 * before and after - before > 0.05, (target, before, after)
    first, last = history[:5], history[-5:]
    assert sum(s["reward_mean"] for s in last) > sum(s["reward_mean"] for s in first)
    for key in ("reward_mean", "kl", "kl_coef", "returns_mean", "entropy", "clipfrac", "value_loss", "policy_loss"):
        assert all(key in s and s[key] == s[key] for s in history), key  # logged, and not NaN


def test_ppo_curves_plot_every_step():
    import matplotlib

    matplotlib.use("Agg")
    from genai_course.plots.rlhf import plot_ppo_curves

    history = [
        {"step": i + 1, "reward_mean": 0.1 * i, "reward_std": 0.05, "kl": 0.2 * i, "kl_coef": 0.2} for i in range(5)
    ]
    fig = plot_ppo_curves(history)
    reward_ax, kl_ax = fig.axes[:2]
    assert list(reward_ax.get_lines()[0].get_ydata()) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert list(kl_ax.get_lines()[0].get_ydata()) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    with pytest.raises(ValueError, match="history is empty"):
        plot_ppo_curves([])


def length_score(texts):
    return [len(text.split()) / 10 for text in texts]


class LengthToxicity:
    """A stand-in reward model for summarize_and_score whose "toxicity" is a known function of the text."""

    def toxicity(self, texts, truncate=False):
        return torch.tensor(length_score(texts))


def test_summarize_and_score_pairs_samples_with_their_dialogues(tokenizer):
    from genai_course.rlhf.evaluation import summarize_and_score

    model = tiny_t5()
    dialogues = QUERIES[:5]
    result = summarize_and_score(
        model, tokenizer, LengthToxicity(), dialogues, samples=3, max_new_tokens=6, seed=3, progress=False
    )
    assert len(result.summaries) == 5 and len(result.samples) == 5 and all(len(s) == 3 for s in result.samples)
    assert result.sample_toxicity.shape == (5, 3)
    expected = np.array([length_score(row) for row in result.samples])
    assert np.allclose(result.sample_toxicity, expected) and expected.std() > 0
    assert np.allclose(result.toxicity, expected.mean(axis=1))
    assert np.allclose(result.greedy_toxicity, length_score(result.summaries))
    again = summarize_and_score(
        model, tokenizer, LengthToxicity(), dialogues, samples=3, max_new_tokens=6, seed=3, progress=False
    )
    assert again.samples == result.samples  # seeded: the same model gives the same samples
    assert any(len(set(row)) > 1 for row in result.samples)  # ...which really are samples


# --- the tiny world ----------------------------------------------------------------------------------------


def test_tiny_world_policy_starts_at_its_reference_and_the_reward_reads_labels(tiny_world):
    from genai_course import get_profile
    from genai_course.data import load_dialogsum
    from genai_course.models import load_summarizer
    from genai_course.prompting import instruction_prompt
    from genai_course.rlhf import RewardModel

    profile = get_profile("tiny")
    reward_model = RewardModel.from_pretrained(profile)
    assert reward_model.model.config.id2label[reward_model.reward_index] == "nothate"
    polite, rude = "#Person1# thanks #Person2# for the help.", "#Person1# calls #Person2# a stupid idiot."
    rewards, toxicity = reward_model.rewards([polite, rude]), reward_model.toxicity([polite, rude])
    assert rewards[0] > rewards[1] and toxicity[0] < 0.5 < toxicity[1]

    model, tokenizer = load_summarizer(profile.finetuned_summarizer, device="cpu", dtype="float32")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    queries = [instruction_prompt(d) for d in load_dialogsum("tiny")["train"].select(range(8))["dialogue"]]
    config = PPOConfig.from_profile(profile, batch_size=8, mini_batch_size=4, ppo_epochs=1)
    trainer = Seq2SeqPPOTrainer(config, model, tokenizer, reward_model)
    old = trainer.evaluate(trainer.rollout(queries, seed=0))
    assert torch.equal(old["logprobs"], old["ref_logprobs"])  # fresh adapter: KL exactly 0
    assert trainer.step(queries)["kl"] == 0.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_loop_of_generate_score_and_step_is_what_train_does(tokenizer):
    """The notebook's loop (draw, generate, decode, score, step) logs the same numbers as train()."""
    import random

    config = PPOConfig(batch_size=4, mini_batch_size=2, max_new_tokens=6, seed=3)
    reward = word_share("blue")
    trained = Seq2SeqPPOTrainer(config, tiny_t5(), tokenizer, reward)
    expected = trained.train(QUERIES[:10], steps=4, progress=False)
    looped = Seq2SeqPPOTrainer(config, tiny_t5(), tokenizer, reward)
    rng, pool = random.Random(config.seed), []
    for _ in range(4):
        if len(pool) < config.batch_size:
            pool = QUERIES[:10]
            rng.shuffle(pool)
        batch, pool = pool[: config.batch_size], pool[config.batch_size :]
        response_ids = looped.generate(batch)
        responses = [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in response_ids]
        looped.step(batch, response_ids, reward(batch, responses))
    timing = {"seconds", "samples_per_second"}
    for want, got in zip(expected, looped.history, strict=True):
        same = {k: v for k, v in want.items() if k not in timing and not k.startswith("time_")}
        assert same == {k: got[k] for k in same}
    with pytest.raises(ValueError, match="both response_ids and scores"):
        looped.step(QUERIES[:4], looped.generate(QUERIES[:4]))
