"""The output folder of a training run: whose it is, where a resume continues, and the final save.

The folder belongs to the user. A fresh run refuses to start where an earlier run left checkpoints or a
final model (``overwrite=True`` replaces them; ``resume_from_checkpoint`` continues them) and never
deletes anything else. ``final/`` is written to a temporary sibling and renamed into place, so an
interrupted save never leaves a half-written model that looks complete.

Under several processes (``accelerate launch``) every process makes the same checks, so all refuse or
none does, and only the one that saves (``args.should_save``: the main process) deletes or writes.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from genai_course import models
from genai_course.cache import atomic_directory
from genai_course.finetune.configs import TrainConfig
from genai_course.finetune.errors import FinetuneError
from genai_course.paths import PathProblem, writable_folder

FINAL = "final"
STATE_FILE = "trainer_state.json"
logger = logging.getLogger(__name__)


def earlier_results(out: Path) -> list[Path]:
    """An earlier run's outputs in ``out``: its ``checkpoint-*`` folders and ``final/``."""
    if not out.is_dir():
        return []
    found = sorted(p for p in out.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir())
    return found + ([out / FINAL] if (out / FINAL).exists() else [])


def read_state(path: Path) -> dict:
    """A ``trainer_state.json`` as a dict; a truncated or garbled file is an error naming it."""
    file = path / STATE_FILE if path.is_dir() else path
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise FinetuneError(f"{path} is not a Trainer checkpoint (no {STATE_FILE} in it).") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FinetuneError(
            f"{file} is damaged ({error}); the checkpoint was probably cut off while being written. "
            "Resume from an earlier checkpoint or start afresh."
        ) from error


def check_weight_files(folder: Path) -> None:
    """Every safetensors file in ``folder`` whole (its header read), or a :class:`FinetuneError` naming it."""
    try:
        models.check_weight_files(folder)
    except models.ModelLoadError as error:
        raise FinetuneError(str(error)) from error


def _resume_checkpoint(out: Path, resume: str | bool) -> Path:
    if resume is True:
        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        if last is None:
            raise FinetuneError(
                f"resume_from_checkpoint=True but {out} holds no checkpoint-* folder; train from scratch "
                "(resume_from_checkpoint=None) or pass the path of a checkpoint."
            )
        return Path(last)
    path = Path(resume).expanduser()
    if not path.is_dir():
        raise FinetuneError(f"The checkpoint {path} does not exist; pass a checkpoint-* folder or True.")
    return path


def _check_resume(checkpoint: Path, config: TrainConfig) -> int:
    """The checkpoint's step, after checking the checkpoint is whole and that steps remain to be run."""
    step = int(read_state(checkpoint).get("global_step", 0))
    check_weight_files(checkpoint)
    if config.max_steps > 0 and config.max_steps <= step:
        raise FinetuneError(
            f"max_steps={config.max_steps} but {checkpoint} is already at step {step}: resuming would "
            f"train past the limit. Set max_steps above {step}, or start a fresh run (overwrite=True)."
        )
    return step


def _finished(final: Path) -> bool:
    """Whether ``final/`` holds a run that reached its last step (an unreadable state counts as finished:
    when unsure, keep it)."""
    try:
        state = read_state(final)
    except FinetuneError:
        return True
    return int(state.get("global_step", 0)) >= int(state.get("max_steps", 0) or 0)


def prepare(config: TrainConfig) -> Path | None:
    """Check the output folder and resolve ``resume_from_checkpoint``: the checkpoint to resume from,
    or None for a fresh run. Refuses (:class:`FinetuneError`) rather than deleting an earlier run."""
    try:
        out = writable_folder(config.output_dir, "output folder (output_dir)")
    except PathProblem as error:
        raise FinetuneError(str(error)) from error
    if config.resume_from_checkpoint:
        checkpoint = _resume_checkpoint(out, config.resume_from_checkpoint)
        step = _check_resume(checkpoint, config)
        if (out / FINAL).exists() and _finished(out / FINAL) and not config.overwrite:
            raise FinetuneError(
                f"{out / FINAL} holds the model of a finished run, which this resumed run would replace; "
                "pass overwrite=True to replace it, or resume into another output_dir."
            )
        print(f"[genai-course] resuming from {checkpoint} (step {step})")
        return checkpoint
    earlier = earlier_results(out)
    if earlier and not config.overwrite:
        names = ", ".join(p.name for p in earlier)
        raise FinetuneError(
            f"{out} already holds an earlier run's results ({names}). Pass overwrite=True to replace them, "
            "resume_from_checkpoint=True to continue that run, or choose another output_dir."
        )
    # overwrite=True: old checkpoints would be picked up by a later resume and rotated together with this
    # run's, so they go now; the old final/ stays until this run's replaces it. One process deletes them.
    for stale in earlier:
        if stale.name != FINAL and config.should_save:
            shutil.rmtree(stale)
    return None


def save_final(trainer, model, tokenizer, out: Path) -> Path:
    """The trained model (full) or adapter (LoRA), its tokenizer and the trainer state (with the losses),
    written to ``out/final`` atomically, once: every process calls it, the main process writes.

    Under FSDP or DeepSpeed the weights are spread over the processes: the full state dict is gathered
    first (a collective call, hence on every process) and written by the main process.
    """
    final = out / FINAL
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    state = trainer.accelerator.get_state_dict(trainer.model_wrapped) if sharded else None
    if trainer.args.should_save:
        with atomic_directory(final) as tmp:
            if sharded:
                trainer.accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state)
            else:
                model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            trainer.state.save_to_json(str(tmp / STATE_FILE))  # the loss history travels along
        logger.info("wrote the trained model to %s", final)
    trainer.accelerator.wait_for_everyone()  # the others return once it is there to be read
    return final
