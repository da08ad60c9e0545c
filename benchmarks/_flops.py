"""FLOPs and weight bytes of T5 generation, counted from the config, for roofline comparisons.

Counted: every matmul of the real (unpadded) tokens, 2 FLOPs per multiply-add. The encoder runs once per
prompt; the decoder runs once per generated token, its cross-attention keys and values once per prompt;
attention scores and their weighted sums grow with the lengths. Layer norms, softmax and the like are
left out (under 1% at these sizes). A decode step of a batch reads the decoder's weights (all but the
cross-attention key and value projections) and the output head once: at small batches that, not the
FLOPs, bounds its time.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import T5Config


def _ff_weights(config: T5Config) -> int:
    matrices = 3 if config.is_gated_act else 2  # gated-GELU: wi_0, wi_1 and wo
    return matrices * config.d_model * config.d_ff


def _attention_weights(config: T5Config) -> int:
    return 4 * config.d_model * config.num_heads * config.d_kv  # q, k, v, o


def encoder_flops(config: T5Config, n: int) -> float:
    """One prompt of ``n`` tokens through the encoder."""
    inner = config.num_heads * config.d_kv
    per_layer = 2 * n * (_attention_weights(config) + _ff_weights(config)) + 4 * n * n * inner
    return config.num_layers * per_layer


def decoder_flops(config: T5Config, n_source: int, new_tokens: int) -> float:
    """``new_tokens`` greedy steps of one prompt whose encoder output has ``n_source`` tokens."""
    d, inner, layers = config.d_model, config.num_heads * config.d_kv, config.num_decoder_layers
    cross_kv = layers * 2 * n_source * 2 * d * inner  # once per prompt
    per_token_weights = 2 * (_attention_weights(config) + 2 * d * inner + _ff_weights(config))  # self, cross q/o, ff
    total = cross_kv
    for t in range(1, new_tokens + 1):
        attention = 4 * inner * (t + n_source)  # self-attention over t, cross-attention over the source
        total += layers * (per_token_weights + attention) + 2 * d * config.vocab_size
    return total


def generation_flops(config: T5Config, prompt_lengths: Sequence[int], new_tokens: int) -> dict[str, float]:
    encoder = sum(encoder_flops(config, n) for n in prompt_lengths)
    decoder = sum(decoder_flops(config, n, new_tokens) for n in prompt_lengths)
    return {"encoder": encoder, "decoder": decoder, "total": encoder + decoder}


def decoder_weight_bytes(config: T5Config, bytes_per_weight: int = 4) -> float:
    """What one decode step reads: the decoder's weights and the output head, less the cross-attention
    key and value projections (applied once per prompt, their results cached)."""
    d, inner = config.d_model, config.num_heads * config.d_kv
    per_layer = _attention_weights(config) + 2 * d * inner + _ff_weights(config)  # self q/k/v/o, cross q/o, ff
    return bytes_per_weight * (config.num_decoder_layers * per_layer + d * config.vocab_size)


def cross_attention_bytes(config: T5Config, prompt_lengths: Sequence[int], bytes_per_value: int = 4) -> float:
    """What one decode step of a batch reads from the cross-attention cache: every layer's keys and values
    of every real source token (the roofline above leaves these reads out)."""
    inner = config.num_heads * config.d_kv
    return bytes_per_value * config.num_decoder_layers * 2 * inner * sum(prompt_lengths)


def roofline_seconds(
    config: T5Config,
    prompt_lengths: Sequence[int],
    new_tokens: int,
    *,
    peak_flops: float,
    bandwidth: float,
    decode_steps: int,
    bytes_per_weight: int = 4,
) -> dict[str, float]:
    """The fastest this machine could do it: the FLOPs at the matmul peak, plus ``decode_steps`` reads of
    the decoder's weights at the measured bandwidth (one per step of each batch)."""
    flops = generation_flops(config, prompt_lengths, new_tokens)
    compute = flops["total"] / peak_flops
    memory = decode_steps * decoder_weight_bytes(config, bytes_per_weight) / bandwidth
    return {"flops": flops["total"], "compute_s": compute, "weights_s": memory, "total_s": compute + memory}
