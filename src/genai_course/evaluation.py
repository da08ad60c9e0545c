"""The evaluation set: DialogSum's test dialogues, each once, with *all* its human reference summaries.

DialogSum's test split has three human summaries per dialogue. The Hub stores them as three rows that
repeat the dialogue (1,500 rows for 500 dialogues, ids ``test_0_1``, ``test_0_2``, ``test_0_3``); the
original release as one row with ``summary1..3`` (which :func:`genai_course.data.load_dialogsum` turns
into the Hub's layout). Scoring the rows as they are would generate every summary three times and count
each dialogue three times, each time against one reference.

**Convention.** DialogSum's paper reports ROUGE against each reference separately and a multi-reference
score. Here every prediction is scored against all the references of its dialogue and the *best-matching*
one counts (rouge_score's ``score_multi``, per ROUGE type), so one number per dialogue; aggregates and
bootstrap intervals then resample *dialogues*, not rows. These numbers are higher than single-reference
ones and comparable only to multi-reference, best-match results.

Also here: dropping dialogues whose prompt does not fit the model's context window (counted, never silent
truncation), since a FLAN-T5 prompt over 512 tokens would otherwise be an error at generation time, and
:func:`evaluation_set`, which does both for a lab: the unique dialogues that fit, and what was left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from genai_course.generation import context_window
from genai_course.metrics import MetricInputError, bootstrap_change, rouge, rouge_fmeasures
from genai_course.prompting import build_prompt

REFERENCE_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<k>\d+)$")  # the Hub's test ids: test_<n>_<reference>
GROUPED_COLUMNS = ("id", "dialogue", "references", "topic")


def _stem(ids: Sequence[str]) -> str:
    """The dialogue id of a group of rows: the common stem of ``test_0_1, test_0_2, ...``, else the first id."""
    matches = [REFERENCE_SUFFIX.match(str(i)) for i in ids]
    stems = {m.group("stem") for m in matches if m}
    if len(ids) > 1 and all(matches) and len(stems) == 1:
        return stems.pop()
    return str(ids[0])


def group_references(split: Dataset) -> Dataset:
    """One row per distinct dialogue (``id, dialogue, references, topic``), in order of first appearance.

    Rows with the same dialogue text are the same dialogue annotated more than once; their summaries become
    its ``references`` list (in row order) and its id the common stem of the row ids (``test_0_1`` and
    ``test_0_2`` -> ``test_0``). A split with one row per dialogue (train, validation, the tiny world's test)
    gets one-item lists and keeps its ids and order. Other columns (the tiny world's ``slots``) follow,
    with the value of the dialogue's first row.
    """
    missing = [c for c in ("id", "dialogue", "summary") if c not in split.column_names]
    if missing:
        raise MetricInputError(f"group_references needs columns id, dialogue, summary; missing {', '.join(missing)}.")
    topics = split["topic"] if "topic" in split.column_names else [""] * len(split)
    extras = [c for c in split.column_names if c not in ("id", "dialogue", "summary", "topic")]
    groups: dict[str, dict] = {}  # dicts keep insertion order: the first appearance decides the position
    for index, (row_id, dialogue, summary, topic) in enumerate(
        zip(split["id"], split["dialogue"], split["summary"], topics)
    ):
        group = groups.setdefault(
            dialogue.strip(), {"ids": [], "dialogue": dialogue, "references": [], "topic": topic, "first": index}
        )
        group["ids"].append(row_id)
        group["references"].append(summary)
    firsts = [g["first"] for g in groups.values()]
    columns = {
        "id": [_stem(g["ids"]) for g in groups.values()],
        "dialogue": [g["dialogue"] for g in groups.values()],
        "references": [g["references"] for g in groups.values()],
        "topic": [g["topic"] for g in groups.values()],
    }
    for name in extras:
        values = split[name]
        columns[name] = [values[i] for i in firsts]
    return Dataset.from_dict(columns)


def drop_over_long(
    rows: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    template: Callable[[str], str] | Sequence[Callable[[str], str]],
    *,
    window: int | None = None,
) -> tuple[Dataset, int]:
    """The rows whose prompt ``template(dialogue)`` fits in ``window`` tokens (default: the model's context
    window, FLAN-T5's 512), and how many were dropped. Counting them keeps the evaluation honest: a score on
    the dialogues that fit is a score on a (slightly shorter) subset, and the report should say so.

    ``template`` may be several templates: a row is kept only when every one of its prompts fits (a lab that
    compares prompts must score them all on the same dialogues)."""
    limit = window or context_window(tokenizer)
    templates = [template] if callable(template) else list(template)
    fits = [True] * len(rows)
    for make_prompt in templates:
        prompts = [make_prompt(dialogue) for dialogue in rows["dialogue"]]
        lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=True, verbose=False)["input_ids"]]
        fits = [ok and n <= limit for ok, n in zip(fits, lengths)]
    keep = [i for i, ok in enumerate(fits) if ok]
    return rows.select(keep), len(rows) - len(keep)


@dataclass
class EvaluationSet:
    """The dialogues a lab scores, one row each with all its references, and what was left out on the way."""

    rows: Dataset  # grouped (group_references), over-long dialogues dropped, at most ``n`` of them
    n_rows: int  # rows of the split as loaded (the Hub's test split: one per reference)
    n_dialogues: int  # distinct dialogues among them
    n_over_long: int  # dialogues dropped because a prompt did not fit the context window
    window: int  # that context window, in tokens
    styles: tuple[str, ...]  # the prompt templates that had to fit

    @property
    def references_per_dialogue(self) -> float:
        return sum(len(r) for r in self.rows["references"]) / max(len(self.rows), 1)

    def describe(self) -> str:
        """What is scored and what was left out, for the notebook to print."""
        return (
            f"{self.n_rows} test rows: {self.n_dialogues} distinct dialogues, each scored against all its human "
            f"summaries ({self.references_per_dialogue:.2f} per dialogue here; the best-matching one counts); "
            f"{self.n_over_long} left out for a prompt ({' / '.join(self.styles)}) longer than the "
            f"{self.window}-token context window; {len(self.rows)} kept."
        )


def evaluation_set(
    split: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    styles: Sequence[str] = ("instruction",),
    *,
    n: int | None = None,
    window: int | None = None,
) -> EvaluationSet:
    """A lab's evaluation dialogues: ``split`` grouped into distinct dialogues with all their references
    (:func:`group_references`), those whose prompt in any of ``styles`` (:func:`genai_course.prompting.
    build_prompt`) overflows the context window dropped and counted (:func:`drop_over_long`), then the first
    ``n`` (None: all). On a split with one row per dialogue whose prompts all fit (the tiny world's test)
    the rows are the split's own first ``n``, in order."""
    grouped = group_references(split)
    templates = [lambda dialogue, style=style: build_prompt(style, dialogue) for style in styles]
    fitting, dropped = drop_over_long(grouped, tokenizer, templates, window=window)
    rows = fitting if n is None else fitting.select(range(min(n, len(fitting))))
    return EvaluationSet(
        rows=rows,
        n_rows=len(split),
        n_dialogues=len(grouped),
        n_over_long=dropped,
        window=window or context_window(tokenizer),
        styles=tuple(styles),
    )


def _references(grouped: Dataset, predictions: Sequence[str]) -> list[list[str]]:
    if "references" not in grouped.column_names:
        raise MetricInputError("Expected a grouped evaluation set (group_references) with a 'references' column.")
    if len(predictions) != len(grouped):
        raise MetricInputError(
            f"{len(predictions)} predictions for {len(grouped)} dialogues: generate one summary per grouped "
            "dialogue (group_references), not one per reference row."
        )
    return [list(r) for r in grouped["references"]]


def score_dialogues(predictions: Sequence[str], grouped: Dataset, **rouge_options) -> dict[str, float]:
    """Aggregated ROUGE of one prediction per dialogue against all its references (best match counts)."""
    return rouge(predictions, _references(grouped, predictions), **rouge_options)


def per_dialogue_rouge(
    predictions: Sequence[str], grouped: Dataset, rouge_type: str = "rouge1", **rouge_options
) -> list[float]:
    """One best-match F-measure per dialogue: the unit a bootstrap over dialogues resamples."""
    scores = rouge_fmeasures(predictions, _references(grouped, predictions), rouge_types=(rouge_type,), **rouge_options)
    return scores[rouge_type]


def compare_on_dialogues(
    before: Sequence[str],
    after: Sequence[str],
    grouped: Dataset,
    rouge_type: str = "rouge1",
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float | None]:
    """The change of mean best-match ROUGE between two systems on the same dialogues, with a paired
    percentile bootstrap that resamples dialogues (:func:`genai_course.metrics.bootstrap_change`)."""
    return bootstrap_change(
        per_dialogue_rouge(before, grouped, rouge_type),
        per_dialogue_rouge(after, grouped, rouge_type),
        paired=True,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
