"""Lab 2: what the course adds to a ``Seq2SeqTrainer`` the learner built, as one ``TrainerCallback``.

The learner writes ``Seq2SeqTrainingArguments``, ``Seq2SeqTrainer`` and ``trainer.train()`` in the
notebook; :class:`CourseRun`, passed in ``callbacks=[...]``, keeps what the course's own wrappers
(:func:`~genai_course.finetune.training.full_finetune`) guarded:

- the output folder: an earlier run's checkpoints or ``final/`` are never replaced unless asked
  (``overwrite=True``), and the refusal comes when the Trainer is built, not after an hour of training;
- Ctrl-C or SIGTERM saves a checkpoint at the end of the step, then stops (:class:`SaveOnInterrupt`);
- the cost: wall time, median seconds per step, peak memory added, the tensors training holds;
- the finished model (or adapter), with its tokenizer and the loss history, written to ``final/``
  atomically (:meth:`CourseRun.save`).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import torch
from peft import PeftModel
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from genai_course.cost import PeakMemory, RunCost, StepTimer, TrainingState, saved_size_mb
from genai_course.finetune.errors import FinetuneError
from genai_course.finetune.interrupt import SaveOnInterrupt
from genai_course.finetune.result import FinetuneResult, loss_history
from genai_course.finetune.run_folder import prepare, save_final
from genai_course.models import count_parameters


class CourseRun(TrainerCallback):
    """Guards a Trainer's ``output_dir``, saves on Ctrl-C and measures the run (see the module docstring).

    ``overwrite``: replace an earlier run's results in ``output_dir`` (its old ``final/`` only once this
    run's is written). ``resume``: the run continues from a checkpoint (``trainer.train(
    resume_from_checkpoint=...)``), so earlier checkpoints are expected there.
    """

    def __init__(self, *, overwrite: bool = False, resume: bool = False) -> None:
        if not isinstance(overwrite, bool) or not isinstance(resume, bool):
            raise FinetuneError(f"overwrite and resume must be True or False, got {overwrite!r} and {resume!r}.")
        self.overwrite, self.resume = overwrite, resume
        self.timer, self.interrupt, self.held = StepTimer(), SaveOnInterrupt(), TrainingState()
        self.seconds = 0.0
        self.steps = 0
        self.saved_to: Path | None = None
        self._memory: PeakMemory | None = None
        self._start = 0.0

    # -- the Trainer's events -------------------------------------------------------------------------
    def on_init_end(self, args, state, control, **kwargs):
        if not self.resume:  # a resumed run is checked by the Trainer itself when it loads the checkpoint
            prepare(_guard_view(args, self))  # refuses now, before any step, rather than after the run
        return control

    def on_train_begin(self, args, state, control, **kwargs):
        self._memory = PeakMemory(args.device).__enter__()
        self._start = time.perf_counter()
        self.interrupt.on_train_begin(args, state, control, **kwargs)

    def on_step_begin(self, args, state, control, **kwargs):
        self.timer.on_step_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        self.timer.on_step_end(args, state, control, **kwargs)
        return self.interrupt.on_step_end(args, state, control, **kwargs)

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.held.on_optimizer_step(args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self._start
        self.steps = state.global_step
        if self._memory is not None:
            self._memory.__exit__(None, None, None)
        self.interrupt.on_train_end(args, state, control, **kwargs)

    # -- after trainer.train() ------------------------------------------------------------------------
    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C/SIGTERM stopped the run early (its last checkpoint holds it; nothing in final/)."""
        return self.interrupt.received is not None

    def save(self, trainer: Trainer) -> Path:
        """Write the trained model (or LoRA adapter), its tokenizer and the loss history to
        ``output_dir/final`` atomically; refused after an interrupted run, which is not the finished model."""
        if self.interrupted:
            raise FinetuneError(
                f"Training was interrupted at step {trainer.state.global_step}: the checkpoint in "
                f"{trainer.args.output_dir} holds it. Resume with trainer.train(resume_from_checkpoint=True)."
            )
        self.saved_to = save_final(trainer, trainer.model, trainer.processing_class, Path(trainer.args.output_dir))
        return self.saved_to

    def cost(self) -> RunCost:
        """What the run cost: seconds, peak memory added, the size saved (after :meth:`save`), state held."""
        if self._memory is None:
            raise FinetuneError("No training has run with this callback yet: call trainer.train() first.")
        return RunCost(
            seconds=self.seconds,
            peak_memory_mb=self._memory.peak_mb,
            saved_mb=saved_size_mb(self.saved_to) if self.saved_to else 0.0,
            memory_method=self._memory.method,
            steps=self.steps,
            seconds_per_step=self.timer.median(),
            training_state_mb=self.held.mb,
        )

    def result(self, trainer: Trainer, *, dtype: torch.dtype | None = None) -> FinetuneResult:
        """The finished run as the course's labs use it: the trained model in eval mode (cast back to
        ``dtype``, e.g. the bf16 the original was loaded in, after training a float32 copy), saved to
        ``final/``, with its parameter counts, cost and loss history."""
        model = trainer.model.eval()
        if dtype is not None:
            model = model.to(dtype)
        self.save(trainer)
        train_losses, eval_losses = loss_history(trainer.state.log_history)
        last = get_last_checkpoint(str(trainer.args.output_dir))
        return FinetuneResult(
            method="lora" if isinstance(model, PeftModel) else "full",
            model=model,
            tokenizer=trainer.processing_class,
            params=count_parameters(model),
            cost=self.cost(),
            loss_history=train_losses,
            eval_history=eval_losses,
            output_dir=Path(trainer.args.output_dir),
            global_step=trainer.state.global_step,
            saved_to=self.saved_to,
            checkpoint=Path(last) if last else None,
        )


def _guard_view(args, run: CourseRun) -> SimpleNamespace:
    """The fields :func:`~genai_course.finetune.run_folder.prepare` reads, for a plain Trainer's args."""
    return SimpleNamespace(
        output_dir=args.output_dir,
        resume_from_checkpoint=None,
        overwrite=run.overwrite,
        max_steps=args.max_steps,
        should_save=args.should_save,
    )
