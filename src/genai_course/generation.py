"""Batched generation for encoder-decoder models, shared by evaluation (Labs 1-3) and PPO rollouts.

Prompts are sorted by length so each batch wastes little padding, generated batch by batch with a
progress bar, and returned in the caller's order. A prompt longer than the model's context window is
an error, never silently truncated.

Greedy decoding in batches gives exactly the tokens of one-prompt-at-a-time decoding: T5 pads on the
right and masks the padding out of attention, so a prompt's own positions never see its neighbours
(tests/test_generation.py and benchmarks/bench_generation.py check this). Sampling with a seed is
repeatable for the same prompts and batch size, but not across batch sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from peft import PeftModel
from tqdm.auto import tqdm
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import BaseModelOutput

from genai_course.packed_weights import packed_decoder

DEFAULT_CONFIG = GenerationConfig(max_new_tokens=50, do_sample=False)
ENCODER_BATCH_SIZE = 4  # prompts per encoder pass (see encode_in_chunks)


class ContextWindowError(ValueError):
    """A prompt that does not fit in the model's context window."""


class GenerationSettingError(ValueError):
    """A generation setting of the wrong type or out of range; the message gives the valid range."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# (setting, is it valid, the valid values in words). transformers accepts e.g. top_p=1.5 without a word and
# then filters nothing; a None means "not set" and is always allowed.
_RULES = (
    ("top_p", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    ("top_k", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0 (0: off)"),
    ("temperature", lambda v: _is_number(v) and v > 0, "a number > 0"),
    ("max_new_tokens", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    ("num_beams", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    ("repetition_penalty", lambda v: _is_number(v) and v > 0, "a number > 0"),
)


def check_generation_config(config: GenerationConfig) -> GenerationConfig:
    """``config`` if its sampling and length settings are in range, else :class:`GenerationSettingError`."""
    if not isinstance(config, GenerationConfig):
        raise GenerationSettingError(
            f"Expected a transformers.GenerationConfig, got {type(config).__name__}; "
            "build one with GenerationConfig(max_new_tokens=..., do_sample=...)."
        )
    for name, valid, words in _RULES:
        value = getattr(config, name, None)
        if value is not None and not valid(value):
            raise GenerationSettingError(f"Generation setting {name}={value!r} is invalid: it must be {words}.")
    return config


def context_window(tokenizer: PreTrainedTokenizerBase) -> int:
    """The number of input tokens the model was trained to read (FLAN-T5: 512)."""
    limit = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a limit report a huge sentinel (int(1e30)).
    return int(limit) if limit and limit < 1_000_000 else 512


def check_fits(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]) -> list[int]:
    """Token counts of ``prompts``; raises :class:`ContextWindowError` naming any that overflow."""
    # verbose=False: the tokenizer's own "longer than the maximum" warning is replaced by our error.
    encoded = tokenizer(list(prompts), add_special_tokens=True, verbose=False)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    limit = context_window(tokenizer)
    too_long = [(i, n) for i, n in enumerate(lengths) if n > limit]
    if too_long:
        shown = ", ".join(f"#{i} ({n} tokens)" for i, n in too_long[:5])
        more = f" and {len(too_long) - 5} more" if len(too_long) > 5 else ""
        raise ContextWindowError(
            f"{len(too_long)} prompt(s) exceed the model's context window of {limit} tokens: {shown}{more}. "
            "Shorten them (e.g. fewer shots: genai_course.prompting.fit_shots) instead of letting the "
            "model silently ignore the overflow."
        )
    return lengths


def _batches(order: list[int], batch_size: int) -> list[list[int]]:
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


@torch.no_grad()
def generate_ids(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    config: GenerationConfig | None = None,
    *,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "Generating",
    seed: int | None = None,
    encoder_batch_size: int | None = ENCODER_BATCH_SIZE,
    packed_weights: bool = False,
) -> list[torch.Tensor]:
    """Response token ids per prompt (CPU, 1-D), cut after the first EOS and without padding.

    The decoder start token is not included; the EOS token is, when the model produced one. An
    encoder-decoder model's encoder runs on chunks of ``encoder_batch_size`` prompts of similar length
    (None: the whole batch at once), and the decoder on the whole batch: see :func:`encode_in_chunks`.
    With ``packed_weights=True``, a CPU decoder of a real model's width multiplies its batches with
    MKL-prepacked weights (:mod:`genai_course.packed_weights`: the same tokens; 4% sooner on one CPU,
    16% later on another, so it is an opt-in).
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, not a single string")
    if not prompts:
        return []
    for name, value in (("batch_size", batch_size), ("encoder_batch_size", encoder_batch_size)):
        if name == "encoder_batch_size" and value is None:
            continue  # the whole batch through the encoder at once
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(packed_weights, bool):
        raise ValueError(f"packed_weights must be True or False, got {packed_weights!r}")
    config = check_generation_config(config or DEFAULT_CONFIG)
    lengths = check_fits(tokenizer, prompts)
    if seed is not None:
        torch.manual_seed(seed)
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[torch.Tensor | None] = [None] * len(prompts)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    rows = min(batch_size, len(prompts)) if packed_weights else 1  # 1: packing never applies
    try:
        with packed_decoder(model, rows):
            for batch in tqdm(_batches(order, batch_size), desc=desc, disable=not progress, leave=False):
                texts = [prompts[i] for i in batch]
                generated = _generate_batch(model, tokenizer, texts, config, encoder_batch_size, device)
                for row, index in zip(generated, batch):
                    results[index] = _trim(row, eos, pad)
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def _generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    config: GenerationConfig,
    encoder_batch_size: int | None,
    device: torch.device,
) -> torch.Tensor:
    """The generated ids of one batch (CPU), without the decoder start token in column 0."""
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    inputs = {
        "input_ids": encoded["input_ids"].to(device),
        "attention_mask": encoded["attention_mask"].to(device),
    }
    if encoder_batch_size and getattr(model.config, "is_encoder_decoder", False):
        inputs = {
            "encoder_outputs": encode_in_chunks(model, tokenizer, texts, encoder_batch_size, device),
            "attention_mask": inputs["attention_mask"],
        }
    output = model.generate(**inputs, generation_config=config)
    # A config with return_dict_in_generate=True gives a ModelOutput; the tokens are the same.
    sequences = getattr(output, "sequences", output)
    return sequences[:, 1:].cpu()  # column 0 is the decoder start token (T5: the pad id)


