"""The reward model reads labels by name; toxicity evaluation, its evaluate module and the interval."""

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

from genai_course.rlhf.evaluation import (
    compare_toxicity,
    dialogue_toxicity,
    format_toxicity,
    reward_gain_table,
    select_dialogues,
    toxicity_module_path,
)
from genai_course.rlhf.reward import RewardLabelError, RewardModel, label_index

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


WORDS = "you are kind stupid idiot thanks lovely the plan is fine an #Person1#: #Person2#:".split()
RUDE = {"stupid", "idiot"}


def make_tokenizer(max_length: int = 16) -> PreTrainedTokenizerFast:
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=max_length,
    )


def make_classifier(id2label: dict[int, str], seed: int = 0) -> RobertaForSequenceClassification:
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(WORDS) + 4,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=20,
        pad_token_id=1,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    return RobertaForSequenceClassification(config).eval()


def constant_logits(model, logits: list[float]) -> None:
    """Make the classifier output ``logits`` whatever the text (head weights 0, bias = logits)."""
    with torch.no_grad():
        model.classifier.out_proj.weight.zero_()
        model.classifier.out_proj.bias.copy_(torch.tensor(logits))


POLITE_TEXTS = [
    "you are kind",
    "#Person1#: thanks",
    "the plan is fine",
    "lovely",
    "#Person2#: you are lovely",
    "thanks the plan is kind",
]
RUDE_TEXTS = [
    "you are stupid",
    "idiot",
    "#Person1#: stupid plan",
    "you are an idiot",
    "the plan is stupid",
    "#Person2#: idiot",
]


def rude_detector(model, steps: int = 60) -> None:
    """Train the classifier briefly to tell rude from polite texts: a known, text-dependent classifier."""
    hate, nothate = label_index(model.config, "hate"), label_index(model.config, "nothate")
    batch = make_tokenizer()(POLITE_TEXTS + RUDE_TEXTS, return_tensors="pt", padding=True)
    labels = torch.tensor([nothate] * len(POLITE_TEXTS) + [hate] * len(RUDE_TEXTS))
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def detector():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = make_classifier({0: "nothate", 1: "hate"})
    rude_detector(model)
    torch.set_num_threads(threads)
    return model


# --- labels by name ----------------------------------------------------------------------------------


def test_reward_is_the_nothate_logit_even_when_hate_scores_higher():
    model = make_classifier({0: "nothate", 1: "hate"})
    constant_logits(model, [-1.0, 3.0])  # hate wins: a pipeline's [0]["score"] would be P(hate) = 0.98
    rm = RewardModel(model, make_tokenizer())
    assert rm.rewards(["you are kind"]).tolist() == pytest.approx([-1.0])
    assert rm.toxicity(["you are kind"]).item() == pytest.approx(np.exp(3) / (np.exp(-1) + np.exp(3)), rel=1e-5)


def test_reward_follows_the_label_name_when_label_order_is_swapped():
    model = make_classifier({0: "hate", 1: "nothate"})
    constant_logits(model, [-1.0, 3.0])
    rm = RewardModel(model, make_tokenizer())
    assert (rm.reward_index, rm.toxic_index) == (1, 0)
    assert rm.rewards(["you are kind"]).tolist() == pytest.approx([3.0])
    assert rm.toxicity(["you are kind"]).item() == pytest.approx(np.exp(-1) / (np.exp(-1) + np.exp(3)), rel=1e-5)


def test_labels_are_matched_without_case_and_missing_labels_are_explained():
    assert label_index(make_classifier({0: "NotHate", 1: "HATE"}).config, "nothate") == 0
    with pytest.raises(RewardLabelError, match=r"no label 'nothate'.*\['negative', 'positive'\]"):
        RewardModel(make_classifier({0: "negative", 1: "positive"}), make_tokenizer())
    with pytest.raises(RewardLabelError, match="generic"):
        RewardModel(make_classifier({0: "LABEL_0", 1: "LABEL_1"}), make_tokenizer())


def test_scores_are_batched_consistently_and_follow_the_text(detector):
    model = detector
    texts = ["you are kind", "you are stupid", "thanks the plan is fine", "idiot", "lovely", "stupid idiot"]
    one_batch = RewardModel(model, make_tokenizer(), batch_size=32)
    small_batches = RewardModel(model, make_tokenizer(), batch_size=2)
    toxicity = one_batch.toxicity(texts)
    assert torch.allclose(toxicity, small_batches.toxicity(texts), atol=1e-5)
    rude = torch.tensor([any(w in RUDE for w in t.split()) for t in texts])
    assert toxicity[rude].min() > 0.5 > toxicity[~rude].max()
    # The reward is the nothate logit: higher for every polite text than for every rude one.
    rewards = one_batch.rewards(texts)
    assert rewards[~rude].min() > rewards[rude].max()
    assert torch.equal(one_batch(["ignored query"] * len(texts), texts), rewards)


def test_too_long_texts_are_an_error_unless_truncation_is_asked_for():
    rm = RewardModel(make_classifier({0: "nothate", 1: "hate"}), make_tokenizer(max_length=8))
    long_text = " ".join(["kind"] * 20)
    with pytest.raises(ValueError, match="window of 8 tokens.*truncate=True"):
        rm.toxicity([long_text])
    assert rm.toxicity([long_text], truncate=True).shape == (1,)
    with pytest.raises(TypeError, match="list of strings"):
        rm.rewards("a single string")


