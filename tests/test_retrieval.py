"""Retrieval augmentation: BM25 finds the fact a question names, deterministically; packing keeps whole
passages in rank order within the context window and counts what it leaves out."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from genai_course.generation import ContextWindowError
from genai_course.retrieval import (
    CONTEXT_TEMPLATE,
    BM25Index,
    Hit,
    PackedPrompt,
    RetrievalError,
    pack_passages,
    recall_at_k,
)

# Distractors share words with each question ("parcel", "arrives", the names): only the rare words decide.
FACTS = {
    "amanda-parcel": "Amanda's parcel arrives on Monday.",
    "amanda-cat": "Amanda's cat is called Milo.",
    "tom-parcel": "Tom's parcel arrives on Friday.",
    "tom-bike": "Tom sold his bike for 40 dollars.",
    "lena-party": "Lena's party is at the lake on Saturday.",
}


@pytest.fixture(scope="module")
def index():
    return BM25Index(list(FACTS.values()), list(FACTS))


@pytest.fixture(scope="module")
def tokenizer(tiny_world):
    return AutoTokenizer.from_pretrained(str(tiny_world.tokenizer))


@pytest.mark.parametrize(
    ("question", "gold"),
    [
        ("When does Tom's parcel arrive?", "tom-parcel"),
        ("What is Amanda's cat called?", "amanda-cat"),
        ("How much did Tom sell his bike for?", "tom-bike"),
        ("Where is Lena's party?", "lena-party"),
    ],
)
def test_bm25_finds_the_fact_among_distractors(index, question, gold):
    hits = index.search(question, k=3)
    assert hits[0].doc_id == gold
    assert hits[0].text == FACTS[gold]
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score > hits[1].score >= hits[2].score >= 0


def test_ids_default_to_positions():
    index = BM25Index(["apples and pears", "green grapes"])
    assert len(index) == 2
    assert index.search("grapes", k=1)[0].doc_id == "1"


def test_ties_go_to_index_order_and_k_beyond_the_corpus_returns_all():
    # The two "pears" documents are identical, so they tie; the earlier one ranks first, every time.
    index = BM25Index(["green apples", "Tom bought pears", "red apples", "Tom bought pears"], list("abcd"))
    for _ in range(3):
        hits = index.search("pears", k=10)
        assert [h.doc_id for h in hits] == ["b", "d", "a", "c"]
        assert hits[0].score == hits[1].score > 0 and hits[2].score == hits[3].score == 0.0
    assert [h.doc_id for h in index.search("pears", k=1)] == ["b"]
    assert [h.rank for h in index.search("pears", k=10)] == [1, 2, 3, 4]


def test_a_query_of_stopwords_scores_zero_everywhere_unless_stopwords_are_kept():
    texts = ["the cat sleeps", "a dog barks", "birds sing"]
    hits = BM25Index(texts).search("what is the", k=3)
    assert [(h.doc_id, h.score) for h in hits] == [("0", 0.0), ("1", 0.0), ("2", 0.0)]
    kept = BM25Index(texts, stopwords=None).search("what is the", k=1)
    assert kept[0].doc_id == "0" and kept[0].score > 0


def test_search_many_is_search_for_each_query(index):
    questions = ["When does Amanda's parcel arrive?", "Lena lake", "unknown words only"]
    assert index.search_many(questions, k=2) == [index.search(q, k=2) for q in questions]
    assert index.search_many([], k=2) == []


def test_recall_at_k_on_a_hand_built_case():
    def hits(*ids):
        return [Hit(doc_id, "", 1.0, rank) for rank, doc_id in enumerate(ids, start=1)]

    ranked = [hits("a", "b", "c"), hits("b", "a", "c"), hits("c", "b", "a")]
    assert recall_at_k(ranked, ["a", "a", "a"], k=1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, ["a", "a", "a"], k=2) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, ["a", "a", "a"], k=3) == 1.0
    assert recall_at_k(ranked, ["z", "z", "z"], k=3) == 0.0
    assert recall_at_k([hits("a")], ["a"], k=5) == 1.0  # fewer hits than k


def test_recall_at_k_of_real_searches(index):
    questions = ["When does Tom's parcel arrive?", "What is Amanda's cat called?"]
    assert recall_at_k(index.search_many(questions, k=1), ["tom-parcel", "amanda-cat"], k=1) == 1.0


@pytest.mark.parametrize(
    ("texts", "ids", "stopwords", "message"),
    [
        ([], None, "en", "the corpus is empty"),
        ("one string", None, "en", "not one string"),
        (["apples", "pears"], ["a", "a"], "en", r"duplicate document ids \['a'\]"),
        (["apples", "pears"], ["a"], "en", "1 ids for 2 documents"),
        (["apples", "pears"], "ab", "en", "not one string"),
        (["apples", "pears"], [1, 2], "en", "ids must be strings"),
        (["apples", "  "], None, "en", "document #1 is '  '"),
        (["apples", None], None, "en", "document #1 is None"),
        (["apples", "the and of"], None, "en", "document '1' has no word to index"),
        (["apples"], None, "klingon", "stopwords='klingon' is not usable"),
    ],
)
def test_bad_corpora(texts, ids, stopwords, message):
    with pytest.raises(RetrievalError, match=message):
        BM25Index(texts, ids, stopwords=stopwords)


@pytest.mark.parametrize(
    ("query", "k", "message"),
    [
        ("", 3, "query #0 is ''"),
        ("  ", 3, "non-blank"),
        ("pears", 0, "positive"),
        ("pears", True, "positive"),
        ("pears", 1.5, "positive integer"),
    ],
)
def test_bad_searches(index, query, k, message):
    with pytest.raises(RetrievalError, match=message):
        index.search(query, k=k)


def test_search_many_wants_a_list(index):
    with pytest.raises(RetrievalError, match="not one string"):
        index.search_many("pears")


def test_bad_recall_inputs():
    one = [[Hit("a", "", 1.0, 1)]]
    with pytest.raises(RetrievalError, match="1 hit lists for 2 gold ids"):
        recall_at_k(one, ["a", "b"], k=1)
    with pytest.raises(RetrievalError, match="no queries"):
        recall_at_k([], [], k=1)
    with pytest.raises(RetrievalError, match="positive integer"):
        recall_at_k(one, ["a"], k=0)
    with pytest.raises(RetrievalError, match="not one string"):
        recall_at_k(one, "a", k=1)


PASSAGES = (FACTS["tom-parcel"], FACTS["amanda-parcel"], FACTS["tom-bike"], FACTS["lena-party"])  # in rank order
QUESTION = "When does Tom's parcel arrive?"


def _n_tokens(tokenizer, n_passages: int, passages=PASSAGES) -> int:
    prompt = CONTEXT_TEMPLATE.format(context="\n".join(passages[:n_passages]), question=QUESTION)
    return len(tokenizer(prompt)["input_ids"])


def test_everything_fits_in_the_default_window(tokenizer):
    packed = pack_passages(QUESTION, PASSAGES, tokenizer)
    assert isinstance(packed, PackedPrompt)
    assert packed.passages == PASSAGES and packed.dropped == 0
    assert packed.prompt == CONTEXT_TEMPLATE.format(context="\n".join(PASSAGES), question=QUESTION)
    assert packed.n_tokens == len(tokenizer(packed.prompt)["input_ids"]) <= tokenizer.model_max_length


@pytest.mark.parametrize("kept", [1, 2, 3])
def test_packing_drops_whole_passages_exactly_when_the_next_overflows(tokenizer, kept):
    for max_tokens in (_n_tokens(tokenizer, kept), _n_tokens(tokenizer, kept + 1) - 1):
        packed = pack_passages(QUESTION, PASSAGES, tokenizer, max_tokens=max_tokens)
        assert packed.passages == tuple(PASSAGES[:kept])  # the best-ranked ones, in rank order
        assert packed.dropped == len(PASSAGES) - kept
        assert packed.n_tokens == _n_tokens(tokenizer, kept) <= max_tokens
        assert _n_tokens(tokenizer, kept + 1) > max_tokens  # the next passage would not have fit
        assert packed.prompt == CONTEXT_TEMPLATE.format(context="\n".join(PASSAGES[:kept]), question=QUESTION)


def test_packing_stops_at_the_first_passage_that_does_not_fit(tokenizer):
    # A shorter passage after the long one would fit, but taking it would skip a better-ranked passage.
    long = "Tom's parcel was sent from the warehouse in the north by the slow carrier " * 3
    passages = (PASSAGES[0], long, "Lena swims.")
    fits_short = _n_tokens(tokenizer, 2, (PASSAGES[0], "Lena swims."))
    assert _n_tokens(tokenizer, 2, passages) > fits_short
    packed = pack_passages(QUESTION, passages, tokenizer, max_tokens=fits_short)
    assert packed.passages == (PASSAGES[0],) and packed.dropped == 2


def test_the_question_alone_overflowing_is_a_context_window_error(tokenizer):
    alone = _n_tokens(tokenizer, 0)
    with pytest.raises(ContextWindowError, match=f"question alone makes a prompt of {alone} tokens.*window of 5 tok"):
        pack_passages(QUESTION, PASSAGES, tokenizer, max_tokens=5)


def test_not_even_the_best_passage_fitting_is_a_context_window_error(tokenizer):
    with pytest.raises(ContextWindowError, match="not even the best passage fits"):
        pack_passages(QUESTION, PASSAGES, tokenizer, max_tokens=_n_tokens(tokenizer, 1) - 1)


def test_a_custom_template(tokenizer):
    packed = pack_passages(QUESTION, PASSAGES[:1], tokenizer, template="{context}\n{question}")
    assert packed.prompt == f"{PASSAGES[0]}\n{QUESTION}"


@pytest.mark.parametrize(
    ("question", "passages", "kwargs", "message"),
    [
        (QUESTION, [], {}, "closed-book prompt"),
        ("  ", PASSAGES, {}, "give the question"),
        (QUESTION, "one passage", {}, "not one string"),
        (QUESTION, ["ok", ""], {}, "passage #1 is ''"),
        (QUESTION, PASSAGES, {"max_tokens": 0}, "max_tokens must be a positive integer"),
        (QUESTION, PASSAGES, {"template": "Context: {context}"}, r"needs exactly \{context\} and \{question\}"),
        (QUESTION, PASSAGES, {"template": "{context} {question} {answer}"}, r"\['answer', 'context', 'question'\]"),
    ],
)
def test_bad_packing_inputs(tokenizer, question, passages, kwargs, message):
    with pytest.raises(RetrievalError, match=message):
        pack_passages(question, passages, tokenizer, **kwargs)
