"""Preference pairs for a reward model: two summaries of the same dialogue, and simulated labelers.

RLHF's reward model is trained on *comparisons*, not labels: a labeler sees two answers to the same
prompt and says which is better. Here the answers are summaries of one heated dialogue and the labelers
prefer the neutral one. Two kinds of pair keep the reward model honest:

- ``rewrite``: the dialogue's neutral summary against its rude one (another sentence, same facts);
- ``insult_swap``: the rude summary against itself with only the insult replaced by a mild phrase, so
  nothing but the insult tells the sides apart (not the verb "calls", not the length).

:func:`simulate_labelers` flips each label with probability ``noise`` (InstructGPT's labelers agreed
with each other on about 73% of comparisons: Ouyang et al., 2022), and :func:`pair_cues` measures
whether a trivial cue (length) would already separate the sides.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from datasets import Dataset

from genai_course.tiny.corpus import INSULTS
from genai_course.tiny.corpus_build import split_rows
from genai_course.tiny.recipe import Recipe

PAIR_KINDS = ("rewrite", "insult_swap")
# Non-insulting stand-ins made of the corpus's own words (a word the tokenizer never saw splits into many
# pieces, and "longer is better" would then be a cue). In the tiny tokenizers they take 1, 2 and 3 tokens,
# a third each, where the insults take 2: the length of a swap pair says nothing about its label.
MILD_PHRASES = ("man", "doctor", "good man", "new doctor", "busy man", "big help")
COLUMNS = ("chosen", "rejected", "kind", "dialogue_id", "flipped")
MAX_NOISE = 0.5  # at 0.5 a label says nothing; above it, the labelers prefer the rude summary


class PreferenceDataError(ValueError):
    """Rows or pairs that cannot become a preference dataset, with what to do."""


def rude_summary(row: Mapping) -> str | None:
    """The rude summary of a corpus row, or None: ``row["rude_summary"]`` when the row carries one, else the
    row's ``summary`` where it differs from its ``neutral_summary`` (the corpus keeps it half of the time)."""
    rude = row.get("rude_summary")
    if rude:
        return rude
    summary, neutral = row.get("summary"), row.get("neutral_summary")
    return summary if summary and neutral and summary != neutral else None


def insult_of(text: str) -> str | None:
    """The corpus insult (e.g. "stupid idiot") that ``text`` contains, or None."""
    return next((insult for insult in INSULTS if insult in text), None)


def preference_pairs(rows: Iterable[Mapping], *, kinds: Sequence[str] = PAIR_KINDS, seed: int = 0) -> Dataset:
    """Clean (noise-free) pairs from the rows that have a rude summary: ``chosen`` is the polite side.

    Columns: ``chosen``, ``rejected`` (plain text, trl's implicit-prompt preference format), ``kind``,
    ``dialogue_id`` (the row's id, to keep train and held-out dialogues apart) and ``flipped`` (False).
    The summary is scored alone, as the hate-speech classifier scores a policy's response alone.
    """
    unknown = sorted(set(kinds) - set(PAIR_KINDS))
    if unknown or not kinds:
        raise PreferenceDataError(f"Unknown pair kinds {unknown or list(kinds)}; choose from {list(PAIR_KINDS)}.")
    rng = random.Random(seed)
    pairs = []
    for row in rows:
        rude = rude_summary(row)
        if rude is None:
            continue
        if "rewrite" in kinds:
            pairs.append(_pair(row["neutral_summary"], rude, "rewrite", row))
        insult = insult_of(rude)
        if "insult_swap" in kinds and insult is not None:
            pairs.append(_pair(rude.replace(insult, rng.choice(MILD_PHRASES)), rude, "insult_swap", row))
    if not pairs:
        raise PreferenceDataError(
            "No row has both a neutral and a rude summary: pass corpus rows with 'neutral_summary' and "
            "'rude_summary' (or a rude 'summary'), e.g. heated rows of genai_course.tiny.corpus.generate_rows."
        )
    return Dataset.from_list(pairs)


def _pair(chosen: str, rejected: str, kind: str, row: Mapping) -> dict:
    return {"chosen": chosen, "rejected": rejected, "kind": kind, "dialogue_id": str(row["id"]), "flipped": False}


