"""Multi-step questions about Lab 5's town, and the tiny model taught to answer them in three forms.

Two families of questions, each needing a fact the model memorized (the town as it was, see
:mod:`genai_course.tiny.cutoff_facts`) and then a step on it:

- ``days``: "Which day is three days after the day the Green Bakery is closed?" (1-4 days after or
  before): recall the closing day, then count through the week;
- ``passes``: "How much do day passes at the Green Bakery cost for 3 people?" (2-9 people): recall the
  price, then multiply: arithmetic.

The model is Lab 5's reader after a short training (:class:`ReasonerRecipe`): the town's facts again,
each single fact also asked with the chain-of-thought trigger (the answer restating the fact), the week
as drills, and the multi-step questions about *some* of the places (``train_places``) in every answer
form. The held-out places' multi-step questions are the test: every fact and every step is known, only
the combination is new, which is where writing the steps out helps (FLAN's mixture holds chain-of-thought
rationales for the same reason).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from genai_course.reasoning import reasoning_prompt
from genai_course.tiny.cached_training import Trained, cached, tokenized_pairs, train_from
from genai_course.tiny.corpus import DAYS
from genai_course.tiny.cutoff_facts import Fact, town
from genai_course.tiny.paths import TinyWorld
from genai_course.tiny.town_reader import ReaderRecipe, closed_book_examples, reader_folder

REASONER_CODE_VERSION = 1  # bump when the questions, the mix or the training change
FAMILIES = ("days", "passes")
DAY_SHIFTS = (1, 2, 3, 4, -1, -2, -3, -4)  # days after (+) or before (-) the closing day
PEOPLE = tuple(range(2, 10))
_COUNT_WORDS = {1: "one day", 2: "two days", 3: "three days", 4: "four days"}


@dataclass(frozen=True)
class MultiStepQuestion:
    """A question, its answer, and the worked answer the model learns for the chain-of-thought and
    program forms (``program`` is None where the question involves no arithmetic)."""

    family: str
    place: str
    question: str
    answer: str
    rationale: str
    program: str | None
    fact: str  # the memorized fact it needs, as a sentence (the context given to models that lack it)


def _shift(day: str, by: int) -> str:
    return DAYS[(DAYS.index(day) + by) % len(DAYS)]


def day_question(fact: Fact, shift: int) -> MultiStepQuestion:
    """The day ``shift`` days after (or before) the place's closing day, counted out day by day."""
    if fact.attribute != "closed" or shift not in DAY_SHIFTS:
        raise ValueError(f"a day question needs a closing-day fact and a shift in {DAY_SHIFTS}.")
    relation = "after" if shift > 0 else "before"
    question = f"Which day is {_COUNT_WORDS[abs(shift)]} {relation} the day the {fact.place} is closed?"
    step = 1 if shift > 0 else -1
    days = [_shift(fact.stale, step * i) for i in range(1, abs(shift) + 1)]
    counted = ("Then: " if shift > 0 else "Back: ") + ", ".join(days) + "."
    sentence = fact.stale_sentence()
    rationale = f"{sentence} {counted} The answer is {days[-1]}."
    return MultiStepQuestion("days", fact.place, question, days[-1], rationale, None, sentence)


def passes_question(fact: Fact, people: int) -> MultiStepQuestion:
    """What day passes for ``people`` cost at the place: its price times the head count."""
    if fact.attribute != "price" or people not in PEOPLE:
        raise ValueError(f"a passes question needs a price fact and a head count in {PEOPLE}.")
    price = int(fact.stale.split()[0])
    total = people * price
    sentence = fact.stale_sentence()
    question = f"How much do day passes at the {fact.place} cost for {people} people?"
    rationale = f"{sentence} {people} times {price} is {total}. The answer is {total} dollars."
    return MultiStepQuestion(
        "passes", fact.place, question, f"{total} dollars", rationale, f"mul({people}, {price})", sentence
    )


def multi_step_questions(facts: list[Fact], places: list[str], family: str) -> list[MultiStepQuestion]:
    """Every question of ``family`` about ``places``: 8 per place."""
    if family == "days":
        return [day_question(f, s) for f in facts if f.attribute == "closed" and f.place in places for s in DAY_SHIFTS]
    if family == "passes":
        return [passes_question(f, n) for f in facts if f.attribute == "price" and f.place in places for n in PEOPLE]
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}.")


