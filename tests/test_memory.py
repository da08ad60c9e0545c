"""The memory rule of thumb (memory.py), its activation estimate, and measured footprints on a small T5."""

import matplotlib
import pytest
import torch
from transformers import T5Config

from genai_course import memory as mem
from genai_course import memory_measure as measure
from genai_course.cost import training_state_estimate_mb
from genai_course.plots.memory import plot_memory

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")


def small_config(dropout_rate: float = 0.1, **sizes) -> T5Config:
    shape = dict(vocab_size=8000, d_model=256, d_kv=32, d_ff=1024, num_layers=3, num_decoder_layers=3, num_heads=8)
    return T5Config(
        **(shape | sizes),
        feed_forward_proj="gated-gelu",
        dropout_rate=dropout_rate,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )


def test_one_billion_parameters_as_the_course_says():
    hold = mem.memory_estimate(1e9)
    assert hold.weights == hold.total == 4_000_000_000
    train = mem.memory_estimate(1e9, training=True, activations_bytes="course")
    assert (train.gradients, train.optimizer, train.activations) == (4e9, 8e9, 8e9)
    assert train.total == 24_000_000_000 and train.bytes_per_param == 24
    assert train.total == train.weights + train.gradients + train.optimizer + train.activations
    assert "24 GB" in train.describe() and "to train" in train.describe()
    assert train.as_dict()["total"] == train.total


def test_smaller_dtypes_halve_and_quarter_the_weights():
    fp32 = mem.memory_estimate(1e9).weights
    assert mem.memory_estimate(1e9, dtype="bf16").weights * 2 == fp32
    assert mem.memory_estimate(1e9, dtype=torch.float16).weights * 2 == fp32
    assert mem.memory_estimate(1e9, dtype="int8").weights * 4 == fp32
    assert mem.memory_estimate(1e9, dtype="int4").weights * 8 == fp32


def test_seven_billion_in_bf16_for_inference_and_full_training():
    assert mem.memory_estimate(7e9, dtype="bfloat16").total == 14e9
    train = mem.memory_estimate(7e9, dtype="bfloat16", training=True)
    assert train.total == 56e9  # weights 2 + gradients 2 + two moments 4 bytes, as torch's AdamW keeps them
    mixed = mem.memory_estimate(7e9, dtype="bfloat16", training=True, mixed_precision=True)
    assert mixed.total == 7e9 * 16  # + a float32 master copy and float32 moments
    qlora = mem.memory_estimate(7e9, dtype="int4") + mem.memory_estimate(40e6, dtype="bf16", training=True)
    assert qlora.total == 3.5e9 + 40e6 * 8 and qlora.dtype == "int4+bfloat16"


def test_lora_trains_a_fraction():
    lora = mem.memory_estimate(1e9, training=True, trainable=1e7)
    assert lora.weights == 4e9 and lora.gradients == 4e7 and lora.optimizer == 8e7


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"dtype": "float8"}, "Unknown dtype"),
        ({"dtype": "int8", "training": True}, "cannot be trained"),
        ({"trainable": 2e9}, "cannot exceed"),
        ({"activations_bytes": "lots"}, "'course'"),
    ],
)
def test_bad_input_is_named(kwargs, words):
    with pytest.raises(ValueError, match=words):
        mem.memory_estimate(1e9, **kwargs)
    with pytest.raises(ValueError, match="non-negative"):
        mem.memory_estimate(-1)


def test_formula_agrees_with_lab2s_training_state_estimate():
    model = measure.config_factory(small_config(num_layers=1, num_decoder_layers=1))(torch.float32)
    n = sum(p.numel() for p in model.parameters())
    ours = mem.memory_estimate(n, training=True)
    lab2 = training_state_estimate_mb(model)
    assert ours.weights / 2**20 == pytest.approx(lab2["weights"])
    assert ours.optimizer / 2**20 == pytest.approx(lab2["optimizer"])


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_activation_estimate_matches_what_autograd_saves(dropout):
    config = small_config(dropout, vocab_size=500, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2)
    model = measure.config_factory(config)(torch.float32).train()
    batch = measure.dummy_batch(config, batch_size=2, source_len=24, target_len=8)
    measured = mem.saved_activation_bytes(model, batch)
    assert mem.activation_bytes(config, 2, 24, 8) == pytest.approx(measured, rel=0.03)
    assert mem.activation_bytes(config, 2, 24, 8, training=False) == 0
    with pytest.raises(ValueError, match="T5"):
        mem.activation_bytes(type("C", (), {"model_type": "gpt2"})(), 2, 24)


def test_measured_weights_and_training_follow_the_formula():
    config = small_config()
    factory, batch = (
        measure.config_factory(config),
        measure.dummy_batch(config, batch_size=2, source_len=32, target_len=8),
    )
    fp32 = measure.measure_inference(factory, "float32", batch, model_name="small", device="cpu")
    assert fp32.formula.weights > 30 * 2**20  # big enough for the resident set to resolve it
    assert fp32.weights_ratio == pytest.approx(1.0, abs=0.2)
    bf16 = measure.measure_inference(factory, "bf16", batch, device="cpu")
    assert bf16.formula.weights * 2 == fp32.formula.weights
    full = measure.measure_training(factory, batch, "full", device="cpu")
    assert full.extra["state_mb"]["optimizer"] == pytest.approx(full.formula.optimizer / 2**20)
    assert full.peak_ratio == pytest.approx(1.0, abs=0.2)
    lora = measure.measure_training(factory, batch, "lora", device="cpu")
    assert lora.trainable < full.trainable / 20 and lora.peak_bytes < full.peak_bytes
    table = measure.footprint_table([fp32, bf16, full, lora])
    assert [row["case"] for row in table] == [
        "inference float32",
        "inference bfloat16",
        "training full",
        "training lora",
    ]
    assert "| small | inference float32 |" in measure.format_footprint_table([fp32])
    fig = plot_memory(table)
    assert len(fig.axes[0].patches) == 8
    # The measured cases themselves plot the same bars as their table.
    bars = [p.get_height() for p in plot_memory([fp32, bf16, full, lora]).axes[0].patches]
    assert bars == [p.get_height() for p in fig.axes[0].patches]
    with pytest.raises(ValueError, match="method"):
        measure.measure_training(factory, batch, "qlora", device="cpu")
