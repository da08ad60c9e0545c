"""Fine-tuning the summarizer two ways, full (``Seq2SeqTrainer``) and LoRA (``peft``), and what each costs.

Lab 2 in one module: turn (instruction prompt + dialogue -> summary) pairs into training examples whose
label padding is -100 (so the loss ignores it), train a *copy* of a model (the model passed in is never
modified), and measure the run: wall time, peak memory, trainable parameters, size of what is saved.
Checkpoints let an interrupted run resume without losing steps; adapters can be saved, re-loaded and
merged into the base weights.

Peak memory is measured as the memory the run *added* above the level at its start:
- on a CUDA device, ``torch.cuda.max_memory_allocated`` after resetting the peak counter;
- on the CPU (Linux), the kernel's resident-set high-water mark (``VmHWM``), reset at the start by
  writing ``5`` to ``/proc/self/clear_refs``; where that is not allowed, a background thread samples the
  resident set (``/proc/self/statm``) every few milliseconds; elsewhere ``resource.getrusage``.
  Freed memory is handed back to the OS first (``malloc_trim``) so an earlier run's leftovers do not hide
  this run's allocations. RSS counts everything the process touches, so compare runs measured the same
  way (the benchmark runs each method in a fresh process).
"""

from __future__ import annotations

import copy
import ctypes
import gc
import hashlib
import os
import resource
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    AutoModelForSeq2SeqLM,
    DataCollatorForSeq2Seq,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from genai_course.generation import context_window
from genai_course.models import count_parameters, pick_device
from genai_course.prompting import build_prompt
from genai_course.profiles import Profile

LABEL_PAD = -100  # the label id PyTorch's cross-entropy ignores (``ignore_index``)
REQUIRED_COLUMNS = ("dialogue", "summary")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


class FinetuneError(ValueError):
    """Bad input to fine-tuning, with what to do about it."""


class TruncationWarning(UserWarning):
    """Some training examples were longer than allowed and were cut."""


# --------------------------------------------------------------------------------------------------
# Tokenization
# --------------------------------------------------------------------------------------------------


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


def _check_columns(dataset: Dataset) -> None:
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


def _prompts(dialogues: Sequence[str], style: str, ids: Sequence[Any]) -> list[str]:
    prompts = []
    for dialogue, row_id in zip(dialogues, ids):
        try:
            prompts.append(build_prompt(style, dialogue or ""))
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
    _check_columns(dataset)
    max_input = int(max_input_tokens or context_window(tokenizer))
    max_target = int(max_target_tokens or context_window(tokenizer))
    if max_input < 2 or max_target < 2:
        raise FinetuneError(f"Token limits must be >= 2 (got input {max_input}, target {max_target}).")
    ids = list(dataset["id"]) if "id" in dataset.column_names else list(range(len(dataset)))
    prompts = _prompts(list(dataset["dialogue"]), prompt_style, ids)
    input_ids, input_dropped = _encode(tokenizer, prompts, max_input)
    summaries = [s if isinstance(s, str) else "" for s in dataset["summary"]]
    empty = [row_id for row_id, s in zip(ids, summaries) if not s.strip()]
    if empty:
        raise FinetuneError(f"{len(empty)} example(s) have an empty summary (e.g. {empty[0]!r}); drop them first.")
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


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


