"""PPO step time and samples/second, and batched vs one-prompt-at-a-time rollouts, side by side.

Two policies go through the library's own :class:`genai_course.rlhf.Seq2SeqPPOTrainer` (fresh LoRA
r=32 on q and v, value head, reference = adapter disabled):

- ``tiny``: the tiny world's fine-tuned summarizer on instruction prompts of train dialogues, rewarded
  by the tiny hate-speech classifier (skipped with a note if the tiny world cannot be built);
- ``flan-t5-base-shaped``: ``models.flan_t5_base_config()`` with random weights (offline; speed does not
  depend on the weights' values) on prompts of random words of a fixed length, with a cheap reward
  (response length), since the reward model's cost is not what is measured.

For each, the same queries are rolled out twice, generating in one batch and one prompt at a time (the
course's way), and the ratio of the two times is reported; then whole PPO steps (rollout, scoring,
reference and value passes, minibatch updates) are timed after a warm-up step, each broken into its
phases (the trainer's ``time_<phase>`` logs). Responses have a fixed length
(``min_new_tokens = max_new_tokens``) so that both rollouts do the same work.

    python benchmarks/bench_ppo.py            # batch 8, 32-token responses, 2 timed steps
    python benchmarks/bench_ppo.py --quick    # batch 4, 12-token responses, 1 timed step

Writes a table to stdout and ``runs/benchmarks/ppo.json`` + ``ppo.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import machine, stand_in_tokenizer  # benchmarks/ (the script's folder)


@dataclass
class Settings:
    batch_size: int = 8
    mini_batch_size: int = 4
    response_tokens: int = 32
    prompt_tokens: int = 128  # flan-t5-base-shaped model only; tiny uses real dialogues
    timed_steps: int = 2
    threads: int = 0  # 0: torch's default
    device: str = "auto"
    seed: int = 0
    packed_weights: bool = False  # rollouts with MKL-prepacked decoder weights where they apply (opt-in)


def _base_shaped(settings: Settings):
    import torch
    from transformers import T5ForConditionalGeneration

    from genai_course.models import flan_t5_base_config, pick_device, pick_dtype

    torch.manual_seed(settings.seed)
    device = pick_device(settings.device)
    model = T5ForConditionalGeneration(flan_t5_base_config()).to(device, pick_dtype(device)).eval()
    vocab = 5000
    rng = random.Random(settings.seed)
    # -1 for the EOS the tokenizer appends.
    queries = [
        " ".join(f"w{rng.randrange(vocab)}" for _ in range(settings.prompt_tokens - 1))
        for _ in range(settings.batch_size * (settings.timed_steps + 1))
    ]
    return model, stand_in_tokenizer(vocab), queries, lambda q, r: [float(len(x.split())) for x in r]


def _tiny(settings: Settings):
    from genai_course import get_profile
    from genai_course.data import load_dialogsum
    from genai_course.models import load_summarizer
    from genai_course.prompting import instruction_prompt
    from genai_course.rlhf import RewardModel

    profile = get_profile("tiny", device=settings.device if settings.device != "auto" else "cpu")
    model, tokenizer = load_summarizer(
        profile.finetuned_summarizer or profile.summarizer, device=profile.device, dtype=profile.dtype
    )
    train = load_dialogsum("tiny")["train"]
    n = settings.batch_size * (settings.timed_steps + 1)
    queries = [instruction_prompt(d) for d in train.select(range(n))["dialogue"]]
    return model, tokenizer, queries, RewardModel.from_pretrained(profile)


def measure(name: str, settings: Settings) -> dict:
    """Rollout ratio and PPO step time for one policy."""
    import torch

    from genai_course.rlhf import PPOConfig, Seq2SeqPPOTrainer
    from genai_course.rlhf.phases import PHASES

    if settings.threads:
        torch.set_num_threads(settings.threads)
    model, tokenizer, queries, reward_fn = (_tiny if name == "tiny" else _base_shaped)(settings)
    config = PPOConfig(
        learning_rate=1e-4,
        batch_size=settings.batch_size,
        mini_batch_size=settings.mini_batch_size,
        ppo_epochs=1,
        max_new_tokens=settings.response_tokens,
        min_new_tokens=settings.response_tokens,
        generation_batch_size=settings.batch_size,
        forward_batch_size=settings.batch_size,
        packed_weights=settings.packed_weights,
        seed=settings.seed,
    )
    trainer = Seq2SeqPPOTrainer(config, model, tokenizer, reward_fn)
    batch = queries[: settings.batch_size]
    for size in (settings.batch_size, 1):  # warm-up: first-call allocations of both shapes
        trainer.config.generation_batch_size = size
        trainer.rollout(batch[:2], seed=0)
    rollout = {}
    for label, size in (("batched", settings.batch_size), ("one_at_a_time", 1)):
        trainer.config.generation_batch_size = size
        started = time.perf_counter()
        trainer.rollout(batch, seed=1)
        rollout[label] = time.perf_counter() - started
    trainer.config.generation_batch_size = settings.batch_size
    trainer.step(batch)  # warm-up step: optimizer state, autograd buffers
    steps = []
    for i in range(settings.timed_steps):
        chunk = queries[settings.batch_size * (i + 1) : settings.batch_size * (i + 2)]
        steps.append(trainer.step(chunk))
    step_seconds = sum(step["seconds"] for step in steps) / len(steps)
    # The step's phases (the trainer's time_<phase> logs), averaged over the timed steps; "other" is the rest.
    phases = {phase: sum(step[f"time_{phase}"] for step in steps) / len(steps) for phase in PHASES}
    phases["other"] = step_seconds - sum(phases.values())
    device = next(trainer.policy.parameters()).device
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "model": name,
        "device": str(device),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "parameters": sum(p.numel() for p in model.parameters()),
        "rollout_batched_s": rollout["batched"],
        "rollout_one_at_a_time_s": rollout["one_at_a_time"],
        "rollout_speedup": rollout["one_at_a_time"] / rollout["batched"],
        "ppo_step_s": step_seconds,
        "phases_s": phases,
        "samples_per_s": settings.batch_size / step_seconds,
        "gpu_peak_memory_mb": peak,
        "torch_threads": torch.get_num_threads(),
    }


def _table(rows: list[dict], settings: Settings) -> str:
    lines = [
        f"batch {settings.batch_size}, minibatch {settings.mini_batch_size}, {settings.response_tokens}-token "
        "responses",
        "",
        "| model | device | PPO step (s) | samples/s | rollout batched (s) | rollout one at a time (s) | "
        "batched speed-up |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['device']} {r['dtype']} | {r['ppo_step_s']:.2f} | {r['samples_per_s']:.2f} | "
            f"{r['rollout_batched_s']:.2f} | {r['rollout_one_at_a_time_s']:.2f} | {r['rollout_speedup']:.2f}x |"
        )
    names = list(rows[0]["phases_s"]) if rows else []
    lines += [
        "",
        "A PPO step's phases, seconds (share of the step):",
        "",
        "| model | " + " | ".join(name.replace("_", " ") for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for r in rows:
        cells = (f"{r['phases_s'][name]:.2f} ({r['phases_s'][name] / r['ppo_step_s']:.0%})" for name in names)
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 4, 12-token responses, 64-token prompts, 1 step")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--response-tokens", type=int)
    parser.add_argument("--prompt-tokens", type=int)
    parser.add_argument("--timed-steps", type=int)
    parser.add_argument("--models", default="tiny,flan-t5-base-shaped", help="comma-separated subset to run")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", default="runs/benchmarks", help="folder for ppo.json and ppo.md")
    parser.add_argument(
        "--packed-weights",
        action="store_true",
        help="roll out with MKL-prepacked decoder weights (genai_course.packed_weights, opt-in), to compare",
    )
    args = parser.parse_args(argv)
    settings = (
        Settings(batch_size=4, mini_batch_size=2, response_tokens=12, prompt_tokens=64, timed_steps=1)
        if args.quick
        else Settings()
    )
    for name in ("batch_size", "response_tokens", "prompt_tokens", "timed_steps"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    settings.mini_batch_size = min(settings.mini_batch_size, settings.batch_size)
    settings.threads, settings.device = args.threads, args.device
    settings.packed_weights = args.packed_weights
    if settings.timed_steps < 1 or settings.batch_size < 1:
        parser.error("--timed-steps and --batch-size must be >= 1")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows, notes = [], []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in ("tiny", "flan-t5-base-shaped"):
            parser.error(f"unknown model {name!r}; choose tiny and/or flan-t5-base-shaped")
        print(
            f"[bench_ppo] {name}: batch {settings.batch_size}, {settings.response_tokens}-token responses ...",
            flush=True,
        )
        try:
            rows.append(measure(name, settings))
        except (NotImplementedError, OSError) as error:  # the tiny world cannot be built here
            notes.append(f"{name} skipped: {error}")
            print(f"[bench_ppo] {notes[-1]}", flush=True)
    report = {
        "benchmark": "ppo",
        "settings": asdict(settings),
        "machine": machine(),
        "results": rows,
        "notes": notes,
    }
    table = _table(rows, settings)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ppo.json").write_text(json.dumps(report, indent=2))
    (out / "ppo.md").write_text(table + "\n" + "".join(f"\n{note}" for note in notes) + "\n")
    print(table)
    print(f"written to {out / 'ppo.json'}")
    return report


if __name__ == "__main__":
    main()
