"""Measuring a model's memory, case by case, next to the rule of thumb in :mod:`genai_course.memory`.

The measurements build the model themselves (from a factory, so the caller's model is never touched)
and report what building it and running it *added* to the process: the weights held once built, and
the peak of a forward pass (inference) or of AdamW steps (training) above them. On a GPU that is
``torch.cuda.max_memory_allocated``; on the CPU the process's resident set (see
:class:`genai_course.cost.PeakMemory`), so compare cases measured the same way, one after another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil  # a dependency of accelerate: the resident set on every OS
import torch
from transformers import AutoModelForSeq2SeqLM, PretrainedConfig, PreTrainedModel

from genai_course.cost import PeakMemory, TrainingState, release_freed_memory
from genai_course.finetune.configs import LoraFinetuneConfig
from genai_course.finetune.lora import add_lora
from genai_course.memory import (
    TORCH_DTYPES,
    MemoryEstimate,
    activation_bytes,
    check_dtype_name,
    int8_weights_estimate,
    memory_estimate,
)
from genai_course.models import count_parameters, from_pretrained_checked, pick_device, random_seq2seq
from genai_course.quantization import model_bytes, quantize_int8

METHODS = ("full", "lora")


ModelFactory = Callable[[torch.dtype], PreTrainedModel]


@dataclass
class Measured:
    """One case measured next to its formula. ``weights_bytes``: what building the model left held;
    ``peak_bytes``: that plus the peak the run (forward/generate, or training steps) added above it."""

    case: str
    model: str
    n_params: int
    trainable: int
    formula: MemoryEstimate
    weights_bytes: int
    peak_bytes: int
    seconds: float
    method: str
    extra: dict = field(default_factory=dict)

    @property
    def weights_ratio(self) -> float:
        """Measured over formula, for the weights held."""
        return self.weights_bytes / max(self.formula.weights, 1)

    @property
    def peak_ratio(self) -> float:
        """Measured over formula, for the whole case (weights + what running it needs)."""
        return self.peak_bytes / max(self.formula.total, 1)

    def as_dict(self) -> dict:
        """Plain numbers (bytes, seconds, ratios) for the notebook's table and record."""
        return {
            "case": self.case,
            "model": self.model,
            "n_params": self.n_params,
            "trainable": self.trainable,
            "formula": self.formula.as_dict(),
            "weights_bytes": self.weights_bytes,
            "peak_bytes": self.peak_bytes,
            "weights_ratio": self.weights_ratio,
            "peak_ratio": self.peak_ratio,
            "seconds": self.seconds,
            "method": self.method,
            **self.extra,
        }


def config_factory(config: PretrainedConfig, seed: int = 0) -> ModelFactory:
    """Builds a seq2seq model of ``config`` with random weights in the dtype asked for (nothing downloaded;
    :func:`genai_course.models.random_seq2seq`, since memory does not depend on the weights' values)."""

    def build(dtype: torch.dtype) -> PreTrainedModel:
        return random_seq2seq(config, dtype=dtype, seed=seed)

    return build


def pretrained_factory(path: str) -> ModelFactory:
    """Loads the seq2seq model at ``path`` (a folder or Hub id) in the dtype asked for."""

    def load(dtype: torch.dtype) -> PreTrainedModel:
        return from_pretrained_checked(AutoModelForSeq2SeqLM, path, "summarizer", dtype=dtype)

    return load


