"""How much KL does Lab 3's GRPO extra need? Toxicity against staying on topic, for several ``beta``.

Runs the notebook's GRPO section (``genai_course.rlhf.grpo``: the tiny causal LM, the heated topics'
prompts, 32 completions per topic before and after) once per ``beta``, on the tiny world of
``$GENAI_COURSE_TINY_SEED`` (default 0), and reports the change in mean toxicity with its paired
bootstrap interval and the share of completions that still name their topic's scenario. A policy that
hacks the reward changes the subject: the toxicity falls and so does the on-topic share.

    python benchmarks/grpo_beta.py                      # beta 0.04, 0.1 and 0.2 (under a minute each)
    python benchmarks/grpo_beta.py --betas 0.2 --steps 80

Writes ``runs/benchmarks/grpo_beta-seed<N>.json``. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import write_record  # benchmarks/ (the script's folder)

from genai_course import get_profile
from genai_course.data import load_dialogsum
from genai_course.models import load_tokenizer
from genai_course.rlhf import RewardModel, compare_toxicity, grpo
from genai_course.tiny.paths import world_seed

# Words that place a completion in its topic's scenario (the tiny world's heated scenes).
TOPIC_WORDS = {
    "noise complaint": ("keep it down", "noise", "music", "practice", "party"),
    "parking dispute": ("car", "blocking"),
    "customer complaint": ("refund", "return"),
    "roommate argument": ("clean",),
}


def on_topic(completions: list[list[str]]) -> float:
    """Share of completions (one list per heated topic, in ``grpo.HEATED_TOPICS`` order) on their topic."""
    hits = [
        any(w in text for w in TOPIC_WORDS[topic])
        for topic, texts in zip(grpo.HEATED_TOPICS, completions)
        for text in texts
    ]
    return sum(hits) / len(hits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.04, 0.1, 0.2])
    parser.add_argument("--steps", type=int, default=grpo.GRPODetoxConfig().steps)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    profile = get_profile("tiny")
    data = load_dialogsum(profile.dataset)
    tokenizer = load_tokenizer(profile.summarizer)
    reward_model = RewardModel.from_pretrained(profile)
    prompts = [grpo.topic_prompt(topic) for topic in grpo.HEATED_TOPICS]
    rows = []
    for beta in args.betas:
        model, causal_tokenizer = grpo.causal_policy(tokenizer, data["train"], seed=profile.seed)  # fresh each time
        before = grpo.sample_completions(model, causal_tokenizer, prompts, samples=32, seed=profile.seed)
        settings = grpo.GRPODetoxConfig(
            seed=profile.seed, beta=beta, steps=args.steps, output_dir="runs/benchmarks/grpo"
        )
        policy, _ = grpo.grpo_detox(model, causal_tokenizer, reward_model.rewards, prompts, settings)
        after = grpo.sample_completions(policy, causal_tokenizer, prompts, samples=32, seed=profile.seed)
        change = compare_toxicity(
            reward_model.toxicity(sum(before, [])), reward_model.toxicity(sum(after, [])), seed=profile.seed
        )
        row = {
            "beta": beta,
            "steps": args.steps,
            "relative_change": round(change["relative_change"], 4),
            "ci": [round(change["ci_low"], 4), round(change["ci_high"], 4)],
            "on_topic_before": round(on_topic(before), 3),
            "on_topic_after": round(on_topic(after), 3),
            "sample_after": [texts[0] for texts in after],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'beta':>6}{'toxicity change':>17}{'on topic before':>17}{'after':>7}")
    for row in rows:
        change, before, after = row["relative_change"], row["on_topic_before"], row["on_topic_after"]
        print(f"{row['beta']:>6}{change:>+16.1%} {before:>16.0%}{after:>7.0%}")
    seed = world_seed()
    out = args.out or Path(f"runs/benchmarks/grpo_beta-seed{seed}.json")
    write_record(out, "grpo_beta", rows, world_seed=seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
