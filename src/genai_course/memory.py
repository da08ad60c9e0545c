"""The memory cost of a model: the course's rule of thumb as a formula, and the same cases measured.

The rule (Week 1): holding a model costs its parameter count times the bytes of its dtype (4 in float32,
2 in bfloat16/float16, 1 in int8, 0.5 in 4-bit): 1B parameters take 4 GB. Training also keeps a gradient
per trainable weight and AdamW's two moments, plus activations and temporaries; the course's slide
allows ~20 extra bytes per parameter at 32 bit (4 + 8 + 8 for gradients, moments and a high-end 8 for
activations): ~24 GB to train 1B parameters. :func:`memory_estimate` is that formula, component by
component; :func:`activation_bytes` estimates T5's activations from its shape instead of the flat 8.
:mod:`genai_course.memory_measure` measures the same cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from transformers import PretrainedConfig, PreTrainedModel

from genai_course.quantization import quantizable_counts

BYTES_PER_PARAM = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "int8": 1.0, "int4": 0.5}
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "4bit": "int4", "half": "float16"}
FLOAT_DTYPES = ("float32", "bfloat16", "float16")
COURSE_ACTIVATION_FACTOR = 2  # the slide's activations: 8 bytes per parameter at 32 bit = 2x the weights
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MASK_BYTES = 1  # a GPU's fused dropout keeps a bool mask per element


def check_dtype_name(dtype: str | torch.dtype) -> str:
    """The canonical name of ``dtype`` ("float32", "bf16", torch.bfloat16 ...) or a clear error."""
    name = str(dtype).removeprefix("torch.").lower()
    name = DTYPE_ALIASES.get(name, name)
    if name not in BYTES_PER_PARAM:
        raise ValueError(
            f"Unknown dtype {dtype!r} for a memory estimate; choose one of {', '.join(BYTES_PER_PARAM)} "
            f"(or {', '.join(DTYPE_ALIASES)})."
        )
    return name


def _count(value: float, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a non-negative number (e.g. 7e9), got {value!r}.")
    return int(round(value))


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3g} GB" if n_bytes >= 1e8 else f"{n_bytes / 2**20:.3g} MiB"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs, by component; ``total`` is what must fit in memory at once."""

    n_params: int
    trainable: int
    dtype: str
    weights: int
    gradients: int = 0
    optimizer: int = 0  # AdamW's moments (and a float32 master copy in mixed precision)
    activations: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    @property
    def bytes_per_param(self) -> float:
        return self.total / max(self.n_params, 1)

    def __add__(self, other: MemoryEstimate) -> MemoryEstimate:
        """Two parts of one model, e.g. a 4-bit base plus bf16 LoRA adapters in training (QLoRA)."""
        return MemoryEstimate(
            n_params=self.n_params + other.n_params,
            trainable=self.trainable + other.trainable,
            dtype=self.dtype if self.dtype == other.dtype else f"{self.dtype}+{other.dtype}",
            weights=self.weights + other.weights,
            gradients=self.gradients + other.gradients,
            optimizer=self.optimizer + other.optimizer,
            activations=self.activations + other.activations,
        )

    def describe(self) -> str:
        """One line: the parameters, the dtype and every component in GB (1e9 bytes, as the course)."""
        parts = [f"weights {_gb(self.weights)}"]
        for name in ("gradients", "optimizer", "activations"):
            if getattr(self, name):
                parts.append(f"{name} {_gb(getattr(self, name))}")
        what = "to train" if self.gradients else "to hold"
        return (
            f"{self.n_params / 1e9:.3g}B parameters in {self.dtype}, {what}: {' + '.join(parts)} = "
            f"{_gb(self.total)} ({self.bytes_per_param:.3g} bytes per parameter)"
        )

    def as_dict(self) -> dict:
        """The components and the total in bytes, for a table or the lab's record."""
        return asdict(self) | {"total": self.total}


def memory_estimate(
    n_params: float,
    *,
    dtype: str | torch.dtype = "float32",
    training: bool = False,
    trainable: float | None = None,
    optimizer_moments: int = 2,
    mixed_precision: bool = False,
    activations_bytes: float | str = 0,
) -> MemoryEstimate:
    """The course's rule of thumb: ``n_params`` weights in ``dtype``; with ``training``, a gradient and
    ``optimizer_moments`` moments (AdamW: 2) per ``trainable`` weight (default: all) in the same dtype, as
    ``torch.optim.AdamW`` keeps them; ``mixed_precision`` adds a float32 master copy and float32 moments.
    ``activations_bytes`` is a number of bytes (see :func:`activation_bytes`) or ``"course"``: the
    slide's high-end 8 bytes per parameter at 32 bit (twice the weights' bytes).

    ``memory_estimate(7e9, dtype="bf16")`` holds a 7B model; add ``training=True`` to train it fully."""
    dtype = check_dtype_name(dtype)
    n_params = _count(n_params, "n_params")
    trainable = n_params if trainable is None else _count(trainable, "trainable")
    if trainable > n_params:
        raise ValueError(f"trainable ({trainable:,}) cannot exceed n_params ({n_params:,}).")
    if not isinstance(optimizer_moments, int) or optimizer_moments < 0:
        raise ValueError(f"optimizer_moments must be an integer >= 0 (AdamW: 2, SGD: 0), got {optimizer_moments!r}.")
    per_param = BYTES_PER_PARAM[dtype]
    weights = int(n_params * per_param)
    if activations_bytes == "course":
        activations = int(COURSE_ACTIVATION_FACTOR * weights) if training else 0
    elif isinstance(activations_bytes, str):
        raise ValueError(f"activations_bytes must be a number of bytes or 'course', got {activations_bytes!r}.")
    else:
        activations = _count(activations_bytes, "activations_bytes")
    if not training:
        return MemoryEstimate(n_params, 0, dtype, weights, activations=activations)
    if dtype not in FLOAT_DTYPES and trainable:
        raise ValueError(
            f"{dtype} weights cannot be trained directly (there are no {dtype} gradients). Train adapters in a "
            f"float dtype on the frozen {dtype} base and add the two estimates: memory_estimate(base, "
            f"dtype={dtype!r}) + memory_estimate(adapters, dtype='bfloat16', training=True)."
        )
    moment_bytes = 4.0 if mixed_precision else per_param
    master = trainable * 4.0 if mixed_precision else 0.0
    return MemoryEstimate(
        n_params=n_params,
        trainable=trainable,
        dtype=dtype,
        weights=weights,
        gradients=int(trainable * per_param),
        optimizer=int(trainable * optimizer_moments * moment_bytes + master),
        activations=activations,
    )


