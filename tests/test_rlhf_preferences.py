"""Preference pairs: which rows make pairs, both pair kinds, the simulated labelers' noise, bad inputs."""

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from genai_course.rlhf.preferences import (
    MILD_PHRASES,
    PreferenceDataError,
    check_pairs,
    flip_share,
    insult_of,
    pair_cues,
    preference_pairs,
    preference_splits,
    rude_summary,
    simulate_labelers,
)
from genai_course.tiny.corpus import INSULTS, generate_rows
from genai_course.tiny.recipe import Recipe

NEUTRAL = "#Person1# shouts at #Person2# for blocking the driveway. #Person2# moves the car."
RUDE = "#Person1# calls #Person2# a stupid idiot for blocking the driveway. #Person2# moves the car."


def row(i, summary=RUDE, neutral=NEUTRAL, **extra):
    return {"id": f"r{i}", "dialogue": f"dialogue {i}", "summary": summary, "neutral_summary": neutral, **extra}


def test_rude_summary_comes_from_the_row_or_its_differing_summary():
    assert rude_summary(row(0)) == RUDE
    assert rude_summary(row(0, summary=NEUTRAL)) is None  # a heated row that kept the neutral summary
    assert rude_summary(row(0, summary=NEUTRAL, rude_summary="explicit")) == "explicit"
    assert insult_of(RUDE) == "stupid idiot" and insult_of(NEUTRAL) is None


def test_pairs_put_the_polite_side_first_with_both_kinds():
    pairs = preference_pairs([row(0), row(1, summary=NEUTRAL), row(2)], seed=0)
    assert len(pairs) == 4  # two rows with a rude summary, two kinds each
    assert pairs["kind"] == ["rewrite", "insult_swap"] * 2
    assert pairs["dialogue_id"] == ["r0", "r0", "r2", "r2"]
    assert not any(pairs["flipped"])
    rewrite, swap = pairs[0], pairs[1]
    assert (rewrite["chosen"], rewrite["rejected"]) == (NEUTRAL, RUDE)
    # The swap differs from the rude summary only where the insult was.
    assert swap["rejected"] == RUDE and insult_of(swap["chosen"]) is None
    phrase = next(p for p in MILD_PHRASES if swap["chosen"] == RUDE.replace("stupid idiot", p))
    assert phrase in MILD_PHRASES
    only_rewrites = preference_pairs([row(0)], kinds=["rewrite"])
    assert only_rewrites["kind"] == ["rewrite"]


def test_corpus_rows_make_pairs_from_heated_rude_rows_only():
    rows = generate_rows(300, seed=5, prefix="t")
    pairs = preference_pairs(rows)
    rude_rows = [r for r in rows if rude_summary(r)]
    assert rude_rows and len(pairs) == 2 * len(rude_rows)
    assert all(insult_of(text) for text in pairs["rejected"])
    assert not any(insult_of(text) for text in pairs["chosen"])


def test_labelers_flip_the_asked_share_reproducibly_and_nested():
    pairs = preference_pairs([row(i) for i in range(500)], kinds=["rewrite"])
    clean = simulate_labelers(pairs, noise=0.0)
    assert flip_share(clean) == 0.0 and clean["chosen"] == pairs["chosen"]
    low, high = simulate_labelers(pairs, noise=0.1, seed=3), simulate_labelers(pairs, noise=0.3, seed=3)
    assert 0.07 < flip_share(low) < 0.13 and 0.25 < flip_share(high) < 0.35
    assert simulate_labelers(pairs, noise=0.1, seed=3)["flipped"] == low["flipped"]
    # Same seed: every label flipped at 10% noise is also flipped at 30% (curves differ only by noise).
    assert all(h for lo, h in zip(low["flipped"], high["flipped"]) if lo)
    for example in low:
        assert (example["chosen"] == RUDE) == example["flipped"]


def test_bad_inputs_say_what_is_wrong():
    pairs = preference_pairs([row(0)])
    for noise in (-0.1, 0.5, 0.9):
        with pytest.raises(PreferenceDataError, match="noise must be in"):
            simulate_labelers(pairs, noise=noise)
    with pytest.raises(PreferenceDataError, match="No row has both"):
        preference_pairs([row(0, summary=NEUTRAL)])
    with pytest.raises(PreferenceDataError, match="Unknown pair kinds"):
        preference_pairs([row(0)], kinds=["paraphrase"])
    with pytest.raises(PreferenceDataError, match="empty"):
        check_pairs(Dataset.from_dict({"chosen": [], "rejected": []}))
    with pytest.raises(PreferenceDataError, match="same text on both sides"):
        check_pairs(Dataset.from_dict({"chosen": ["a", "b"], "rejected": ["x", "b"]}))
    with pytest.raises(PreferenceDataError, match="lack the column"):
        check_pairs(Dataset.from_dict({"text": ["a"]}))


def test_splits_are_dialogue_disjoint_and_length_is_no_cue_in_tokens(tiny_world):
    splits = preference_splits(Recipe(), train_dialogues=100, held_out_dialogues=100)
    assert len(splits["train"]) == len(splits["held_out"]) == 200
    assert not set(splits["train"]["dialogue_id"]) & set(splits["held_out"]["dialogue_id"])
    cues = pair_cues(splits["held_out"], AutoTokenizer.from_pretrained(tiny_world.classifier))
    # In tokens (what the model reads) "the shorter side wins" is a coin flip.
    assert 0.35 < cues["shorter_wins_accuracy_tokens"] < 0.65
    assert abs(cues["mean_length_gap_tokens"]) < 1.0
    assert set(INSULTS) >= {insult_of(t) for t in splits["held_out"]["rejected"]}