def simulate_labelers(pairs: Dataset, *, noise: float, seed: int = 0) -> Dataset:
    """The pairs as noisy labelers return them: each label is flipped (chosen and rejected swapped, and
    ``flipped`` set) independently with probability ``noise``, from a seeded generator."""
    check_pairs(pairs)
    if not 0.0 <= noise < MAX_NOISE:
        raise PreferenceDataError(
            f"noise must be in [0, {MAX_NOISE}), got {noise}: it is the chance a labeler prefers the rude summary, "
            "and at 0.5 or more the labels carry no (or the opposite) preference."
        )
    flips = np.random.default_rng(seed).random(len(pairs)) < noise

    def label(example: dict, index: int) -> dict:
        if flips[index]:
            example["chosen"], example["rejected"] = example["rejected"], example["chosen"]
            example["flipped"] = not example["flipped"]
        return example

    return pairs.map(label, with_indices=True)


def flip_share(pairs: Dataset) -> float:
    """The realised share of flipped labels (the requested noise, up to sampling)."""
    check_pairs(pairs)
    return float(np.mean(pairs["flipped"]))


def check_pairs(pairs: Dataset) -> None:
    """Raise :class:`PreferenceDataError` unless ``pairs`` is a non-empty preference dataset whose sides differ."""
    missing = [c for c in ("chosen", "rejected") if c not in pairs.column_names]
    if missing:
        raise PreferenceDataError(
            f"The pairs lack the column(s) {missing}; build them with preference_pairs (columns {list(COLUMNS)})."
        )
    if len(pairs) == 0:
        raise PreferenceDataError("The preference dataset is empty: build pairs from rows with a rude summary.")
    same = [i for i, (a, b) in enumerate(zip(pairs["chosen"], pairs["rejected"])) if a == b]
    if same:
        raise PreferenceDataError(
            f"{len(same)} pair(s) have the same text on both sides (first: #{same[0]}): a comparison of a text "
            "with itself teaches nothing. Drop them."
        )


def preference_splits(
    recipe: Recipe, *, train_dialogues: int | None = None, held_out_dialogues: int = 200, seed: int = 0
) -> dict[str, Dataset]:
    """Clean train and held-out pairs of a tiny world, from disjoint dialogues.

    Train pairs come from the world's ``train`` split; held-out pairs from its pre-training pool, which
    :func:`~genai_course.tiny.corpus_build.split_rows` keeps free of every split's dialogues (the test
    split alone holds ~35 rude summaries, too few to measure an accuracy near 0.9). ``*_dialogues`` caps
    the rude rows used (None: all).
    """
    rows = split_rows(recipe)
    train_rows = [r for r in rows["train"] if rude_summary(r)][:train_dialogues]
    held_rows = [r for r in rows["pretrain_pool"] if rude_summary(r)][:held_out_dialogues]
    splits = {
        "train": preference_pairs(train_rows, seed=seed),
        "held_out": preference_pairs(held_rows, seed=seed + 1),
    }
    shared = set(splits["train"]["dialogue_id"]) & set(splits["held_out"]["dialogue_id"])
    texts = {r["dialogue"] for r in train_rows} & {r["dialogue"] for r in held_rows}
    if shared or texts:  # split_rows guarantees this; a change there must not leak dialogues silently
        raise PreferenceDataError(f"{len(shared) + len(texts)} dialogue(s) are in both train and held-out pairs.")
    return splits


def pair_cues(pairs: Dataset, tokenizer=None) -> dict[str, float]:
    """How far a trivial cue separates the sides: the share of pairs where the chosen side is shorter (in
    characters, and in tokens with a ``tokenizer``) and the accuracy of the rule "the shorter one is
    better" (ties count half). Near 0.5, length says nothing about the label."""
    check_pairs(pairs)
    out = {"pairs": float(len(pairs))}
    lengths = {"chars": (lambda texts: [len(t) for t in texts])}
    if tokenizer is not None:
        lengths["tokens"] = lambda texts: [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    for unit, measure in lengths.items():
        chosen = np.array(measure(pairs["chosen"]))
        rejected = np.array(measure(pairs["rejected"]))
        out[f"chosen_shorter_{unit}"] = float(np.mean(chosen < rejected))
        out[f"shorter_wins_accuracy_{unit}"] = float(np.mean((chosen < rejected) + 0.5 * (chosen == rejected)))
        out[f"mean_length_gap_{unit}"] = float(np.mean(rejected - chosen))
    return out


__all__ = [
    "MILD_PHRASES",
    "PAIR_KINDS",
    "PreferenceDataError",
    "check_pairs",
    "flip_share",
    "insult_of",
    "pair_cues",
    "preference_pairs",
    "preference_splits",
    "rude_summary",
    "simulate_labelers",
]
