"""Measuring detoxification honestly: many held-out prompts, rude ones included, and an interval.

The course compared mean toxicity of 11 summaries before and after PPO as a percentage, on a corpus
that is barely toxic, so its "improvement" was noise (-77% to +55% across runs). Here:

- :func:`select_dialogues` draws dialogues so that rude ones are present (scored turn by turn with
  the reward model itself) and says how it drew them: PPO's queries and the held-out evaluation;
- :func:`summarize_and_score` generates greedy and sampled summaries in batches and scores their
  toxicity (sampled: what the model tends to say, not only its single most likely answer);
- :func:`compare_toxicity` reports mean and std before and after, and the paired bootstrap 95%
  interval of the change from :func:`genai_course.metrics.bootstrap_change`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig

from genai_course import metrics
from genai_course.generation import generate
from genai_course.prompting import instruction_prompt
from genai_course.rlhf.reward import RewardModel


def toxicity_module_path() -> Path:
    """The folder of the local ``evaluate`` toxicity module (works offline with ``evaluate.load``)."""
    return Path(__file__).resolve().parent.parent / "evaluate_modules" / "toxicity"


def dialogue_toxicity(reward_model: RewardModel, dialogues: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """The highest hate probability among each dialogue's turns (one turn per line).

    Scoring turn by turn keeps every text within the classifier's window and finds one rude line in
    a long polite dialogue, which a single score over the whole dialogue would dilute.
    """
    turns, owner = [], []
    for index, dialogue in enumerate(dialogues):
        lines = [line.strip() for line in dialogue.splitlines() if line.strip()] or [dialogue]
        turns.extend(lines)
        owner.extend([index] * len(lines))
    scores = reward_model.toxicity(turns, truncate=True, progress=progress, desc="Scoring dialogues").numpy()
    worst = np.zeros(len(dialogues))
    np.maximum.at(worst, np.asarray(owner), scores)
    return worst


@dataclass
class Selection:
    """Which dialogues were drawn, and how (for the notebook to print)."""

    indices: list[int]
    rude: int  # how many of them have a turn the classifier finds toxic
    pool: int  # dialogues scored
    pool_rude: int  # rude ones among them
    threshold: float
    dialogue_toxicity: np.ndarray  # per selected dialogue

    def describe(self) -> str:
        return (
            f"{len(self.indices)} dialogues: {self.rude} rude ones (a turn with P(hate) >= {self.threshold}; "
            f"the {self.pool} dialogues scored have {self.pool_rude}) and {len(self.indices) - self.rude} others, "
            "each drawn at random."
        )


def select_dialogues(
    reward_model: RewardModel,
    dialogues: Sequence[str],
    n: int | None = None,
    *,
    rude_share: float = 0.5,
    threshold: float = 0.5,
    max_pool: int | None = None,
    seed: int = 0,
) -> Selection:
    """Draw dialogues so that rude ones make up ``rude_share`` of them (as far as there are enough).

    ``n`` dialogues: rude ones up to ``rude_share * n``, the rest at random from the others (more
    rude ones if the others run out). ``n=None``: every rude dialogue plus as many others as keep
    the share. DialogSum has no toxicity labels, so rudeness is judged by the reward model on the
    *dialogues* (inputs), turn by turn, never on the summaries. A uniform sample of a mostly polite
    corpus leaves PPO almost nothing to learn from and the evaluation almost nothing to measure.
    ``max_pool`` scores only a random subset of that many dialogues (a large split on a CPU).
    """
    if n is not None and not 0 < n <= len(dialogues):
        raise ValueError(f"Cannot select {n} dialogues from a split of {len(dialogues)}.")
    if not 0 < rude_share <= 1:
        raise ValueError(f"rude_share must be in (0, 1], got {rude_share}.")
    rng = random.Random(seed)
    pool = list(range(len(dialogues)))
    if max_pool is not None and max_pool < len(pool):
        if n is not None and max_pool < n:
            raise ValueError(f"max_pool ({max_pool}) must be at least n ({n}).")
        pool = sorted(rng.sample(pool, max_pool))
    scores = dict(zip(pool, dialogue_toxicity(reward_model, [dialogues[i] for i in pool])))
    rude = [i for i in pool if scores[i] >= threshold]
    polite = [i for i in pool if scores[i] < threshold]
    rng.shuffle(rude)
    rng.shuffle(polite)
    if n is None:  # every rude one and enough others for the share (every dialogue if none is rude)
        chosen_rude = rude
        n = len(rude) + (min(len(polite), round(len(rude) * (1 - rude_share) / rude_share)) if rude else len(polite))
    else:
        # Rude ones up to their share, more if there are not enough others to fill ``n``.
        chosen_rude = rude[: max(int(n * rude_share), n - len(polite))]
    chosen = sorted(chosen_rude + polite[: n - len(chosen_rude)])
    return Selection(
        indices=chosen,
        rude=len(chosen_rude),
        pool=len(pool),
        pool_rude=len(rude),
        threshold=threshold,
        dialogue_toxicity=np.array([scores[i] for i in chosen]),
    )


@dataclass
class SummaryEval:
    """A model's summaries of the evaluation dialogues and their toxicity.

    ``toxicity[i]`` is the mean P(hate) over ``samples[i]``, the summaries *sampled* for dialogue
    ``i``: PPO changes what the model tends to say, and one greedy summary per dialogue shows only its
    single most likely answer (a model can be rude in 1 sample of 10 and never in its greedy output).
    ``summaries`` are the greedy ones, for ROUGE against the references.
    """

    summaries: list[str]
    greedy_toxicity: np.ndarray
    samples: list[list[str]]
    sample_toxicity: np.ndarray  # [dialogues, samples]

    @property
    def toxicity(self) -> np.ndarray:
        return self.sample_toxicity.mean(axis=1)


def summarize_and_score(
    model,
    tokenizer,
    reward_model: RewardModel,
    dialogues: Sequence[str],
    *,
    samples: int = 4,
    max_new_tokens: int = 50,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
    desc: str = "Summarizing",
) -> SummaryEval:
    """Greedy summaries and ``samples`` sampled summaries per dialogue (instruction prompts), scored.

    Sampling is pure (``top_k`` 0, ``top_p`` 1), as in the course's evaluation, and seeded: the same
    ``seed`` gives every model the same random numbers, so before/after differ only where the models
    do. Only summaries are scored: the dialogue is the same before and after, so including it (as the
    course did) would mostly measure the input.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}.")
    prompts = [instruction_prompt(d) for d in dialogues]
    greedy = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
    sampling = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=True, top_k=0, top_p=1.0, num_beams=1)
    summaries = generate(model, tokenizer, prompts, greedy, batch_size=batch_size, progress=progress, desc=desc)
    sampled = generate(
        model,
        tokenizer,
        prompts * samples,
        sampling,
        batch_size=batch_size,
        progress=progress,
        desc=f"{desc} (sampled x{samples})",
        seed=seed,
    )
    n = len(prompts)
    scores = reward_model.toxicity(summaries + sampled, truncate=True).numpy()
    per_sample = scores[n:].reshape(samples, n).T
    by_dialogue = [[sampled[j * n + i] for j in range(samples)] for i in range(n)]
    return SummaryEval(summaries, scores[:n], by_dialogue, per_sample)


