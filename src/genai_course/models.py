"""Loading the summarizer, its tokenizer and the reward classifier, with one device and dtype policy.

Real models (Hub ids or local folders) and the tiny world's models go through the same
``from_pretrained`` calls; a tiny-world path that does not exist yet is built on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from genai_course.profiles import Profile, tiny_world_dir


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded, with what to do about it."""


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: the first CUDA GPU, else Apple's MPS, else the CPU."""
    if requested and requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(f"Device {requested!r} was asked for but no CUDA GPU is visible.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, requested: str = "auto") -> torch.dtype:
    """bf16 on GPUs that support it, fp32 elsewhere (CPU bf16 matmuls are slow and lossy)."""
    if requested and requested != "auto":
        try:
            dtype = getattr(torch, requested)
        except AttributeError:
            raise ModelLoadError(f"Unknown dtype {requested!r}; use auto, float32, bfloat16 or float16.")
        if not isinstance(dtype, torch.dtype):
            raise ModelLoadError(f"Unknown dtype {requested!r}; use auto, float32, bfloat16 or float16.")
        return dtype
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not Path(name).expanduser().exists()


def _ensure_available(name: str) -> str:
    """Build the tiny world if ``name`` lives in it; reject local paths that do not exist."""
    path = Path(name).expanduser()
    tiny_root = tiny_world_dir()
    if not path.exists() and (path == tiny_root or tiny_root in path.parents):
        from genai_course.tiny import ensure_tiny_world

        ensure_tiny_world()
    if path.exists():
        return str(path)
    if name.startswith((".", "/", "~")) or (os.sep in name and not _is_hub_id(name)):
        raise ModelLoadError(
            f"Model path {name!r} does not exist. Check the path, or use the offline tiny world: "
            "get_profile('tiny') / GENAI_COURSE_PROFILE=tiny."
        )
    return name


def _load(loader, name: str, what: str, **kwargs):
    resolved = _ensure_available(name)
    try:
        return loader.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as error:  # ValueError: a config.json that names no known model
        offline = not Path(resolved).exists()
        hint = (
            "The Hugging Face Hub may be unreachable from here: run `genai-course doctor`, or use the "
            "offline tiny world with get_profile('tiny') / GENAI_COURSE_PROFILE=tiny."
            if offline
            else "The folder exists but does not hold a complete model: rebuild or re-download it."
        )
        raise ModelLoadError(f"Could not load the {what} {name!r}: {error}\n{hint}") from error


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """A tokenizer by Hub id or local folder."""
    return _load(AutoTokenizer, name, "tokenizer")


def load_summarizer(
    source: Profile | str, *, device: str | None = None, dtype: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The seq2seq summarizer and its tokenizer, on the chosen device, in eval mode."""
    name, device, dtype = _resolve(source, "summarizer", device, dtype)
    torch_device = pick_device(device)
    model = _load(AutoModelForSeq2SeqLM, name, "summarizer", dtype=pick_dtype(torch_device, dtype))
    return model.to(torch_device).eval(), load_tokenizer(name)


def load_reward_classifier(
    source: Profile | str, *, device: str | None = None, dtype: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The hate-speech classifier used as reward model, with its tokenizer, in eval mode."""
    name, device, dtype = _resolve(source, "reward_model", device, dtype)
    torch_device = pick_device(device)
    model = _load(
        AutoModelForSequenceClassification, name, "reward classifier", dtype=pick_dtype(torch_device, dtype)
    )
    return model.to(torch_device).eval(), load_tokenizer(name)


def load_causal_lm(
    name: str, *, device: str | None = None, dtype: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM (Lab 3's GRPO extra) and its tokenizer, padded on the left for generation."""
    torch_device = pick_device(device or "auto")
    model = _load(AutoModelForCausalLM, name, "causal LM", dtype=pick_dtype(torch_device, dtype or "auto"))
    tokenizer = load_tokenizer(name)
    if tokenizer.pad_token is None:  # many causal LMs ship without one; batches need it
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation continues from the right end of every prompt
    return model.to(torch_device).eval(), tokenizer


def _resolve(source: Profile | str, field: str, device: str | None, dtype: str | None):
    if isinstance(source, Profile):
        return getattr(source, field), device or source.device, dtype or source.dtype
    return str(source), device or "auto", dtype or "auto"


def count_parameters(model: torch.nn.Module) -> dict:
    """Trainable and total parameter counts (shared tensors counted once) and the trainable share."""
    seen: set[int] = set()
    trainable = total = 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return {"trainable": trainable, "total": total, "percent": 100.0 * trainable / max(total, 1)}


def flan_t5_base_config():
    """google/flan-t5-base's architecture, written out so benchmarks and tests need no download."""
    from transformers import T5Config

    return T5Config(
        vocab_size=32128,
        d_model=768,
        d_kv=64,
        d_ff=2048,
        num_layers=12,
        num_decoder_layers=12,
        num_heads=12,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.1,
        layer_norm_epsilon=1e-6,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
