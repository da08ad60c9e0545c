"""Training a copy of the summarizer with ``Seq2SeqTrainer``: every weight (full) or LoRA adapters.

The model passed in is never modified. A run checkpoints every tenth of its steps (unless ``save_steps``
says otherwise) and on SIGINT/SIGTERM, refuses to overwrite an earlier run's results, and is measured:
wall time, peak memory added, trainable parameters, size of what is saved.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Seq2SeqTrainer, TrainerCallback, set_seed
from transformers.trainer_utils import get_last_checkpoint

from genai_course.cost import PeakMemory, RunCost, StepTimer, TrainingState, saved_size_mb
from genai_course.finetune.configs import FullFinetuneConfig, LoraFinetuneConfig, TrainConfig
from genai_course.finetune.errors import FinetuneError, TrainingInterrupted
from genai_course.finetune.interrupt import SaveOnInterrupt
from genai_course.finetune.lora import add_lora
from genai_course.finetune.result import FinetuneResult, loss_history
from genai_course.finetune.run_folder import prepare, save_final
from genai_course.finetune.tokenization import check_columns, summarization_collator, tokenize_for_summarization
from genai_course.models import count_parameters


def _select_examples(dataset: Dataset, n: int | None) -> Dataset:
    check_columns(dataset)
    if n is None:
        return dataset
    if n > len(dataset):
        raise FinetuneError(
            f"train_examples={n} but the dataset has {len(dataset)} rows; use a number between 1 and "
            f"{len(dataset)}, or None for all of them."
        )
    return dataset.select(range(n))


def _tokenized(dataset: Dataset, tokenizer, config: TrainConfig):
    return tokenize_for_summarization(
        dataset,
        tokenizer,
        prompt_style=config.prompt_style,
        max_input_tokens=config.max_input_tokens,
        max_target_tokens=config.max_target_tokens,
    )


def _trainer(model, tokenizer, config: TrainConfig, train_set, eval_set, callbacks) -> Seq2SeqTrainer:
    trainer = Seq2SeqTrainer(
        model=model,
        args=config.run_arguments(has_eval=eval_set is not None),
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=summarization_collator(tokenizer),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    # T5's forward takes **kwargs but ignores num_items_in_batch: its loss is the mean over its own batch.
    # The Trainer, believing it normalized over the tokens of every process and accumulation step, would
    # multiply it by the number of processes and not divide it by gradient_accumulation_steps: losses (and
    # gradients, before clipping) N times too large under N processes (measured: 1.59 logged for 0.79 on
    # 2), and likewise with accumulation. Told the truth, it averages like for like.
    trainer.model_accepts_loss_kwargs = False
    return trainer


def _train(
    method: str,
    model,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    config: TrainConfig,
    eval_dataset: Dataset | None,
    callbacks: Sequence[TrainerCallback],
    restore_dtype: torch.dtype | None = None,
) -> FinetuneResult:
    """Tokenize, train ``model`` (already a copy) with ``Seq2SeqTrainer``, save it and measure the run.

    Raises :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) after a SIGINT/SIGTERM stopped the run at
    a checkpoint; nothing is written to ``final/`` then, since the model is not the finished one.
    """
    train_set, report = _tokenized(_select_examples(dataset, config.train_examples), tokenizer, config)
    eval_set = _tokenized(eval_dataset, tokenizer, config)[0] if eval_dataset is not None else None
    resume = prepare(config)  # before training: refuse early, never after an hour of work
    timer, interrupt, held = StepTimer(), SaveOnInterrupt(), TrainingState()
    trainer = _trainer(model, tokenizer, config, train_set, eval_set, [timer, interrupt, held, *callbacks])
    params = count_parameters(trainer.model)
    start = time.perf_counter()
    try:
        with PeakMemory(trainer.args.device) as memory:
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    finally:
        interrupt.restore()  # on_train_end is skipped when training raises
    seconds = time.perf_counter() - start
    state = trainer.state
    interrupted = interrupt.received is not None and state.global_step < state.max_steps
    trained = trainer.model.eval()
    if restore_dtype is not None:
        trained = trained.to(restore_dtype)
    out = Path(config.output_dir)
    last = get_last_checkpoint(str(out))
    saved_to = save_final(trainer, trained, tokenizer, out) if config.save_final and not interrupted else None
    train_losses, eval_losses = loss_history(state.log_history)
    cost = RunCost(
        seconds=seconds,
        peak_memory_mb=memory.peak_mb,
        saved_mb=saved_size_mb(saved_to) if saved_to else 0.0,
        memory_method=memory.method,
        steps=state.global_step,
        seconds_per_step=timer.median(),
        training_state_mb=held.mb,
    )
    result = FinetuneResult(
        method=method,
        model=trained,
        tokenizer=tokenizer,
        params=params,
        cost=cost,
        loss_history=train_losses,
        eval_history=eval_losses,
        output_dir=out,
        global_step=state.global_step,
        truncation=report,
        saved_to=saved_to,
        interrupted=interrupted,
        resumed_from=resume,
        checkpoint=Path(last) if last else None,
    )
    if interrupted:
        raise TrainingInterrupted(
            f"Training stopped at step {state.global_step} of {state.max_steps}; the checkpoint {last} holds it. "
            "Run again with resume_from_checkpoint=True to continue from there.",
            result,
            result.checkpoint,
        )
    return result


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