def dummy_batch(
    config: PretrainedConfig, batch_size: int = 2, source_len: int = 32, target_len: int = 8, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random token ids of exact lengths (memory does not depend on the words): inputs, mask and labels."""
    generator = torch.Generator().manual_seed(seed)
    low = 2  # skip pad (0) and EOS (1)
    return {
        "input_ids": torch.randint(low, config.vocab_size, (batch_size, source_len), generator=generator),
        "attention_mask": torch.ones(batch_size, source_len, dtype=torch.long),
        "labels": torch.randint(low, config.vocab_size, (batch_size, target_len), generator=generator),
    }


def _held_bytes(device: torch.device) -> int:
    """Memory held now: allocated CUDA memory on a GPU, the process's resident set elsewhere."""
    release_freed_memory()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.memory_allocated(device)
    return psutil.Process().memory_info().rss


def _shape_of(batch: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    if "input_ids" not in batch or "labels" not in batch:
        raise ValueError("The batch needs 'input_ids' and 'labels' (see memory.dummy_batch).")
    b, s = batch["input_ids"].shape
    return int(b), int(s), int(batch["labels"].shape[1])


def measure_inference(
    factory: ModelFactory,
    dtype: str | torch.dtype,
    batch: Mapping[str, torch.Tensor],
    *,
    model_name: str = "model",
    new_tokens: int = 8,
    device: str | torch.device | None = None,
) -> Measured:
    """Build the model in ``dtype`` ("float32", "bfloat16" or "int8": torchao weight-only, quantized from
    float32), then greedily generate ``new_tokens`` for the batch's inputs; formula: the weights alone.

    ``extra`` holds the build's own peak (int8: the float32 model and its copy, briefly), the run's peak
    above the weights (int8: each matmul dequantizes its weight to float32 first, so the largest layer,
    the vocabulary head, appears once more) and the weights' bytes counted from the tensors, which is
    exact where the resident set is too coarse (a model of a few MiB)."""
    dtype = check_dtype_name(dtype)
    if dtype not in ("float32", "bfloat16", "int8"):
        raise ValueError(f"measure_inference runs float32, bfloat16 or int8 models, not {dtype}.")
    device = pick_device(str(device) if device is not None else "auto")
    inputs = {k: batch[k].to(device) for k in ("input_ids", "attention_mask") if k in batch}
    started = time.perf_counter()
    before = _held_bytes(device)
    with PeakMemory(device) as building:
        model = factory(torch.float32 if dtype == "int8" else TORCH_DTYPES[dtype]).to(device).eval()
        n_params = count_parameters(model)["total"]
        if dtype == "int8":
            formula = int8_weights_estimate(model)
            model = quantize_int8(model)  # a copy: the float model is freed on the next line
        else:
            formula = memory_estimate(n_params, dtype=dtype)
    held = _held_bytes(device) - before
    tensors = model_bytes(model)
    with PeakMemory(device) as running, torch.no_grad():
        model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    del model
    return Measured(
        case=f"inference {dtype}",
        model=model_name,
        n_params=n_params,
        trainable=0,
        formula=formula,
        weights_bytes=held,
        peak_bytes=held + running.peak_bytes,
        seconds=time.perf_counter() - started,
        method=running.method,
        extra={"build_peak_bytes": building.peak_bytes, "run_peak_bytes": running.peak_bytes, "tensor_bytes": tensors},
    )


def measure_training(
    factory: ModelFactory,
    batch: Mapping[str, torch.Tensor],
    method: str,
    *,
    model_name: str = "model",
    steps: int = 1,
    learning_rate: float = 1e-4,
    lora: LoraFinetuneConfig | None = None,
    device: str | torch.device | None = None,
) -> Measured:
    """Build the model in float32, wrap it with the course's LoRA (r=32 on q, v) for ``method="lora"``, and
    run ``steps`` AdamW steps on ``batch``; formula: weights + gradients + moments + :func:`activation_bytes`.
    The gradients and moments are also measured from the tensors (:class:`genai_course.cost.TrainingState`)."""
    if method not in METHODS:
        raise ValueError(f"Unknown training method {method!r}; choose one of {', '.join(METHODS)}.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    device = pick_device(str(device) if device is not None else "auto")
    b, s, t = _shape_of(batch)
    batch = {k: v.to(device) for k, v in batch.items()}
    started = time.perf_counter()
    before = _held_bytes(device)
    model = factory(torch.float32).to(device)
    if method == "lora":
        model = add_lora(model, lora or LoraFinetuneConfig(output_dir=None))  # wraps a copy; ours is freed
    held = _held_bytes(device) - before
    counts = count_parameters(model)
    config = model.config
    formula = memory_estimate(
        counts["total"],
        trainable=counts["trainable"],
        training=True,
        activations_bytes=activation_bytes(config, b, s, t, device=device) if config.model_type == "t5" else 0,
    )
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    state = TrainingState()
    with PeakMemory(device) as running:
        for _ in range(steps):
            model(**batch).loss.backward()
            optimizer.step()
            # Read while the gradients exist, as Lab 2's callback does after each optimizer step.
            state.on_optimizer_step(None, None, None, model=model, optimizer=optimizer)
            optimizer.zero_grad(set_to_none=True)
    del model, optimizer
    return Measured(
        case=f"training {method}",
        model=model_name,
        n_params=counts["total"],
        trainable=counts["trainable"],
        formula=formula,
        weights_bytes=held,
        peak_bytes=held + running.peak_bytes,
        seconds=time.perf_counter() - started,
        method=running.method,
        extra={
            "run_peak_bytes": running.peak_bytes,
            "state_mb": state.mb,
            "batch": {"batch_size": b, "source_len": s, "target_len": t, "steps": steps},
        },
    )


def measure_footprint(
    factory: ModelFactory,
    batch: Mapping[str, torch.Tensor],
    *,
    model_name: str = "model",
    dtypes: Sequence[str] = ("float32", "bfloat16", "int8"),
    methods: Sequence[str] = METHODS,
    device: str | torch.device | None = None,
) -> list[Measured]:
    """Every inference dtype and training method for one model, one after another in this process."""
    rows = [measure_inference(factory, d, batch, model_name=model_name, device=device) for d in dtypes]
    return rows + [measure_training(factory, batch, m, model_name=model_name, device=device) for m in methods]


def footprint_table(rows: Sequence[Measured]) -> list[dict]:
    """One flat row per case in MiB: formula vs measured for the weights and for the whole case, with ratios."""
    table = []
    for row in rows:
        table.append(
            {
                "model": row.model,
                "case": row.case,
                "params": row.n_params,
                "formula_weights_mib": row.formula.weights / 2**20,
                "measured_weights_mib": row.weights_bytes / 2**20,
                "weights_ratio": row.weights_ratio,
                "formula_total_mib": row.formula.total / 2**20,
                "measured_total_mib": row.peak_bytes / 2**20,
                "total_ratio": row.peak_ratio,
                "seconds": row.seconds,
            }
        )
    return table


def format_footprint_table(rows: Sequence[Measured]) -> str:
    """:func:`footprint_table` as a Markdown table for a notebook's printout."""
    lines = [
        "| model | case | formula weights | measured | ratio | formula total | measured peak | ratio | s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in footprint_table(rows):
        lines.append(
            f"| {r['model']} | {r['case']} | {r['formula_weights_mib']:.1f} | {r['measured_weights_mib']:.1f} | "
            f"{r['weights_ratio']:.2f} | {r['formula_total_mib']:.1f} | {r['measured_total_mib']:.1f} | "
            f"{r['total_ratio']:.2f} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n(MiB; measured = what building and running the model added to the process)"
