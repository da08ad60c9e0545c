"""int8 weight-only quantization with torchao: every ``nn.Linear`` weight stored as int8 with one scale per
output row, multiplied back in the model's own dtype, so a model needs about a quarter of its fp32 memory.

**Why torchao.** It is PyTorch's own quantization library and the one transformers' ``TorchAoConfig``
wraps. Checked here with torchao 0.18.0 on torch 2.13.0+cpu: ``torchao.quantization.quantize_(model,
Int8WeightOnlyConfig())`` quantizes T5 on the CPU and generates with it (weight-only int8 needs no custom
kernel: its matmul is plain PyTorch). On a CPU-only torch, torchao logs two "Failed to load ..._C_*.so"
lines at import: those are its CUDA kernels (mxfp8, cutlass), unused by weight-only int8 (importing
``genai_course`` quiets them, since transformers imports torchao whenever it loads a model). The next
options were not needed: optimum-quanto is in maintenance mode, and bitsandbytes' int8 targets GPUs.

**What shrinks.** Only ``nn.Linear`` weights (``quantize_``'s default filter). Embeddings, layer norms
and T5's relative-attention biases keep their dtype, so an embedding-heavy model shrinks by less than
4x; and a language-model head tied to the embedding (T5 in transformers 5) gets its own int8 copy while
the embedding stays in float. :func:`int8_weights_estimate` counts exactly this.

**CPU speed.** Weight-only int8 saves memory, not time, on a CPU: each matmul dequantizes its weight
first. :func:`int8_comparison` measures both, with the ROUGE change, on the caller's prompts.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import torch
from torch import nn
from torchao.quantization import Int8WeightOnlyConfig, quantize_
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from genai_course.generation import generate
from genai_course.metrics import rouge

QUANTIZED_LAYER = nn.Linear  # what quantize_ converts by default


def quantize_int8(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with its Linear weights in int8 (torchao); ``model`` itself is not changed."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_int8 needs a torch.nn.Module, got {type(model).__name__}.")
    if not any(isinstance(m, QUANTIZED_LAYER) for m in model.modules()):
        raise ValueError("The model has no nn.Linear layer: weight-only int8 would change nothing.")
    quantized = copy.deepcopy(model)
    quantize_(quantized, Int8WeightOnlyConfig())
    return quantized.eval()


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds; a torchao quantized tensor counts its inner tensors (int8 data and scales)."""
    if hasattr(tensor, "__tensor_flatten__"):  # a tensor subclass: its storage is in its inner tensors
        names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()


def model_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters and buffers, each shared tensor counted once."""
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor_bytes(tensor)
    return total


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes of the ``nn.Linear`` weights alone: the part int8 quantization shrinks."""
    return sum(tensor_bytes(m.weight) for m in model.modules() if isinstance(m, QUANTIZED_LAYER))


def quantizable_counts(model: nn.Module) -> dict[str, int]:
    """Elements int8 would quantize (Linear weights), their per-row scales, and the elements it keeps in
    float (everything else, counted once), for :func:`genai_course.memory.int8_weights_estimate`.

    A weight tied between a Linear head and an embedding is in both: int8 for the head, float for the
    embedding, which is what ``quantize_`` leaves behind."""
    linears = [m for m in model.modules() if isinstance(m, QUANTIZED_LAYER)]
    kept: dict[int, int] = {}
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not (isinstance(module, QUANTIZED_LAYER) and name == "weight"):
                kept[id(parameter)] = parameter.numel()
    return {
        "linear": sum(m.weight.numel() for m in linears),
        "scales": sum(m.weight.shape[0] for m in linears),
        "other": sum(kept.values()),
    }


def _timed_generate(model, tokenizer, prompts, config, batch_size) -> tuple[list[str], float]:
    started = time.perf_counter()
    texts = generate(model, tokenizer, prompts, config, batch_size=batch_size, progress=False)
    return texts, time.perf_counter() - started


def int8_comparison(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    config: GenerationConfig | None = None,
    batch_size: int = 16,
    quantized: nn.Module | None = None,
) -> dict:
    """The float model against its int8 copy on the same prompts (greedy by default): size in bytes,
    generation seconds, ROUGE-1 and the share of identical outputs. ``model`` is not changed.

    ``quantized``: the int8 copy the caller made (``quantize_(copy.deepcopy(model),
    Int8WeightOnlyConfig())``, as the notebook does); None: :func:`quantize_int8` makes one."""
    if len(prompts) != len(references) or not prompts:
        raise ValueError(f"Give one reference per prompt (got {len(prompts)} prompts, {len(references)} references).")
    if quantized is model:
        raise ValueError("quantized is the float model itself: quantize a copy (quantize_ works in place).")
    config = config or GenerationConfig(max_new_tokens=50, do_sample=False)
    quantized = quantize_int8(model) if quantized is None else quantized.eval()
    base_texts, base_seconds = _timed_generate(model, tokenizer, prompts, config, batch_size)
    int8_texts, int8_seconds = _timed_generate(quantized, tokenizer, prompts, config, batch_size)
    base_rouge = rouge(base_texts, references)["rouge1"]
    int8_rouge = rouge(int8_texts, references)["rouge1"]
    base_bytes, int8_bytes = model_bytes(model), model_bytes(quantized)
    return {
        "n": len(prompts),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "bytes": base_bytes,
        "int8_bytes": int8_bytes,
        "size_ratio": base_bytes / int8_bytes,
        "linear_size_ratio": linear_weight_bytes(model) / linear_weight_bytes(quantized),
        "seconds": base_seconds,
        "int8_seconds": int8_seconds,
        "int8_slowdown": int8_seconds / base_seconds,
        "rouge1": base_rouge,
        "int8_rouge1": int8_rouge,
        "rouge1_change": int8_rouge - base_rouge,
        "same_output_share": sum(a == b for a, b in zip(base_texts, int8_texts)) / len(prompts),
    }


__all__ = [
    "quantize_int8",
    "tensor_bytes",
    "model_bytes",
    "linear_weight_bytes",
    "quantizable_counts",
    "int8_comparison",
]
