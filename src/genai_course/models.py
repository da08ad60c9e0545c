"""Loading the summarizer, its tokenizer and the reward classifier, with one device and dtype policy.

Real models (Hub ids or local folders) and the tiny world's models go through the same
``from_pretrained`` calls; a tiny-world path that does not exist yet is built on first use.

Every load checks what it loaded: a local path that does not exist is named as such (not reported as a
failed Hub connection), a truncated weights file is named, a folder without tokenizer files is refused
(transformers would quietly build an empty 104-token tokenizer that decodes everything to ''), and a
model whose weights were partly *newly initialised* (a T5 folder loaded as a classifier gets a random
classification head) is refused: its outputs would be noise that looks like a result.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    T5Config,
)

from genai_course.choices import SettingError, check_device
from genai_course.paths import looks_local, missing_local_path
from genai_course.precision import DtypeChoice, choose_dtype
from genai_course.profiles import Profile, tiny_world_dir
from genai_course.tiny.world import ensure_tiny_world

# Files from which a tokenizer can be built; tokenizer_config.json alone is not enough.
TOKENIZER_FILES = (
    "tokenizer.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
    "vocab.json",
    "vocab.txt",
)
HUB_HINT = (
    "The Hugging Face Hub may be unreachable from here: run `genai-course doctor`, or use the "
    "offline tiny world with get_profile('tiny') / GENAI_COURSE_PROFILE=tiny."
)


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded, with what to do about it."""


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: the first CUDA GPU, else Apple's MPS, else the CPU; otherwise one of ``choices.DEVICES``."""
    try:
        requested = check_device(requested or "auto")
    except SettingError as error:
        raise ModelLoadError(str(error)) from error
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(f"Device {requested!r} was asked for but no CUDA GPU is visible; use 'cpu'.")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ModelLoadError(f"Device {requested!r}: only {torch.cuda.device_count()} GPU(s) are visible.")
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ModelLoadError("Device 'mps' was asked for but Apple's MPS is not available here; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, requested: str = "auto", *, allow_float16: bool = True) -> torch.dtype:
    """The dtype of :func:`genai_course.precision.choose_dtype`: bf16 only on GPUs with native bf16 (compute
    capability >= 8.0), fp32 elsewhere; an explicit request is honoured (float16 only where allowed)."""
    return pick_dtype_with_reason(device, requested, allow_float16=allow_float16).dtype


def pick_dtype_with_reason(device: torch.device, requested: str = "auto", *, allow_float16: bool = True) -> DtypeChoice:
    """:func:`pick_dtype` with the reason for the choice; an invalid request is a :class:`ModelLoadError`."""
    try:
        return choose_dtype(device, requested, allow_float16=allow_float16)
    except SettingError as error:
        raise ModelLoadError(str(error)) from error


def _ensure_available(name: str, what: str) -> str:
    """Build the tiny world if ``name`` lives in it; reject local-looking paths that do not exist."""
    path = Path(name).expanduser()
    tiny_root = tiny_world_dir()
    if not path.exists() and (path == tiny_root or tiny_root in path.parents):
        ensure_tiny_world()
    if path.exists():
        return str(path)
    if looks_local(name):
        raise ModelLoadError(missing_local_path(name, what))
    return name


def check_weight_files(folder: Path) -> None:
    """Read every safetensors header in ``folder``, so a truncated file is named here, not deep in a load."""
    for file in sorted(Path(folder).glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(
                f"{file} is damaged ({error}); it was probably cut off while being written or downloaded. "
                "Copy, download or train it again."
            ) from error


def _newly_initialised(info: dict) -> list[str]:
    return sorted(info.get("missing_keys") or []) + sorted(str(k) for k in info.get("mismatched_keys") or [])


def from_pretrained_checked(loader, name: str, what: str, **kwargs) -> PreTrainedModel:
    """``loader.from_pretrained(name)`` with every failure turned into a :class:`ModelLoadError` that names
    ``name`` and what to do, and refused when some weights were newly initialised (not in the checkpoint)."""
    resolved = _ensure_available(name, what)
    local = Path(resolved).exists()
    if local and Path(resolved).is_dir():
        check_weight_files(Path(resolved))
    try:
        model, info = loader.from_pretrained(resolved, output_loading_info=True, **kwargs)
    except (OSError, ValueError, SafetensorError, EOFError) as error:  # ValueError: a config naming no model
        hint = (
            HUB_HINT
            if not local
            else "The folder exists but does not hold a complete model: rebuild or "
            "re-download it (or save it again with save_pretrained)."
        )
        raise ModelLoadError(f"Could not load the {what} {name!r}: {error}\n{hint}") from error
    fresh = _newly_initialised(info)
    if fresh:
        shown = ", ".join(fresh[:4]) + (f" and {len(fresh) - 4} more" if len(fresh) > 4 else "")
        raise ModelLoadError(
            f"{name!r} is not a trained {what}: {len(fresh)} weight(s) are not in the checkpoint and would be "
            f"randomly initialised ({shown}), so its outputs would be noise. Pass a checkpoint trained for "
            "this task (for the reward model: a sequence-classification model such as "
            "facebook/roberta-hate-speech-dynabench-r4-target)."
        )
    return model


def check_tokenizer_files(name: str) -> str:
    """``name`` resolved; a local folder must hold files a tokenizer can be built from."""
    resolved = _ensure_available(name, "tokenizer")
    folder = Path(resolved)
    if folder.is_dir() and not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{folder} holds no tokenizer files ({', '.join(TOKENIZER_FILES)}): transformers would build an "
            "empty default tokenizer and every summary would decode to ''. Save the model's tokenizer there "
            f"(tokenizer.save_pretrained('{folder}')) or copy its files from where the model came from."
        )
    return resolved


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """A tokenizer by Hub id or local folder; a local folder must hold the tokenizer's files."""
    resolved = check_tokenizer_files(name)
    folder = Path(resolved)
    try:
        return AutoTokenizer.from_pretrained(resolved)
    except (OSError, ValueError) as error:
        hint = HUB_HINT if not folder.exists() else "The tokenizer files there are incomplete or damaged."
        raise ModelLoadError(f"Could not load the tokenizer {name!r}: {error}\n{hint}") from error


def device_and_dtype(
    source: Profile | str, *, field: str = "summarizer", device: str | None = None, dtype: str | None = None
) -> tuple[torch.device, torch.dtype]:
    """Where and in which dtype to load a model, chosen exactly as :func:`load_summarizer` chooses them.

    For the notebooks that call ``AutoModelForSeq2SeqLM.from_pretrained(name, dtype=dtype).to(device)``
    themselves: the device is the profile's (``auto``: a CUDA GPU, else MPS, else the CPU), the dtype bf16
    only where the hardware has it natively and float32 elsewhere, never float16 for the summarizer (T5
    overflows it). ``field`` names the profile's model (``"summarizer"``, ``"reward_model"``); a model of
    the tiny world that is not built yet is built here, so the ``from_pretrained`` call that follows finds
    an ordinary checkpoint folder.
    """
    name, device, dtype = _resolve(source, field, device, dtype)
    torch_device = pick_device(device)
    chosen = pick_dtype(torch_device, dtype, allow_float16=field != "summarizer")
    _ensure_available(name, field.replace("_", " "))
    return torch_device, chosen


def load_summarizer(
    source: Profile | str, *, device: str | None = None, dtype: str | None = None, force_float16: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The seq2seq summarizer and its tokenizer, on the chosen device, in eval mode.

    ``dtype="float16"`` is refused (T5 overflows it) unless ``force_float16=True``, for experiments."""
    name, device, dtype = _resolve(source, "summarizer", device, dtype)
    torch_device = pick_device(device)
    chosen = pick_dtype(torch_device, dtype, allow_float16=force_float16)  # the course's summarizers are T5
    check_tokenizer_files(name)  # first: a folder without one fails before the weights are read
    model = from_pretrained_checked(AutoModelForSeq2SeqLM, name, "summarizer", dtype=chosen)
    return model.to(torch_device).eval(), load_tokenizer(name)


def load_reward_classifier(
    source: Profile | str, *, device: str | None = None, dtype: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The hate-speech classifier used as reward model, with its tokenizer, in eval mode."""
    name, device, dtype = _resolve(source, "reward_model", device, dtype)
    torch_device = pick_device(device)
    chosen = pick_dtype(torch_device, dtype)
    check_tokenizer_files(name)
    model = from_pretrained_checked(AutoModelForSequenceClassification, name, "reward classifier", dtype=chosen)
    return model.to(torch_device).eval(), load_tokenizer(name)


def load_causal_lm(
    name: str, *, device: str | None = None, dtype: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM (Lab 3's GRPO extra) and its tokenizer, padded on the left for generation."""
    torch_device = pick_device(device or "auto")
    chosen = pick_dtype(torch_device, dtype or "auto")
    check_tokenizer_files(name)
    model = from_pretrained_checked(AutoModelForCausalLM, name, "causal LM", dtype=chosen)
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


def flan_t5_small_config() -> T5Config:
    """google/flan-t5-small's architecture (8+8 layers, d_model 512, 6 heads), for offline benchmarks."""
    config = flan_t5_base_config()
    for name, value in {"d_model": 512, "d_ff": 1024, "num_layers": 8, "num_decoder_layers": 8, "num_heads": 6}.items():
        setattr(config, name, value)
    return config


def flan_t5_base_config() -> T5Config:
    """google/flan-t5-base's architecture, written out so benchmarks and tests need no download."""
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


RANDOM_BLOCK = 1 << 20  # values drawn once and repeated: 4 MiB, larger than any norm layer or bias


def random_seq2seq(config: PretrainedConfig, dtype: torch.dtype = torch.float32, seed: int = 0) -> PreTrainedModel:
    """A seq2seq model of ``config`` on the CPU with random weights, for measurements that only need its
    shape: memory footprints, shape tests (the values are not a good starting point for training).

    ``from_config`` draws every weight twice, torch's default init and then the model's own, tensor by
    tensor: about 6 s for flan-t5-base on two cores. Here the layers are laid out on the meta device,
    given real memory (every page written, so the process's resident set holds them) and filled from one
    block of normal draws, scaled by 1/sqrt(fan-in); norm layers get weight 1 and bias 0."""
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(config, dtype=dtype)
    if any(True for _ in model.buffers()):
        raise ValueError(f"random_seq2seq cannot fill {type(model).__name__}'s buffers; build it with from_config.")
    model.to_empty(device="cpu")
    model.tie_weights()  # to_empty gives each tied parameter its own memory; tie them again
    block = torch.randn(RANDOM_BLOCK, generator=torch.Generator().manual_seed(seed))
    seen: set[int] = set()
    for module in model.modules():
        is_norm = "norm" in type(module).__name__.lower()
        for name, parameter in module.named_parameters(recurse=False):
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            with torch.no_grad():
                if is_norm:
                    parameter.fill_(1.0 if name == "weight" else 0.0)
                else:
                    _fill_from(parameter.view(-1), block, std=parameter.shape[-1] ** -0.5)
    return model.eval()


def _fill_from(flat: torch.Tensor, block: torch.Tensor, std: float) -> None:
    for start in range(0, flat.numel(), block.numel()):
        piece = flat[start : start + block.numel()]
        piece.copy_(block[: piece.numel()]).mul_(std)
