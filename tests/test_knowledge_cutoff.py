"""Closed-book and retrieval prompts for the town, wrong passages and where answers come from."""

import pytest
from transformers import AutoTokenizer

from genai_course import knowledge_cutoff as kc
from genai_course.retrieval import CONTEXT_TEMPLATE
from genai_course.tiny.cutoff_facts import town


@pytest.fixture(scope="module")
def tokenizer(tiny_world):
    return AutoTokenizer.from_pretrained(str(tiny_world.tokenizer))


@pytest.fixture(scope="module")
def facts():
    return town(0)


def test_closed_book_prompts_hold_the_question_only(facts):
    prompts = kc.closed_book_prompts(facts[:3])
    assert prompts == [kc.CLOSED_BOOK_TEMPLATE.format(question=f.question) for f in facts[:3]]
    assert all("Context" not in p for p in prompts)


def test_retrieved_prompts_carry_the_top_k_passages_in_rank_order(facts, tokenizer):
    index = kc.fact_index(facts)
    got = kc.retrieved_prompts(facts[:20], index, tokenizer, 3)
    for fact, prompt, hits in zip(facts, got.prompts, got.hits):
        assert len(hits) == 3
        assert prompt == CONTEXT_TEMPLATE.format(context="\n".join(h.text for h in hits), question=fact.question)
    assert got.dropped == 0
    assert sum(f.document in p for f, p in zip(facts, got.prompts)) >= 19  # BM25 finds them


def test_retrieved_prompts_use_the_template_they_are_given(facts, tokenizer):
    index = kc.fact_index(facts)
    template = "Read:\n{context}\nQ: {question}"
    got = kc.retrieved_prompts(facts[:3], index, tokenizer, 2, template=template)
    for fact, prompt, hits in zip(facts, got.prompts, got.hits):
        assert prompt == template.format(context="\n".join(h.text for h in hits), question=fact.question)
    wrong = kc.wrong_passage_prompts(facts[:3], index, tokenizer, 2, template=template)
    assert all(p.startswith("Read:\n") and "\nQ: " in p for p in wrong.prompts)
    default = kc.retrieved_prompts(facts[:3], index, tokenizer, 2)
    assert default.prompts == kc.retrieved_prompts(facts[:3], index, tokenizer, 2, template=CONTEXT_TEMPLATE).prompts


def test_wrong_passages_replace_the_right_one_with_a_planted_value(facts, tokenizer):
    index = kc.fact_index(facts)
    got = kc.wrong_passage_prompts(facts[:30], index, tokenizer, 3, seed=1)
    assert len(got.planted) == 30
    for fact, prompt, value in zip(facts, got.prompts, got.planted):
        assert fact.document not in prompt
        assert value not in (fact.current, fact.stale) and value in prompt
    assert got == kc.wrong_passage_prompts(facts[:30], index, tokenizer, 3, seed=1)  # seeded


def test_answer_sources_tell_current_stale_planted_and_other(facts):
    f = facts[:4]
    answers = [f[0].current, f[1].stale + ".", "no idea", "X"]
    sources = kc.answer_sources(answers, f, planted=["a", "b", "c", "x"])
    assert sources["current"] == [True, False, False, False]
    assert sources["stale"] == [False, True, False, False]
    assert sources["planted"] == [False, False, False, True]  # case and punctuation are ignored
    assert sources["other"] == [False, False, True, False]
    assert kc.shares(sources) == {"current": 0.25, "stale": 0.25, "planted": 0.25, "other": 0.25}
    assert sum(kc.shares(sources).values()) == 1.0  # the sources exclude each other


def test_bad_input_is_refused(facts):
    with pytest.raises(ValueError, match="pair up"):
        kc.answer_sources(["a"], facts[:2])
    with pytest.raises(ValueError, match="Nothing to score"):
        kc.answer_sources([], [])
