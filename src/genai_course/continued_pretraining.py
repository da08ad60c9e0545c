"""Continued pre-training: more of the model's own pre-training objective on unlabeled text of a new domain.

A model fine-tuned on a few labeled examples of a domain it never read must learn the domain's words and
the task at once. Continued (domain-adaptive) pre-training first spends cheap unlabeled text on the
words, with the self-supervised tasks of the model's own pre-training mix
(:mod:`genai_course.tiny.pretraining`), each made from the text alone: T5's span corruption (fill in
masked spans: the domain's words and phrases) and repeating a turn of the dialogue (copying the domain's
words out of the context, which a summary must do with its names and items). Then comes the usual
fine-tuning on the labeled examples. Training goes through ``Seq2SeqTrainer`` like Lab 2's; the model
passed in is never modified.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import (
    DataCollatorForSeq2Seq,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    set_seed,
)

from genai_course.finetune.result import loss_history
from genai_course.metrics import bootstrap_change, rouge, rouge_fmeasures
from genai_course.profiles import Profile
from genai_course.tiny.facts import facts_rate, slot_recall
from genai_course.tiny.new_domain import new_domain_rows
from genai_course.tiny.paths import world_seed
from genai_course.tiny.pretraining import MixBuilder
from genai_course.tiny.tokenizer import sentinel_ids

# The pre-training tasks that need nothing but the text, and their shares in continued pre-training.
SELF_SUPERVISED_MIX = (("span_corruption", 0.5), ("repeat_turn", 0.5))


class ContinuedPretrainingError(ValueError):
    """Bad input to continued pre-training (no texts, a tokenizer without sentinels)."""


@dataclass
class ContinuedPretrainingConfig(Seq2SeqTrainingArguments):
    """``Seq2SeqTrainingArguments`` with the course's defaults for a short run, and one field of ours."""

    output_dir: str | None = "runs/lab4/continued-pretraining"
    learning_rate: float = 1e-3
    num_train_epochs: float = 1.0
    per_device_train_batch_size: int = 16
    warmup_steps: float = 0.05  # a fraction of the run, as transformers reads values below 1
    logging_steps: float = 10
    save_strategy: str = "no"  # minutes of training: nothing to resume
    report_to: None | str | list[str] = "none"
    passes: int = 2  # examples per text, each of a task drawn from the mix
    mix: tuple[tuple[str, float], ...] = SELF_SUPERVISED_MIX


@dataclass(frozen=True)
class DomainBudget:
    """How much of the new domain Lab 4 uses: unlabeled dialogues, labeled examples, test dialogues, and
    the two trainings' epochs and learning rates. The labeled budget is the same with and without
    continued pre-training: only the unlabeled text differs."""

    unlabeled: int = 2000
    labeled: int = 64
    test: int = 150
    pretrain_epochs: float = 2.0
    pretrain_lr: float = 2e-3
    finetune_epochs: float = 10.0
    finetune_lr: float = 1e-3

    @classmethod
    def for_profile(cls, profile: Profile) -> DomainBudget:
        """Tiny: measured on three world seeds (labs/lab4_pretraining_scaling/README.md). Full and cpu
        train flan-t5-base, whose AdamW learning rates are ~10x lower than a 2M-parameter model's; the
        cpu budget is cut to minutes on a laptop. Neither is measured offline (no Hub here)."""
        if profile.is_tiny:
            return cls()
        if profile.name == "cpu":
            return cls(
                unlabeled=300, test=60, pretrain_epochs=1.0, pretrain_lr=1e-4, finetune_epochs=5.0, finetune_lr=3e-4
            )
        return cls(pretrain_lr=1e-4, finetune_lr=3e-4)


LABELED_COLUMNS = ("id", "dialogue", "summary", "topic")


def new_domain_data(budget: DomainBudget, seed: int | None = None) -> tuple[list[str], Dataset, list[dict]]:
    """The pet-clinic domain at ``budget``'s sizes: the unlabeled dialogues (texts), the labeled examples
    (a ``Dataset`` in DialogSum's columns, for the Trainer) and the test rows (dicts with their ``slots``,
    the facts each reference states). ``seed``: the world seed (default: this world's), so each world
    seed draws its own dialogues and no dialogue is in two of the three."""
    seed = world_seed() if seed is None else seed
    unlabeled = [row["dialogue"] for row in new_domain_rows(budget.unlabeled, "unlabeled", seed)]
    rows = new_domain_rows(budget.labeled, "train", seed)
    labeled = Dataset.from_list([{c: row[c] for c in LABELED_COLUMNS} for row in rows])
    return unlabeled, labeled, new_domain_rows(budget.test, "test", seed)


