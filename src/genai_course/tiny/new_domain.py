"""A domain the tiny world never saw: dialogues at a pet clinic, for Lab 4's continued pre-training.

The tiny world's corpus (and so its tokenizer and pre-training) has no pets: the animals, pet names,
treatments and foods below are words its tokenizer splits into pieces and its base model has never read.
That is the situation continued pre-training is for: plenty of unlabeled text from the new domain, few
labeled examples of the task. The dialogues keep DialogSum's shape (``#PersonN#``, the same columns as
the tiny corpus, slots for the facts) and are generated with their own seed, so adding this domain
changes nothing in the tiny world's build.
"""

from __future__ import annotations

import random

from genai_course.tiny.corpus import DAYS, HELLOS, NAMES, NUMBERS, P1, P2, THANKS, TIMES, WELCOME, Scene
from genai_course.tiny.slots import Slots, mentions, pick

PETS = ["Biscuit", "Pepper", "Whiskers", "Rocky", "Luna", "Coco", "Milo", "Ginger", "Nugget", "Pickles"]
ANIMALS = ["parrot", "hamster", "rabbit", "tortoise", "kitten", "puppy", "ferret", "goldfish"]
SYMPTOMS = ["sneezing", "limping", "scratching", "coughing", "shivering", "sleeping all day"]
MEDICINES = ["antibiotic drops", "vitamin paste", "ear cleaner", "anti-itch cream", "herbal syrup"]
SERVICES = ["a bath", "a haircut", "a nail trim", "a flea treatment", "a dental cleaning"]
FOODS = ["hay pellets", "seed mix", "dried crickets", "salmon biscuits", "carrot treats"]
PRICES = ["twenty", "thirty", "forty", "fifty", "sixty"]
AGES = ["one", "two", "three", "four"]
DOMAIN = "pet clinic"


def vet_visit(rng: random.Random) -> Scene:
    s = Slots(rng)
    pet, animal = s.pick("pet", PETS), s.pick("animal", ANIMALS)
    symptom, day = s.pick("symptom", SYMPTOMS), s.pick("day", DAYS)
    medicine, days = s.pick("medicine", MEDICINES), s.pick("days", NUMBERS)
    turns = [
        (P1, f"{pick(rng, HELLOS)} My {animal} {pet} has been {symptom} since {day}."),
        (
            P2,
            pick(rng, ["Let me take a look at {p}.", "Bring {p} here, please.", "Poor {p}. Let me check."]).format(
                p=pet
            ),
        ),
        (P1, pick(rng, ["Is it serious?", "Should I be worried?", "What do you think it is?"])),
        (P2, f"Nothing serious. Give {pet} {medicine} twice a day for {days} days."),
        (P1, pick(rng, THANKS)),
        (P2, pick(rng, WELCOME)),
    ]
    return Scene(
        turns,
        summary=f"{P1}'s {animal} {pet} has been {symptom} since {day}. {P2} prescribes {medicine} for {days} days.",
        gist=f"{P1} brings a pet to the vet.",
        topic="vet visit",
        slots=s,
    )


def grooming(rng: random.Random) -> Scene:
    s = Slots(rng)
    pet, animal, service = s.pick("pet", PETS), s.pick("animal", ANIMALS), s.pick("service", SERVICES)
    day, time, price = s.pick("day", DAYS), s.pick("time", TIMES), s.pick("price", PRICES)
    turns = [
        (P1, f"{pick(rng, HELLOS)} I would like to book {service} for my {animal} {pet}."),
        (P2, pick(rng, ["When would you like to come?", "Which day suits you?", "When is good for you?"])),
        (P1, f"Is {day} at {time} possible?"),
        (P2, f"Yes, we are free on {day} at {time}. {service.capitalize()} costs {price} dollars."),
        (P1, pick(rng, ["Great, please book it.", "Perfect, see you then.", "That is fine, thank you."])),
    ]
    return Scene(
        turns,
        summary=f"{P1} books {service} for the {animal} {pet} on {day} at {time} for {price} dollars.",
        gist=f"{P1} books a pet appointment.",
        topic="pet grooming",
        slots=s,
    )


