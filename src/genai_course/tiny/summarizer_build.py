"""Building the tiny summarizers: tokenizer, pre-trained base (``t5-tiny``) and its fine-tuned sibling
(``t5-tiny-dialogsum``, the tiny analog of the course's downloaded Lab 2 checkpoint)."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, GenerationConfig, T5ForConditionalGeneration

from genai_course.generation import generate
from genai_course.prompting import TEMPLATES, build_prompt
from genai_course.tiny.pretraining import REPEAT_TURN, SLOT_QUESTION, pretraining_examples
from genai_course.tiny.recipe import Recipe
from genai_course.tiny.summarizer import instruction_examples, make_config, train_seq2seq
from genai_course.tiny.tokenizer import train_t5_tokenizer


def tokenizer_texts(rows: dict[str, list[dict]]) -> list[str]:
    """What the tokenizer learns from: every dialogue and summary text, and the prompt templates."""
    templates = [*TEMPLATES.values(), SLOT_QUESTION.replace("{question}", ""), REPEAT_TURN.replace("{n}", "")]
    texts = [t.format(dialogue="") for t in templates]
    for split_rows in rows.values():
        for row in split_rows:
            texts += [row["dialogue"], row["summary"], row["gist"], row["topic"]]
    return texts


def build_summarizers(root: Path, rows: dict[str, list[dict]], recipe: Recipe, progress: bool = True) -> dict:
    """Train and save the tokenizer and both summarizers; return losses and sample outputs."""
    base_dir, tuned_dir = root / "t5-tiny", root / "t5-tiny-dialogsum"
    phases, started = {}, time.perf_counter()

    def phase_done(name: str) -> None:
        nonlocal started
        phases[name] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()

    train_t5_tokenizer(tokenizer_texts(rows), vocab_size=recipe.vocab_size).save_pretrained(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)  # train on exactly what users will load
    seed = recipe.seed("model")
    examples = pretraining_examples(
        tokenizer, rows["pretrain_pool"], recipe.pretrain_mix, seed, passes=recipe.pretrain_passes
    )
    phase_done("tokenizer_and_mix")
    torch.manual_seed(seed)
    base = T5ForConditionalGeneration(make_config(tokenizer, recipe.model))
    pre_losses = train_seq2seq(
        base,
        examples,
        steps=recipe.pretrain_steps,
        batch_size=recipe.pretrain_batch_size,
        lr=recipe.pretrain_lr,
        seed=seed,
        pad_id=tokenizer.pad_token_id,
        progress=progress,
        desc="Pre-training t5-tiny",
    )
    base.save_pretrained(base_dir)
    phase_done("pretraining")
    tuned = copy.deepcopy(base)
    ft_losses = train_seq2seq(
        tuned,
        instruction_examples(tokenizer, rows["train"]),
        steps=recipe.finetune_steps,
        batch_size=recipe.finetune_batch_size,
        lr=recipe.finetune_lr,
        seed=seed + 1,
        pad_id=tokenizer.pad_token_id,
        progress=progress,
        desc="Fine-tuning t5-tiny-dialogsum",
    )
    tuned.save_pretrained(tuned_dir)
    tokenizer.save_pretrained(tuned_dir)
    phase_done("finetuning")
    return {
        "parameters": sum(p.numel() for p in base.parameters()),
        "vocab_size": len(tokenizer),
        "pretrain_examples": len(examples),
        "pretrain_steps": recipe.pretrain_steps,
        "pretrain_final_loss": round(sum(pre_losses[-50:]) / 50, 3),
        "finetune_steps": recipe.finetune_steps,
        "finetune_final_loss": round(sum(ft_losses[-20:]) / 20, 3),
        "samples": samples(base, tuned, tokenizer, rows["test"][:3]),
        "phases_s": phases,  # seconds of each phase (the samples after them take about one)
    }


def samples(base, tuned, tokenizer, rows: list[dict]) -> list[dict]:
    """A few test dialogues summarized by both models (greedy), for the manifest and the closing note."""
    config = GenerationConfig(max_new_tokens=40)
    flan = generate(base, tokenizer, [build_prompt("flan", r["dialogue"]) for r in rows], config, progress=False)
    inst = generate(
        tuned, tokenizer, [build_prompt("instruction", r["dialogue"]) for r in rows], config, progress=False
    )
    return [
        {"id": r["id"], "reference": r["summary"], "base_flan": f, "finetuned_instruction": i}
        for r, f, i in zip(rows, flan, inst)
    ]