@dataclass
class _TrainConfig:
    """Settings shared by full fine-tuning and LoRA (passed on to ``Seq2SeqTrainingArguments``)."""

    output_dir: str = "runs/lab2/finetune"
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    num_train_epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    warmup_steps: int = 0
    lr_scheduler_type: str = "linear"
    seed: int = 42
    train_examples: int | None = None  # None: every row of the dataset given
    prompt_style: str = "instruction"
    max_input_tokens: int | None = None  # None: the model's context window
    max_target_tokens: int | None = None
    logging_steps: int = 10
    save_checkpoints: bool = True  # Trainer checkpoints (weights + optimizer), so an interrupted run can resume
    save_steps: int = 500
    save_total_limit: int | None = 1
    eval_strategy: str = "epoch"  # used only when an eval dataset is given
    # None/False: a fresh run (clears old checkpoint-* folders in output_dir); True: resume from the
    # last checkpoint in output_dir; a path: resume from that checkpoint.
    resume_from_checkpoint: str | bool | None = None
    bf16: bool = False  # mixed precision (GPU); weights stay float32 during training
    use_cpu: bool = False
    progress: bool = True
    save_final: bool = True  # save the trained model/adapter to output_dir/final and measure its size

    def training_arguments(self, *, has_eval: bool) -> Seq2SeqTrainingArguments:
        """The ``Seq2SeqTrainingArguments`` for this run (transformers 5 names)."""
        return Seq2SeqTrainingArguments(
            output_dir=self.output_dir,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            num_train_epochs=self.num_train_epochs,
            max_steps=self.max_steps,
            per_device_train_batch_size=self.per_device_train_batch_size,
            per_device_eval_batch_size=self.per_device_train_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            warmup_steps=self.warmup_steps,
            lr_scheduler_type=self.lr_scheduler_type,
            seed=self.seed,
            logging_strategy="steps",
            logging_steps=self.logging_steps,
            save_strategy="steps" if self.save_checkpoints else "no",
            save_steps=self.save_steps,
            save_total_limit=self.save_total_limit,
            eval_strategy=self.eval_strategy if has_eval else "no",
            bf16=self.bf16,
            use_cpu=self.use_cpu,
            dataloader_pin_memory=torch.cuda.is_available() and not self.use_cpu,  # only helps GPU copies
            disable_tqdm=not self.progress,
            report_to="none",
            remove_unused_columns=False,  # our tokenized datasets hold exactly the model's inputs
        )

    @classmethod
    def _profile_fields(cls, profile: Profile) -> dict:
        cuda = pick_device(profile.device).type == "cuda"
        return {
            "per_device_train_batch_size": profile.train_batch_size,
            "seed": profile.seed,
            "train_examples": profile.train_examples,
            "use_cpu": profile.device == "cpu",
            "bf16": cuda and torch.cuda.is_bf16_supported() and profile.dtype in ("auto", "bfloat16"),
        }


@dataclass
class FullFinetuneConfig(_TrainConfig):
    """Full fine-tuning: every weight trains (course defaults: lr 1e-5, weight decay 0.01)."""

    output_dir: str = "runs/lab2/full"
    learning_rate: float = 1e-5
    weight_decay: float = 0.01

    @classmethod
    def for_profile(cls, profile: Profile, **overrides) -> "FullFinetuneConfig":
        """The profile's Lab 2 budget (``full_ft_lr``, ``full_ft_epochs``, batch size, examples)."""
        values = cls._profile_fields(profile)
        values.update(learning_rate=profile.full_ft_lr, num_train_epochs=profile.full_ft_epochs)
        values.update(overrides)
        return cls(**values)


@dataclass
class LoraFinetuneConfig(_TrainConfig):
    """LoRA: frozen base, trainable low-rank updates on chosen linear layers (course: r=32 on q and v).

    Every LoRA field is set explicitly because peft 0.21 changed its defaults (alpha 8, dropout 0).
    """

    output_dir: str = "runs/lab2/lora"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    r: int = 32
    lora_alpha: int = 32
    target_modules: tuple[str, ...] = ("q", "v")
    lora_dropout: float = 0.05
    bias: str = "none"
    use_rslora: bool = False
    use_dora: bool = False

    @classmethod
    def for_profile(cls, profile: Profile, **overrides) -> "LoraFinetuneConfig":
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

    def lora_config(self):
        """The ``peft.LoraConfig`` for a seq2seq model."""
        from peft import LoraConfig, TaskType

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


# --------------------------------------------------------------------------------------------------
# Cost measurement
# --------------------------------------------------------------------------------------------------


