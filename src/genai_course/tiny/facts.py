"""Do a summary's facts match its dialogue? A check only the tiny world can make, because its generator
kept each dialogue's slots (names, days, items, amounts, places).

ROUGE rewards a summary that says "Anna's birthday party" for a dialogue about Mike's: most of its words
match. This check does not: a summary passes only when it states every fact the reference states and
states no value (from the world's slot vocabulary) that the dialogue does not contain.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from genai_course.tiny.corpus import DAYS, SCENARIOS
from genai_course.tiny.slots import mentions


def slot_vocabulary() -> set[str]:
    """Every value any scenario can draw for a fact: what a wrong name, day, item or amount comes from."""
    vocabulary: set[str] = set(DAYS)  # car repairs draw "on <day>" from DAYS inside an option list
    for scenario in SCENARIOS.values():
        for options in scenario(random.Random(0)).slots.options.values():
            vocabulary.update(options)
    return vocabulary


@dataclass(frozen=True)
class FactCheck:
    """What a summary got wrong: facts of the reference it left out, values the dialogue never had."""

    missing: tuple[str, ...]
    wrong: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.wrong


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    return tuple(sorted(slot_vocabulary()))


def check_facts(summary: str, dialogue: str, slots: Sequence[str]) -> FactCheck:
    """Compare ``summary`` with the ``slots`` its reference states and the ``dialogue`` it summarizes."""
    missing = tuple(value for value in slots if not mentions(summary, value))
    wrong = tuple(value for value in _vocabulary() if mentions(summary, value) and not mentions(dialogue, value))
    return FactCheck(missing, wrong)


def facts_rate(summaries: Sequence[str], rows: Sequence[Mapping]) -> float:
    """Share of ``summaries`` whose facts all match (rows carry ``dialogue`` and ``slots``)."""
    if len(summaries) != len(rows):
        raise ValueError(f"Got {len(summaries)} summaries for {len(rows)} rows.")
    if not rows:
        raise ValueError("No rows to check.")
    checks = [check_facts(s, r["dialogue"], r["slots"]) for s, r in zip(summaries, rows)]
    return sum(c.ok for c in checks) / len(checks)


def slot_recall(summaries: Sequence[str], rows: Sequence[Mapping]) -> float:
    """Share of all the references' slot values that the summaries state: a graded view of the facts
    (``facts_rate`` counts a summary only when every one of its facts is right)."""
    if len(summaries) != len(rows):
        raise ValueError(f"Got {len(summaries)} summaries for {len(rows)} rows.")
    stated = [mentions(summary, value) for summary, row in zip(summaries, rows) for value in row["slots"]]
    if not stated:
        raise ValueError("The rows state no slot values to check.")
    return sum(stated) / len(stated)
