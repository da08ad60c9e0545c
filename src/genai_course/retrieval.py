"""Retrieval augmentation: find the fact documents a question needs and put them into the prompt.

The retriever is BM25 (the ``bm25s`` library): Lab 5's questions name the entity they ask about ("Who is the
manager of the Green Bakery?"), and lexical match on rare words finds the document that names it; BM25 needs
no embedding model to download (the tiny world is offline), indexes a corpus in milliseconds and scores
deterministically. Ties are broken by index order, so a search always returns the same hits.
:func:`pack_passages` then fills the model's context window with whole passages in rank order and says how
many it left out, because a passage cut in half, or dropped without a word, is a silent wrong answer.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
from transformers import PreTrainedTokenizerBase

from genai_course.generation import ContextWindowError, context_window

CONTEXT_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"


class RetrievalError(ValueError):
    """Bad input to the retriever or the prompt packer; the message says what to do instead."""


@dataclass(frozen=True)
class Hit:
    """One retrieved document: its id and text, its BM25 score and its rank (1 = best)."""

    doc_id: str
    text: str
    score: float
    rank: int


@dataclass(frozen=True)
class PackedPrompt:
    """A prompt with the passages that fit, how many were left out, and its length in tokens."""

    prompt: str
    passages: tuple[str, ...]
    dropped: int
    n_tokens: int


def _check_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise RetrievalError(f"expected a list of strings, one per {what}, not one string; wrap it: [{texts[:30]!r}]")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise RetrievalError(f"{what} #{i} is {text!r}; each must be non-blank text: drop it or give it text")
    return texts


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise RetrievalError(f"k must be a positive integer (how many hits to keep), got {k!r}")
    return k


class BM25Index:
    """A BM25 index over a small corpus of documents, searched by question.

    Words are lowercased and split as scikit-learn does (words of two or more letters or digits), with
    ``bm25s``'s stopword list for ``stopwords`` (e.g. "en"; None keeps every word).
    """

    def __init__(self, texts: Sequence[str], ids: Sequence[str] | None = None, *, stopwords: str | None = "en"):
        self.texts = tuple(_check_texts(texts, "document"))
        if not self.texts:
            raise RetrievalError("the corpus is empty: give at least one document to index")
        self.ids = tuple(str(i) for i in range(len(self.texts))) if ids is None else self._check_ids(ids)
        self.stopwords = stopwords
        tokens = self._tokenize(self.texts)
        for i, words in enumerate(tokens):
            # Such a document scores 0 for every query: it could only ever be retrieved by accident.
            if not words:
                raise RetrievalError(
                    f"document {self.ids[i]!r} has no word to index (only stopwords or one-letter words): "
                    f"{self.texts[i]!r}; give it content words or drop it"
                )
        self._bm25 = bm25s.BM25()
        self._bm25.index(tokens, show_progress=False)

    def _check_ids(self, ids: Sequence[str]) -> tuple[str, ...]:
        if isinstance(ids, str):
            raise RetrievalError("ids must be a list of strings, one per document, not one string")
        ids = tuple(ids)
        if len(ids) != len(self.texts):
            raise RetrievalError(f"{len(ids)} ids for {len(self.texts)} documents: give one id per document")
        if not all(isinstance(i, str) for i in ids):
            raise RetrievalError("ids must be strings; convert them, e.g. [str(i) for i in ids]")
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        if duplicates:
            raise RetrievalError(f"duplicate document ids {duplicates[:5]}: each document needs its own id")
        return ids

    def _tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        try:
            return bm25s.tokenize(list(texts), stopwords=self.stopwords, return_ids=False, show_progress=False)
        except ValueError as error:  # bm25s's word for a stopword language it does not know
            raise RetrievalError(f"stopwords={self.stopwords!r} is not usable: {error}") from None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def bm25(self) -> bm25s.BM25:
        """The ``bm25s`` index itself (its parameters ``k1``, ``b``, ``method`` and vocabulary)."""
        return self._bm25

    def __repr__(self) -> str:
        b = self._bm25
        return (
            f"BM25Index({len(self)} documents, {len(b.vocab_dict)} distinct words; "
            f"bm25s.BM25(method={b.method!r}, k1={b.k1}, b={b.b}); stopwords={self.stopwords!r})"
        )

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best documents for ``query`` (all of them when ``k`` exceeds the corpus).

        Order: score descending, then index order on ties. A query sharing no word with the corpus scores
        0 for every document, so its hits are the first documents with score 0.0: check ``hit.score > 0``.
        """
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 3) -> list[list[Hit]]:
        """:meth:`search` for each of ``queries``, in one batched ``bm25s`` call."""
        queries = _check_texts(queries, "query")
        k = _check_k(k)
        if not queries:
            return []
        # Every document is scored and sorted here, not by bm25s: its top-k (argpartition) orders ties
        # arbitrarily, and it refuses k larger than the corpus.
        result = self._bm25.retrieve(
            self._tokenize(queries), k=len(self), sorted=False, show_progress=False, backend_selection="numpy"
        )
        return [self._hits(indices, scores, k) for indices, scores in zip(result.documents, result.scores)]

    def _hits(self, indices: np.ndarray, scores: np.ndarray, k: int) -> list[Hit]:
        order = np.lexsort((indices, -scores))[:k]  # the last key sorts first: score, then index
        return [
            Hit(self.ids[indices[j]], self.texts[indices[j]], float(scores[j]), rank)
            for rank, j in enumerate(order, start=1)
        ]


