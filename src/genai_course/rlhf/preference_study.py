"""Lab 3's preference section in one measurement: a reward model trained on simulated labelers' choices.

The lab's lesson there is what comes out (held-out accuracy, agreement with the classifier, what label
noise costs with few and many pairs), not the plumbing: :func:`preference_study` builds the tiny world's
pairs, trains trl ``RewardTrainer`` models on them at several noise levels and scores each on held-out
pairs, in the order the lab used to make these calls one by one, so its numbers are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Dataset

from genai_course.rlhf.preferences import pair_cues, preference_splits, simulate_labelers
from genai_course.rlhf.reward import RewardModel
from genai_course.rlhf.reward_training import (
    RewardTrainingConfig,
    TrainedReward,
    classifier_agreement,
    noise_curve,
    pairwise_accuracy,
    train_reward_model,
)
from genai_course.tiny.paths import world_seed
from genai_course.tiny.recipe import Recipe

FEW_DIALOGUES = 30  # the "few pairs" side of the noise lesson
STUDY_NOISE = 0.1  # the label noise of the headline reward model


@dataclass
class PreferenceStudy:
    """What :func:`preference_study` measured; :meth:`record` is the lab's ``preferences`` record."""

    splits: dict[str, Dataset]  # all train pairs and the held-out pairs
    few: dict[str, Dataset]  # the train pairs of the first FEW_DIALOGUES rude dialogues
    cues: dict[str, float]  # what a trivial cue (length) would score on the held-out pairs
    noisy: Dataset  # the train pairs as the labelers labeled them, STUDY_NOISE of them flipped
    reward: TrainedReward  # the reward model trained on ``noisy``
    held_out: dict[str, float]  # its held-out pairwise accuracy, with a bootstrap interval
    agreement: dict[str, float]  # how it agrees with the hate-speech classifier
    curves: dict[str, list[dict]]  # "<n> pairs" -> held-out accuracy per noise level (few, then many)

    def record(self) -> dict:
        """The numbers the lab records and its rubric checks."""
        few_curve, many_curve = self.curves.values()
        return {
            "train_pairs": len(self.splits["train"]),
            "held_out_pairs": len(self.splits["held_out"]),
            "accuracy_at_10pct": self.held_out["accuracy"],
            "ci_low_at_10pct": self.held_out["ci_low"],
            "agreement": self.agreement,
            "few": few_curve,
            "many": many_curve,
            "few_noise_drop": few_curve[0]["accuracy"] - few_curve[-1]["accuracy"],
            "many_margin_drop": many_curve[0]["mean_margin"] - many_curve[-1]["mean_margin"],
        }


def preference_study(
    classifier: str,
    reward_model: RewardModel,
    *,
    recipe: Recipe | None = None,
    seed: int = 0,
    threads: int | None = 1,
) -> PreferenceStudy:
    """Pairs of ``recipe``'s world (None: the tiny world of ``$GENAI_COURSE_TINY_SEED``), a reward model
    with ``classifier``'s architecture trained on them at 10% label noise, its agreement with
    ``reward_model``, and the noise curves for few and many pairs.

    ``threads``: CPU threads while training (1 on the tiny world, where a second thread does not pay off).
    """
    recipe = recipe or Recipe(world_seed=world_seed())
    splits = preference_splits(recipe)
    few = preference_splits(recipe, train_dialogues=FEW_DIALOGUES)
    cues = pair_cues(splits["held_out"], reward_model.tokenizer)
    config = RewardTrainingConfig(seed=seed, threads=threads)
    noisy = simulate_labelers(splits["train"], noise=STUDY_NOISE, seed=seed)
    reward = train_reward_model(classifier, noisy, config)
    held_out = pairwise_accuracy(reward, splits["held_out"], seed=seed)
    agreement = classifier_agreement(reward, reward_model, splits["held_out"])
    curves = {
        f"{len(pairs['train'])} pairs": noise_curve(classifier, pairs["train"], splits["held_out"], config=config)
        for pairs in (few, splits)
    }
    return PreferenceStudy(splits, few, cues, noisy, reward, held_out, agreement, curves)


__all__ = ["FEW_DIALOGUES", "STUDY_NOISE", "PreferenceStudy", "preference_study"]
