"""The critic: a value head on the decoder's last hidden state, as in the course's trl.

``dropout(0.1) -> Linear(d_model, 1)`` per decoder position estimates the return still to come
from that point of the response (769 parameters on flan-t5-base). It shares the policy's trunk:
its loss also trains the LoRA adapter, weighted by ``vf_coef``.
"""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """``[batch, tokens, d_model]`` hidden states -> ``[batch, tokens]`` values, computed in float32."""

    def __init__(self, hidden_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {hidden_size}.")
        self.dropout = nn.Dropout(dropout)
        self.summary = nn.Linear(hidden_size, 1)

    @classmethod
    def for_model(cls, model: nn.Module, dropout: float = 0.1) -> ValueHead:
        """A value head sized to ``model``'s hidden size (``config.d_model`` for T5), on its device."""
        config = model.config
        hidden = getattr(config, "d_model", None) or getattr(config, "hidden_size", None)
        if hidden is None:
            raise ValueError(f"Cannot tell the hidden size of {type(model).__name__}: no config.d_model/hidden_size.")
        device = next(model.parameters()).device
        return cls(int(hidden), dropout).to(device)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # float32 even when the policy runs in bf16: value targets are sums of rewards and need the range.
        hidden = hidden_states.to(self.summary.weight.dtype)
        return self.summary(self.dropout(hidden)).squeeze(-1)
