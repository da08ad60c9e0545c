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
from _flops import cross_attention_bytes, generation_flops, roofline_seconds
from transformers import GenerationConfig, T5ForConditionalGeneration

from genai_course.generation import generate
from genai_course.metrics import rouge
from genai_course.packed_weights import packing_applies

BASE_SHAPE = (768, 2048, 32128)  # d_model, d_ff, vocabulary: the shapes roofline.py's decode GEMMs time


@dataclass
class Case:
    """One model and prompt set to time both ways."""

    name: str
    prompts: int
    max_new_tokens: int
    batch_size: int


def tiny_case(case: Case, seed: int) -> tuple:
    """The tiny summarizer with instruction prompts of the first test dialogues (and their references)."""
    from genai_course.data import load_dialogsum
    from genai_course.models import load_summarizer
    from genai_course.profiles import get_profile
    from genai_course.prompting import instruction_prompt

    profile = get_profile("tiny", verbose=False)
    model, tokenizer = load_summarizer(profile)
    test = load_dialogsum(profile.dataset)["test"]
    rows = test.select(range(case.prompts))
    return model, tokenizer, [instruction_prompt(d) for d in rows["dialogue"]], list(rows["summary"])


def base_case(case: Case, seed: int) -> tuple:
    """flan-t5-base's architecture with random weights, and prompts of 150-350 stand-in tokens."""
    from genai_course.models import flan_t5_base_config

    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(flan_t5_base_config()).eval()
    tokenizer = stand_in_tokenizer()
    rng = random.Random(seed)
    prompts = [" ".join(f"w{rng.randrange(32_000)}" for _ in range(rng.randint(149, 349))) for _ in range(case.prompts)]
    return model, tokenizer, prompts, None


