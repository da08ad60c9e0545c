"""Prompt templates for dialogue summarization (Lab 1), shared by fine-tuning (Lab 2) and PPO (Lab 3).

The tiny world's pre-training uses these exact strings, so a template changed here changes what the
tiny model "knows": rebuild the tiny world (bump TINY_WORLD_VERSION) after editing them.

Beyond the zero-shot templates: one-shot and few-shot prompts built from worked examples (shots), measured
against the model's context window so that a prompt that does not fit is reported (and can be cut down
with :func:`fit_shots`) instead of silently truncated, and the decoding presets the lab compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from tqdm.auto import tqdm
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from genai_course.generation import ContextWindowError, generate
from genai_course.generation import context_window as model_context_window
from genai_course.metrics import rouge

TEMPLATES: dict[str, str] = {
    # The dialogue alone: the model has to guess what we want.
    "none": "{dialogue}",
    # The course's instruction prompt (also Lab 2's training prompt).
    "instruction": "Summarize the following conversation.\n\n{dialogue}\n\nSummary: ",
    # One of FLAN's own templates for dialogue summarization.
    "flan": "Dialogue:\n\n{dialogue}\n\nWhat was going on?",
    # A second task the base model can do; Lab 2 measures how much fine-tuning makes it forget.
    "topic": "{dialogue}\n\nWhat is the topic of this conversation?",
}


def build_prompt(style: str, dialogue: str) -> str:
    """Wrap ``dialogue`` in the template named ``style``."""
    if style not in TEMPLATES:
        raise ValueError(f"Unknown prompt style {style!r}; choose one of {', '.join(TEMPLATES)}.")
    if not dialogue or not dialogue.strip():
        raise ValueError("Cannot build a prompt for an empty dialogue.")
    return TEMPLATES[style].format(dialogue=dialogue.strip())


def instruction_prompt(dialogue: str) -> str:
    """The course's instruction prompt, used for training in Lab 2 and as Lab 3's query."""
    return build_prompt("instruction", dialogue)


# --- One-shot and few-shot prompts -------------------------------------------------------------------

# Each worked example ends with its summary and blank lines: the model learns from the pattern that a
# summary is followed by a stop, so it writes one summary for the last dialogue instead of continuing.
STOP_SEQUENCE = "\n\n\n"
SHOT_STYLE = "flan"  # the course wrote its shots in FLAN's "Dialogue: ... What was going on?" template
OVERFLOW_POLICIES = ("report", "raise", "drop")


@dataclass(frozen=True)
class Shot:
    """One worked example for in-context learning: a dialogue and its reference summary."""

    dialogue: str
    summary: str
    id: str | None = None


def shots_from(split: Iterable[Mapping], indices: Sequence[int]) -> list[Shot]:
    """The rows ``indices`` of a DialogSum split (a ``datasets.Dataset`` or a list of dicts) as shots."""
    rows = split if hasattr(split, "__getitem__") else list(split)
    size = len(rows)
    shots = []
    for index in indices:
        if not -size <= int(index) < size:
            raise IndexError(f"Shot index {index} is outside the split, which has {size} rows.")
        row = rows[int(index)]
        shots.append(Shot(dialogue=row["dialogue"], summary=row["summary"], id=row.get("id")))
    return shots


def pick_shots(
    split: Sequence[Mapping],
    k: int,
    *,
    seed: int = 0,
    exclude_ids: Iterable[str] = (),
    tokenizer: PreTrainedTokenizerBase | None = None,
    max_shot_tokens: int | None = None,
) -> list[Shot]:
    """``k`` shots drawn from ``split`` with a seeded generator, in a fixed order.

    Draw them from a split you do not evaluate on (or pass the evaluated ids as ``exclude_ids``), so a
    shot is never the dialogue being summarized. With ``tokenizer`` and ``max_shot_tokens``, only shots
    whose formatted text is at most that many tokens are eligible, which keeps room for the target
    dialogue. The first ``j`` shots of ``pick_shots(..., k)`` are the same for every ``j <= k``.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}.")
    if (max_shot_tokens is None) != (tokenizer is None):
        raise ValueError("Pass tokenizer and max_shot_tokens together (or neither).")
    excluded = set(exclude_ids)
    order = np.random.default_rng(seed).permutation(len(split))
    shots: list[Shot] = []
    for index in order:
        if len(shots) == k:
            break
        shot = shots_from(split, [int(index)])[0]
        if shot.id is not None and shot.id in excluded:
            continue
        if tokenizer is not None and count_tokens(tokenizer, format_shot(shot)) > max_shot_tokens:
            continue
        shots.append(shot)
    if len(shots) < k:
        raise ValueError(
            f"Only {len(shots)} of the {len(split)} rows are eligible as shots, {k} were asked for; "
            "lower k, raise max_shot_tokens or exclude fewer ids."
        )
    return shots


