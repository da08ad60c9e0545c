"""A dialogue's facts: drawn with the rng like any other choice, but remembered, with what they were drawn
from, so that a summary's facts can be checked and questions asked about them."""

from __future__ import annotations

import random
import re


def pick(rng: random.Random, options: list[str]) -> str:
    return options[rng.randrange(len(options))]


def mentions(text: str, value: str) -> bool:
    """Whether ``text`` states ``value`` as a whole phrase ("ten" is not in "often"; "Mike" is in "Mike's")."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, flags=re.IGNORECASE) is not None


class Slots:
    """Draws a dialogue's facts (names, days, items, amounts, places) and remembers them and their options.

    The values go into the row (so a summary's facts can be checked against them); the options, over all
    scenarios, are the vocabulary a wrong fact would come from.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.values: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}

    def pick(self, kind: str, options: list[str]) -> str:
        value = pick(self.rng, options)  # the same draw as a plain pick: slots do not change the corpus
        self.values[kind] = value
        self.options[kind] = list(options)
        return value


# A question per kind of fact, for the pre-training task that teaches copying facts out of a dialogue.
SLOT_QUESTIONS = {
    "n": "How many people?",
    "day": "Which day?",
    "time": "What time?",
    "place": "Which place?",
    "extra": "Which table?",
    "pain": "What is the problem?",
    "days": "For how many days?",
    "cure": "What should they do?",
    "job": "Which job?",
    "years": "How many years?",
    "strength": "What is the strength?",
    "item": "Which item?",
    "size": "Which size?",
    "price": "What is the price?",
    "nights": "How many nights?",
    "name": "Which name?",
    "room": "Which room?",
    "floor": "Which floor?",
    "thing": "What was lost?",
    "where": "Where?",
    "color": "Which color?",
    "city": "Which city?",
    "seat": "Which seat?",
    "rooms": "How many bedrooms?",
    "rent": "How much is the rent?",
    "near": "What is it near?",
    "bring": "What will they bring?",
    "part": "What is broken?",
    "cost": "How much will it cost?",
    "when": "When?",
    "plan": "What is the plan?",
    "weather": "What is the weather?",
    "alt": "What is the other plan?",
    "account": "Which account?",
    "amount": "How much money?",
    "doc": "Which document?",
    "noise": "What noise?",
    "hour": "Until when?",
    "chore": "Which chore?",
    "spot": "What is blocked?",
    "minutes": "How many minutes?",
}
