"""Fine-tuning the summarizer two ways, full (``Seq2SeqTrainer``) and LoRA (``peft``), and what each costs.

Lab 2 as a package, one concept per module:

- :mod:`~genai_course.finetune.tokenization`: prompts -> ``input_ids``, summaries -> ``labels`` (-100
  padding), the truncation report, the collator;
- :mod:`~genai_course.finetune.configs`: the run settings, built on ``Seq2SeqTrainingArguments``;
- :mod:`~genai_course.finetune.training` and :mod:`~genai_course.finetune.lora`: training a copy of the
  model (the model passed in is never modified);
- :mod:`~genai_course.finetune.callbacks`: :class:`CourseRun`, the one ``TrainerCallback`` a learner passes
  to the ``Seq2SeqTrainer`` they built, which keeps what the wrappers guard (output folder, Ctrl-C,
  cost, the atomic final save);
- :mod:`~genai_course.finetune.run_folder` and :mod:`~genai_course.finetune.interrupt`: the output folder
  (never overwritten by surprise, ``final/`` written atomically) and checkpoints on Ctrl-C/SIGTERM;
- :mod:`~genai_course.finetune.checkpoints`: loading, merging and re-using saved models and adapters;
- cost measurement lives in :mod:`genai_course.cost` (shared with ``benchmarks/``), the exact-match
  score in :mod:`genai_course.metrics`.

Everything the Lab 2 notebook uses is importable from here, as before the split.
"""

from __future__ import annotations

from genai_course.cost import PeakMemory, RunCost, StepTimer, saved_size_mb
from genai_course.finetune.callbacks import CourseRun
from genai_course.finetune.checkpoints import (
    load_adapter,
    load_full_checkpoint,
    load_result,
    merge_adapter,
    save_merged,
    weights_hash,
)
from genai_course.finetune.configs import FullFinetuneConfig, LoraFinetuneConfig, config_dict
from genai_course.finetune.errors import FinetuneError, TrainingInterrupted, TruncationWarning
from genai_course.finetune.interrupt import SaveOnInterrupt
from genai_course.finetune.lora import add_lora, linear_module_names
from genai_course.finetune.result import FinetuneResult, loss_history
from genai_course.finetune.tokenization import (
    LABEL_PAD,
    TruncationReport,
    mask_label_padding,
    summarization_collator,
    tokenize_for_summarization,
)
from genai_course.finetune.training import full_finetune, lora_finetune
from genai_course.metrics import exact_match  # the Lab 2 notebook scores the topic task as ft.exact_match

__all__ = [
    "LABEL_PAD",
    "FinetuneError",
    "TruncationWarning",
    "TrainingInterrupted",
    "TruncationReport",
    "tokenize_for_summarization",
    "summarization_collator",
    "mask_label_padding",
    "FullFinetuneConfig",
    "LoraFinetuneConfig",
    "RunCost",
    "PeakMemory",
    "StepTimer",
    "SaveOnInterrupt",
    "CourseRun",
    "saved_size_mb",
    "weights_hash",
    "FinetuneResult",
    "loss_history",
    "full_finetune",
    "linear_module_names",
    "add_lora",
    "lora_finetune",
    "load_full_checkpoint",
    "load_adapter",
    "merge_adapter",
    "save_merged",
    "load_result",
    "exact_match",
    "config_dict",
]