def as_shot(shot: Shot | Mapping) -> Shot:
    """``shot`` as a :class:`Shot`: a row of a DialogSum ``Dataset`` (a dict with ``dialogue`` and
    ``summary``) is taken as it is, so the prompt builders accept the rows a learner indexes out of a split."""
    if isinstance(shot, Shot):
        return shot
    if isinstance(shot, Mapping):
        return Shot(dialogue=shot["dialogue"], summary=shot["summary"], id=shot.get("id"))
    raise TypeError(f"A shot is a Shot or a row with 'dialogue' and 'summary', not {type(shot).__name__}.")


def format_shot(shot: Shot | Mapping, style: str = SHOT_STYLE) -> str:
    """A worked example: the prompt of ``style`` for the shot's dialogue, its summary, a stop sequence.

    ``shot`` may also be a DialogSum row (a dict with ``dialogue`` and ``summary``)."""
    shot = as_shot(shot)
    if not shot.summary or not shot.summary.strip():
        raise ValueError(f"Shot {shot.id or ''} has an empty summary; a worked example needs its answer.")
    return f"{build_prompt(style, shot.dialogue)}\n{shot.summary.strip()}{STOP_SEQUENCE}"


def few_shot_prompt(shots: Sequence[Shot | Mapping], dialogue: str, *, style: str = SHOT_STYLE) -> str:
    """The worked examples followed by ``dialogue`` in the same template, left for the model to answer.

    With no shots this is the zero-shot prompt of ``style``; with one it is the course's one-shot prompt.
    Shots may be :class:`Shot` objects or DialogSum rows (dicts with ``dialogue`` and ``summary``).
    """
    if isinstance(shots, (Shot, Mapping)):
        shots = [shots]
    return "".join(format_shot(shot, style) for shot in shots) + build_prompt(style, dialogue)


def one_shot_prompt(shot: Shot, dialogue: str, *, style: str = SHOT_STYLE) -> str:
    """One worked example, then ``dialogue``."""
    return few_shot_prompt([shot], dialogue, style=style)


# --- The context budget --------------------------------------------------------------------------------


def count_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> int:
    """Tokens the model reads for ``text``, end-of-sequence token included."""
    return len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])


@dataclass(frozen=True)
class PromptBudget:
    """A few-shot prompt measured against the context window: does it fit, and how many shots would."""

    prompt: str
    n_shots: int  # shots in ``prompt``
    n_requested: int  # shots asked for (more than n_shots when some were dropped to fit)
    n_tokens: int
    context_window: int
    shots_that_fit: int  # the most shots (taken in order) whose prompt fits; -1: not even zero shots
    requested_tokens: int  # tokens of the prompt with all the shots asked for

    @property
    def fits(self) -> bool:
        return self.n_tokens <= self.context_window

    @property
    def dropped(self) -> int:
        return self.n_requested - self.n_shots

    def report(self) -> str:
        """One line a learner can act on."""
        head = f"{self.n_shots}-shot prompt: {self.n_tokens} tokens, context window {self.context_window}"
        if self.fits:
            dropped = f" ({self.dropped} of {self.n_requested} shots dropped to fit)" if self.dropped else ""
            return f"{head}: fits{dropped}."
        if self.shots_that_fit < 0:
            return f"{head}: DOES NOT FIT even without shots; the dialogue alone is too long."
        return (
            f"{head}: DOES NOT FIT by {self.n_tokens - self.context_window} tokens; only "
            f"{self.shots_that_fit} shot(s) fit. The model would ignore or mangle the overflow: use "
            "fit_shots(...) or fewer shots."
        )

    def check(self) -> PromptBudget:
        """Return self when the prompt fits, else raise :class:`ContextWindowError` with the report."""
        if not self.fits:
            raise ContextWindowError(self.report())
        return self


def measure_few_shot(
    shots: Sequence[Shot | Mapping],
    dialogue: str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    style: str = SHOT_STYLE,
    context_window: int | None = None,
) -> PromptBudget:
    """The few-shot prompt with all ``shots``, its token count, and how many shots would fit."""
    window = context_window or model_context_window(tokenizer)
    prompt = few_shot_prompt(shots, dialogue, style=style)
    n_tokens = count_tokens(tokenizer, prompt)
    fitting = len(shots) if n_tokens <= window else _most_shots_that_fit(shots, dialogue, tokenizer, style, window)
    return PromptBudget(prompt, len(shots), len(shots), n_tokens, window, fitting, n_tokens)


def fit_shots(
    shots: Sequence[Shot | Mapping],
    dialogue: str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    style: str = SHOT_STYLE,
    context_window: int | None = None,
) -> PromptBudget:
    """The prompt with as many of ``shots`` (kept in order, the last ones dropped) as fit the window.

    Raises :class:`ContextWindowError` when even the zero-shot prompt is too long.
    """
    budget = measure_few_shot(shots, dialogue, tokenizer, style=style, context_window=context_window)
    if budget.fits:
        return budget
    if budget.shots_that_fit < 0:
        raise ContextWindowError(budget.report())
    kept = list(shots)[: budget.shots_that_fit]
    prompt = few_shot_prompt(kept, dialogue, style=style)
    return replace(budget, prompt=prompt, n_shots=len(kept), n_tokens=count_tokens(tokenizer, prompt))


def _most_shots_that_fit(shots, dialogue, tokenizer, style, window) -> int:
    # Prompts grow with every shot, so walk up from zero and stop at the first that overflows.
    # (Tokens are not exactly additive across joins, hence measuring each prefix for real.)
    fitting = -1
    for k in range(len(shots) + 1):
        if count_tokens(tokenizer, few_shot_prompt(list(shots)[:k], dialogue, style=style)) > window:
            break
        fitting = k
    return fitting


def build_prompts(
    dialogues: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    *,
    style: str,
    shots: Sequence[Shot] = (),
    on_overflow: str = "report",
    context_window: int | None = None,
) -> list[PromptBudget]:
    """A measured prompt per dialogue, with the same shots for all.

    ``on_overflow``: ``"report"`` keeps over-long prompts (their ``fits`` is False; generating them
    raises), ``"raise"`` raises :class:`ContextWindowError` naming them, ``"drop"`` drops shots per
    dialogue until its prompt fits (:func:`fit_shots`).
    """
    if on_overflow not in OVERFLOW_POLICIES:
        raise ValueError(f"on_overflow must be one of {', '.join(OVERFLOW_POLICIES)}, got {on_overflow!r}.")
    measure = fit_shots if on_overflow == "drop" else measure_few_shot
    budgets = [
        measure(shots, dialogue, tokenizer, style=style, context_window=context_window) for dialogue in dialogues
    ]
    too_long = [i for i, b in enumerate(budgets) if not b.fits]
    if on_overflow == "raise" and too_long:
        raise ContextWindowError(
            f"{len(too_long)} of {len(budgets)} prompts do not fit; the first: #{too_long[0]}: "
            + budgets[too_long[0]].report()
        )
    return budgets


# --- Generation presets ---------------------------------------------------------------------------------


def generation_presets(max_new_tokens: int = 50, *, short_tokens: int = 10) -> dict[str, GenerationConfig]:
    """The decoding settings the lab compares, by name.

    ``greedy`` and ``short`` (at most ``short_tokens`` new tokens) are deterministic. The ``temperature_*``
    presets sample
    from the whole distribution (top-k and top-p off) so that only the temperature changes; ``top_k_10``
    and ``top_p_0.9`` sample at temperature 1 from a truncated distribution.
    """
    sample = dict(max_new_tokens=max_new_tokens, do_sample=True)
    return {
        "greedy": GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False),
        "short": GenerationConfig(max_new_tokens=min(short_tokens, max_new_tokens), do_sample=False),
        "temperature_0.1": GenerationConfig(**sample, temperature=0.1, top_k=0, top_p=1.0),
        "temperature_0.5": GenerationConfig(**sample, temperature=0.5, top_k=0, top_p=1.0),
        "temperature_1.0": GenerationConfig(**sample, temperature=1.0, top_k=0, top_p=1.0),
        "top_k_10": GenerationConfig(**sample, temperature=1.0, top_k=10, top_p=1.0),
        "top_p_0.9": GenerationConfig(**sample, temperature=1.0, top_k=0, top_p=0.9),
    }


def generation_preset(name: str, max_new_tokens: int = 50) -> GenerationConfig:
    """One preset of :func:`generation_presets` by name."""
    presets = generation_presets(max_new_tokens)
    if name not in presets:
        raise ValueError(f"Unknown generation preset {name!r}; choose one of {', '.join(presets)}.")
    return presets[name]


# --- Measuring prompting strategies with ROUGE ---------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A way to prompt: a template and how many worked examples precede the dialogue."""

    name: str
    style: str
    n_shots: int = 0


# The lab's table: the course's five prompts. Few-shot uses 3 shots, as the course did.
LAB1_STRATEGIES = (
    Strategy("no_prompt", "none"),
    Strategy("instruction", "instruction"),
    Strategy("flan", "flan"),
    Strategy("one_shot", SHOT_STYLE, 1),
    Strategy("few_shot", SHOT_STYLE, 3),
)


def shot_strategies(counts: Sequence[int] = (0, 1, 2, 3, 6), *, style: str = SHOT_STYLE) -> list[Strategy]:
    """One strategy per number of shots, named ``"{k}_shot"``, for the ROUGE-versus-shots curve."""
    return [Strategy(f"{k}_shot", style, k) for k in counts]