def with_roofline(row: dict, model, tokenizer, prompts: list[str], roofline: dict | None) -> dict:
    """The batched time against this machine's limit (benchmarks/roofline.py): the real tokens' FLOPs at
    the fp32 matmul peak plus one read of the decoder's weights per decode step of each batch."""
    if roofline is None:
        return row
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    batches = -(-len(prompts) // row["batch_size"])
    limit = roofline_seconds(
        model.config,
        lengths,
        row["max_new_tokens"],
        peak_flops=roofline["matmul"]["fp32"]["gflops"] * 1e9,
        bandwidth=roofline["bandwidth_gbs"] * 1e9,
        decode_steps=batches * row["max_new_tokens"],
    )
    row = row | {
        "roofline_s": round(limit["total_s"], 3),
        "batched_over_roofline": round(row["batched_s"] / limit["total_s"], 2),
        "batched_gflops": round(limit["flops"] / row["batched_s"] / 1e9, 1),
    }
    # The decode steps at the rate this machine's fp32 GEMM reaches for a batch of that many vectors
    # (roofline.py's decode-shaped GEMMs), with the encoder at the square-GEMM peak and the
    # cross-attention cache read at the bandwidth: what the kernels allow, as against what the FLOPs and
    # the weight bytes alone would.
    step = roofline.get("decode_gemm", {}).get(str(row["batch_size"]))
    if step is not None and (model.config.d_model, model.config.d_ff, model.config.vocab_size) == BASE_SHAPE:
        encoder = generation_flops(model.config, lengths, row["max_new_tokens"])["encoder"]
        decode = batches * row["max_new_tokens"] * step["step_matmul_s"]
        # Each step also reads its batch's cross-attention keys and values (all batches together: once
        # per step for all the prompts), at the measured bandwidth.
        cache = row["max_new_tokens"] * cross_attention_bytes(model.config, lengths) / (roofline["bandwidth_gbs"] * 1e9)
        kernels = encoder / (roofline["matmul"]["fp32"]["gflops"] * 1e9) + decode + cache
        row |= {"kernel_bound_s": round(kernels, 3), "batched_over_kernel_bound": round(row["batched_s"] / kernels, 2)}
    return row


def bf16_comparison(model, tokenizer, prompts: list[str], case: Case, references: list[str] | None) -> dict:
    """Batched generation with bf16 weights against fp32: speed, and how often the greedy outputs agree
    (with ROUGE-1 of both where references exist). Also the course's way, one dialogue at a time in bf16,
    against the ``cpu`` profile's batched evaluation (fp32 by default, bf16 opted in)."""
    config = GenerationConfig(max_new_tokens=case.max_new_tokens, do_sample=False)
    timings, outputs = {}, {}
    runs = (("fp32", torch.float32, case.batch_size), ("bf16", torch.bfloat16, case.batch_size))
    runs += (("bf16_one_at_a_time", torch.bfloat16, 1),)
    for name, dtype, batch_size in runs:
        model.to(dtype)
        generate(model, tokenizer, prompts[:2], config, batch_size=2, progress=False)  # warm-up
        start = time.perf_counter()
        outputs[name] = generate(model, tokenizer, prompts, config, batch_size=batch_size, progress=False)
        timings[name] = time.perf_counter() - start
    model.to(torch.float32)
    course_s = timings["bf16_one_at_a_time"]
    row = {
        "fp32_s": round(timings["fp32"], 3),
        "bf16_s": round(timings["bf16"], 3),
        "bf16_speedup": round(timings["fp32"] / timings["bf16"], 2),
        "greedy_agreement": sum(a == b for a, b in zip(outputs["fp32"], outputs["bf16"])) / len(prompts),
        "course_way_s": round(course_s, 3),
        "cpu_profile_fp32_over_course_way": round(course_s / timings["fp32"], 2),
        "cpu_profile_bf16_over_course_way": round(course_s / timings["bf16"], 2),
    }
    if references:
        for name in ("fp32", "bf16"):
            row[f"rouge1_{name}"] = round(rouge(outputs[name], references)["rouge1"], 4)
    return row


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
    packed = {}
    if packing_applies(model, case.batch_size):  # what the opt-in MKL-prepacked decoder weights buy, same run
        start = time.perf_counter()
        with_packing = generate(
            model, tokenizer, prompts, config, batch_size=case.batch_size, packed_weights=True, progress=False
        )
        packed = {
            "batched_packed_s": round(time.perf_counter() - start, 3),
            "packed_identical_outputs": with_packing == single,
        }
    return {
        **asdict(case),
        "prompt_tokens_min": min(lengths),
        "prompt_tokens_max": max(lengths),
        "one_at_a_time_s": round(single_s, 3),
        "batched_s": round(batched_s, 3),
        "speedup": round(single_s / batched_s, 2),
        "identical_outputs": single == batched,
        "differing_outputs": sum(a != b for a, b in zip(single, batched)),
        **packed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer prompts and tokens (about a minute)")
    parser.add_argument("--only", choices=("tiny", "base"), help="run one case only")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--base-prompts", type=int, help="prompts for the base-shaped model (also its batch size)")
    parser.add_argument("--base-new-tokens", type=int, help="new tokens per prompt for the base-shaped model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bf16", action="store_true", help="also time bf16 weights against fp32 (batched) and the course's way"
    )
    parser.add_argument(
        "--roofline", type=Path, default=Path("runs/benchmarks/roofline.json"), help="benchmarks/roofline.py's output"
    )
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
            model, tokenizer, prompts, references = build(case, args.seed)
        except (NotImplementedError, OSError, RuntimeError) as error:  # e.g. the tiny world is not built
            print(f"[skip] {case.name}: {error}", file=sys.stderr)
            rows.append({**asdict(case), "skipped": str(error)})
            continue
        roofline = json.loads(args.roofline.read_text()) if args.roofline.exists() else None
        row = with_roofline(time_both(model, tokenizer, prompts, case), model, tokenizer, prompts, roofline)
        if args.bf16:
            row["bf16"] = bf16_comparison(model, tokenizer, prompts, case, references)
        rows.append(row)
        del model
    print_table(rows)
    record = {
        "benchmark": "generation",
        "quick": args.quick,
        "torch_threads": torch.get_num_threads(),
        "machine": machine(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "roofline": str(args.roofline) if args.roofline.exists() else None,
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
        if "roofline_s" in row:
            print(
                f"{'':<22}roofline {row['roofline_s']:.2f} s: batched takes {row['batched_over_roofline']:.2f}x it "
                f"({row['batched_gflops']:.0f} GFLOP/s)"
            )
        if "batched_packed_s" in row:
            print(
                f"{'':<22}with MKL-prepacked decoder weights (opt-in): batched {row['batched_packed_s']:.2f} s "
                f"({row['one_at_a_time_s'] / row['batched_packed_s']:.2f}x one at a time), outputs "
                f"{'identical' if row['packed_identical_outputs'] else 'DIFFERENT'}"
            )
        if "kernel_bound_s" in row:
            print(
                f"{'':<22}at the fp32 GEMM rate of a batch of {row['batch_size']} (roofline.py's decode GEMMs), "
                f"cross-attention cache reads included: "
                f"{row['kernel_bound_s']:.2f} s: batched takes {row['batched_over_kernel_bound']:.2f}x it"
            )
        if "bf16" in row:
            b = row["bf16"]
            rouge_text = f", ROUGE-1 {b['rouge1_fp32']:.4f} -> {b['rouge1_bf16']:.4f}" if "rouge1_fp32" in b else ""
            print(
                f"{'':<22}bf16 weights: {b['bf16_s']:.2f} s vs fp32 {b['fp32_s']:.2f} s ({b['bf16_speedup']:.2f}x), "
                f"greedy outputs agree on {b['greedy_agreement']:.0%}{rouge_text}"
            )
            print(
                f"{'':<22}the course's way (one at a time, bf16) {b['course_way_s']:.2f} s: the cpu profile's batched "
                f"evaluation is {b['cpu_profile_fp32_over_course_way']:.2f}x faster in fp32, "
                f"{b['cpu_profile_bf16_over_course_way']:.2f}x in bf16"
            )


if __name__ == "__main__":
    sys.exit(main())
