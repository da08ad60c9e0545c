"""Full fine-tuning vs LoRA on a flan-t5-base-shaped model: peak memory and step time, as ratios.

The model has google/flan-t5-base's architecture (``models.flan_t5_base_config()``) with random weights,
so the benchmark runs offline; speed and memory do not depend on the weights' values. Both methods go
through the library's own ``full_finetune`` / ``lora_finetune`` (Seq2SeqTrainer, AdamW, course LoRA
r=32 on q and v) on the same synthetic batches of short sequences. Each method runs in a fresh process
so that memory one run freed cannot hide the other's allocations; see ``genai_course.cost`` for how
peak memory is measured (memory added above the level at the start of training: RSS high-water mark on
the CPU, ``max_memory_allocated`` on a GPU).

    python benchmarks/bench_finetune.py            # 4 steps, batch 4, 64+16 tokens (a few minutes, 2 cores)
    python benchmarks/bench_finetune.py --quick    # 3 steps, batch 2, 32+8 tokens

Writes a table to stdout and ``runs/benchmarks/finetune.json`` + ``finetune.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import torch
from _common import machine, stand_in_tokenizer  # benchmarks/ (the script's folder)
from datasets import Dataset
from transformers import T5ForConditionalGeneration

from genai_course import finetune as ft
from genai_course.cost import PeakMemory
from genai_course.models import flan_t5_base_config

METHODS = ("full", "lora")


@dataclass
class Settings:
    steps: int = 4
    batch_size: int = 4
    input_tokens: int = 64
    target_tokens: int = 16
    threads: int = 0  # 0: torch's default
    seed: int = 0


def _dataset(settings: Settings, vocab: int):
    """Rows of random words whose prompts and summaries are exactly the requested token lengths."""
    rng = random.Random(settings.seed)
    n = settings.steps * settings.batch_size

    def words(k: int) -> str:
        return " ".join(f"w{rng.randrange(vocab)}" for _ in range(k))

    # -1 for the EOS the tokenizer appends.
    return Dataset.from_dict(
        {
            "id": [f"bench_{i}" for i in range(n)],
            "dialogue": [words(settings.input_tokens - 1) for _ in range(n)],
            "summary": [words(settings.target_tokens - 1) for _ in range(n)],
        }
    )


def measure(method: str, settings: Settings) -> dict:
    """Build the model, train ``settings.steps`` steps with ``method``, return its cost (in a child process)."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    config = flan_t5_base_config()
    started = time.perf_counter()
    with PeakMemory("cpu") as build_memory:  # the same measurement the library applies to training
        model = T5ForConditionalGeneration(config)
    build_seconds = time.perf_counter() - started
    vocab = 5000
    tokenizer, data = stand_in_tokenizer(vocab), _dataset(settings, vocab)
    common = dict(
        max_steps=settings.steps,
        per_device_train_batch_size=settings.batch_size,
        seed=settings.seed,
        prompt_style="none",
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    with tempfile.TemporaryDirectory() as out:
        if method == "full":
            result = ft.full_finetune(model, tokenizer, data, ft.FullFinetuneConfig(output_dir=out, **common))
        else:
            result = ft.lora_finetune(model, tokenizer, data, ft.LoraFinetuneConfig(output_dir=out, **common))
    return {
        "method": method,
        "trainable_params": result.params["trainable"],
        "total_params": result.params["total"],
        "seconds_per_step": result.cost.seconds_per_step,
        "train_seconds": result.cost.seconds,
        "peak_memory_mb": result.cost.peak_memory_mb,
        "saved_mb": result.cost.saved_mb,
        "memory_method": result.cost.memory_method,
        "steps": result.cost.steps,
        "model_build_seconds": build_seconds,
        "model_build_memory_mb": build_memory.peak_mb,
        "device": str(next(result.model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
    }


def _run_isolated(method: str, settings: Settings) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, method, settings).result()


def _table(rows: dict[str, dict], ratios: dict) -> str:
    lines = [
        "| method | trainable params | step time (s) | peak memory (MiB) | saved (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['trainable_params']:,} ({100 * r['trainable_params'] / r['total_params']:.2f}%) | "
            f"{r['seconds_per_step']:.2f} | {r['peak_memory_mb']:.0f} | {r['saved_mb']:.1f} |"
        )
    lines.append(
        f"| **full / LoRA** | {ratios['trainable_params']:.0f}x | {ratios['seconds_per_step']:.2f}x | "
        f"{ratios['peak_memory_mb']:.2f}x | {ratios['saved_mb']:.0f}x |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 steps, batch 2, 32+8 tokens")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--input-tokens", type=int)
    parser.add_argument("--target-tokens", type=int)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", default="runs/benchmarks", help="folder for finetune.json and finetune.md")
    args = parser.parse_args(argv)
    settings = Settings(steps=3, batch_size=2, input_tokens=32, target_tokens=8) if args.quick else Settings()
    for name in ("steps", "batch_size", "input_tokens", "target_tokens"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    settings.threads = args.threads
    if settings.steps < 2:
        parser.error("--steps must be >= 2: the first (warm-up) step is left out of the step time")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = {}
    for method in METHODS:
        print(
            f"[bench_finetune] {method}: {settings.steps} steps, batch {settings.batch_size}, "
            f"{settings.input_tokens}+{settings.target_tokens} tokens ...",
            flush=True,
        )
        rows[method] = _run_isolated(method, settings)
    keys = ("trainable_params", "seconds_per_step", "peak_memory_mb", "saved_mb")
    ratios = {k: rows["full"][k] / rows["lora"][k] if rows["lora"][k] else float("nan") for k in keys}
    report = {
        "benchmark": "finetune",
        "model": "flan-t5-base architecture, random weights",
        "settings": asdict(settings),
        "machine": machine(),
        "results": rows,
        "ratios_full_over_lora": ratios,
        "memory_method": rows["full"]["memory_method"],
    }
    table = _table(rows, ratios)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune.json").write_text(json.dumps(report, indent=2))
    (out / "finetune.md").write_text(table + "\n")
    print(table)
    print(f"peak memory: {report['memory_method']}; written to {out / 'finetune.json'}")
    return report


if __name__ == "__main__":
    main()