def recall_at_k(hits: Sequence[Sequence[Hit]], gold_ids: Sequence[str], k: int) -> float:
    """Share of queries whose gold document is among their first ``k`` hits."""
    k = _check_k(k)
    if isinstance(gold_ids, str):
        raise RetrievalError("gold_ids must be a list with one id per query, not one string")
    if len(hits) != len(gold_ids):
        raise RetrievalError(f"{len(hits)} hit lists for {len(gold_ids)} gold ids: give one gold id per query")
    if not hits:
        raise RetrievalError("no queries: recall@k of nothing is undefined; search at least one query")
    found = [gold in {hit.doc_id for hit in query_hits[:k]} for query_hits, gold in zip(hits, gold_ids)]
    return sum(found) / len(found)


def _check_template(template: str) -> None:
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if fields != {"context", "question"}:
        raise RetrievalError(
            f"the template has the fields {sorted(fields)}; it needs exactly {{context}} and {{question}}, "
            f"e.g. {CONTEXT_TEMPLATE!r}"
        )


def pack_passages(
    question: str,
    passages: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_tokens: int | None = None,
    template: str = CONTEXT_TEMPLATE,
) -> PackedPrompt:
    """The prompt holding as many of ``passages`` as fit in ``max_tokens``, whole and in the given order.

    Passages are joined with newlines into the template's ``{context}``; packing stops at the first passage
    that would make the tokenized prompt (special tokens included) longer than ``max_tokens`` (default: the
    model's context window), so the kept passages are always the best-ranked ones, and ``dropped`` counts
    the rest. :class:`ContextWindowError` if the question with an empty context, or with the first
    passage, does not fit: a retrieval prompt without its passages is a closed-book prompt in disguise.
    """
    if not isinstance(question, str) or not question.strip():
        raise RetrievalError(f"the question is {question!r}; give the question to answer")
    passages = _check_texts(passages, "passage")
    if not passages:
        raise RetrievalError(
            "no passages to put into the context; for a question without them use a closed-book prompt"
        )
    _check_template(template)
    limit = context_window(tokenizer) if max_tokens is None else max_tokens
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise RetrievalError(f"max_tokens must be a positive integer or None (the context window), got {limit!r}")
    # Every prefix of the passages (the empty one first) in one tokenizer call; verbose=False because an
    # overlong prefix is expected here and the tokenizer's own warning would be noise.
    prompts = [template.format(context="\n".join(passages[:n]), question=question) for n in range(len(passages) + 1)]
    lengths = [len(ids) for ids in tokenizer(prompts, verbose=False)["input_ids"]]
    if lengths[0] > limit:
        raise ContextWindowError(
            f"the question alone makes a prompt of {lengths[0]} tokens, more than the window of {limit} tokens; "
            "shorten the question or the template"
        )
    kept = next((n - 1 for n in range(1, len(lengths)) if lengths[n] > limit), len(passages))
    if kept == 0:
        raise ContextWindowError(
            f"not even the best passage fits: with it the prompt has {lengths[1]} tokens, more than the window "
            f"of {limit} tokens; split the documents into shorter passages"
        )
    return PackedPrompt(prompts[kept], tuple(passages[:kept]), len(passages) - kept, lengths[kept])
