"""The town of Lab 5: every fact changed at the cut-off, its document states the current value, seeded."""

import random

import pytest

from genai_course.tiny.corpus_build import split_rows
from genai_course.tiny.cutoff_facts import ATTRIBUTES, N_PLACES, town
from genai_course.tiny.recipe import Recipe
from genai_course.tiny.slots import mentions


def test_every_fact_changed_and_its_document_states_the_current_value():
    facts = town(0)
    assert len(facts) == N_PLACES * len(ATTRIBUTES) >= 200
    assert len({f.id for f in facts}) == len(facts)
    for fact in facts:
        assert fact.stale != fact.current
        assert fact.place in fact.document and mentions(fact.document, fact.current)
        assert not mentions(fact.document, fact.stale)
        assert fact.place in fact.question and mentions(fact.stale_sentence(), fact.stale)


def test_the_town_is_seeded_and_differs_between_world_seeds():
    assert town(0) == town(0)
    assert town(0) != town(1)
    assert [f.place for f in town(0, n_places=5)] == [f.place for f in town(0, n_places=5)]


def test_statements_use_the_current_templates_with_any_value():
    fact = town(0)[0]
    statement = fact.statement("Monday", random.Random(0))
    assert fact.place in statement and "Monday" in statement


def test_the_tiny_world_corpus_never_mentions_the_town():
    rows = split_rows(Recipe(world_seed=0))["pretrain_pool"][:2000]
    places = {f.place for f in town(0)}
    assert not any(place in row["dialogue"] for row in rows for place in places)


@pytest.mark.parametrize("n", [0, 81, 2.5])
def test_bad_sizes_are_refused(n):
    with pytest.raises(ValueError, match="n_places"):
        town(0, n_places=n)