@dataclass(frozen=True)
class ReasonerRecipe:
    """Sizes, budget and seed of the reasoning training (measured on three world seeds: the lab README)."""

    train_places: int = 35  # of the town's 60: the other 25 places' questions (200 per family) are the test
    closed_book_passes: int = 2  # each memorized fact again, so the new training does not wash it out
    single_step_passes: int = 6  # each single fact asked with the trigger, its answer restating it
    question_passes: int = 3  # each training place's multi-step question, in every answer form
    week_drills: int = 20  # "Which day comes after Tuesday?" for every day, both ways
    # Measured on world seed 0 (chain-of-thought / direct on the held-out day questions): 400 steps of
    # a larger mix (4, 8, 4 passes) 0.20 / 0.10, still learning; 700 steps 0.59 / 0.13, but 90-100 s,
    # which with the reader's training pushed Lab 5's first run past 180 s; this smaller mix reaches
    # 0.60 / 0.12 in 550 steps (about 75 s), and holds on seeds 1 and 2 (README).
    steps: int = 550
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    threads: int = 2

    def key(self, world: TinyWorld, reader: ReaderRecipe) -> str:
        manifest = world.manifest
        fields = dataclasses.asdict(self) | {
            "code": REASONER_CODE_VERSION,
            "reader": reader.key(world),
            "world": {"version": manifest.get("version"), "seed": manifest.get("seed")},
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def split_places(world_seed: int, recipe: ReasonerRecipe) -> tuple[list[str], list[str]]:
    """The places whose multi-step questions are trained, and the held-out places whose are tested."""
    places = sorted({f.place for f in town(world_seed)})
    random.Random(recipe.seed + 31 + 1000 * world_seed).shuffle(places)
    return places[: recipe.train_places], places[recipe.train_places :]


def held_out_questions(
    world_seed: int, recipe: ReasonerRecipe = ReasonerRecipe()
) -> dict[str, list[MultiStepQuestion]]:
    """Per family, the questions about the held-out places, which the model never saw."""
    facts, (_, held_out) = town(world_seed), split_places(world_seed, recipe)
    return {family: multi_step_questions(facts, held_out, family) for family in FAMILIES}


def target(question: MultiStepQuestion, form: str) -> str:
    """What the model should write for ``question`` in ``form``: the answer, the worked answer, or the
    program."""
    targets = {"direct": question.answer, "cot": question.rationale, "program": question.program}
    if targets.get(form) is None:
        raise ValueError(f"a {question.family} question has no {form!r} answer; forms: direct, cot, program.")
    return targets[form]


def worked_example(
    world_seed: int, family: str, form: str, recipe: ReasonerRecipe = ReasonerRecipe()
) -> tuple[str, str]:
    """A one-shot (prompt, answer) pair in ``form`` about a *trained* place, with its fact as context:
    the example that shows a model which has not learned the form (FLAN-T5) what to write."""
    trained, _ = split_places(world_seed, recipe)
    question = multi_step_questions(town(world_seed), trained[:1], family)[1]
    return reasoning_prompt(question.question, form, question.fact), target(question, form)


def _single_step_pairs(facts: list[Fact]) -> list[tuple[str, str]]:
    pairs = []
    for fact in facts:
        if fact.attribute in ("closed", "price"):
            worked = f"{fact.stale_sentence()} The answer is {fact.stale}."
            pairs.append((reasoning_prompt(fact.question, "cot"), worked))
    return pairs


def _week_pairs() -> list[tuple[str, str]]:
    pairs = []
    for day in DAYS:
        pairs.append((reasoning_prompt(f"Which day comes after {day}?", "direct"), _shift(day, 1)))
        pairs.append((reasoning_prompt(f"Which day comes before {day}?", "direct"), _shift(day, -1)))
    return pairs


def reasoner_pairs(world_seed: int, recipe: ReasonerRecipe) -> list[tuple[str, str]]:
    """The whole mix as (prompt, target) pairs, in a seeded order; no held-out place's multi-step
    question is among them."""
    facts, (trained, _) = town(world_seed), split_places(world_seed, recipe)
    pairs = closed_book_examples(facts) * recipe.closed_book_passes
    pairs += _single_step_pairs(facts) * recipe.single_step_passes
    pairs += _week_pairs() * recipe.week_drills
    for family in FAMILIES:
        for q in multi_step_questions(facts, trained, family):
            forms = ("direct", "cot", "program") if q.program else ("direct", "cot")
            pairs += [(reasoning_prompt(q.question, form), target(q, form)) for form in forms] * recipe.question_passes
    random.Random(recipe.seed + 1000 * world_seed).shuffle(pairs)
    return pairs


def train_reasoner(
    world: TinyWorld, world_seed: int, recipe: ReasonerRecipe, reader: ReaderRecipe, progress: bool = True
) -> Trained:
    """Lab 5's cached reader after the reasoning mix (a fresh copy: the cached reader is not modified)."""
    return train_from(
        reader_folder(world, reader),
        lambda tokenizer: tokenized_pairs(tokenizer, reasoner_pairs(world_seed, recipe)),
        recipe,
        world_seed,
        desc="Lab 5: multi-step questions",
        progress=progress,
    )


def reasoner_folder(world: TinyWorld, recipe: ReasonerRecipe, reader: ReaderRecipe) -> Path:
    return world.root / f"lab5-reasoner-{recipe.key(world, reader)}"


def ensure_reasoner(
    world: TinyWorld,
    world_seed: int,
    recipe: ReasonerRecipe = ReasonerRecipe(),
    reader: ReaderRecipe = ReaderRecipe(),
    progress: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """The reasoning model from the world's cache, trained first if it is not there (the reader must be:
    :func:`genai_course.tiny.town_reader.ensure_reader`); the dict holds the recipe, losses and seconds."""
    if not (reader_folder(world, reader) / "reader.json").exists():
        raise FileNotFoundError(
            f"Lab 5's reader is not in {reader_folder(world, reader)}: call town_reader.ensure_reader first; "
            "the reasoning model starts from it."
        )
    folder = reasoner_folder(world, recipe, reader)
    return cached(
        world, folder, "reasoner.json", recipe, lambda: train_reasoner(world, world_seed, recipe, reader, progress)
    )
