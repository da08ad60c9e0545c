"""The three transformer families: configs, parameters by formula and by count, cross-attention, figures."""

import json

import matplotlib
import numpy as np
import pytest
import torch
from datasets import load_from_disk
from transformers import AutoModelForSeq2SeqLM, BertConfig, T5ForConditionalGeneration

from genai_course import architectures as arch
from genai_course.models import load_tokenizer
from genai_course.plots import architectures as plots
from genai_course.prompting import instruction_prompt

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

# Published totals: roberta-base's MLM model, gpt2 (124M) and google/flan-t5-base.
REAL_TOTALS = {"encoder-only": 124_697_433, "decoder-only": 124_439_808, "encoder-decoder": 247_577_856}


@pytest.fixture(scope="module")
def tokenizer(tiny_world):
    return load_tokenizer(str(tiny_world.tokenizer))


@pytest.fixture(scope="module")
def real_models():
    with torch.device("meta"):  # real shapes, no memory
        return arch.build_family_models(arch.real_family_configs())


@pytest.fixture(scope="module")
def summarizer(tiny_world):
    return AutoModelForSeq2SeqLM.from_pretrained(tiny_world.finetuned_summarizer)


@pytest.fixture(scope="module")
def dialogue(tiny_world):
    return load_from_disk(str(tiny_world.corpus))["test"][0]["dialogue"]


def unique_numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def assert_formula_matches_count(model):
    formula, count = arch.parameter_formula(model.config), arch.parameter_count(model)
    assert formula == count, {k: (formula[k], count[k]) for k in formula if formula[k] != count[k]}
    assert sum(count.values()) == unique_numel(model)


# ---- configs and models ---------------------------------------------------------------------------------


def test_one_tokenizer_for_all_three_with_a_mask_added_to_a_copy(tokenizer):
    extended = arch.family_tokenizer(tokenizer)
    assert tokenizer.mask_token is None, "the caller's tokenizer is untouched"
    assert extended.mask_token == "<mask>" and extended.mask_token_id == len(tokenizer) == len(extended) - 1
    text = "#Person1#: Are you coming to Mike's party?"
    assert extended(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert arch.family_tokenizer(extended) is extended
    configs = arch.tiny_family_configs(tokenizer)
    assert {c.vocab_size for c in configs.values()} == {len(extended)}


def test_the_tiny_encoder_decoder_is_the_tiny_worlds_t5(tokenizer, tiny_world):
    t5 = arch.tiny_family_configs(tokenizer)["encoder-decoder"].to_dict()
    world = json.loads((tiny_world.summarizer / "config.json").read_text())
    for key in ("d_model", "d_ff", "d_kv", "num_layers", "num_decoder_layers", "num_heads", "feed_forward_proj"):
        assert t5[key] == world[key], key
    assert t5["relative_attention_num_buckets"] == world["relative_attention_num_buckets"]
    assert t5["vocab_size"] == world["vocab_size"] + 1  # the <mask> row


def test_tiny_sizes_follow_the_arguments(tokenizer):
    configs = arch.tiny_family_configs(tokenizer, d_model=64, num_layers=2, num_heads=2, d_ff=128, max_positions=64)
    roberta, gpt2, t5 = (configs[f] for f in arch.FAMILIES)
    assert (roberta.hidden_size, roberta.num_hidden_layers, roberta.intermediate_size) == (64, 2, 128)
    assert roberta.max_position_embeddings == 64 + tokenizer.pad_token_id + 1  # RoBERTa's offset positions
    assert (gpt2.n_embd, gpt2.n_layer, gpt2.n_inner, gpt2.n_positions) == (64, 2, 128, 64)
    assert (t5.d_model, t5.num_layers, t5.num_decoder_layers, t5.d_kv) == (64, 2, 2, 32)
    with pytest.raises(ValueError, match="divisible"):
        arch.tiny_family_configs(tokenizer, d_model=100, num_heads=3)


def test_models_are_seeded_and_configs_checked(tokenizer):
    configs = arch.tiny_family_configs(tokenizer, d_model=32, num_layers=1, num_heads=2, d_ff=64)
    a, b = arch.build_family_models(configs, seed=3), arch.build_family_models(configs, seed=3)
    c = arch.build_family_models(configs, seed=4)
    for name in arch.FAMILIES:
        first, second, other = (m[name].get_input_embeddings().weight for m in (a, b, c))
        assert torch.equal(first, second) and not torch.equal(first, other)
    with pytest.raises(ValueError, match="takes a GPT2Config"):
        arch.build_family_models({"decoder-only": configs["encoder-only"]})
    with pytest.raises(ValueError, match="Unknown family"):
        arch.build_family_models({"decoder": configs["decoder-only"]})


# ---- parameters: formula == count ----------------------------------------------------------------------


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_tiny_families_formula_equals_count(tokenizer, tie):
    models = arch.build_family_models(arch.tiny_family_configs(tokenizer, tie_embeddings=tie))
    assert tuple(models) == arch.FAMILIES
    for name, model in models.items():
        assert isinstance(model, arch.FAMILY_CLASSES[name].model_class)
        assert_formula_matches_count(model)
        counts = arch.parameter_count(model)
        assert (counts["cross_attention"] > 0) == (name == "encoder-decoder")
        assert (counts["head"] == 0) == (tie and name != "encoder-only")  # RoBERTa's MLM head has its own layers


def test_real_families_formula_equals_count_and_the_published_totals(real_models):
    for name, model in real_models.items():
        assert next(model.parameters()).device.type == "meta"
        assert_formula_matches_count(model)
        assert sum(arch.parameter_formula(model.config).values()) == REAL_TOTALS[name], name
    flan = real_models["encoder-decoder"]
    assert arch.parameter_count(flan)["head"] == 32128 * 768  # FLAN-T5's LM head is not the embedding matrix


def test_t5_tied_and_untied_differ_by_the_lm_head_only(tokenizer, tmp_path):
    tied, untied = (
        arch.build_family_models(
            {"encoder-decoder": arch.tiny_family_configs(tokenizer, tie_embeddings=t)["encoder-decoder"]}
        )["encoder-decoder"]
        for t in (True, False)
    )
    assert tied.lm_head.weight is tied.shared.weight
    assert untied.lm_head.weight is not untied.shared.weight
    untied.save_pretrained(tmp_path)
    reloaded = T5ForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.lm_head.weight is not reloaded.shared.weight, "a save and load keeps the head apart"
    assert torch.equal(reloaded.lm_head.weight, untied.lm_head.weight)
    assert_formula_matches_count(untied)
    before, after = arch.parameter_count(tied), arch.parameter_count(untied)
    difference = {k: after[k] - before[k] for k in arch.COMPONENTS}
    assert difference == dict.fromkeys(arch.COMPONENTS, 0) | {"head": (len(tokenizer) + 1) * 128}


def test_unclassified_parameters_and_unknown_configs_are_errors(tokenizer):
    model = arch.build_family_models(arch.tiny_family_configs(tokenizer, d_model=32, num_layers=1, num_heads=2))[
        "decoder-only"
    ]
    model.adapter = torch.nn.Linear(2, 2)  # a parameter no rule knows
    with pytest.raises(ValueError, match="adapter.weight"):
        arch.parameter_count(model)
    with pytest.raises(ValueError, match="No family for model type 'bert'"):
        arch.parameter_formula(BertConfig())


# ---- cross-attention -----------------------------------------------------------------------------------


def test_cross_attention_on_the_fine_tuned_summarizer(summarizer, tokenizer, dialogue):
    prompt = instruction_prompt(dialogue)
    before = summarizer.config._attn_implementation
    attention = arch.cross_attention(summarizer, tokenizer, prompt, max_new_tokens=40)
    assert summarizer.config._attn_implementation == before
    n_in = len(tokenizer(prompt)["input_ids"])
    assert attention.input_tokens == tokenizer.convert_ids_to_tokens(tokenizer(prompt)["input_ids"])
    assert 3 <= len(attention.output_tokens) <= 40
    assert attention.matrix.shape == (len(attention.output_tokens), n_in)
    np.testing.assert_allclose(attention.matrix.sum(axis=1), 1.0, atol=1e-4)
    n_layers, n_heads = summarizer.config.num_decoder_layers, summarizer.config.num_heads
    assert attention.per_layer_head.shape == (n_layers, n_heads, *attention.matrix.shape)
    # The tokens are the summary greedy decoding writes.
    greedy = summarizer.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=40, do_sample=False)
    assert (
        tokenizer.convert_tokens_to_string(attention.output_tokens).strip()
        == tokenizer.decode(greedy[0], skip_special_tokens=False).replace("<pad>", "").strip()
    )


