"""Wrapping a model with LoRA adapters (peft): which layers can take them, and a seeded, copied wrap."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from peft import get_peft_model
from transformers import PreTrainedModel, set_seed

from genai_course.finetune.configs import LoraFinetuneConfig
from genai_course.finetune.errors import FinetuneError


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 calls a transformers 5 method that warns about its own deprecation; nothing to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _linear_paths(model: torch.nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """The distinct short names of a model's linear layers (candidates for LoRA ``target_modules``)."""
    return sorted({name.rsplit(".", 1)[-1] for name in _linear_paths(model)})


def _matches_a_linear(target: str, paths: list[str]) -> bool:
    # peft matches a target against the end of a module's dotted path ("q", "SelfAttention.q").
    return any(path == target or path.endswith("." + target) for path in paths)


def _check_targets(model: torch.nn.Module, targets) -> None:
    if isinstance(targets, str):
        raise FinetuneError(f"target_modules must be a list of names such as ('q', 'v'), not the string {targets!r}.")
    paths = _linear_paths(model)
    unknown = [t for t in targets if not _matches_a_linear(t, paths)]
    if not targets or unknown:
        raise FinetuneError(
            f"LoRA target module(s) {unknown or '(none)'} are not linear layers of this model. "
            f"Choose among: {', '.join(linear_module_names(model))}."
        )


def add_lora(model: PreTrainedModel, config: LoraFinetuneConfig | None = None):
    """A ``PeftModel`` wrapping a *copy* of ``model`` with fresh LoRA adapters (seeded); only they train."""
    config = config or LoraFinetuneConfig()
    _check_targets(model, config.target_modules)
    twin = copy.deepcopy(model)
    set_seed(config.seed)  # lora_A is initialised randomly
    with quiet_peft():
        return get_peft_model(twin, config.lora_config())
