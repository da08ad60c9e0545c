"""Training settings: ``Seq2SeqTrainingArguments`` plus the few fields that are ours.

:class:`FullFinetuneConfig` and :class:`LoraFinetuneConfig` *are* ``Seq2SeqTrainingArguments`` (as trl's
configs extend ``TrainingArguments``): every Trainer setting is available under its transformers name and
is validated by transformers. The fields declared here are either our own (which rows to train on, the
prompt, the token limits, the output folder policy, LoRA's hyper-parameters) or a course default that
differs from transformers' (re-declared with the new default, as trl does).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import torch
from peft import LoraConfig, TaskType
from transformers import Seq2SeqTrainingArguments

from genai_course.models import pick_device
from genai_course.precision import train_in_bf16
from genai_course.profiles import Profile

# A checkpoint every tenth of the run (transformers reads save_steps < 1 as a fraction of the total steps),
# so an interruption that cannot save (a crash, kill -9) loses at most 10% of the steps.
CHECKPOINT_FRACTION = 0.1


@dataclass
class _CourseTrainingArguments(Seq2SeqTrainingArguments):
    """What full fine-tuning and LoRA share: the course's defaults and our own fields."""

    # ---- course defaults that differ from transformers' (output_dir and the optimiser's: per method) ----
    num_train_epochs: float = 1.0
    logging_steps: float = 10
    save_steps: float = CHECKPOINT_FRACTION  # an int: every that many steps; < 1: that fraction of the run
    save_total_limit: int | None = 1
    report_to: None | str | list[str] = "none"
    remove_unused_columns: bool = False  # our tokenized datasets hold exactly the model's inputs
    # ---- our own fields ----
    train_examples: int | None = None  # None: every row of the dataset given
    prompt_style: str = "instruction"
    max_input_tokens: int | None = None  # None: the model's context window
    max_target_tokens: int | None = None
    save_final: bool = True  # save the trained model/adapter to output_dir/final and measure its size
    # False: refuse to start a fresh run in a folder holding an earlier run's checkpoint-*/final;
    # True: replace them (final/ only once the new run has finished).
    overwrite: bool = False
    # (``resume_from_checkpoint``, inherited, also takes True: the last checkpoint in output_dir.)

    def __post_init__(self) -> None:
        # transformers' __post_init__ expands "~" and checks the strategies; ours checks our fields.
        super().__post_init__()
        if self.train_examples is not None and (not isinstance(self.train_examples, int) or self.train_examples < 1):
            raise ValueError(f"train_examples must be a positive integer or None, got {self.train_examples!r}.")
        for name in ("max_input_tokens", "max_target_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 2):
                raise ValueError(f"{name} must be an integer >= 2 or None, got {value!r}.")

    def run_arguments(self, *, has_eval: bool) -> _CourseTrainingArguments:
        """A copy adjusted to this run: evaluation only with an eval set (each epoch by default), and
        pinned memory only when batches go to a GPU (it only speeds up host-to-GPU copies)."""
        eval_strategy = "no" if not has_eval else ("epoch" if self.eval_strategy == "no" else self.eval_strategy)
        cuda = torch.cuda.is_available() and not self.use_cpu
        return dataclasses.replace(
            self, eval_strategy=eval_strategy, dataloader_pin_memory=self.dataloader_pin_memory and cuda
        )

    @classmethod
    def _profile_fields(cls, profile: Profile) -> dict:
        device = pick_device(profile.device)
        return {
            "per_device_train_batch_size": profile.train_batch_size,
            "seed": profile.seed,
            "train_examples": profile.train_examples,
            "use_cpu": profile.device == "cpu",
            # Mixed precision under the loaders' dtype policy: native bf16 GPUs, or bf16 asked for explicitly.
            "bf16": train_in_bf16(device, profile.dtype),
        }


@dataclass
class FullFinetuneConfig(_CourseTrainingArguments):
    """Full fine-tuning: every weight trains (course defaults: lr 1e-5, weight decay 0.01)."""

    output_dir: str | None = "runs/lab2/full"
    learning_rate: float = 1e-5
    weight_decay: float = 0.01

    @classmethod
    def for_profile(cls, profile: Profile, **overrides) -> FullFinetuneConfig:
        """The profile's Lab 2 budget (``full_ft_lr``, ``full_ft_epochs``, batch size, examples)."""
        values = cls._profile_fields(profile)
        values.update(learning_rate=profile.full_ft_lr, num_train_epochs=profile.full_ft_epochs)
        values.update(overrides)
        return cls(**values)


@dataclass
class LoraFinetuneConfig(_CourseTrainingArguments):
    """LoRA: frozen base, trainable low-rank updates on chosen linear layers (course: r=32 on q and v).

    Every LoRA field is set explicitly because peft 0.21 changed its defaults (alpha 8, dropout 0).
    """

    output_dir: str | None = "runs/lab2/lora"
    learning_rate: float = 1e-3
    r: int = 32
    lora_alpha: int = 32
    target_modules: tuple[str, ...] = ("q", "v")
    lora_dropout: float = 0.05
    bias: str = "none"
    use_rslora: bool = False
    use_dora: bool = False

    @classmethod
    def for_profile(cls, profile: Profile, **overrides) -> LoraFinetuneConfig:
        """The profile's Lab 2 budget; ``lora_alpha`` follows ``lora_r`` so the scale alpha/r stays 1."""
        values = cls._profile_fields(profile)
        values.update(
            learning_rate=profile.lora_lr,
            num_train_epochs=profile.lora_epochs,
            r=profile.lora_r,
            lora_alpha=profile.lora_r,
        )
        values.update(overrides)
        return cls(**values)

    def lora_config(self) -> LoraConfig:
        """The ``peft.LoraConfig`` for a seq2seq model."""
        return LoraConfig(
            r=self.r,
            lora_alpha=self.lora_alpha,
            target_modules=list(self.target_modules),
            lora_dropout=self.lora_dropout,
            bias=self.bias,
            use_rslora=self.use_rslora,
            use_dora=self.use_dora,
            init_lora_weights=True,
            task_type=TaskType.SEQ_2_SEQ_LM,
        )


TrainConfig = _CourseTrainingArguments  # for type hints: either config


def own_fields(config: TrainConfig) -> list[str]:
    """The fields a config adds to ``Seq2SeqTrainingArguments`` or re-declares with a course default."""
    inherited = {f.name: f.default for f in fields(Seq2SeqTrainingArguments)}
    return [f.name for f in fields(config) if f.name not in inherited or f.default != inherited[f.name]]


def config_dict(config: TrainConfig) -> dict:
    """A config as a plain dict for logs and the lab's record: the settings that shape the run (ours,
    the course's defaults, and the optimiser's), not all ~120 Trainer options."""
    keep = set(own_fields(config)) | {
        "learning_rate",
        "weight_decay",
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "warmup_steps",
        "lr_scheduler_type",
        "seed",
        "bf16",
        "use_cpu",
        "resume_from_checkpoint",
    }
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name in keep}
