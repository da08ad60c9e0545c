"""Training examples for summarization: prompt -> ``input_ids``, summary -> ``labels`` padded with -100.

Padding happens per batch (:func:`summarization_collator`); label padding is -100 so the loss ignores it.
Examples longer than the limits are cut, and the cut is counted in a :class:`TruncationReport`: it is
never silent.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerBase

from genai_course.finetune.errors import FinetuneError, TruncationWarning
from genai_course.generation import context_window
from genai_course.prompting import build_prompt

LABEL_PAD = -100  # the label id PyTorch's cross-entropy ignores (``ignore_index``)
REQUIRED_COLUMNS = ("dialogue", "summary")


@dataclass
class TruncationReport:
    """How many examples were cut to fit, and by how much (in tokens): truncation is never silent."""

    n_examples: int
    max_input_tokens: int
    max_target_tokens: int
    inputs_truncated: int = 0
    input_tokens_dropped_max: int = 0
    input_tokens_dropped_total: int = 0
    targets_truncated: int = 0
    target_tokens_dropped_max: int = 0
    target_tokens_dropped_total: int = 0

    @property
    def any(self) -> bool:
        return bool(self.inputs_truncated or self.targets_truncated)

    def __str__(self) -> str:
        if not self.any:
            return (
                f"No truncation: all {self.n_examples} prompts fit in {self.max_input_tokens} tokens and all "
                f"summaries in {self.max_target_tokens}."
            )
        parts = []
        if self.inputs_truncated:
            parts.append(
                f"{self.inputs_truncated} of {self.n_examples} prompts were longer than {self.max_input_tokens} "
                f"tokens and lost up to {self.input_tokens_dropped_max} tokens "
                f"({self.input_tokens_dropped_total} in all) from their end"
            )
        if self.targets_truncated:
            parts.append(
                f"{self.targets_truncated} of {self.n_examples} summaries were longer than "
                f"{self.max_target_tokens} tokens and lost up to {self.target_tokens_dropped_max} tokens "
                f"({self.target_tokens_dropped_total} in all)"
            )
        return "; ".join(parts) + "."


def check_columns(dataset: Dataset) -> None:
    """A non-empty ``datasets.Dataset`` with ``dialogue`` and ``summary`` columns, or a clear error."""
    if not isinstance(dataset, Dataset):
        raise FinetuneError(
            f"Expected a datasets.Dataset (one split, e.g. dialogsum['train']), got {type(dataset).__name__}."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise FinetuneError(
            f"The dataset lacks the column(s) {', '.join(missing)}; it has {', '.join(dataset.column_names)}. "
            "Fine-tuning needs DialogSum-style rows with 'dialogue' and 'summary'."
        )
    if len(dataset) == 0:
        raise FinetuneError("The dataset is empty: there is nothing to train on.")


def _check_texts(texts: Sequence[Any], ids: Sequence[Any], column: str) -> list[str]:
    """The texts of one column; a non-string or blank value is an error naming the row (not "empty")."""
    for text, row_id in zip(texts, ids):
        if not isinstance(text, str):
            raise FinetuneError(
                f"Example {row_id!r}: the {column} is a {type(text).__name__} ({text!r}), not text; "
                "convert or drop that row."
            )
        if not text.strip():
            raise FinetuneError(f"Example {row_id!r}: the {column} is empty; drop that row first.")
    return list(texts)


def _prompts(dialogues: Sequence[str], style: str, ids: Sequence[Any]) -> list[str]:
    prompts = []
    for dialogue, row_id in zip(dialogues, ids):
        try:
            prompts.append(build_prompt(style, dialogue))
        except ValueError as error:
            raise FinetuneError(f"Example {row_id!r}: {error}") from error
    return prompts


def _encode(tokenizer, texts: list[str], limit: int) -> tuple[list[list[int]], list[int]]:
    """Token ids cut to ``limit`` (special tokens kept) and how many tokens each text lost."""
    full = tokenizer(texts, add_special_tokens=True)["input_ids"]
    dropped = [max(len(ids) - limit, 0) for ids in full]
    long = [i for i, d in enumerate(dropped) if d]
    if long:
        # Re-encode only the overflowing texts with the tokenizer's own truncation, which keeps the EOS.
        cut = tokenizer([texts[i] for i in long], truncation=True, max_length=limit)["input_ids"]
        for i, ids in zip(long, cut):
            full[i] = ids
    return full, dropped


def _limits(tokenizer, max_input_tokens: int | None, max_target_tokens: int | None) -> tuple[int, int]:
    max_input = int(max_input_tokens or context_window(tokenizer))
    max_target = int(max_target_tokens or context_window(tokenizer))
    if max_input < 2 or max_target < 2:
        raise FinetuneError(f"Token limits must be >= 2 (got input {max_input}, target {max_target}).")
    return max_input, max_target


def tokenize_for_summarization(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    prompt_style: str = "instruction",
    max_input_tokens: int | None = None,
    max_target_tokens: int | None = None,
    warn: bool = True,
) -> tuple[Dataset, TruncationReport]:
    """Prompted dialogues as ``input_ids``/``attention_mask`` and summaries as ``labels``, unpadded.

    Padding happens per batch (:func:`summarization_collator`), labels padded with -100. Examples longer
    than ``max_input_tokens`` (default: the model's context window) or ``max_target_tokens`` (default: the
    same) are cut, counted in the returned report and, with ``warn``, announced as a warning.
    """
    check_columns(dataset)
    max_input, max_target = _limits(tokenizer, max_input_tokens, max_target_tokens)
    ids = list(dataset["id"]) if "id" in dataset.column_names else list(range(len(dataset)))
    dialogues = _check_texts(dataset["dialogue"], ids, "dialogue")
    summaries = _check_texts(dataset["summary"], ids, "summary")
    input_ids, input_dropped = _encode(tokenizer, _prompts(dialogues, prompt_style, ids), max_input)
    labels, target_dropped = _encode(tokenizer, summaries, max_target)
    tokenized = Dataset.from_dict(
        {"input_ids": input_ids, "attention_mask": [[1] * len(x) for x in input_ids], "labels": labels}
    )
    report = TruncationReport(
        n_examples=len(dataset),
        max_input_tokens=max_input,
        max_target_tokens=max_target,
        inputs_truncated=sum(1 for d in input_dropped if d),
        input_tokens_dropped_max=max(input_dropped),
        input_tokens_dropped_total=sum(input_dropped),
        targets_truncated=sum(1 for d in target_dropped if d),
        target_tokens_dropped_max=max(target_dropped),
        target_tokens_dropped_total=sum(target_dropped),
    )
    if warn and report.any:
        warnings.warn(str(report), TruncationWarning, stacklevel=2)
    return tokenized, report


def summarization_collator(tokenizer: PreTrainedTokenizerBase) -> DataCollatorForSeq2Seq:
    """Dynamic padding: each batch is padded to its longest example; label padding is -100."""
    return DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=LABEL_PAD)


def mask_label_padding(labels: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Labels padded with the pad id (as the original course did) turned into -100 where padded.

    With pad ids the model is trained to *predict* padding, and the loss is diluted by it.
    """
    return labels.masked_fill(labels == pad_token_id, LABEL_PAD)