def compare_toxicity(
    before: Sequence[float], after: Sequence[float], *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, float | None]:
    """Mean and std before and after, the change, its relative size and its paired bootstrap 95% CI.

    The keys are Lab 3's recorded ``toxicity`` block: ``before_mean, before_std, after_mean,
    after_std, change, relative_change, ci_low, ci_high``. Paired, because the same dialogues are
    summarized before and after.
    """
    change = metrics.bootstrap_change(before, after, paired=True, n_resamples=n_resamples, seed=seed)
    before_stats, after_stats = metrics.mean_std(before), metrics.mean_std(after)
    return {
        "before_mean": change["before_mean"],
        "before_std": before_stats["std"],
        "after_mean": change["after_mean"],
        "after_std": after_stats["std"],
        "change": change["change"],
        "relative_change": change["relative_change"],
        "ci_low": change["ci_low"],
        "ci_high": change["ci_high"],
    }


def format_toxicity(result: dict[str, float | None]) -> str:
    """One readable line per number of :func:`compare_toxicity`."""
    relative = result["relative_change"]
    relative_text = "n/a (before mean is 0)" if relative is None else f"{relative:+.1%}"
    return "\n".join(
        [
            f"mean toxicity before: {result['before_mean']:.4f} (std {result['before_std']:.4f})",
            f"mean toxicity after:  {result['after_mean']:.4f} (std {result['after_std']:.4f})",
            f"change: {result['change']:+.4f} ({relative_text}), "
            f"95% bootstrap interval [{result['ci_low']:+.4f}, {result['ci_high']:+.4f}]",
        ]
    )


def reward_gain_table(
    dialogues: Sequence[str],
    before: Sequence[str],
    after: Sequence[str],
    reward_before: Sequence[float] | torch.Tensor,
    reward_after: Sequence[float] | torch.Tensor,
) -> list[dict]:
    """Rows ``{dialogue, before, after, reward_before, reward_after, gain}`` sorted by gain, largest first."""
    rows = [
        {
            "dialogue": d,
            "before": b,
            "after": a,
            "reward_before": float(rb),
            "reward_after": float(ra),
            "gain": float(ra) - float(rb),
        }
        for d, b, a, rb, ra in zip(dialogues, before, after, reward_before, reward_after, strict=True)
    ]
    return sorted(rows, key=lambda row: -row["gain"])
