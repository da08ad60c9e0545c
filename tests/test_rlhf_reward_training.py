"""Reward-model training with trl's RewardTrainer on the tiny world: it learns the preference, is seeded,
starts where asked, degrades with label noise, and is compared with the hate-speech classifier."""

import pytest
import torch
from datasets import Dataset
from transformers import RobertaForSequenceClassification
from trl import RewardConfig

from genai_course.plots.preferences import plot_noise_curve
from genai_course.rlhf.preferences import PreferenceDataError, preference_splits
from genai_course.rlhf.reward import RewardModel
from genai_course.rlhf.reward_training import (
    RewardTrainingConfig,
    classifier_agreement,
    noise_curve,
    pairwise_accuracy,
    reward_model_from_classifier,
    reward_scores,
    train_reward_model,
)
from genai_course.tiny.recipe import Recipe

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

FAST = {"threads": 1}


@pytest.fixture(scope="module")
def splits():
    return preference_splits(Recipe(), train_dialogues=60, held_out_dialogues=100)


@pytest.fixture(scope="module")
def trained(tiny_world, splits):
    return train_reward_model(tiny_world.classifier, splits["train"], RewardTrainingConfig(**FAST))


def test_config_is_trls_reward_config_with_course_defaults():
    config = RewardTrainingConfig()
    assert isinstance(config, RewardConfig)
    assert config.report_to in ("none", ["none"], [])
    assert config.save_strategy == "no" and config.bf16 is False and config.gradient_checkpointing is False
    with pytest.raises(ValueError, match="init must be one of"):
        RewardTrainingConfig(init="pretrained")
    with pytest.raises(ValueError, match="threads"):
        RewardTrainingConfig(threads=0)


def test_reward_model_takes_the_classifiers_shape_and_starts_where_asked(tiny_world):
    classifier = RobertaForSequenceClassification.from_pretrained(tiny_world.classifier)
    scratch = reward_model_from_classifier(tiny_world.classifier, seed=0)
    body = reward_model_from_classifier(tiny_world.classifier, init="classifier_body")
    assert scratch.config.num_labels == body.config.num_labels == 1
    assert scratch.config.hidden_size == classifier.config.hidden_size
    assert scratch.config.num_hidden_layers == classifier.config.num_hidden_layers
    embeddings = classifier.roberta.embeddings.word_embeddings.weight
    assert torch.equal(body.roberta.embeddings.word_embeddings.weight, embeddings)
    assert not torch.equal(scratch.roberta.embeddings.word_embeddings.weight, embeddings)
    again = reward_model_from_classifier(tiny_world.classifier, seed=0)
    assert torch.equal(again.classifier.out_proj.weight, scratch.classifier.out_proj.weight)


def test_training_learns_the_preference_on_held_out_dialogues(trained, splits):
    result = pairwise_accuracy(trained, splits["held_out"])
    assert result["pairs"] == 200
    assert result["accuracy"] >= 0.9 and result["accuracy_insult_swap"] >= 0.85
    assert result["ci_low"] <= result["accuracy"] <= result["ci_high"]
    assert result["mean_margin"] > 0
    assert trained.losses and all("loss" in entry for entry in trained.losses)
    assert trained.flip_share == 0.0 and trained.seconds > 0
    # As PPO's reward_fn: one score per response, the query ignored.
    scores = trained(["q1", "q2"], splits["held_out"]["chosen"][:2])
    assert scores.shape == (2,) and torch.equal(scores, trained.rewards(splits["held_out"]["chosen"][:2]))


def test_training_is_seeded(tiny_world, splits, trained):
    again = train_reward_model(tiny_world.classifier, splits["train"], RewardTrainingConfig(**FAST))
    texts = splits["held_out"]["rejected"][:8]
    assert torch.allclose(again.rewards(texts), trained.rewards(texts))


def test_accuracy_falls_with_label_noise(tiny_world):
    few = preference_splits(Recipe(), train_dialogues=30, held_out_dialogues=100)
    curve = noise_curve(
        tiny_world.classifier,
        few["train"],
        few["held_out"],
        noise_levels=(0.0, 0.4),
        config=RewardTrainingConfig(**FAST),
    )
    assert [row["noise"] for row in curve] == [0.0, 0.4]
    assert curve[0]["flip_share"] == 0.0 and 0.3 < curve[1]["flip_share"] < 0.5
    assert curve[0]["accuracy"] - curve[1]["accuracy"] >= 0.1
    assert curve[0]["mean_margin"] > curve[1]["mean_margin"]


def test_agreement_with_the_hate_speech_classifier(tiny_world, trained, splits):
    classifier = RewardModel.from_pretrained(str(tiny_world.classifier))
    agreement = classifier_agreement(trained, classifier, splits["held_out"])
    assert agreement["texts"] > 200  # both sides, duplicates once
    assert agreement["classifier_accuracy"] > 0.9
    assert agreement["same_order"] > 0.85 and agreement["spearman"] > 0.0


def test_bad_pairs_are_refused_before_training(tiny_world):
    with pytest.raises(PreferenceDataError, match="empty"):
        train_reward_model(tiny_world.classifier, Dataset.from_dict({"chosen": [], "rejected": []}))
    with pytest.raises(PreferenceDataError, match="same text"):
        train_reward_model(tiny_world.classifier, Dataset.from_dict({"chosen": ["a b"], "rejected": ["a b"]}))
    with pytest.raises(TypeError, match="list of strings"):
        reward_scores(None, None, "one text")


def test_noise_curve_figure_draws_one_line_per_training_set():
    rows = [{"noise": n, "accuracy": 1 - n, "ci_low": 0.9 - n, "ci_high": 1.0, "mean_margin": 1 - n} for n in (0, 0.2)]
    fig = plot_noise_curve({"few": rows, "many": rows})
    accuracy_axis, margin_axis = fig.axes
    assert [t.get_text() for t in accuracy_axis.get_legend().get_texts()] == ["few", "many"]
    assert len(margin_axis.get_lines()) == 2
    with pytest.raises(ValueError, match="lack"):
        plot_noise_curve({"few": [{"noise": 0.0}]})