def pet_food(rng: random.Random) -> Scene:
    s = Slots(rng)
    pet, animal, food = s.pick("pet", PETS), s.pick("animal", ANIMALS), s.pick("food", FOODS)
    n, day = s.pick("n", NUMBERS), s.pick("day", DAYS)
    turns = [
        (P1, f"{pick(rng, HELLOS)} Do you have {food}? My {animal} {pet} loves them."),
        (P2, pick(rng, ["Yes, we do.", "We have plenty.", "Of course, they are popular."]) + " How many bags?"),
        (P1, f"{n.capitalize()} bags, please. Can you deliver them?"),
        (P2, f"Sure. We deliver {n} bags of {food} on {day}."),
        (P1, pick(rng, THANKS)),
    ]
    return Scene(
        turns,
        summary=f"{P1} orders {n} bags of {food} for the {animal} {pet}. They will be delivered on {day}.",
        gist=f"{P1} orders pet food.",
        topic="pet food",
        slots=s,
    )


def adoption(rng: random.Random) -> Scene:
    s = Slots(rng)
    animal, pet, age = s.pick("animal", ANIMALS), s.pick("pet", PETS), s.pick("age", AGES)
    name, day = s.pick("name", NAMES), s.pick("day", DAYS)
    turns = [
        (P1, f"{pick(rng, HELLOS)} I am {name}. I would like to adopt a {animal}."),
        (P2, f"We have {pet}, a {animal} who is {age} years old."),
        (P1, pick(rng, ["Can I meet {pet}?", "Could I visit {pet}?", "I would love to see {pet}."]).format(pet=pet)),
        (P2, f"Of course. Come on {day} and you can meet {pet}."),
        (P1, pick(rng, ["I will be there.", "See you then.", "Wonderful, thank you."])),
    ]
    return Scene(
        turns,
        summary=f"{name} wants to adopt a {animal} and will meet {pet}, who is {age} years old, on {day}.",
        gist=f"{name} wants to adopt a pet.",
        topic="pet adoption",
        slots=s,
    )


SCENARIOS = {"vet_visit": vet_visit, "grooming": grooming, "pet_food": pet_food, "adoption": adoption}
# Seeds of their own, far from the tiny world's (recipe.seed: 0-7 and 101, plus 1000 per world seed).
SPLIT_SEEDS = {"unlabeled": 501, "train": 502, "test": 503}
SPLIT_SIZES = {"unlabeled": 2000, "train": 200, "test": 400}  # the most rows each split holds


def new_domain_rows(n: int, split: str, world_seed: int = 0) -> list[dict]:
    """The first ``n`` pet-clinic rows of ``split`` (unlabeled, train or test), in the tiny corpus's columns.

    No dialogue is in two splits: each split is drawn with its own seed and skips the dialogues of the
    splits before it (unlabeled, then train, then test); the first ``n`` rows do not depend on ``n``.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"Unknown split {split!r}; choose one of {', '.join(SPLIT_SEEDS)}.")
    if not isinstance(n, int) or not 1 <= n <= SPLIT_SIZES[split]:
        raise ValueError(f"n must be an integer from 1 to {SPLIT_SIZES[split]} for the {split} split, got {n!r}.")
    seen: set[str] = set()
    for name in SPLIT_SEEDS:
        rows = _draw(name, world_seed, seen)
        if name == split:
            return rows[:n]
        seen |= {row["dialogue"] for row in rows}
    raise AssertionError("unreachable")


def _draw(split: str, world_seed: int, seen: set[str]) -> list[dict]:
    """All ``SPLIT_SIZES[split]`` rows of a split, none of whose dialogues is in ``seen``."""
    rng = random.Random(SPLIT_SEEDS[split] + 1000 * world_seed)
    names = sorted(SCENARIOS)
    rows: list[dict] = []
    drawn = set(seen)
    while len(rows) < SPLIT_SIZES[split]:
        name = pick(rng, names)
        scene = SCENARIOS[name](rng)
        dialogue = scene.dialogue()
        if dialogue in drawn:
            continue
        drawn.add(dialogue)
        rows.append(
            {
                "id": f"pets_{split}_{len(rows)}",
                "dialogue": dialogue,
                "summary": scene.summary,
                "topic": scene.topic,
                "slots": [v for v in scene.slots.values.values() if mentions(scene.summary, v)],
                "scenario": name,
            }
        )
    return rows
