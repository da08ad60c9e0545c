"""The tiny summarizer: a small T5ForConditionalGeneration pre-trained on a FLAN-like mix, and its
fine-tuned sibling (the tiny analog of the Lab 2 checkpoint the course downloaded).

Pre-training teaches span corruption (fluent in-domain text), the topic question and FLAN's "What was
going on?" template mapped to the first sentence of a neutral summary. So, like FLAN-T5 on DialogSum, the base model half knows the
task: prompt wording matters (Lab 1) and fine-tuning to full DialogSum-style summaries still helps a lot
(Lab 2). A fast hand-written loop (not Seq2SeqTrainer) keeps the build within its time budget.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, T5Config, T5ForConditionalGeneration

from genai_course.prompting import build_prompt
from genai_course.tiny.tokenizer import N_SENTINELS


@dataclass(frozen=True)
class TinyT5Spec:
    """Size of the tiny T5: about 2M parameters, so CPU training takes seconds per hundred steps."""

    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 3
    num_heads: int = 4
    d_kv: int = 32
    dropout_rate: float = 0.05


def make_config(tokenizer: PreTrainedTokenizerBase, spec: TinyT5Spec = TinyT5Spec()) -> T5Config:
    """A FLAN-T5-like config (gated-GELU, untied head) at tiny size."""
    return T5Config(
        vocab_size=len(tokenizer),
        d_model=spec.d_model,
        d_ff=spec.d_ff,
        d_kv=spec.d_kv,
        num_layers=spec.num_layers,
        num_decoder_layers=spec.num_layers,
        num_heads=spec.num_heads,
        dropout_rate=spec.dropout_rate,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


Example = tuple[list[int], list[int]]


def _encode(tokenizer: PreTrainedTokenizerBase, source: str, target: str) -> Example:
    return tokenizer(source)["input_ids"], tokenizer(target)["input_ids"]


def span_corruption(ids: list[int], rng: random.Random, eos: int, sentinel_ids: list[int]) -> Example:
    """T5's objective: replace ~15% of tokens in spans of ~3 with sentinels; the target lists the spans."""
    body = ids[:-1] if ids and ids[-1] == eos else list(ids)
    n_spans = max(1, min(len(sentinel_ids), round(len(body) * 0.15 / 3)))
    starts = sorted(rng.sample(range(0, max(1, len(body) - 3), 4), k=min(n_spans, max(1, (len(body) - 3) // 4))))
    source, target, cursor = [], [], 0
    for k, start in enumerate(starts):
        length = rng.choice((2, 3, 4))
        source += body[cursor:start] + [sentinel_ids[k]]
        target += [sentinel_ids[k]] + body[start : start + length]
        cursor = start + length
    return source + body[cursor:] + [eos], target + [eos]


def pretraining_examples(tokenizer: PreTrainedTokenizerBase, rows: list[dict], seed: int) -> list[Example]:
    """One example per dialogue: span corruption (40%), topic question (20%) or FLAN template → the first
    sentence of a neutral summary (40%)."""
    rng = random.Random(seed)
    sentinels = tokenizer.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(N_SENTINELS)])
    examples = []
    for row in rows:
        draw = rng.random()
        if draw < 0.4:
            ids = tokenizer(row["dialogue"])["input_ids"]
            examples.append(span_corruption(ids, rng, tokenizer.eos_token_id, sentinels))
        elif draw < 0.6:
            examples.append(_encode(tokenizer, build_prompt("topic", row["dialogue"]), row["topic"]))
        else:
            examples.append(_encode(tokenizer, build_prompt("flan", row["dialogue"]), row["flan_target"]))
    return examples


def instruction_examples(tokenizer: PreTrainedTokenizerBase, rows: list[dict]) -> list[Example]:
    """Lab 2's task: the instruction prompt → the reference summary."""
    return [_encode(tokenizer, build_prompt("instruction", r["dialogue"]), r["summary"]) for r in rows]


def _pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (width - len(s)) for s in sequences])


def train_seq2seq(
    model: T5ForConditionalGeneration,
    examples: list[Example],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    pad_id: int = 0,
    progress: bool = True,
    desc: str = "Training",
) -> list[float]:
    """AdamW with warm-up and linear decay over ``steps`` seeded batches; returns the loss per step."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.05, (steps - s) / max(1, steps - warmup)))
    )
    model.train()
    losses, order = [], []
    for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        if len(order) < batch_size:
            order = list(range(len(examples)))
            rng.shuffle(order)
        batch = [examples[order.pop()] for _ in range(batch_size)]
        sources = _pad([s for s, _ in batch], pad_id)
        labels = _pad([t for _, t in batch], -100)
        loss = model(input_ids=sources, attention_mask=(sources != pad_id).long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses
