"""Scores for generated text: ROUGE (offline, ``evaluate``-compatible), exact match, bootstrap intervals.

ROUGE uses the ``rouge_score`` engine that ``evaluate``'s ``rouge`` wraps, and aggregates the same way:
the ``mid`` F-measure of rouge_score's ``BootstrapAggregator`` (the median of 1,000 bootstrap means),
but seeded, so a number in a notebook is the same on every run. ``aggregate="mean"`` gives the plain mean.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
from rouge_score import rouge_scorer, scoring

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
AGGREGATES = ("bootstrap", "mean")
MIN_BOOTSTRAP_SAMPLES = 2


class MetricInputError(ValueError):
    """Predictions and references that cannot be scored, with what to fix."""


class _CallableTokenizer:
    """rouge_score wants an object with ``tokenize``; evaluate's rouge takes a plain callable."""

    def __init__(self, function: Callable[[str], list[str]]):
        self.function = function

    def tokenize(self, text: str) -> list[str]:
        return self.function(text)


def rouge(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    use_stemmer: bool = True,
    rouge_types: Sequence[str] = ROUGE_TYPES,
    aggregate: str = "bootstrap",
    seed: int = 0,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> dict[str, float]:
    """Aggregated ROUGE F-measures in [0, 1], one per type, as ``evaluate``'s rouge with ``use_aggregator=True``.

    ``references`` may hold one string per prediction or a list of strings (the best-matching one
    counts, as in rouge_score's ``score_multi``): DialogSum's test dialogues have three references each,
    and :mod:`genai_course.evaluation` feeds them here as lists. ``rougeLsum`` treats newlines as sentence breaks.
    ``aggregate="bootstrap"`` reproduces evaluate's number exactly for a given numpy seed;
    ``"mean"`` is the plain mean of the per-example F-measures (on 100 examples they typically differ
    by about 0.001). ``tokenizer`` (text -> tokens) replaces rouge_score's lower-case alphanumeric one.
    """
    if aggregate not in AGGREGATES:
        raise MetricInputError(f"Unknown aggregate {aggregate!r}; choose one of {', '.join(AGGREGATES)}.")
    per_example = rouge_scores(
        predictions, references, use_stemmer=use_stemmer, rouge_types=rouge_types, tokenizer=tokenizer
    )
    if aggregate == "mean":
        return {key: float(np.mean([s.fmeasure for s in scores])) for key, scores in per_example.items()}
    aggregator = scoring.BootstrapAggregator()
    for i in range(len(predictions)):
        aggregator.add_scores({key: scores[i] for key, scores in per_example.items()})
    # rouge_score resamples with numpy's global generator: seed it, and put it back afterwards.
    with _seeded_global_numpy(seed):
        aggregated = aggregator.aggregate()
    return {key: float(aggregated[key].mid.fmeasure) for key in rouge_types}


def rouge_scores(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    use_stemmer: bool = True,
    rouge_types: Sequence[str] = ROUGE_TYPES,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> dict[str, list[scoring.Score]]:
    """Per-example ROUGE scores (precision, recall, fmeasure) for each type, in input order."""
    predictions, references = _check_pairs(predictions, references)
    rouge_types = _check_types(rouge_types)
    scorer = rouge_scorer.RougeScorer(
        list(rouge_types), use_stemmer=use_stemmer, tokenizer=_CallableTokenizer(tokenizer) if tokenizer else None
    )
    result: dict[str, list[scoring.Score]] = {key: [] for key in rouge_types}
    for prediction, reference in zip(predictions, references):
        if isinstance(reference, str):
            score = scorer.score(reference, prediction)
        else:
            score = scorer.score_multi(list(reference), prediction)
        for key in rouge_types:
            result[key].append(score[key])
    return result


def rouge_fmeasures(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    use_stemmer: bool = True,
    rouge_types: Sequence[str] = ROUGE_TYPES,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> dict[str, list[float]]:
    """Per-example F-measures, as ``evaluate``'s rouge with ``use_aggregator=False`` (input to bootstraps)."""
    scores = rouge_scores(
        predictions, references, use_stemmer=use_stemmer, rouge_types=rouge_types, tokenizer=tokenizer
    )
    return {key: [float(s.fmeasure) for s in values] for key, values in scores.items()}


def rouge_module_path() -> Path:
    """The folder of the local ``evaluate`` module: ``evaluate.load(str(rouge_module_path()))`` works offline."""
    return Path(__file__).parent / "evaluate_modules" / "rouge"


def bootstrap_change(
    before: Sequence[float],
    after: Sequence[float],
    *,
    paired: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float | None]:
    """Mean before, mean after, their change (after - before) and a percentile bootstrap interval of it.

    The interval is the *percentile bootstrap*: resample the examples with replacement ``n_resamples``
    times (seeded), compute the change of means each time, and take the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` percentiles of those changes (no bias correction, no studentizing). It needs at
    least 2 examples on each side: with one, every resample is the same and the "interval" has no width.
    ``paired=True`` resamples the same examples on both sides (before/after on the same inputs), which
    removes the between-example spread from the interval; ``paired=False`` resamples each side alone.
    ``relative_change`` is change / |before mean|, or None when the before mean is 0.
    """
    before_arr = _finite_array(before, "before")
    after_arr = _finite_array(after, "after")
    if paired and len(before_arr) != len(after_arr):
        raise MetricInputError(
            f"A paired bootstrap needs the same examples before and after, got {len(before_arr)} and "
            f"{len(after_arr)} values; pass paired=False for two independent samples."
        )
    if min(len(before_arr), len(after_arr)) < MIN_BOOTSTRAP_SAMPLES:
        raise MetricInputError(
            f"A bootstrap interval needs at least {MIN_BOOTSTRAP_SAMPLES} examples per side, got "
            f"{len(before_arr)} before and {len(after_arr)} after: with one, every resample is identical and "
            "the interval has zero width. Score more examples."
        )
    if not 0 < confidence < 1:
        raise MetricInputError(f"confidence must be between 0 and 1, got {confidence}.")
    if n_resamples < 1:
        raise MetricInputError(f"n_resamples must be >= 1, got {n_resamples}.")
    rng = np.random.default_rng(seed)
    if paired:
        index = rng.integers(0, len(before_arr), size=(n_resamples, len(before_arr)))
        changes = after_arr[index].mean(axis=1) - before_arr[index].mean(axis=1)
    else:
        index_before = rng.integers(0, len(before_arr), size=(n_resamples, len(before_arr)))
        index_after = rng.integers(0, len(after_arr), size=(n_resamples, len(after_arr)))
        changes = after_arr[index_after].mean(axis=1) - before_arr[index_before].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(changes, [tail, 100 - tail])
    before_mean, after_mean = float(before_arr.mean()), float(after_arr.mean())
    change = after_mean - before_mean
    return {
        "before_mean": before_mean,
        "after_mean": after_mean,
        "change": change,
        "relative_change": change / abs(before_mean) if before_mean != 0 else None,
        "ci_low": float(low),
        "ci_high": float(high),
    }


def normalize_answer(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces: "The Soup." and "the soup" are the same answer."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in str(text).lower()).split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference, ignoring case, punctuation and extra spaces.

    Used for Lab 2's second task (topic naming) whose answers are short labels, where partial credit
    (ROUGE) would blur the difference between "knows the topic" and "writes a summary that mentions it".
    """
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise MetricInputError(f"{len(predictions)} predictions but {len(references)} references; they must pair up.")
    if not predictions:
        raise MetricInputError("Nothing to score: no predictions.")
    hits = sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references))
    return hits / len(predictions)


def proportion_interval(outcomes: Sequence[bool], *, confidence: float = 0.95) -> tuple[float, float, float]:
    """The share of true outcomes and its Wilson score interval, as (share, low, high).

    Wilson's interval, not the normal approximation: it stays inside [0, 1] and keeps its coverage near
    0 and 1, where an accuracy of 3 in 200 would otherwise get a negative lower end.
    """
    values = list(outcomes)
    if not values:
        raise MetricInputError("Nothing to score: no outcomes.")
    if not all(isinstance(v, (bool, np.bool_)) for v in values):
        raise MetricInputError("outcomes must be booleans (right or wrong per question).")
    if not 0 < confidence < 1:
        raise MetricInputError(f"confidence must be between 0 and 1, got {confidence}.")
    n, share = len(values), sum(values) / len(values)
    z = float(NormalDist().inv_cdf((1 + confidence) / 2))
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return share, max(0.0, centre - half), min(1.0, centre + half)


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and (population) standard deviation, the way the course reports toxicity."""
    array = _finite_array(values, "values")
    return {"mean": float(array.mean()), "std": float(array.std())}


def format_rouge_table(table: dict[str, dict[str, float]], *, digits: int = 4) -> str:
    """A plain-text table of ``{row name: {rouge type: value}}``, for printing in notebooks and logs."""
    if not table:
        raise MetricInputError("Nothing to format: the ROUGE table is empty.")
    columns = list(next(iter(table.values())))
    width = max(len(name) for name in table) + 2
    lines = ["".ljust(width) + "".join(c.rjust(digits + 6) for c in columns)]
    for name, row in table.items():
        lines.append(name.ljust(width) + "".join(f"{row[c]:.{digits}f}".rjust(digits + 6) for c in columns))
    return "\n".join(lines)


def _check_pairs(predictions, references) -> tuple[list[str], list]:
    for name, value in (("predictions", predictions), ("references", references)):
        if isinstance(value, str):
            raise MetricInputError(f"{name} must be a list of strings, not a single string; wrap it in [...].")
    predictions, references = list(predictions), list(references)
    if not predictions:
        raise MetricInputError("Cannot score ROUGE on empty input: predictions is empty.")
    if len(predictions) != len(references):
        raise MetricInputError(
            f"predictions and references must pair up one to one, got {len(predictions)} predictions "
            f"and {len(references)} references."
        )
    bad = [i for i, p in enumerate(predictions) if not isinstance(p, str)]
    if bad:
        raise MetricInputError(
            f"predictions must be strings; item #{bad[0]} is {type(predictions[bad[0]]).__name__}. "
            "Decode token ids to text first (genai_course.generation.generate returns text)."
        )
    for i, reference in enumerate(references):
        if not isinstance(reference, str) and not (
            isinstance(reference, Sequence) and reference and all(isinstance(r, str) for r in reference)
        ):
            raise MetricInputError(
                f"references must be strings or non-empty lists of strings; item #{i} is {reference!r}."
            )
    return predictions, references


def _check_types(rouge_types: Sequence[str]) -> tuple[str, ...]:
    if isinstance(rouge_types, str):
        rouge_types = (rouge_types,)
    rouge_types = tuple(rouge_types)
    valid = {"rougeL", "rougeLsum"} | {f"rouge{n}" for n in range(1, 10)}
    unknown = [t for t in rouge_types if t not in valid]
    if not rouge_types or unknown:
        raise MetricInputError(
            f"Unknown ROUGE type(s) {unknown or rouge_types!r}; use rouge1..rouge9, rougeL or rougeLsum."
        )
    return rouge_types


def _finite_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise MetricInputError(f"{name} must be a non-empty list of numbers, got {array.size} values.")
    if not np.all(np.isfinite(array)):
        raise MetricInputError(f"{name} contains NaN or infinite values; fix the scores first.")
    return array


@contextlib.contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
