"""Catastrophic forgetting (Lab 2): a second task the base model can do, measured before and after
fine-tuning, and the course's two remedies.

The second task is topic naming (``build_prompt("topic", dialogue)`` → the topic), which the base model
learned in pre-training as FLAN-T5 learned many tasks. Fine-tuning every weight on summaries alone can
overwrite it. The remedies the course names:

- **mix the old task into the fine-tuning data** (multi-task fine-tuning): :func:`mixed_task_dataset`
  adds old-task examples to the new task's, as a share of the result;
- **parameter-efficient fine-tuning**: LoRA trains adapters beside frozen weights, so switching the
  adapter off (peft's ``model.disable_adapter()``) gives back the base model exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from datasets import Dataset
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from genai_course.generation import generate
from genai_course.metrics import exact_match
from genai_course.prompting import build_prompt

OLD_TASK = "topic"
# Rows written with their prompt in ``dialogue`` train with this style (the template that adds nothing).
PROMPTS_WRITTEN_OUT = "none"


def mixed_task_dataset(
    train: Dataset,
    *,
    share: float = 0.2,
    seed: int = 0,
    new_style: str = "instruction",
    old_style: str = OLD_TASK,
    old_answer_column: str = "topic",
) -> Dataset:
    """The fine-tuning rows (``new_style`` prompt → summary) plus old-task rows (``old_style`` prompt →
    ``old_answer_column``) that make up ``share`` of the result, shuffled with ``seed``.

    Every new-task row is kept, so the new task gets as many examples as without mixing; the old-task
    rows are drawn from the same dialogues. Prompts are written out in the ``dialogue`` column: train
    with ``prompt_style=PROMPTS_WRITTEN_OUT``.
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1 (exclusive), got {share}.")
    missing = [c for c in ("dialogue", "summary", old_answer_column) if c not in train.column_names]
    if missing:
        raise ValueError(f"The dataset lacks column(s) {', '.join(missing)}; it has {', '.join(train.column_names)}.")
    rng = np.random.default_rng(seed)
    n_old = round(len(train) * share / (1 - share))
    picks = rng.choice(len(train), size=n_old, replace=n_old > len(train))
    rows = [
        {"dialogue": build_prompt(new_style, d), "summary": s, "task": new_style}
        for d, s in zip(train["dialogue"], train["summary"])
    ]
    rows += [
        {
            "dialogue": build_prompt(old_style, train[int(i)]["dialogue"]),
            "summary": train[int(i)][old_answer_column],
            "task": old_style,
        }
        for i in picks
    ]
    order = rng.permutation(len(rows))
    return Dataset.from_list([rows[int(i)] for i in order])


def task_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dialogues: Sequence[str],
    answers: Sequence[str],
    *,
    style: str = OLD_TASK,
    max_new_tokens: int = 12,
    batch_size: int = 32,
    desc: str | None = None,
) -> tuple[float, list[str]]:
    """Exact match of the model's greedy answers to the ``style`` prompt, and the answers themselves."""
    prompts = [build_prompt(style, d) for d in dialogues]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False)
    predicted = generate(
        model, tokenizer, prompts, config, batch_size=batch_size, desc=desc or style, progress=desc is not None
    )
    return exact_match(predicted, list(answers)), predicted