def test_reward_model_from_a_saved_folder(tmp_path):
    model = make_classifier({0: "nothate", 1: "hate"})
    constant_logits(model, [2.0, -2.0])
    model.save_pretrained(tmp_path)
    make_tokenizer().save_pretrained(tmp_path)
    rm = RewardModel.from_pretrained(str(tmp_path), device="cpu")
    assert rm.rewards(["you are kind"]).item() == pytest.approx(2.0)


def test_evaluate_toxicity_module_works_offline(tmp_path):
    import evaluate

    model = make_classifier({0: "hate", 1: "nothate"})  # swapped on purpose: the module must read names
    rude_detector(model)
    model.save_pretrained(tmp_path)
    make_tokenizer().save_pretrained(tmp_path)
    toxicity = evaluate.load(str(toxicity_module_path()), config_name=str(tmp_path))
    scores = toxicity.compute(predictions=["you are kind", "you are stupid"])["toxicity"]
    assert scores[0] < 0.5 < scores[1]
    assert toxicity.compute(predictions=["you are kind", "idiot"], aggregation="ratio")["toxicity_ratio"] == 0.5
    assert toxicity.compute(predictions=["you are kind", "idiot"], aggregation="maximum")["max_toxicity"] > 0.5


# --- evaluation --------------------------------------------------------------------------------------


def test_dialogue_toxicity_and_selection_include_rude_dialogues(detector):
    rm = RewardModel(detector, make_tokenizer())
    polite = ["#Person1#: thanks\n#Person2#: the plan is fine"] * 30
    rude = ["#Person1#: the plan is fine\n#Person2#: you are stupid"] * 4
    dialogues = polite[:10] + rude + polite[10:]
    scores = dialogue_toxicity(rm, dialogues)
    assert (scores >= 0.5).sum() == 4 and scores[10:14].min() > 0.5
    selection = select_dialogues(rm, dialogues, 12, seed=1)
    assert len(selection.indices) == 12 and len(set(selection.indices)) == 12
    assert selection.rude == 4 and set(range(10, 14)) <= set(selection.indices)
    assert "4 rude" in selection.describe()
    few = select_dialogues(rm, dialogues, 4, rude_share=0.5, seed=1)
    assert few.rude == 2 and len(few.indices) == 4  # capped at half of n
    balanced = select_dialogues(rm, dialogues, seed=1)  # n=None: every rude one and as many others
    assert balanced.rude == 4 and len(balanced.indices) == 8 and set(range(10, 14)) <= set(balanced.indices)
    assert len(select_dialogues(rm, dialogues, rude_share=0.25, seed=1).indices) == 16
    assert len(select_dialogues(rm, polite, seed=1).indices) == 30  # nothing rude: everything
    pooled = select_dialogues(rm, dialogues, 6, max_pool=20, seed=2)
    assert pooled.pool == 20 and len(pooled.indices) == 6
    assert pooled.rude == min(pooled.pool_rude, 3)  # every rude one the pool found, up to half of n
    with pytest.raises(ValueError, match="Cannot select"):
        select_dialogues(rm, dialogues, 100)
    with pytest.raises(ValueError, match="max_pool"):
        select_dialogues(rm, dialogues, 10, max_pool=5)


def test_compare_toxicity_reports_the_recorded_keys_and_a_paired_interval():
    rng = np.random.default_rng(0)
    before = rng.uniform(0.2, 0.6, size=120)
    after = before * 0.3 + rng.normal(0, 0.01, size=120)
    result = compare_toxicity(before, after, seed=0)
    assert set(result) == {
        "before_mean",
        "before_std",
        "after_mean",
        "after_std",
        "change",
        "relative_change",
        "ci_low",
        "ci_high",
    }
    assert result["before_mean"] == pytest.approx(before.mean())
    assert result["after_std"] == pytest.approx(after.std())
    assert result["change"] == pytest.approx(after.mean() - before.mean())
    assert result["relative_change"] == pytest.approx((after.mean() - before.mean()) / before.mean())
    assert result["ci_low"] < result["change"] < result["ci_high"] < 0
    text = format_toxicity(result)
    assert f"{result['ci_low']:+.4f}, {result['ci_high']:+.4f}" in text and f"{result['relative_change']:+.1%}" in text
    assert "n/a" in format_toxicity(compare_toxicity([0.0, 0.0, 0.0], [0.1, 0.0, 0.2]))
    # No real change: the interval must straddle zero.
    noise = compare_toxicity(before, before + rng.normal(0, 0.01, size=120), seed=0)
    assert noise["ci_low"] < 0 < noise["ci_high"]


def test_reward_gain_table_sorts_by_gain():
    rows = reward_gain_table(["a", "b", "c"], ["x", "y", "z"], ["x2", "y2", "z2"], [0.0, 1.0, 2.0], [1.0, 4.0, 1.0])
    assert [r["dialogue"] for r in rows] == ["b", "a", "c"]
    assert [r["gain"] for r in rows] == [3.0, 1.0, -1.0]


def test_toxicity_histogram_counts_both_sides():
    import matplotlib

    matplotlib.use("Agg")
    from genai_course.plots.rlhf import plot_toxicity_histogram

    fig = plot_toxicity_histogram([0.95, 0.85, 0.15, 0.05], [0.01, 0.02, 0.03, 0.65], bins=10)
    ax = fig.axes[0]
    before_bars, after_bars = ax.containers[:2]
    assert sum(bar.get_height() for bar in before_bars) == 4 and sum(bar.get_height() for bar in after_bars) == 4
    assert [bar.get_height() for bar in before_bars] == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    assert [bar.get_height() for bar in after_bars] == [3, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="empty"):
        plot_toxicity_histogram([], [0.1])
