"""Decode steps on a CPU with MKL-prepacked weights: the same tokens, sooner on some CPUs (an opt-in).

A batched decode step multiplies a handful of token vectors (one per prompt) by every weight of the
decoder. MKL's ordinary fp32 GEMM runs such small-M products far below the machine's peak (measured
on flan-t5-base's shapes, 16 vectors, 2 threads: about 65 GFLOP/s against 266 for large GEMMs;
``benchmarks/roofline.py``). MKL can instead reorder a weight once into its packed layout for a given
number of rows, and every later product with that many rows skips the per-call packing: a 16-row
product with a 768x2048 weight takes a quarter less time. This is what PyTorch's own compiler does for
frozen CPU models; here it is applied for the length of one :func:`genai_course.generation.generate_ids`
call that asks for it (``packed_weights=True``). End to end it does not pay everywhere: a batched
evaluation of the flan-t5-base shape took 4% less time on one Intel Xeon and 16% more on another (both
four interleaved pairs; ``benchmarks/README.md``), and it holds one more copy of the decoder's weights
(529 MiB for flan-t5-base) for the call, so generation leaves it off unless asked.

Products with another number of rows (the encoder's, a smaller last batch) fall back to the ordinary
kernel inside MKL's own op. Greedy outputs stay those of one prompt at a time (checked by the tests and
``benchmarks/bench_generation.py``). Packing is skipped where it cannot pay or cannot apply: off the
CPU, without MKL, below :data:`MIN_WIDTH` (the tiny world's 128-wide T5 gains nothing, and its lessons
keep their bits), for weights that are not plain float32 (bf16, int8) and for modules whose ``forward``
something else (accelerate, a debugger) has already replaced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from transformers import PreTrainedModel

MIN_WIDTH = 512  # model width from which packing is used: flan-t5-small (512) and up


def _mkl_ops_available() -> bool:
    return torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")


def _width(model: PreTrainedModel) -> int:
    config = model.config
    return int(getattr(config, "d_model", None) or getattr(config, "hidden_size", None) or 0)


def _packable(module: torch.nn.Module) -> bool:
    weight = module.weight
    return (
        weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and type(weight.data) is torch.Tensor  # not a quantized tensor subclass
        and "forward" not in module.__dict__  # not already wrapped by a hook
    )


def decoder_linears(model: PreTrainedModel) -> list[torch.nn.Linear]:
    """The decoder's linear layers and the output head. Its cross-attention key and value projections
    are among them but run once per prompt, on more rows than a batch, so they fall back to MKL's plain
    kernel; they are left in rather than singled out by architecture."""
    layers = [m for m in model.get_decoder().modules() if isinstance(m, torch.nn.Linear)]
    head = model.get_output_embeddings()
    if isinstance(head, torch.nn.Linear) and all(head is not m for m in layers):
        layers.append(head)
    return layers


def packing_applies(model: PreTrainedModel, batch_size: int) -> bool:
    """Whether :func:`packed_decoder` would pack anything for batches of ``batch_size`` prompts."""
    return (
        batch_size >= 2
        and bool(getattr(model.config, "is_encoder_decoder", False))
        and _width(model) >= MIN_WIDTH
        and _mkl_ops_available()
        and any(_packable(m) for m in decoder_linears(model))
    )


def _packed_forward(module: torch.nn.Linear, rows: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``module``'s product through a copy of its weight packed for ``rows`` rows."""
    weight = module.weight.detach()
    bias = None if module.bias is None else module.bias.detach()
    prepacked = torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # MKL's packed op has no backward
            return torch.nn.functional.linear(x, weight, bias)
        return torch.ops.mkl._mkl_linear(x, prepacked, weight, bias, rows)

    return forward


@contextlib.contextmanager
def packed_decoder(model: PreTrainedModel, batch_size: int) -> Iterator[int]:
    """Within the block, the decoder's float32 linear layers multiply batches of ``batch_size`` rows
    with MKL-prepacked copies of their weights; yields how many layers were packed (0: none applied).

    The packed copies hold as much memory again as the packed weights, until the block ends. The
    weights must not change inside the block (generation does not train)."""
    if not packing_applies(model, batch_size):
        yield 0
        return
    packed = []
    try:
        for module in decoder_linears(model):
            if not _packable(module):
                continue
            module.forward = _packed_forward(module, batch_size)
            packed.append(module)
        yield len(packed)
    finally:
        for module in packed:
            del module.forward  # the class's own forward again