def domain_scores(
    summaries: Mapping[str, Sequence[str]],
    rows: Sequence[Mapping],
    compare: tuple[str, str] = ("finetuned", "pretrained_finetuned"),
) -> tuple[dict[str, dict[str, float]], dict]:
    """Each model's summaries of ``rows`` scored: ROUGE-1, slot recall and the facts rate
    (:mod:`genai_course.tiny.facts`); and the per-dialogue bootstrap of the ROUGE-1 change from
    ``compare[0]`` to ``compare[1]`` (:func:`genai_course.metrics.bootstrap_change`: change, 95% CI)."""
    missing = [name for name in compare if name not in summaries]
    if missing:
        raise ValueError(f"No summaries for {missing}; got {', '.join(summaries)}.")
    references = [row["summary"] for row in rows]
    scores = {
        name: {
            "rouge1": rouge(texts, references)["rouge1"],
            "slot_recall": slot_recall(texts, rows),
            "facts": facts_rate(texts, rows),
        }
        for name, texts in summaries.items()
    }
    per_dialogue = [rouge_fmeasures(summaries[name], references, rouge_types=("rouge1",))["rouge1"] for name in compare]
    return scores, bootstrap_change(*per_dialogue)


@dataclass
class ContinuedPretraining:
    """A continued-pre-trained copy of a model, its logged training losses (every ``logging_steps``) and
    wall time."""

    model: PreTrainedModel
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    n_examples: int = 0


def self_supervised_dataset(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    *,
    mix: Sequence[tuple[str, float]] = SELF_SUPERVISED_MIX,
    seed: int = 0,
    passes: int = 2,
) -> Dataset:
    """``passes`` examples per text (``input_ids``, ``labels``), each of a task drawn from ``mix``, seeded."""
    if not texts:
        raise ContinuedPretrainingError("No texts to continue pre-training on; pass the domain's unlabeled texts.")
    unknown = sorted({task for task, _ in mix} - {task for task, _ in SELF_SUPERVISED_MIX})
    if unknown:
        raise ContinuedPretrainingError(
            f"{unknown} need labels; continued pre-training uses tasks made from the text alone: "
            f"{', '.join(task for task, _ in SELF_SUPERVISED_MIX)}."
        )
    try:
        sentinel_ids(tokenizer)  # a clear error before any work
    except ValueError as error:
        raise ContinuedPretrainingError(str(error)) from None
    builder = MixBuilder(tokenizer, [{"dialogue": text, "scenario": "new"} for text in texts], seed)
    tasks, weights = [task for task, _ in mix], [weight for _, weight in mix]
    rows = []
    for _ in range(passes):
        for text in texts:
            source, target = builder.example(builder.rng.choices(tasks, weights)[0], {"dialogue": text})
            rows.append({"input_ids": source, "labels": target})
    return Dataset.from_list(rows)


def continue_pretraining(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    config: ContinuedPretrainingConfig | None = None,
) -> ContinuedPretraining:
    """The self-supervised tasks on ``texts`` with ``Seq2SeqTrainer``, on a copy of ``model``."""
    config = config or ContinuedPretrainingConfig()
    set_seed(config.seed)
    data = self_supervised_dataset(texts, tokenizer, mix=config.mix, seed=config.seed, passes=config.passes)
    twin = copy.deepcopy(model).float()  # bf16 weights would swallow small updates
    trainer = Seq2SeqTrainer(
        model=twin,
        args=config,
        train_dataset=data,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=twin, label_pad_token_id=-100),
        processing_class=tokenizer,
    )
    trainer.model_accepts_loss_kwargs = False  # T5's loss is its own batch mean (see finetune.training)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trained = trainer.model.eval().to(next(model.parameters()).dtype)
    losses = [entry["loss"] for entry in loss_history(trainer.state.log_history)[0]]
    return ContinuedPretraining(trained, losses, seconds, len(data))