@dataclass
class RunCost:
    """What a training run cost. ``peak_memory_mb`` is memory added above the run's starting level."""

    seconds: float
    peak_memory_mb: float
    saved_mb: float
    memory_method: str
    steps: int = 0
    seconds_per_step: float = 0.0  # median over steps (the first, warm-up, step excluded when possible)

    def as_dict(self) -> dict:
        """The three numbers the lab records (``seconds``, ``peak_memory_mb``, ``saved_mb``)."""
        return {"seconds": self.seconds, "peak_memory_mb": self.peak_memory_mb, "saved_mb": self.saved_mb}


def _release_freed_memory() -> None:
    """Return freed heap memory to the OS so RSS growth reflects new allocations (glibc only)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _maxrss_bytes() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # Linux reports KiB, macOS bytes


class PeakMemory:
    """Measures the peak memory a block of code adds; see the module docstring for the method."""

    def __init__(self, device: torch.device | str | None = None, interval: float = 0.005):
        self.device = torch.device(device) if device is not None else pick_device("auto")
        self.interval = interval
        self.method = ""
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        _release_freed_memory()
        if self.device.type == "cuda":
            self.method = "cuda max_memory_allocated"
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif self._reset_high_water_mark():
            self.method = "process RSS high-water mark (VmHWM)"
            self._start = _status_kb("VmRSS") * 1024
        elif os.path.exists("/proc/self/statm"):
            self.method = f"process RSS sampled every {self.interval * 1000:.0f} ms"
            self._start = self._sampled_peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self.method = "process peak RSS (getrusage; only a new lifetime peak is seen)"
            self._start = _maxrss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith("process RSS high"):
            peak = _status_kb("VmHWM") * 1024
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            peak = max(self._sampled_peak, _rss_bytes())
        else:
            peak = _maxrss_bytes()
        self.peak_bytes = max(peak - self._start, 0)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20

    @staticmethod
    def _reset_high_water_mark() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            _status_kb("VmHWM")
            return True
        except (OSError, KeyError):
            return False

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sampled_peak = max(self._sampled_peak, _rss_bytes())


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step, for ``seconds_per_step`` and the benchmark."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.durations.append(time.perf_counter() - self._start)

    def median(self) -> float:
        steps = self.durations[1:] if len(self.durations) > 1 else self.durations
        return float(sorted(steps)[len(steps) // 2]) if steps else 0.0


def saved_size_mb(path: str | Path) -> float:
    """Size of the weight files under ``path`` (safetensors/bin), in MiB: what a model or adapter weighs."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files if p.name.endswith(WEIGHT_SUFFIXES)) / 2**20


