"""The tiny hate-speech classifier: a RobertaForSequenceClassification with the real reward model's label
map ``{0: nothate, 1: hate}``, trained on generated insulting vs. polite (including angry-but-polite)
sentences and checked on held-out generated sentences."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import RobertaConfig, RobertaForSequenceClassification

from genai_course.tiny.classifier_data import neutral_heated_summaries, rude_and_polite_sentences
from genai_course.tiny.recipe import Recipe
from genai_course.tiny.tokenizer import train_roberta_tokenizer

ID2LABEL = {0: "nothate", 1: "hate"}


def _batches(items: list, size: int, rng: random.Random):
    order = list(range(len(items)))
    rng.shuffle(order)
    for start in range(0, len(order), size):
        yield [items[i] for i in order[start : start + size]]


@torch.no_grad()
def accuracy(model, tokenizer, sentences: list[tuple[str, int]]) -> float:
    """Share of sentences whose argmax label is the true one."""
    model.eval()
    correct = 0
    for start in range(0, len(sentences), 256):
        chunk = sentences[start : start + 256]
        enc = tokenizer([s for s, _ in chunk], return_tensors="pt", padding=True, truncation=True)
        predicted = model(**enc).logits.argmax(-1)
        correct += int((predicted == torch.tensor([y for _, y in chunk])).sum())
    return correct / len(sentences)


def build_classifier(
    folder: Path, rows: dict[str, list[dict]], recipe: Recipe, progress: bool = True, epochs: int = 2
) -> dict:
    """Train, check on held-out sentences, save; returns the measured accuracy."""
    seed = recipe.seed("classifier")
    train = rude_and_polite_sentences(recipe.classifier_sentences["train"], seed)
    held_out = rude_and_polite_sentences(recipe.classifier_sentences["held_out"], seed + 500)
    texts = [r["dialogue"] for r in rows["train"]] + [s for s, _ in train]
    tokenizer = train_roberta_tokenizer(texts)
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=0,
        eos_token_id=2,
        id2label=ID2LABEL,
        label2id={v: k for k, v in ID2LABEL.items()},
    )
    model = RobertaForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    rng = random.Random(seed)
    model.train()
    for _ in tqdm(range(epochs), desc="Classifier epochs", disable=not progress, leave=False):
        for batch in _batches(train, 64, rng):
            enc = tokenizer([s for s, _ in batch], return_tensors="pt", padding=True, truncation=True)
            loss = model(**enc, labels=torch.tensor([y for _, y in batch])).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    result = {
        "held_out_accuracy": accuracy(model, tokenizer, held_out),
        "neutral_heated_summary_accuracy": accuracy(model, tokenizer, neutral_heated_summaries(200, seed + 900)),
        "train_sentences": len(train),
        "held_out_sentences": len(held_out),
    }
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result
