"""Saved models and adapters: load them back (checked), merge adapters, and rebuild a run's result.

Every load checks what it loads: the folder holds the expected files, safetensors files are whole, and
the trainer state parses; a problem is an error naming the path and what to do.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel, PreTrainedTokenizerBase

from genai_course.cost import RunCost, saved_size_mb
from genai_course.finetune.errors import FinetuneError
from genai_course.finetune.lora import quiet_peft
from genai_course.finetune.result import FinetuneResult, loss_history
from genai_course.finetune.run_folder import STATE_FILE, check_weight_files, read_state
from genai_course.models import count_parameters, from_pretrained_checked, pick_device


def weights_hash(model: torch.nn.Module) -> str:
    """A fingerprint of every parameter and buffer: equal hashes mean untouched weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_full_checkpoint(path: str | Path, *, device: str | None = None) -> PreTrainedModel:
    """A fully fine-tuned model saved with ``save_pretrained`` (or by ``full_finetune``), in eval mode."""
    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise FinetuneError(
            f"{path} does not hold a saved model (no config.json); pass the folder given by save_pretrained."
        )
    check_weight_files(path)
    model = from_pretrained_checked(AutoModelForSeq2SeqLM, str(path), "fine-tuned summarizer")
    return model.to(pick_device(device or "auto")).eval()


def load_adapter(base_model: PreTrainedModel, path: str | Path, *, trainable: bool = False):
    """A ``PeftModel``: a copy of ``base_model`` with the LoRA adapter saved at ``path`` (eval mode)."""
    path = Path(path).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise FinetuneError(
            f"{path} does not hold a LoRA adapter (no adapter_config.json). A full model folder loads with "
            "load_full_checkpoint instead."
        )
    check_weight_files(path)
    with quiet_peft():
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


def _trained_parameters(model, method: str) -> dict:
    # What trained, not what is trainable now: every weight (full) or the adapter's (LoRA).
    params = count_parameters(model)
    trained = (
        params["total"]
        if method == "full"
        else sum(p.numel() for name, p in model.named_parameters() if "lora_" in name)
    )
    return {**params, "trainable": trained, "percent": 100.0 * trained / max(params["total"], 1)}


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
    if method not in ("full", "lora"):
        raise FinetuneError(f"method must be 'full' or 'lora', got {method!r}.")
    path = Path(path).expanduser()
    if method == "full":
        model = load_full_checkpoint(path, device=str(next(base_model.parameters()).device))
    else:
        model = load_adapter(base_model, path)
    log = read_state(path).get("log_history", []) if (path / STATE_FILE).is_file() else []
    train_losses, eval_losses = loss_history(log)
    cost = RunCost(
        seconds=0.0,
        peak_memory_mb=0.0,
        saved_mb=saved_size_mb(path),
        memory_method="loaded from a checkpoint: not trained here",
    )
    return FinetuneResult(
        method=method,
        model=model,
        tokenizer=tokenizer,
        params=_trained_parameters(model, method),
        cost=cost,
        loss_history=train_losses,
        eval_history=eval_losses,
        output_dir=path,
        global_step=train_losses[-1]["step"] if train_losses else 0,
        saved_to=path,
    )