def weights_hash(model: torch.nn.Module) -> str:
    """A fingerprint of every parameter and buffer: equal hashes mean untouched weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


@dataclass
class FinetuneResult:
    """A fine-tuned copy of the model and what the run produced and cost."""

    method: str  # "full" or "lora"
    model: Any  # PreTrainedModel (full) or peft.PeftModel (lora), in eval mode
    tokenizer: PreTrainedTokenizerBase
    params: dict  # {"trainable", "total", "percent"}
    cost: RunCost
    loss_history: list[dict]  # [{"step", "epoch", "loss"}] from trainer.state.log_history
    output_dir: Path
    global_step: int = 0
    eval_history: list[dict] = field(default_factory=list)  # [{"step", "epoch", "eval_loss"}]
    truncation: TruncationReport | None = None
    saved_to: Path | None = None  # the saved model (full) or adapter (LoRA), with its tokenizer


def loss_history(log_history: list[dict]) -> tuple[list[dict], list[dict]]:
    """Training and evaluation losses from ``trainer.state.log_history``, for plotting."""
    train = [{"step": e["step"], "epoch": e.get("epoch"), "loss": e["loss"]} for e in log_history if "loss" in e]
    evals = [
        {"step": e["step"], "epoch": e.get("epoch"), "eval_loss": e["eval_loss"]}
        for e in log_history
        if "eval_loss" in e
    ]
    return train, evals


def _select_examples(dataset: Dataset, n: int | None) -> Dataset:
    if n is None:
        return dataset
    if n < 1 or n > len(dataset):
        raise FinetuneError(
            f"train_examples={n} but the dataset has {len(dataset)} rows; use a number between 1 and "
            f"{len(dataset)}, or None for all of them."
        )
    return dataset.select(range(n))


def _prepare_output_dir(config: _TrainConfig) -> str | bool | None:
    """Resolve ``resume_from_checkpoint``; a fresh run clears stale checkpoints a resume could pick up."""
    out = Path(config.output_dir)
    resume = config.resume_from_checkpoint
    if resume is True:
        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        if last is None:
            raise FinetuneError(
                f"resume_from_checkpoint=True but {out} holds no checkpoint-* folder; train from scratch "
                "(resume_from_checkpoint=None) or pass the path of a checkpoint."
            )
        return last
    if resume:
        if not (Path(resume) / "trainer_state.json").is_file():
            raise FinetuneError(f"{resume} is not a Trainer checkpoint (no trainer_state.json in it).")
        return str(resume)
    if out.is_dir():
        for stale in list(out.glob("checkpoint-*")) + [out / "final"]:
            if stale.is_dir():
                shutil.rmtree(stale)
    return None


def _train(
    method: str,
    model,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    config: _TrainConfig,
    eval_dataset: Dataset | None,
    callbacks: Sequence[TrainerCallback],
    restore_dtype: torch.dtype | None = None,
) -> FinetuneResult:
    """Tokenize, train ``model`` (already a copy) with ``Seq2SeqTrainer``, save it and measure the run."""
    train_rows = _select_examples(dataset, config.train_examples)
    train_set, report = tokenize_for_summarization(
        train_rows,
        tokenizer,
        prompt_style=config.prompt_style,
        max_input_tokens=config.max_input_tokens,
        max_target_tokens=config.max_target_tokens,
    )
    eval_set = None
    if eval_dataset is not None:
        eval_set, _ = tokenize_for_summarization(
            eval_dataset, tokenizer, prompt_style=config.prompt_style,
            max_input_tokens=config.max_input_tokens, max_target_tokens=config.max_target_tokens,
        )
    resume = _prepare_output_dir(config)
    args = config.training_arguments(has_eval=eval_set is not None)
    timer = StepTimer()
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=summarization_collator(tokenizer),
        processing_class=tokenizer,
        callbacks=[timer, *callbacks],
    )
    params = count_parameters(trainer.model)
    start = time.perf_counter()
    with PeakMemory(args.device) as memory:
        trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    trained = trainer.model.eval()
    if restore_dtype is not None:
        trained = trained.to(restore_dtype)
    output_dir = Path(config.output_dir)
    saved_to = _save_final(trainer, trained, tokenizer, output_dir / "final") if config.save_final else None
    saved_mb = saved_size_mb(saved_to) if saved_to else 0.0
    train_losses, eval_losses = loss_history(trainer.state.log_history)
    cost = RunCost(
        seconds=seconds,
        peak_memory_mb=memory.peak_mb,
        saved_mb=saved_mb,
        memory_method=memory.method,
        steps=trainer.state.global_step,
        seconds_per_step=timer.median(),
    )
    return FinetuneResult(
        method=method,
        model=trained,
        tokenizer=tokenizer,
        params=params,
        cost=cost,
        loss_history=train_losses,
        eval_history=eval_losses,
        output_dir=output_dir,
        global_step=trainer.state.global_step,
        truncation=report,
        saved_to=saved_to,
    )


def _save_final(trainer, model, tokenizer, folder: Path) -> Path:
    """The trained model (full) or adapter (LoRA), its tokenizer, and the trainer state with the losses."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    trainer.state.save_to_json(str(folder / "trainer_state.json"))  # the loss history travels along
    return folder


def _copy_for_training(model: PreTrainedModel) -> tuple[PreTrainedModel, torch.dtype | None]:
    """A deep copy in float32: the caller's model stays untouched, and half-precision weights would
    swallow small updates (bf16 cannot represent 0.1 + 1e-5), so they train in float32 and go back."""
    if not isinstance(model, torch.nn.Module):
        raise FinetuneError(f"Expected a transformers model, got {type(model).__name__}.")
    original_dtype = next(model.parameters()).dtype
    twin = copy.deepcopy(model)
    if original_dtype in (torch.float16, torch.bfloat16):
        return twin.float(), original_dtype
    return twin, None