def encode_in_chunks(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], chunk: int, device
) -> BaseModelOutput:
    """The encoder's outputs for ``texts`` (sorted longest first), computed ``chunk`` prompts at a time,
    each chunk padded only to its own longest prompt, then zero-padded to the batch's longest.

    A batch padded to its longest prompt spends its encoder FLOPs (and attention's n², more) on padding;
    chunks of similar lengths do not, while the decoder, whose steps are cheap per prompt, still advances
    the whole batch together. The padded positions are masked out of cross-attention, so their values
    never reach the output (measured on the flan-t5-base shape, 16 prompts of 179-343 tokens: the encoder
    in 3.3 s instead of 5.6 s; benchmarks/README.md).
    """
    encoder = model.get_encoder()
    states = []
    for start in range(0, len(texts), chunk):
        part = tokenizer(list(texts[start : start + chunk]), return_tensors="pt", padding=True)
        out = encoder(input_ids=part["input_ids"].to(device), attention_mask=part["attention_mask"].to(device))
        states.append(out.last_hidden_state)
    longest = max(s.shape[1] for s in states)
    left = tokenizer.padding_side == "left"  # the batch's attention mask pads on the same side
    padded = [
        torch.nn.functional.pad(s, (0, 0, longest - s.shape[1], 0) if left else (0, 0, 0, longest - s.shape[1]))
        for s in states
    ]
    return BaseModelOutput(last_hidden_state=torch.cat(padded))


def _trim(row: torch.Tensor, eos: int | None, pad: int | None) -> torch.Tensor:
    """Cut a generated row after its first EOS; drop trailing padding when there is no EOS."""
    if eos is not None:
        hits = (row == eos).nonzero()
        if len(hits):
            return row[: int(hits[0]) + 1]
    if pad is not None and pad != eos:
        keep = (row != pad).nonzero()
        return row[: int(keep[-1]) + 1] if len(keep) else row[:0]
    return row


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    config: GenerationConfig | None = None,
    *,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "Generating",
    seed: int | None = None,
    encoder_batch_size: int | None = ENCODER_BATCH_SIZE,
    packed_weights: bool = False,
) -> list[str]:
    """Generated text per prompt, in the caller's order, with special tokens removed."""
    ids = generate_ids(
        model,
        tokenizer,
        prompts,
        config,
        batch_size=batch_size,
        progress=progress,
        desc=desc,
        seed=seed,
        encoder_batch_size=encoder_batch_size,
        packed_weights=packed_weights,
    )
    return [tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids]


@contextlib.contextmanager
def generation_settings(model: PreTrainedModel, config: GenerationConfig) -> Iterator[None]:
    """Make ``config`` the model's own generation settings for the block, then put the old ones back.

    ``generate`` fills every value the given config leaves unset (``None``) from the model's generation
    config, so a checkpoint shipping e.g. ``no_repeat_ngram_size`` would reshape PPO's sampling behind its
    back. With ``config`` as the model's own settings, unset values get transformers' neutral defaults.
    """
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    saved = base.generation_config
    base.generation_config = config
    try:
        yield
    finally:
        base.generation_config = saved