@dataclass
class StrategyRun:
    """The prompts, generated summaries and ROUGE of one strategy on a set of dialogues."""

    strategy: Strategy
    budgets: list[PromptBudget]  # after dropping shots where needed
    predictions: list[str]
    rouge: dict[str, float]

    @property
    def prompt_tokens_max(self) -> int:
        """The longest prompt with all the shots asked for (before any were dropped)."""
        return max(b.requested_tokens for b in self.budgets)

    @property
    def fits(self) -> bool:
        """Whether every prompt fitted with all the shots asked for (nothing had to be dropped)."""
        return all(b.dropped == 0 for b in self.budgets)

    @property
    def n_dropped(self) -> int:
        """Prompts that lost shots to fit the context window."""
        return sum(b.dropped > 0 for b in self.budgets)


def run_strategies(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dialogues: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    strategies: Sequence[Strategy] = LAB1_STRATEGIES,
    *,
    shots: Sequence[Shot] = (),
    config: GenerationConfig | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> dict[str, StrategyRun]:
    """Generate and score every strategy on the same dialogues; strategies that differ only in name
    (same template and shot count) are computed once.

    Prompts that overflow the context window lose shots until they fit (and are counted in
    ``StrategyRun.n_dropped``), so no prompt is ever silently truncated. ``references`` holds one summary
    per dialogue or a list of them (real DialogSum's test dialogues: :func:`genai_course.evaluation.
    evaluation_set`), of which the best-matching one counts.
    """
    if len(dialogues) != len(references):
        raise ValueError(f"Got {len(dialogues)} dialogues but {len(references)} reference summaries.")
    too_many = [s.name for s in strategies if s.n_shots > len(shots)]
    if too_many:
        raise ValueError(
            f"Strategies {too_many} need up to {max(s.n_shots for s in strategies)} shots but only "
            f"{len(shots)} were given; pick more with pick_shots()."
        )
    done: dict[tuple[str, int], StrategyRun] = {}
    runs: dict[str, StrategyRun] = {}
    for strategy in tqdm(strategies, desc="Strategies", disable=not progress):
        key = (strategy.style, strategy.n_shots)
        if key not in done:
            done[key] = _run_strategy(
                model,
                tokenizer,
                dialogues,
                references,
                strategy,
                list(shots)[: strategy.n_shots],
                config,
                batch_size,
            )
        runs[strategy.name] = replace(done[key], strategy=strategy)
    return runs


def _run_strategy(model, tokenizer, dialogues, references, strategy, shots, config, batch_size) -> StrategyRun:
    budgets = build_prompts(dialogues, tokenizer, style=strategy.style, shots=shots, on_overflow="drop")
    predictions = generate(model, tokenizer, [b.prompt for b in budgets], config, batch_size=batch_size, progress=False)
    return StrategyRun(
        strategy=strategy,
        budgets=budgets,
        predictions=predictions,
        rouge=rouge(predictions, list(references)),
    )


def rouge_table(runs: Mapping[str, StrategyRun], names: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """``{strategy name: {rouge1, rouge2, rougeL, rougeLsum}}`` for the named runs (default: all)."""
    return {name: dict(runs[name].rouge) for name in (names or list(runs))}


def shots_curve(runs: Mapping[str, StrategyRun], counts: Sequence[int] = (0, 1, 2, 3, 6)) -> list[dict]:
    """The ROUGE-versus-shots points from runs of :func:`shot_strategies`, in the lab's record format.

    ``prompt_tokens_max`` is the longest prompt with all ``shots`` shots; ``fits`` says whether every
    prompt fitted the context window without dropping shots.
    """
    by_count = {run.strategy.n_shots: run for run in runs.values() if run.strategy.style == SHOT_STYLE}
    missing = [k for k in counts if k not in by_count]
    if missing:
        raise ValueError(f"No run with {missing} shots; run shot_strategies({list(counts)}) first.")
    return [
        {
            "shots": k,
            "rouge1": by_count[k].rouge["rouge1"],
            "rougeL": by_count[k].rouge["rougeL"],
            "prompt_tokens_max": by_count[k].prompt_tokens_max,
            "fits": by_count[k].fits,
        }
        for k in counts
    ]


def compare_presets(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    presets: Mapping[str, GenerationConfig] | None = None,
    *,
    samples: int = 3,
    seed: int = 0,
) -> dict[str, list[str]]:
    """``samples`` outputs for the same prompt under each preset (sampling re-seeded per preset).

    Greedy presets give ``samples`` identical copies, sampled ones show how much the draws vary.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}.")
    presets = presets or generation_presets()
    return {
        name: generate(model, tokenizer, [prompt] * samples, config, batch_size=samples, progress=False, seed=seed)
        for name, config in presets.items()
    }