def test_cross_attention_needs_an_encoder(tokenizer):
    gpt2 = arch.build_family_models(arch.tiny_family_configs(tokenizer, d_model=32, num_layers=1, num_heads=2))[
        "decoder-only"
    ]
    with pytest.raises(ValueError, match="no encoder"):
        arch.cross_attention(gpt2, tokenizer, "Hello.")


# ---- figures -------------------------------------------------------------------------------------------


def test_parameter_breakdown_has_one_stacked_bar_per_family(real_models):
    counts = {name: arch.parameter_count(model) for name, model in real_models.items()}
    fig = plots.plot_parameter_breakdown(counts)
    ax = fig.axes[0]
    assert len(ax.containers) == len(arch.COMPONENTS)
    assert all(len(bars) == len(arch.FAMILIES) for bars in ax.containers)
    heights = np.array([[bar.get_height() for bar in bars] for bars in ax.containers])
    np.testing.assert_allclose(heights.sum(axis=0), 100.0)  # shares of each family's total
    assert [t.get_text() for t in ax.get_xticklabels()][1] == "decoder-only\n124.4M"
    with pytest.raises(ValueError, match="No parameter counts"):
        plots.plot_parameter_breakdown({})


def test_cross_attention_heatmap_labels_every_token():
    attention = arch.CrossAttention(
        input_tokens=["▁Hi", "▁there", "</s>"],
        output_tokens=["▁Hello", "</s>"],
        matrix=np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]),
        per_layer_head=np.zeros((1, 1, 2, 3)),
    )
    fig = plots.plot_cross_attention(attention)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (2, 3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Hi", "there", "</s>"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Hello", "</s>"]
    broken = arch.CrossAttention(["a"], ["b"], np.zeros((2, 2)), np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="output and"):
        plots.plot_cross_attention(broken)


def test_copy_attention_measures_attention_on_the_copied_word_against_even_attention():
    inputs = ["▁Mike", "▁has", "▁a", "▁party", "."]
    matrix = np.array(
        [
            [0.6, 0.1, 0.1, 0.1, 0.1],  # writing "Mike": most on "Mike"
            [0.1, 0.1, 0.1, 0.1, 0.6],  # writing "party": most on "." (not an alignment)
            [0.2, 0.2, 0.2, 0.2, 0.2],  # writing "a": too short to count
        ]
    )
    attention = arch.CrossAttention(inputs, ["▁Mike", "▁party", "▁a"], matrix, matrix[None, None])
    measured = arch.copy_attention([attention])
    assert measured["words"] == 2 and measured["argmax_share"] == 0.5
    assert measured["mass"] == pytest.approx(0.35) and measured["uniform"] == pytest.approx(0.2)
    assert measured["lift"] == pytest.approx(1.75)
    with pytest.raises(ValueError, match="nothing was copied"):
        arch.copy_attention([arch.CrossAttention(inputs, ["▁Anna"], matrix[:1], matrix[None, None, :1])])
