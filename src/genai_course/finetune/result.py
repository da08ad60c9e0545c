"""What a fine-tuning run returns: the trained copy, its parameter counts, cost and loss history."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from genai_course.cost import RunCost
from genai_course.finetune.tokenization import TruncationReport


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
    # Stopped early by SIGINT/SIGTERM: the last checkpoint holds the state, nothing was saved to final/.
    interrupted: bool = False
    resumed_from: Path | None = None  # the checkpoint this run continued, if it was a resume
    checkpoint: Path | None = None  # the newest checkpoint-* folder after the run, if any


def loss_history(log_history: list[dict]) -> tuple[list[dict], list[dict]]:
    """Training and evaluation losses from ``trainer.state.log_history``, for plotting."""
    train = [{"step": e["step"], "epoch": e.get("epoch"), "loss": e["loss"]} for e in log_history if "loss" in e]
    evals = [
        {"step": e["step"], "epoch": e.get("epoch"), "eval_loss": e["eval_loss"]}
        for e in log_history
        if "eval_loss" in e
    ]
    return train, evals
