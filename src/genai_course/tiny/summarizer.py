"""The tiny summarizer: a small T5ForConditionalGeneration (the same class as FLAN-T5), its config, and
the fast training loop that pre-trains it on the mix of ``tiny.pretraining`` and fine-tunes its sibling.

A hand-written loop (not Seq2SeqTrainer) keeps the build within its time budget: batches are drawn from
length buckets, because padding every batch to its longest few-shot prompt costs ~3x the step time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, T5Config, T5ForConditionalGeneration

from genai_course.prompting import build_prompt
from genai_course.tiny.recipe import TinyT5Spec

Example = tuple[list[int], list[int]]
BUCKET_BATCHES = 50  # batches sorted together: long enough to group lengths, short enough to stay random


def make_config(tokenizer: PreTrainedTokenizerBase, spec: TinyT5Spec = TinyT5Spec()) -> T5Config:
    """A FLAN-T5-like config (gated-GELU, T5's relative positions) at tiny size."""
    return T5Config(
        vocab_size=len(tokenizer),
        d_model=spec.d_model,
        d_ff=spec.d_ff,
        d_kv=spec.d_kv,
        num_layers=spec.num_layers,
        num_decoder_layers=spec.num_layers,
        num_heads=spec.num_heads,
        dropout_rate=spec.dropout_rate,
        relative_attention_num_buckets=spec.relative_attention_num_buckets,
        relative_attention_max_distance=spec.relative_attention_max_distance,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=spec.tie_word_embeddings,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def instruction_examples(tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict]) -> list[Example]:
    """Lab 2's task: the instruction prompt → the reference summary."""
    return [
        (tokenizer(build_prompt("instruction", r["dialogue"]))["input_ids"], tokenizer(r["summary"])["input_ids"])
        for r in rows
    ]


def bucketed_batches(lengths: Sequence[int], batch_size: int, steps: int, rng: random.Random) -> list[list[int]]:
    """``steps`` batches of indices: shuffled, sorted by length within runs of BUCKET_BATCHES batches, cut
    into batches, and the batches shuffled, so each batch holds examples of similar length."""
    if len(lengths) < batch_size:
        raise ValueError(f"{len(lengths)} examples cannot fill a batch of {batch_size}.")
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        chunk_size = batch_size * BUCKET_BATCHES
        epoch: list[list[int]] = []
        for start in range(0, len(order) - batch_size + 1, chunk_size):
            chunk = sorted(order[start : start + chunk_size], key=lambda i: lengths[i])
            epoch += [chunk[j : j + batch_size] for j in range(0, len(chunk) - batch_size + 1, batch_size)]
        rng.shuffle(epoch)
        batches += epoch
    return batches[:steps]


def _pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (width - len(s)) for s in sequences])


def train_seq2seq(
    model: T5ForConditionalGeneration,
    examples: Sequence[Example],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    pad_id: int = 0,
    progress: bool = True,
    desc: str = "Training",
) -> list[float]:
    """AdamW with warm-up and linear decay over ``steps`` length-bucketed batches; the loss per step."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    # beta2 0.98 instead of 0.999: a run of a few hundred steps needs the second moment to adapt fast.
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.05, (steps - s) / max(1, steps - warmup)))
    )
    batches = bucketed_batches([len(source) for source, _ in examples], batch_size, steps, rng)
    model.train()
    losses = []
    # tqdm's remaining-time estimate is the build's progress display; batches vary in length, so it
    # settles after the first few dozen steps.
    for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
        sources = _pad([examples[i][0] for i in batch], pad_id)
        labels = _pad([examples[i][1] for i in batch], -100)
        loss = model(input_ids=sources, attention_mask=(sources != pad_id).long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses
