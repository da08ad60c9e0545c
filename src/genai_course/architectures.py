"""The three transformer families side by side: encoder-only (RoBERTa), decoder-only (GPT-2) and
encoder-decoder (T5), at the tiny world's size and at their published size.

Where the parameters of each family live is computed twice: by formula from the config
(:func:`parameter_formula`) and by counting a built model's tensors by name (:func:`parameter_count`).
The two must agree component by component, which is what makes the formula worth reading. For the
encoder-decoder family, :func:`cross_attention` shows what the decoder reads from the input while it writes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    RobertaConfig,
    RobertaForMaskedLM,
    T5Config,
    T5ForConditionalGeneration,
)

from genai_course.models import flan_t5_base_config
from genai_course.tiny.recipe import TinyT5Spec
from genai_course.tiny.summarizer import make_config

FAMILIES = ("encoder-only", "decoder-only", "encoder-decoder")
# Every count has all of these keys (0 where a family has none), so tables and plots line up.
COMPONENTS = ("embeddings", "attention", "cross_attention", "feed_forward", "norms", "head")
MASK_TOKEN = "<mask>"


@dataclass(frozen=True)
class Family:
    """One family's ecosystem classes and the published model whose shape stands for it."""

    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]
    checkpoint: str
    objective: str


FAMILY_CLASSES: dict[str, Family] = {
    "encoder-only": Family(RobertaConfig, RobertaForMaskedLM, "roberta-base", "masked LM"),
    "decoder-only": Family(GPT2Config, GPT2LMHeadModel, "gpt2", "causal LM"),
    "encoder-decoder": Family(T5Config, T5ForConditionalGeneration, "google/flan-t5-base", "span corruption"),
}
MODEL_TYPES = {"roberta": "encoder-only", "gpt2": "decoder-only", "t5": "encoder-decoder"}


# --- Configs ------------------------------------------------------------------------------------------


def family_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A copy of ``tokenizer`` with a ``<mask>`` token (returned as is if it already has one).

    Masked LM needs a mask token and the tiny T5 tokenizer has none. We append a new ``<mask>`` rather than
    reuse a sentinel: a sentinel means "a span is missing here, the target names it" (T5's objective),
    ``<mask>`` means "predict this one token in place" (BERT's), and a table comparing the two objectives
    should not show the same symbol for both. Appending keeps every existing id (the mask is the last id),
    so the copy encodes text exactly as the tiny T5 tokenizer does, and the caller's tokenizer is untouched.
    """
    if tokenizer.mask_token is not None:
        return tokenizer
    extended = copy.deepcopy(tokenizer)
    extended.add_special_tokens({"mask_token": MASK_TOKEN})
    return extended


def tiny_family_configs(
    tokenizer: PreTrainedTokenizerBase,
    *,
    d_model: int = 128,
    num_layers: int = 3,
    num_heads: int = 4,
    d_ff: int = 512,
    max_positions: int = 512,
    tie_embeddings: bool = True,
) -> dict[str, PretrainedConfig]:
    """The three families at the tiny world's size, all with one vocabulary: :func:`family_tokenizer`'s
    (the tiny T5 tokenizer plus ``<mask>``), so the families differ in architecture only.

    The encoder-decoder is the tiny world's own T5 config (``tiny.summarizer.make_config``) with one more
    embedding row for ``<mask>``; T5 has ``num_layers`` encoder *and* decoder layers, as FLAN-T5 does.
    """
    if d_model % num_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads}).")
    tokenizer = family_tokenizer(tokenizer)
    vocab, pad, eos = len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id
    t5_spec = replace(
        TinyT5Spec(),
        d_model=d_model,
        d_ff=d_ff,
        num_layers=num_layers,
        num_heads=num_heads,
        d_kv=d_model // num_heads,
        tie_word_embeddings=tie_embeddings,
    )
    dropout = t5_spec.dropout_rate  # one setting for all three: the tiny world trains without dropout
    return {
        "encoder-only": RobertaConfig(
            vocab_size=vocab,
            hidden_size=d_model,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=d_ff,
            # RoBERTa numbers positions from pad_token_id + 1 (roberta-base: pad 1, 514 positions for 512).
            max_position_embeddings=max_positions + pad + 1,
            type_vocab_size=1,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            pad_token_id=pad,
            bos_token_id=None,
            eos_token_id=eos,
            tie_word_embeddings=tie_embeddings,
        ),
        "decoder-only": GPT2Config(
            vocab_size=vocab,
            n_positions=max_positions,
            n_embd=d_model,
            n_layer=num_layers,
            n_head=num_heads,
            n_inner=d_ff,
            resid_pdrop=dropout,
            embd_pdrop=dropout,
            attn_pdrop=dropout,
            bos_token_id=eos,
            eos_token_id=eos,
            pad_token_id=pad,
            tie_word_embeddings=tie_embeddings,
        ),
        "encoder-decoder": make_config(tokenizer, t5_spec),
    }


def real_family_configs() -> dict[str, PretrainedConfig]:
    """The published shapes, written out (no download): roberta-base, gpt2 (124M) and google/flan-t5-base."""
    return {
        "encoder-only": RobertaConfig(
            vocab_size=50265,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=514,
            type_vocab_size=1,
            layer_norm_eps=1e-5,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
        ),
        "decoder-only": GPT2Config(
            vocab_size=50257,
            n_positions=1024,
            n_embd=768,
            n_layer=12,
            n_head=12,
            bos_token_id=50256,
            eos_token_id=50256,
        ),
        "encoder-decoder": flan_t5_base_config(),
    }


def ties_embeddings(config: PretrainedConfig) -> bool:
    """Whether the LM head reuses the input embedding matrix.

    transformers 5 forces ``T5Config.tie_word_embeddings`` to True and keeps what was asked for in
    ``scale_decoder_outputs`` (tied T5 v1.0 rescales the decoder output; untied T5 v1.1 and FLAN-T5 do not).
    """
    if config.model_type == "t5" and hasattr(config, "scale_decoder_outputs"):
        return bool(config.scale_decoder_outputs)
    return bool(config.tie_word_embeddings)


def family_of(config: PretrainedConfig) -> str:
    """The family name of a RoBERTa, GPT-2 or T5 config."""
    if config.model_type not in MODEL_TYPES:
        raise ValueError(
            f"No family for model type {config.model_type!r}; supported: {', '.join(MODEL_TYPES)} "
            f"({', '.join(FAMILIES)})."
        )
    return MODEL_TYPES[config.model_type]


# --- Models -------------------------------------------------------------------------------------------


def build_family_models(configs: Mapping[str, PretrainedConfig], seed: int = 0) -> dict[str, PreTrainedModel]:
    """A randomly initialised model per family (each seeded with ``seed``, so the order does not matter).

    Build under ``with torch.device("meta"):`` to get the real shapes without allocating any memory.
    """
    models = {}
    for name, config in configs.items():
        if name not in FAMILY_CLASSES:
            raise ValueError(f"Unknown family {name!r}; choose from {', '.join(FAMILIES)}.")
        family = FAMILY_CLASSES[name]
        if not isinstance(config, family.config_class):
            raise ValueError(f"The {name} family takes a {family.config_class.__name__}, got {type(config).__name__}.")
        torch.manual_seed(seed)
        model = family.model_class(config)
        untie_output_embeddings(model)
        models[name] = model.eval()
    return models


def untie_output_embeddings(model: PreTrainedModel) -> None:
    """Give the LM head its own matrix when the config asks for untied embeddings (in place).

    transformers 5 ties a T5 built from a config whatever its ``tie_word_embeddings`` (only
    ``from_pretrained`` unties, when a checkpoint holds two different matrices): without this a
    FLAN-T5-shaped model has 222.9M parameters instead of flan-t5-base's 247.6M. The model then saves
    both matrices and loads back untied; an explicit ``model.tie_weights()`` ties it again.
    """
    head, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    if ties_embeddings(model.config) or head is None or head.weight is not embeddings.weight:
        return
    # Off the tied-keys list, so saving writes the head and internal re-ties (from that list) leave it apart.
    getattr(model, "all_tied_weights_keys", {}).pop("lm_head.weight", None)
    head.weight = torch.nn.Parameter(torch.empty_like(embeddings.weight))
    # T5's own initialisation of an untied head (T5PreTrainedModel._init_weights).
    torch.nn.init.normal_(head.weight, mean=0.0, std=model.config.initializer_factor)


# --- Parameters: by formula and by count -------------------------------------------------------------


def parameter_formula(config: PretrainedConfig) -> dict[str, int]:
    """Parameters per component of the family's LM model (``FAMILY_CLASSES``), from the config alone."""
    formulas = {"roberta": _roberta_formula, "gpt2": _gpt2_formula, "t5": _t5_formula}
    family_of(config)  # a clear error for an unsupported model type
    if getattr(config, "add_cross_attention", False):
        raise ValueError(f"The formula covers {config.model_type} without add_cross_attention.")
    return dict.fromkeys(COMPONENTS, 0) | formulas[config.model_type](config)


def _roberta_formula(c: RobertaConfig) -> dict[str, int]:
    h, layers, vocab = c.hidden_size, c.num_hidden_layers, c.vocab_size
    return {
        "embeddings": (vocab + c.max_position_embeddings + c.type_vocab_size) * h,
        "attention": layers * 4 * (h * h + h),  # query, key, value, output: weights and biases
        "feed_forward": layers * (2 * h * c.intermediate_size + c.intermediate_size + h),
        "norms": (1 + 2 * layers) * 2 * h,  # after the embeddings, after attention and after the FFN
        # The MLM head: dense, layer norm and the output layer, whose matrix is the word embeddings if tied.
        # transformers ties the head's two bias vectors (lm_head.bias, decoder.bias) only together with the
        # embeddings, so an untied head holds both (forward uses decoder.bias).
        "head": h * h + h + 2 * h + (vocab if ties_embeddings(c) else vocab * h + 2 * vocab),
    }


def _gpt2_formula(c: GPT2Config) -> dict[str, int]:
    h, layers, vocab = c.n_embd, c.n_layer, c.vocab_size
    inner = c.n_inner or 4 * h
    return {
        "embeddings": (vocab + c.n_positions) * h,
        "attention": layers * (h * 3 * h + 3 * h + h * h + h),  # c_attn (q, k, v in one) and c_proj
        "feed_forward": layers * (2 * h * inner + inner + h),
        "norms": (2 * layers + 1) * 2 * h,  # ln_1, ln_2 per block and the final ln_f
        "head": 0 if ties_embeddings(c) else vocab * h,  # GPT-2's LM head has no bias
    }


def _t5_formula(c: T5Config) -> dict[str, int]:
    d, enc, dec = c.d_model, c.num_layers, c.num_decoder_layers
    qkvo = 4 * d * c.num_heads * c.d_kv  # no biases anywhere in T5
    relative_bias = c.relative_attention_num_buckets * c.num_heads  # first layer of each stack only
    ffn = (3 if c.is_gated_act else 2) * d * c.d_ff  # gated: wi_0, wi_1 and wo
    return {
        "embeddings": c.vocab_size * d,  # one matrix shared by encoder and decoder
        "attention": (enc + dec) * qkvo + 2 * relative_bias,
        "cross_attention": dec * qkvo,
        "feed_forward": (enc + dec) * ffn,
        # RMS norms (a scale, no bias): 2 per encoder block, 3 per decoder block, a final one per stack.
        "norms": (2 * enc + 1 + 3 * dec + 1) * d,
        "head": 0 if ties_embeddings(c) else c.vocab_size * d,
    }


# The first pattern that matches a parameter's name decides its component. Norms come before attention
# and feed-forward because RoBERTa keeps its norms inside "attention.output" and "output".
NAME_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (component, re.compile(pattern))
    for component, pattern in (
        ("head", r"^lm_head\.|(^|\.)pooler\."),
        (
            "embeddings",
            r"(^|\.)(word_embeddings|position_embeddings|token_type_embeddings|wte|wpe|shared|embed_tokens)\.",
        ),
        ("norms", r"(^|\.)(LayerNorm|layer_norm|final_layer_norm|ln_\d+|ln_f)\."),
        ("cross_attention", r"\.(EncDecAttention|crossattention)\."),
        ("attention", r"\.(attention|attn|SelfAttention)\."),
        ("feed_forward", r"\.(intermediate|output|mlp|DenseReluDense)\."),
    )
)


def component_of(name: str) -> str:
    """The component a parameter belongs to, read from its name; an unknown name is an error."""
    for component, pattern in NAME_RULES:
        if pattern.search(name):
            return component
    raise ValueError(f"Parameter {name!r} matches no component of {COMPONENTS}; add a rule to NAME_RULES.")


def parameter_count(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per component, counted from the model's tensors (a tied tensor once, under its first name)."""
    counts = dict.fromkeys(COMPONENTS, 0)
    for name, parameter in model.named_parameters(remove_duplicate=True):
        counts[component_of(name)] += parameter.numel()
    return counts


# --- Cross-attention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossAttention:
    """What the decoder attended to in the input while writing each output token.

    ``matrix`` is the mean over layers and heads, [output, input]: a mean of attention distributions is
    still one (each row sums to 1), and no single head or layer has to be picked as "the" alignment.
    ``per_layer_head`` [layers, heads, output, input] keeps each one's own map (the last layer alone:
    ``per_layer_head[-1].mean(0)``). Row ``t`` is the step that produced ``output_tokens[t]``.
    """

    input_tokens: list[str]
    output_tokens: list[str]
    matrix: np.ndarray
    per_layer_head: np.ndarray


@contextmanager
def eager_attention(model: PreTrainedModel) -> Iterator[None]:
    """Switch ``model`` to eager attention for the block: SDPA kernels return no attention weights."""
    before = model.config._attn_implementation
    if before != "eager":
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if before != "eager":
            model.set_attn_implementation(before)


def cross_attention(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str, *, max_new_tokens: int = 40
) -> CrossAttention:
    """Greedy generation from ``text`` (the whole prompt, e.g. ``instruction_prompt(dialogue)``) with the
    decoder's cross-attention recorded at each step."""
    if not model.config.is_encoder_decoder:
        raise ValueError(f"{type(model).__name__} has no encoder, so no cross-attention: use a T5 model.")
    if not text or not text.strip():
        raise ValueError("Cannot show cross-attention for an empty text.")
    inputs = tokenizer(text, return_tensors="pt").to(model.device)
    n_input = inputs["input_ids"].shape[1]
    if n_input > tokenizer.model_max_length:
        raise ValueError(f"The text is {n_input} tokens, more than the context of {tokenizer.model_max_length}.")
    with eager_attention(model):
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            output_attentions=True,
            return_dict_in_generate=True,
        )
    # cross_attentions: per step, per layer, [batch, heads, 1, input] (the cache feeds one query a step).
    steps = torch.stack([torch.stack(layers)[:, 0, :, -1, :] for layers in out.cross_attentions], dim=2)
    per_layer_head = steps.float().cpu().numpy()  # [layers, heads, output, input]
    produced = out.sequences[0, 1 : 1 + per_layer_head.shape[2]]  # after the decoder start token
    return CrossAttention(
        input_tokens=tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist()),
        output_tokens=tokenizer.convert_ids_to_tokens(produced.tolist()),
        matrix=per_layer_head.mean(axis=(0, 1)),
        per_layer_head=per_layer_head,
    )


def _is_copied_word(token: str, input_tokens: Sequence[str]) -> bool:
    word = token.strip("▁")
    return token in input_tokens and word.isalpha() and len(word) > 2  # names, days, items; not "a", "."


def copy_attention(attentions: Sequence[CrossAttention]) -> dict[str, float]:
    """How much of its cross-attention the decoder puts on a word while copying it from the input.

    Over every written word (three letters or more) that also occurs in the prompt: ``mass``, the mean
    attention on that word's input positions; ``uniform``, the same for attention spread evenly (its
    occurrences over the prompt's length); ``lift``, their ratio; ``argmax_share``, how often the most
    attended input token is that word. Attention maps are not explanations: this measures how far they
    look like an alignment.
    """
    mass, uniform, top, n = 0.0, 0.0, 0, 0
    for attention in attentions:
        inputs = attention.input_tokens
        for row, token in zip(attention.matrix, attention.output_tokens):
            if not _is_copied_word(token, inputs):
                continue
            where = [i for i, t in enumerate(inputs) if t == token]
            mass += float(row[where].sum())
            uniform += len(where) / len(inputs)
            top += inputs[int(row.argmax())] == token
            n += 1
    if n == 0:
        raise ValueError("No written word occurs in its prompt: nothing was copied to measure.")
    return {"words": n, "mass": mass / n, "uniform": uniform / n, "lift": mass / uniform, "argmax_share": top / n}
