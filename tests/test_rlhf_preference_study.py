"""preference_study: the lab's preference calls, in the lab's order, and the record the rubric reads."""

import genai_course.rlhf.preference_study as study_module
from genai_course.rlhf.preference_study import FEW_DIALOGUES, STUDY_NOISE, PreferenceStudy, preference_study


class FakeReward:
    tokenizer = "reward-tokenizer"


def test_the_study_makes_the_lab_s_calls_in_the_lab_s_order(monkeypatch):
    calls = []

    def record(name, result):
        def fake(*args, **kwargs):
            calls.append((name, args, kwargs))
            return result(*args, **kwargs) if callable(result) else result

        return fake

    def splits(recipe, train_dialogues=None):
        return {"train": [f"train{train_dialogues}"] * (train_dialogues or 90), "held_out": ["held"] * 40}

    monkeypatch.setattr(study_module, "preference_splits", record("splits", splits))
    monkeypatch.setattr(study_module, "pair_cues", record("cues", {"shorter_wins_accuracy_tokens": 0.5}))
    monkeypatch.setattr(study_module, "simulate_labelers", record("labelers", "noisy"))
    monkeypatch.setattr(study_module, "train_reward_model", record("train", "reward"))
    monkeypatch.setattr(study_module, "pairwise_accuracy", record("accuracy", {"accuracy": 0.95, "ci_low": 0.9}))
    monkeypatch.setattr(study_module, "classifier_agreement", record("agreement", {"spearman": 0.8}))
    curve = [{"accuracy": 1.0, "mean_margin": 3.0}, {"accuracy": 0.7, "mean_margin": 1.0}]
    monkeypatch.setattr(study_module, "noise_curve", record("curve", curve))
    study = preference_study("classifier", FakeReward(), recipe="recipe", seed=4, threads=1)
    assert [name for name, _, _ in calls] == [
        "splits",
        "splits",
        "cues",
        "labelers",
        "train",
        "accuracy",
        "agreement",
        "curve",
        "curve",
    ]
    assert calls[1][2] == {"train_dialogues": FEW_DIALOGUES}
    assert calls[2][1][1] == "reward-tokenizer"
    assert calls[3][2] == {"noise": STUDY_NOISE, "seed": 4}
    config = calls[4][1][2]
    assert (config.seed, calls[5][2]) == (4, {"seed": 4})
    assert [c[1][1][0] for c in calls[-2:]] == [f"train{FEW_DIALOGUES}", "trainNone"]  # few, then many
    assert all(c[2]["config"] is config for c in calls[-2:])
    assert list(study.curves) == [f"{FEW_DIALOGUES} pairs", "90 pairs"]
    recorded = study.record()
    assert recorded["train_pairs"] == 90 and recorded["held_out_pairs"] == 40
    assert recorded["accuracy_at_10pct"] == 0.95 and recorded["ci_low_at_10pct"] == 0.9
    assert recorded["few_noise_drop"] == 1.0 - 0.7 and recorded["many_margin_drop"] == 2.0
    assert isinstance(study, PreferenceStudy) and study.reward == "reward" and study.noisy == "noisy"
