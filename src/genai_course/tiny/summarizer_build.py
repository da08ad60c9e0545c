"""Building the tiny summarizers: tokenizer, pre-trained base (``t5-tiny``) and its fine-tuned sibling
(``t5-tiny-dialogsum``, the tiny analog of the course's downloaded Lab 2 checkpoint)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import AutoTokenizer, GenerationConfig, T5ForConditionalGeneration

from genai_course.generation import generate
from genai_course.prompting import TEMPLATES, build_prompt
from genai_course.tiny.summarizer import (
    instruction_examples,
    make_config,
    pretraining_examples,
    train_seq2seq,
)
from genai_course.tiny.tokenizer import train_t5_tokenizer


def tokenizer_texts(rows: dict[str, list[dict]]) -> list[str]:
    """What the tokenizer learns from: every dialogue and summary text, and the prompt templates."""
    texts = [t.format(dialogue="") for t in TEMPLATES.values()]
    for split_rows in rows.values():
        for row in split_rows:
            texts += [row["dialogue"], row["summary"], row["gist"], row["topic"]]
    return texts


def build_summarizers(root: Path, rows: dict[str, list[dict]], progress: bool = True) -> dict:
    """Train and save the tokenizer and both summarizers; return losses and sample outputs."""
    from genai_course.tiny.world import FINETUNE_STEPS, PRETRAIN_STEPS, SEEDS

    base_dir, tuned_dir = root / "t5-tiny", root / "t5-tiny-dialogsum"
    train_t5_tokenizer(tokenizer_texts(rows)).save_pretrained(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)  # train on exactly what users will load
    torch.manual_seed(SEEDS["model"])
    base = T5ForConditionalGeneration(make_config(tokenizer))
    pre_losses = train_seq2seq(
        base, pretraining_examples(tokenizer, rows["pretrain_pool"], SEEDS["model"]),
        steps=PRETRAIN_STEPS, lr=2e-3, seed=SEEDS["model"], pad_id=tokenizer.pad_token_id,
        progress=progress, desc="Pre-training t5-tiny",
    )
    base.save_pretrained(base_dir)
    tuned = copy.deepcopy(base)
    ft_losses = train_seq2seq(
        tuned, instruction_examples(tokenizer, rows["train"]),
        steps=FINETUNE_STEPS, lr=1e-3, seed=SEEDS["model"] + 1, pad_id=tokenizer.pad_token_id,
        progress=progress, desc="Fine-tuning t5-tiny-dialogsum",
    )
    tuned.save_pretrained(tuned_dir)
    tokenizer.save_pretrained(tuned_dir)
    return {
        "parameters": sum(p.numel() for p in base.parameters()),
        "vocab_size": len(tokenizer),
        "pretrain_steps": PRETRAIN_STEPS,
        "pretrain_final_loss": round(sum(pre_losses[-20:]) / 20, 3),
        "finetune_steps": FINETUNE_STEPS,
        "finetune_final_loss": round(sum(ft_losses[-20:]) / 20, 3),
        "samples": samples(base, tuned, tokenizer, rows["test"][:3]),
    }


def samples(base, tuned, tokenizer, rows: list[dict]) -> list[dict]:
    """A few test dialogues summarized by both models (greedy), for the manifest and the closing note."""
    config = GenerationConfig(max_new_tokens=40)
    flan = generate(base, tokenizer, [build_prompt("flan", r["dialogue"]) for r in rows], config, progress=False)
    inst = generate(tuned, tokenizer, [build_prompt("instruction", r["dialogue"]) for r in rows], config, progress=False)
    return [{"id": r["id"], "reference": r["summary"], "base_flan": f, "finetuned_instruction": i}
            for r, f, i in zip(rows, flan, inst)]
