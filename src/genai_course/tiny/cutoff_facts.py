"""Facts of the tiny world's town that changed after the model's knowledge cut-off, for Lab 5's retrieval.

The town has places (a Green Bakery, a Silver Museum, ...) with four facts each: the hour it opens, the
price of a day pass, who runs it and the day it is closed. The model learns the facts **as they were**
(its pre-training ended at the cut-off); then every one of them changes, and the current facts exist only
as documents, one fact per document, in an index a retriever searches. A question about a changed fact
is answered from stale memory, unless the prompt carries the current document.

Everything is drawn from a seeded generator of its own, far from the tiny world's seeds, so adding the
town changes nothing in the world's build.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from genai_course.tiny.corpus import DAYS, NAMES, TIMES

COLORS = ["Green", "Blue", "Golden", "Silver", "Red", "Sunny", "Old", "Royal"]
KINDS = ["Cafe", "Bakery", "Museum", "Library", "Gym", "Cinema", "Pool", "Market", "Bookshop", "Theater"]
PRICES = [f"{n} dollars" for n in range(3, 20)]
N_PLACES = 60  # 240 facts: Lab 5's lessons are measured on at least 200 questions
TOWN_SEED = 601  # far from the world's seeds (0-7, 101; plus 1000 per world seed) and Lab 4's (501-503)


@dataclass(frozen=True)
class Attribute:
    """One kind of fact about a place: its question, how a document states it, and its possible values."""

    name: str
    question: str
    stale: str  # how the fact was written before the cut-off
    current: tuple[str, ...]  # how the documents written since state it (one is drawn per document)
    values: tuple[str, ...]


ATTRIBUTES = (
    Attribute(
        "opens",
        "What time does the {place} open?",
        "The {place} is open from {value}.",
        ("Since the spring, the {place} is open from {value}.", "New hours: the {place} is open from {value}."),
        tuple(TIMES),
    ),
    Attribute(
        "price",
        "How much is a day pass at the {place}?",
        "A day pass at the {place} costs {value}.",
        ("A day pass at the {place} now costs {value}.", "New prices: the {place} charges {value} for a day pass."),
        tuple(PRICES),
    ),
    Attribute(
        "manager",
        "Who is the manager of the {place}?",
        "The manager of the {place} is {value}.",
        ("The {place} has a new manager: {value}.", "Since the spring, the manager of the {place} is {value}."),
        tuple(NAMES),
    ),
    Attribute(
        "closed",
        "On which day is the {place} closed?",
        "The {place} is closed on {value}.",
        ("The {place} is now closed on {value}.", "New hours: the {place} is closed every {value}."),
        tuple(DAYS),
    ),
)
BY_NAME = {a.name: a for a in ATTRIBUTES}


@dataclass(frozen=True)
class Fact:
    """A place's fact before and after the cut-off, and the document that states the current one."""

    id: str
    place: str
    attribute: str
    stale: str
    current: str
    document: str

    @property
    def question(self) -> str:
        return BY_NAME[self.attribute].question.format(place=self.place)

    def stale_sentence(self) -> str:
        return BY_NAME[self.attribute].stale.format(place=self.place, value=self.stale)

    def statement(self, value: str, rng: random.Random) -> str:
        """A document stating ``value`` for this fact, in one of the current templates."""
        return rng.choice(BY_NAME[self.attribute].current).format(place=self.place, value=value)


def town(world_seed: int = 0, n_places: int = N_PLACES) -> list[Fact]:
    """Every fact of ``n_places`` places: the value before the cut-off and a *different* current one."""
    if not isinstance(n_places, int) or isinstance(n_places, bool) or not 1 <= n_places <= len(COLORS) * len(KINDS):
        raise ValueError(f"n_places must be from 1 to {len(COLORS) * len(KINDS)}, got {n_places!r}.")
    rng = random.Random(TOWN_SEED + 1000 * world_seed)
    places = rng.sample([f"{color} {kind}" for color in COLORS for kind in KINDS], n_places)
    facts = []
    for place in places:
        for attribute in ATTRIBUTES:
            stale, current = rng.sample(attribute.values, 2)  # distinct: every fact changed
            template = rng.choice(attribute.current)
            document = template.format(place=place, value=current)
            fact_id = f"{place.lower().replace(' ', '-')}/{attribute.name}"
            facts.append(Fact(fact_id, place, attribute.name, stale, current, document))
    return facts