def full_finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    config: FullFinetuneConfig | None = None,
    *,
    eval_dataset: Dataset | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> FinetuneResult:
    """Train every weight of a copy of ``model`` on (instruction prompt + dialogue -> summary).

    ``dataset`` is a DialogSum-style split (``dialogue``, ``summary``). The trained copy is saved to
    ``config.output_dir/final`` (weights and tokenizer); ``model`` itself is not modified.
    """
    config = config or FullFinetuneConfig()
    if not isinstance(config, FullFinetuneConfig):
        raise FinetuneError(f"full_finetune needs a FullFinetuneConfig, got {type(config).__name__}.")
    set_seed(config.seed)
    twin, original_dtype = _copy_for_training(model)
    return _train("full", twin, tokenizer, dataset, config, eval_dataset, callbacks, original_dtype)


@contextmanager
def _quiet_peft() -> Iterator[None]:
    # peft 0.21 calls a transformers 5 method that warns about its own deprecation; nothing to act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """The distinct short names of a model's linear layers (candidates for LoRA ``target_modules``)."""
    return sorted({name.rsplit(".", 1)[-1] for name in _linear_paths(model)})


def _linear_paths(model: torch.nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def _matches_a_linear(target: str, paths: list[str]) -> bool:
    # peft matches a target against the end of a module's dotted path ("q", "SelfAttention.q").
    return any(path == target or path.endswith("." + target) for path in paths)


def add_lora(model: PreTrainedModel, config: LoraFinetuneConfig | None = None):
    """A ``PeftModel`` wrapping a *copy* of ``model`` with fresh LoRA adapters (seeded); only they train."""
    from peft import get_peft_model

    config = config or LoraFinetuneConfig()
    if isinstance(config.target_modules, str):
        raise FinetuneError(
            f"target_modules must be a list of names such as ('q', 'v'), not the string {config.target_modules!r}."
        )
    paths = _linear_paths(model)
    unknown = [t for t in config.target_modules if not _matches_a_linear(t, paths)]
    if not config.target_modules or unknown:
        raise FinetuneError(
            f"LoRA target module(s) {unknown or '(none)'} are not linear layers of this model. "
            f"Choose among: {', '.join(linear_module_names(model))}."
        )
    twin = copy.deepcopy(model)
    set_seed(config.seed)  # lora_A is initialised randomly
    with _quiet_peft():
        return get_peft_model(twin, config.lora_config())


def lora_finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    config: LoraFinetuneConfig | None = None,
    *,
    eval_dataset: Dataset | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> FinetuneResult:
    """Train LoRA adapters on a frozen copy of ``model``; returns the ``PeftModel`` (adapter active).

    Only the adapter is saved to ``config.output_dir/final``; ``model`` itself is not modified.
    """
    config = config or LoraFinetuneConfig()
    if not isinstance(config, LoraFinetuneConfig):
        raise FinetuneError(f"lora_finetune needs a LoraFinetuneConfig, got {type(config).__name__}.")
    peft_model = add_lora(model, config)
    return _train("lora", peft_model, tokenizer, dataset, config, eval_dataset, callbacks)


# --------------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------------


def load_full_checkpoint(path: str | Path, *, device: str | None = None) -> PreTrainedModel:
    """A fully fine-tuned model saved with ``save_pretrained`` (or by :func:`full_finetune`), in eval mode."""
    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise FinetuneError(
            f"{path} does not hold a saved model (no config.json); pass the folder given by save_pretrained."
        )
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    return model.to(pick_device(device or "auto")).eval()


def load_adapter(base_model: PreTrainedModel, path: str | Path, *, trainable: bool = False):
    """A ``PeftModel``: a copy of ``base_model`` with the LoRA adapter saved at ``path`` (eval mode)."""
    from peft import PeftModel

    path = Path(path).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise FinetuneError(
            f"{path} does not hold a LoRA adapter (no adapter_config.json). A full model folder loads with "
            "load_full_checkpoint instead."
        )
    with _quiet_peft():
        model = PeftModel.from_pretrained(copy.deepcopy(base_model), str(path), is_trainable=trainable)
    # peft returns train mode when is_trainable=True; generation wants eval mode (dropout off).
    return model if trainable else model.eval()


def merge_adapter(peft_model) -> PreTrainedModel:
    """A plain model with the LoRA update folded into its weights (W + BA * alpha/r); input untouched."""
    return copy.deepcopy(peft_model).merge_and_unload().eval()


def save_merged(peft_model, path: str | Path, tokenizer: PreTrainedTokenizerBase | None = None) -> Path:
    """Save the merged model (and tokenizer) as an ordinary checkpoint that loads without peft."""
    path = Path(path)
    merge_adapter(peft_model).save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path


def load_result(
    method: str,
    path: str | Path,
    base_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
) -> FinetuneResult:
    """A :class:`FinetuneResult` for a model trained elsewhere (``method`` "full": a saved model folder;
    "lora": an adapter folder), so a lab can start from a checkpoint instead of training.

    Its cost says nothing was trained here (0 s, 0 MiB); the saved size is measured and the loss history is
    read from a ``trainer_state.json`` next to the weights when there is one.
    """
    import json

    if method not in ("full", "lora"):
        raise FinetuneError(f"method must be 'full' or 'lora', got {method!r}.")
    path = Path(path).expanduser()
    if method == "full":
        model = load_full_checkpoint(path, device=str(next(base_model.parameters()).device))
    else:
        model = load_adapter(base_model, path)
    state = path / "trainer_state.json"
    log = json.loads(state.read_text()).get("log_history", []) if state.is_file() else []
    train_losses, eval_losses = loss_history(log)
    cost = RunCost(seconds=0.0, peak_memory_mb=0.0, saved_mb=saved_size_mb(path),
                   memory_method="loaded from a checkpoint: not trained here")
    # What trained, not what is trainable now: every weight (full) or the adapter's (LoRA).
    params = count_parameters(model)
    trained = params["total"] if method == "full" else sum(
        p.numel() for name, p in model.named_parameters() if "lora_" in name
    )
    params = {**params, "trainable": trained, "percent": 100.0 * trained / max(params["total"], 1)}
    return FinetuneResult(
        method=method, model=model, tokenizer=tokenizer, params=params, cost=cost, loss_history=train_losses,
        eval_history=eval_losses, output_dir=path, global_step=train_losses[-1]["step"] if train_losses else 0,
        saved_to=path,
    )


# --------------------------------------------------------------------------------------------------
# Forgetting: scoring a second task
# --------------------------------------------------------------------------------------------------


def _normalize_answer(text: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in str(text).lower()).split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference, ignoring case, punctuation and extra spaces.

    Used for the second task (topic naming) whose answers are short labels, where partial credit (ROUGE)
    would blur the difference between "knows the topic" and "writes a summary that mentions it".
    """
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise FinetuneError(f"{len(predictions)} predictions but {len(references)} references; they must pair up.")
    if not predictions:
        raise FinetuneError("Nothing to score: no predictions.")
    hits = sum(_normalize_answer(p) == _normalize_answer(r) for p, r in zip(predictions, references))
    return hits / len(predictions)


def config_dict(config: _TrainConfig) -> dict:
    """A config as a plain dict (for logs and the lab's record)."""
    return {f.name: getattr(config, f.name) for f in fields(config)}


__all__ = [
    "LABEL_PAD",
    "FinetuneError",
    "TruncationWarning",
    "TruncationReport",
    "tokenize_for_summarization",
    "summarization_collator",
    "mask_label_padding",
    "FullFinetuneConfig",
    "LoraFinetuneConfig",
    "RunCost",
    "PeakMemory",
    "StepTimer",
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
