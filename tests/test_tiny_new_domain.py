"""The pet-clinic domain: DialogSum-shaped, disjoint splits, deterministic, and new to the tiny world."""

import re

import pytest

from genai_course.tiny.corpus import generate_rows
from genai_course.tiny.facts import facts_rate, slot_recall
from genai_course.tiny.new_domain import ANIMALS, PETS, SPLIT_SIZES, new_domain_rows


def test_rows_have_the_corpus_columns_and_their_facts():
    rows = new_domain_rows(40, "test")
    assert all({"id", "dialogue", "summary", "topic", "slots"} <= set(r) for r in rows)
    assert all(r["dialogue"].startswith("#Person1#: ") and r["slots"] for r in rows)
    assert facts_rate([r["summary"] for r in rows], rows) == 1.0 == slot_recall([r["summary"] for r in rows], rows)
    assert len({r["topic"] for r in rows}) == 4


def test_splits_are_disjoint_deterministic_and_prefix_stable():
    dialogues = {split: {r["dialogue"] for r in new_domain_rows(SPLIT_SIZES[split], split)} for split in SPLIT_SIZES}
    assert all(len(d) == SPLIT_SIZES[s] for s, d in dialogues.items())
    assert not dialogues["unlabeled"] & dialogues["train"] and not dialogues["test"] & (
        dialogues["unlabeled"] | dialogues["train"]
    )
    assert new_domain_rows(10, "train") == new_domain_rows(30, "train")[:10] == new_domain_rows(10, "train")
    assert new_domain_rows(10, "train", world_seed=1) != new_domain_rows(10, "train")


def test_the_tiny_world_never_mentions_the_new_domain():
    corpus = " ".join(r["dialogue"] + " " + r["summary"] for r in generate_rows(3000, seed=5, prefix="x"))
    for word in PETS + ANIMALS:
        assert not re.search(rf"\b{word}\b", corpus, flags=re.IGNORECASE), word


@pytest.mark.parametrize(
    ("n", "split", "error"), [(0, "test", "from 1 to"), (401, "test", "from 1 to"), (5, "dev", "Unknown split")]
)
def test_bad_requests_are_refused(n, split, error):
    with pytest.raises(ValueError, match=error):
        new_domain_rows(n, split)


def test_slot_recall_counts_each_fact():
    rows = new_domain_rows(2, "test")
    half = [" ".join(r["slots"][: len(r["slots"]) // 2]) for r in rows]
    expected = sum(len(r["slots"]) // 2 for r in rows) / sum(len(r["slots"]) for r in rows)
    assert slot_recall(half, rows) == pytest.approx(expected)
    with pytest.raises(ValueError, match="summaries for"):
        slot_recall(half[:1], rows)