def int8_weights_estimate(model: torch.nn.Module) -> MemoryEstimate:
    """The rule applied to what int8 weight-only quantization really stores for ``model``: its Linear
    weights at 1 byte plus a scale per row, everything else (embeddings, norms) kept in the model's dtype."""
    counts = quantizable_counts(model)
    float_dtype = check_dtype_name(next(model.parameters()).dtype)
    return memory_estimate(counts["linear"], dtype="int8") + memory_estimate(
        counts["other"] + counts["scales"], dtype=float_dtype
    )


# --- Activations ---------------------------------------------------------------------------------------


def _attention(b: int, q_len: int, kv_len: int, d: int, inner: int, heads: int) -> float:
    """Elements one T5 attention sublayer keeps for backward: its RMSNorm's input, normalized and scaled
    outputs (3 x d), the q, k, v projections, the softmax output and the attention output."""
    return 3 * b * q_len * d + 2 * b * q_len * inner + 2 * b * kv_len * inner + b * heads * q_len * kv_len


def _feed_forward(b: int, length: int, d: int, d_ff: int, gated: bool) -> float:
    """Elements a T5 feed-forward sublayer keeps: the RMSNorm (3 x d), then for gated-GELU the two input
    projections, the four tensors of the tanh-GELU formula and the product fed to ``wo`` (7 x d_ff)."""
    return 3 * b * length * d + (7 if gated else 2) * b * length * d_ff


def _dropout_masks(b: int, s: int, t: int, config: PretrainedConfig) -> tuple[float, float]:
    """Elements of the masks dropout keeps in training, and of the extra copy of each dropped attention map."""
    d, h, f = config.d_model, config.num_heads, config.d_ff
    enc, dec = config.num_layers, config.num_decoder_layers
    masks = enc * (2 * b * s * d + b * h * s * s + b * s * f) + dec * (
        3 * b * t * d + b * h * (t * t + t * s) + b * t * f
    )
    masks += 2 * b * (s + t) * d  # after the embeddings and the final norms
    return masks, enc * b * h * s * s + dec * b * h * (t * t + t * s)


def activation_bytes(
    config: PretrainedConfig,
    batch_size: int,
    source_len: int,
    target_len: int | None = None,
    *,
    dtype: str | torch.dtype = "float32",
    training: bool = True,
    device: str | torch.device = "cpu",
) -> int:
    """Estimated activation memory of one T5 training step: the tensors autograd keeps for backward, counted
    per sublayer from the shape (norm inputs and outputs, q/k/v, attention maps, the feed-forward's
    intermediates, dropout masks), plus the logits and their log-softmax (2 x batch x target x vocab).

    It assumes eager PyTorch without gradient checkpointing; the RMSNorm's per-row statistics and small
    index tensors are left out. Inference without gradients keeps none of it (returns 0 unless training).
    Dropout's masks are bool (1 byte) on a GPU, whose fused kernel makes them, and in ``dtype`` elsewhere,
    where PyTorch multiplies by a float noise tensor. Checked against :func:`saved_activation_bytes`.
    """
    if getattr(config, "model_type", None) != "t5":
        raise ValueError(f"activation_bytes knows T5's layers; got a {getattr(config, 'model_type', '?')!r} config.")
    b, s = _count(batch_size, "batch_size"), _count(source_len, "source_len")
    t = s if target_len is None else _count(target_len, "target_len")
    if not training:
        return 0
    d, f, h = config.d_model, config.d_ff, config.num_heads
    inner = h * config.d_kv
    gated = bool(getattr(config, "is_gated_act", False))
    encoder = config.num_layers * (_attention(b, s, s, d, inner, h) + _feed_forward(b, s, d, f, gated))
    decoder = config.num_decoder_layers * (
        _attention(b, t, t, d, inner, h) + _attention(b, t, s, d, inner, h) + _feed_forward(b, t, d, f, gated)
    )
    final = 3 * b * s * d + 4 * b * t * d + 2 * b * t * config.vocab_size  # norms, head input, logits
    elements = encoder + decoder + final
    per_element = BYTES_PER_PARAM[check_dtype_name(dtype)]
    masks = 0.0
    if config.dropout_rate > 0:
        masks, dropped_maps = _dropout_masks(b, s, t, config)
        elements += dropped_maps
        masks *= MASK_BYTES if torch.device(device).type == "cuda" else per_element
    return int(elements * per_element + masks)


def saved_activation_bytes(model: PreTrainedModel, batch: Mapping[str, torch.Tensor]) -> int:
    """Activation memory of one forward pass, *measured*: the bytes of every distinct tensor autograd saves
    for backward (parameters excluded), plus the logits the output keeps, to check :func:`activation_bytes`."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model(**batch)
    logits = output.logits.untyped_storage()
    saved[logits.data_ptr()] = logits.nbytes()
    return sum(saved.values())
