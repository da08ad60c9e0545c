"""Step times of flan-t5-small and flan-t5-base shapes on the CPU: the numbers behind the ``cpu`` profile.

Both models are built from their configs (``models.flan_t5_small_config()`` / ``flan_t5_base_config()``)
with random weights, in float32; speed does not depend on the weights' values. For each model and thread
count it times

- a full fine-tuning step (forward, backward, AdamW) at batch 8 with 200-token inputs and 40-token targets,
- a LoRA step (r=32 on q and v, the course's adapter) on the same batch,
- the generation of exactly 50 new tokens for 16 prompts of 200 tokens in one batch (greedy),

and, once per thread count, Lab 3's reward model (a roberta-base-shaped classifier): one forward pass over
32 texts of 128 tokens (how select_dialogues and the toxicity evaluation score text).

    python benchmarks/bench_cpu_profile.py                   # both models, 1 and 2 threads (~10 min, 2 cores)
    python benchmarks/bench_cpu_profile.py --only small --threads 1

Writes ``runs/benchmarks/cpu_profile.json``; see ``benchmarks/cpu_profile.md`` for the figures and what the
``cpu`` profile's budgets are derived from them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from _common import machine  # benchmarks/ (the script's folder)
from peft import LoraConfig, TaskType, get_peft_model
from transformers import GenerationConfig, RobertaForSequenceClassification, T5ForConditionalGeneration

from genai_course.architectures import real_family_configs
from genai_course.models import flan_t5_base_config, flan_t5_small_config

CONFIGS = {"small": flan_t5_small_config, "base": flan_t5_base_config}
BATCH, INPUT_TOKENS, TARGET_TOKENS = 8, 200, 40
GEN_PROMPTS, GEN_TOKENS = 16, 50


def _batch(batch: int, length: int, vocab: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(3, vocab, (batch, length), generator=generator)


def _train_seconds(model: torch.nn.Module, steps: int, generator: torch.Generator) -> float:
    """Median seconds of a training step, the first (warm-up: allocations, kernel choice) left out."""
    vocab = model.config.vocab_size
    inputs, labels = _batch(BATCH, INPUT_TOKENS, vocab, generator), _batch(BATCH, TARGET_TOKENS, vocab, generator)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = model(input_ids=inputs, attention_mask=torch.ones_like(inputs), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


@torch.no_grad()
def _generation_seconds(model: torch.nn.Module, generator: torch.Generator) -> float:
    """Seconds to generate exactly GEN_TOKENS tokens for GEN_PROMPTS prompts in one batch (after a short warm-up)."""
    model.eval()
    prompts = _batch(GEN_PROMPTS, INPUT_TOKENS, model.config.vocab_size, generator)
    config = GenerationConfig(max_new_tokens=GEN_TOKENS, min_new_tokens=GEN_TOKENS, do_sample=False)
    model.generate(input_ids=prompts[:2], generation_config=GenerationConfig(max_new_tokens=2, do_sample=False))
    start = time.perf_counter()
    model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), generation_config=config)
    return time.perf_counter() - start


@torch.no_grad()
def _classifier_seconds(threads: int) -> dict:
    """Seconds of one roberta-base-shaped classifier forward over 32 texts of 128 tokens (after a warm-up)."""
    torch.set_num_threads(threads)
    config = real_family_configs()["encoder-only"]  # roberta-base's shape
    config.num_labels = 2
    model = RobertaForSequenceClassification(config).eval()
    texts = torch.randint(3, config.vocab_size, (32, 128), generator=torch.Generator().manual_seed(0))
    model(input_ids=texts[:2])
    start = time.perf_counter()
    model(input_ids=texts, attention_mask=torch.ones_like(texts))
    return {"shape": "roberta-base classifier", "threads": threads, "forward_32x128_s": time.perf_counter() - start}


def measure(shape: str, threads: int, steps: int) -> dict:
    """All three timings for one model shape and thread count (run in a fresh process)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = T5ForConditionalGeneration(CONFIGS[shape]())
    params = sum(p.numel() for p in model.parameters())
    generation = _generation_seconds(model, generator)
    full = _train_seconds(model, steps, generator)
    lora = get_peft_model(
        model,
        LoraConfig(r=32, lora_alpha=32, target_modules=["q", "v"], lora_dropout=0.05, task_type=TaskType.SEQ_2_SEQ_LM),
    )
    lora_step = _train_seconds(lora, steps, generator)
    return {
        "shape": shape,
        "threads": threads,
        "params": params,
        "full_step_s": full,
        "lora_step_s": lora_step,
        "generate_16x50_s": generation,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=[*sorted(CONFIGS), "classifier"], help="one model shape")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=2, help="timed training steps after one warm-up step")
    parser.add_argument("--out", default="runs/benchmarks")
    args = parser.parse_args(argv)
    rows = []
    for shape in [args.only] if args.only else [*CONFIGS, "classifier"]:
        for threads in args.threads:
            # A fresh process per measurement: one run's allocator state and threads do not affect the next.
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                job = (
                    pool.submit(_classifier_seconds, threads)
                    if shape == "classifier"
                    else pool.submit(measure, shape, threads, args.steps)
                )
                row = job.result()
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu_profile.json").write_text(json.dumps({"machine": machine(), "results": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
