"""A model's knowledge cut-off, and retrieval augmentation past it: closed-book answers about changed facts
against answers with retrieved passages in the prompt.

A model knows the world as it was when its pre-training data was collected. Asked about a fact that has
changed since, it answers from that stale memory; given the current document in its prompt, it reads the
answer from there. Both are measured on the same questions, with the share of answers that are the *old*
value (memory speaking) beside exact match with the current one, and retrieval's own recall@k, since a
reader can only use the passages it is given. A wrong passage in place of the right one shows that the
model trusts its context.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from genai_course.metrics import normalize_answer
from genai_course.retrieval import CONTEXT_TEMPLATE, BM25Index, Hit, pack_passages
from genai_course.tiny.cutoff_facts import BY_NAME, Fact

CLOSED_BOOK_TEMPLATE = "Question: {question}"


@dataclass(frozen=True)
class ContextPrompts:
    """Prompts with retrieved passages, the hits behind them, and how many passages did not fit."""

    prompts: list[str]
    hits: list[list[Hit]]
    dropped: int
    planted: list[str] = field(default_factory=list)  # the wrong values, for wrong-passage prompts


def fact_index(facts: Sequence[Fact]) -> BM25Index:
    """The current documents, one fact each, as the retriever's index."""
    return BM25Index([f.document for f in facts], [f.id for f in facts])


def closed_book_prompts(facts: Sequence[Fact]) -> list[str]:
    return [CLOSED_BOOK_TEMPLATE.format(question=f.question) for f in facts]


def retrieved_prompts(
    facts: Sequence[Fact],
    index: BM25Index,
    tokenizer: PreTrainedTokenizerBase,
    k: int,
    *,
    template: str = CONTEXT_TEMPLATE,
) -> ContextPrompts:
    """Each question with its top-``k`` passages, packed into the context window in rank order, in
    ``template`` (its ``{context}`` gets the passages, one per line; see :func:`pack_passages`)."""
    hits = index.search_many([f.question for f in facts], k)
    return _packed(facts, [[h.text for h in found] for found in hits], hits, tokenizer, template=template)


def wrong_passage_prompts(
    facts: Sequence[Fact],
    index: BM25Index,
    tokenizer: PreTrainedTokenizerBase,
    k: int,
    seed: int = 0,
    *,
    template: str = CONTEXT_TEMPLATE,
) -> ContextPrompts:
    """As :func:`retrieved_prompts`, with the passage stating the fact (or, where it was not retrieved, the
    first) replaced by one that states a wrong value in the same words: misinformation in the index. The
    wrong value is neither the current nor the stale one, so an answer tells which of the three it read."""
    rng = random.Random(seed)
    hits = index.search_many([f.question for f in facts], k)
    contexts, planted = [], []
    for fact, found in zip(facts, hits):
        passages = [h.text for h in found]
        where = next((i for i, h in enumerate(found) if h.doc_id == fact.id), 0)
        wrong = rng.choice([v for v in BY_NAME[fact.attribute].values if v not in (fact.current, fact.stale)])
        passages[where] = fact.statement(wrong, rng)
        contexts.append(passages)
        planted.append(wrong)
    return _packed(facts, contexts, hits, tokenizer, planted, template=template)


def _packed(facts, contexts, hits, tokenizer, planted=(), *, template=CONTEXT_TEMPLATE) -> ContextPrompts:
    packed = [pack_passages(f.question, passages, tokenizer, template=template) for f, passages in zip(facts, contexts)]
    return ContextPrompts([p.prompt for p in packed], hits, sum(p.dropped for p in packed), list(planted))


def is_value(answer: str, value: str) -> bool:
    return normalize_answer(answer) == normalize_answer(value)


def answer_sources(
    answers: Sequence[str], facts: Sequence[Fact], planted: Sequence[str] | None = None
) -> dict[str, list[bool]]:
    """Per question: whether the answer is the current value, the stale one and (for wrong-passage
    prompts) the planted wrong value; ``other`` where it is none of them."""
    if len(answers) != len(facts) or (planted is not None and len(planted) != len(facts)):
        raise ValueError(f"{len(answers)} answers for {len(facts)} facts; they must pair up.")
    if not facts:
        raise ValueError("Nothing to score: no facts.")
    sources = {
        "current": [is_value(a, f.current) for a, f in zip(answers, facts)],
        "stale": [is_value(a, f.stale) for a, f in zip(answers, facts)],
    }
    if planted is not None:
        sources["planted"] = [is_value(a, p) for a, p in zip(answers, planted)]
    sources["other"] = [not any(column[i] for column in sources.values()) for i in range(len(facts))]
    return sources


def shares(sources: dict[str, list[bool]]) -> dict[str, float]:
    """Each source's share of the answers."""
    return {name: sum(column) / len(column) for name, column in sources.items()}
