"""Batched versus one-at-a-time generation, side by side on the same model and prompts.

The course generated summaries one dialogue at a time in a Python loop; ``genai_course.generation``
sorts prompts by length and generates them in padded batches. This benchmark times both ways through
the same function (``generate(..., batch_size=1)`` is exactly the course's loop: tokenize one prompt,
``model.generate``, decode) and checks that greedy outputs are identical, for two models:

- ``tiny``: the tiny world's summarizer on instruction prompts of tiny test dialogues;
- ``flan-t5-base-shaped``: google/flan-t5-base's architecture (``models.flan_t5_base_config()``) with
  random weights, so no download is needed. Its real SentencePiece tokenizer is not available offline,
  so a stand-in word-level tokenizer over the words ``w0 .. w31999`` builds prompts of exactly chosen
  token counts (150 to 350 tokens, like DialogSum dialogues under FLAN-T5's tokenizer); the token ids
  land in the model's 32,128-entry vocabulary. Speed does not depend on the weights' values, but random
  weights rarely emit EOS, so every response runs to ``max_new_tokens`` (the worst case for batching).

    python benchmarks/bench_generation.py           # tiny: 96 prompts; base: 8 prompts, 24 new tokens
    python benchmarks/bench_generation.py --quick   # tiny: 32 prompts; base: 4 prompts, 8 new tokens
    python benchmarks/bench_generation.py --only base --base-prompts 16 --base-new-tokens 50

Prints a table and writes ``runs/benchmarks/generation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from _common import machine, stand_in_tokenizer  # benchmarks/ (the script's folder)
from transformers import GenerationConfig, T5ForConditionalGeneration

from genai_course.generation import generate


@dataclass
class Case:
    """One model and prompt set to time both ways."""

    name: str
    prompts: int
    max_new_tokens: int
    batch_size: int


def tiny_case(case: Case, seed: int) -> tuple:
    """The tiny summarizer with instruction prompts of the first test dialogues."""
    from genai_course.data import load_dialogsum
    from genai_course.models import load_summarizer
    from genai_course.profiles import get_profile
    from genai_course.prompting import instruction_prompt

    profile = get_profile("tiny", verbose=False)
    model, tokenizer = load_summarizer(profile)
    test = load_dialogsum(profile.dataset)["test"]
    prompts = [instruction_prompt(d) for d in test.select(range(case.prompts))["dialogue"]]
    return model, tokenizer, prompts


def base_case(case: Case, seed: int) -> tuple:
    """flan-t5-base's architecture with random weights, and prompts of 150-350 stand-in tokens."""
    from genai_course.models import flan_t5_base_config

    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(flan_t5_base_config()).eval()
    tokenizer = stand_in_tokenizer()
    rng = random.Random(seed)
    prompts = [" ".join(f"w{rng.randrange(32_000)}" for _ in range(rng.randint(149, 349))) for _ in range(case.prompts)]
    return model, tokenizer, prompts


def time_both(model, tokenizer, prompts: list[str], case: Case) -> dict:
    """Seconds for one-at-a-time and batched greedy generation, their ratio, and output equality."""
    config = GenerationConfig(max_new_tokens=case.max_new_tokens, do_sample=False)
    generate(model, tokenizer, prompts[:2], config, batch_size=2, progress=False)  # warm-up
    start = time.perf_counter()
    single = generate(model, tokenizer, prompts, config, batch_size=1, desc=f"{case.name}: one at a time")
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = generate(model, tokenizer, prompts, config, batch_size=case.batch_size, desc=f"{case.name}: batched")
    batched_s = time.perf_counter() - start
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    return {
        **asdict(case),
        "prompt_tokens_min": min(lengths),
        "prompt_tokens_max": max(lengths),
        "one_at_a_time_s": round(single_s, 3),
        "batched_s": round(batched_s, 3),
        "speedup": round(single_s / batched_s, 2),
        "identical_outputs": single == batched,
        "differing_outputs": sum(a != b for a, b in zip(single, batched)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer prompts and tokens (about a minute)")
    parser.add_argument("--only", choices=("tiny", "base"), help="run one case only")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--base-prompts", type=int, help="prompts for the base-shaped model (also its batch size)")
    parser.add_argument("--base-new-tokens", type=int, help="new tokens per prompt for the base-shaped model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/generation.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = {
        "tiny": (Case("tiny", 32 if args.quick else 96, 40, 32), tiny_case),
        "base": (Case("flan-t5-base-shaped", 4 if args.quick else 8, 8 if args.quick else 24, 8), base_case),
    }
    base = cases["base"][0]
    base.prompts = args.base_prompts or base.prompts
    base.batch_size = args.base_prompts or base.batch_size
    base.max_new_tokens = args.base_new_tokens or base.max_new_tokens
    rows = []
    for key, (case, build) in cases.items():
        if args.only and key != args.only:
            continue
        try:
            model, tokenizer, prompts = build(case, args.seed)
        except (NotImplementedError, OSError, RuntimeError) as error:  # e.g. the tiny world is not built
            print(f"[skip] {case.name}: {error}", file=sys.stderr)
            rows.append({**asdict(case), "skipped": str(error)})
            continue
        rows.append(time_both(model, tokenizer, prompts, case))
        del model
    print_table(rows)
    record = {
        "benchmark": "generation",
        "quick": args.quick,
        "torch_threads": torch.get_num_threads(),
        "machine": machine(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0 if all(row.get("identical_outputs", True) for row in rows) else 1


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'model':<22}{'prompts':>8}{'tokens':>10}{'new':>5}{'batch':>6}"
        f"{'1-by-1 s':>10}{'batched s':>10}{'speedup':>9}  same"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        if "skipped" in row:
            print(f"{row['name']:<22}skipped: {row['skipped']}")
            continue
        tokens = f"{row['prompt_tokens_min']}-{row['prompt_tokens_max']}"
        print(
            f"{row['name']:<22}{row['prompts']:>8}{tokens:>10}{row['max_new_tokens']:>5}{row['batch_size']:>6}"
            f"{row['one_at_a_time_s']:>10.2f}{row['batched_s']:>10.2f}{row['speedup']:>8.2f}x  "
            f"{'yes' if row['identical_outputs'] else 'NO (' + str(row['differing_outputs']) + ' differ)'}"
        )


if __name__ == "__main__":
    sys.exit(main())
