"""The tiny T5's pre-training mix: what the base model must have seen for each lesson of the labs to be true.

Real instruction-tuned models learn to follow instructions and to use demonstrations from a mixture that
contains them (FLAN's has zero-shot and few-shot templates). Our mix has one task for each ability:

- ``span_corruption``: T5's own objective, fluent in-domain text;
- ``continuation``: a bare dialogue is continued with its next turn (a whole one with a closing line),
  so "no prompt" gets a turn, not a summary: nothing in a bare dialogue asks for one;
- ``topic``: the topic question, the second task Lab 2 measures forgetting on;
- ``instruction`` / ``flan``: the zero-shot templates map to *short* answers (the gist, "They talk about
  <topic>."), true but far from the reference's style, as FLAN-T5's zero-shot DialogSum summaries are
  (0.23 ROUGE-1 in the course): the base model half knows the task and fine-tuning has room to help;
- ``slot_question``: "Which day?" about a dialogue, answered with the slot value: copying facts from the
  dialogue is what keeps summaries true ("Mike's party", not "Anna's");
- ``repeat_turn``: copy one turn of the dialogue verbatim (copying, in its plainest form);
- ``k_shot``: 1–3 worked examples in the lab's own shot format, then a dialogue whose target is written
  in **the style of the examples** (full summary, first sentence or gist). The style is given only by
  the demonstrations, so a shot carries information the bare instruction does not: this is what makes
  one-shot beat zero-shot. Shots come from the same scenario as the target some of the time (the facts
  must then come from the last dialogue, not the example) and from other scenarios otherwise.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from transformers import PreTrainedTokenizerBase

from genai_course.prompting import Shot, build_prompt, few_shot_prompt
from genai_course.tiny.corpus import P1, P2, THANKS, WELCOME, first_sentence
from genai_course.tiny.slots import SLOT_QUESTIONS, pick
from genai_course.tiny.tokenizer import sentinel_ids

Example = tuple[list[int], list[int]]
SHOT_COUNTS = (1, 2, 3)
SHOT_COUNT_WEIGHTS = (0.3, 0.3, 0.4)  # three shots most often: Lab 1's few-shot prompt has three
SAME_SCENARIO_SHOTS = 0.4  # share of k-shot examples whose shots share the target's scenario
SLOT_QUESTION = "{dialogue}\n\nQuestion: {question}"
CLOSINGS = THANKS + WELCOME + ["Goodbye.", "See you later.", "Bye for now.", "Have a nice day."]
CLOSING_SHARE = 0.5  # continuation examples whose dialogue is whole (the rest are cut after some turn)
REPEAT_TURN = "{dialogue}\n\nRepeat turn {n}."

# The answer styles of the k-shot task, and how often each is the one demonstrated.
STYLES: dict[str, Callable[[dict], str]] = {
    "summary": lambda row: row["summary"],
    "first_sentence": lambda row: first_sentence(row["neutral_summary"]),
    "gist": lambda row: row["gist"],
    "topic_sentence": lambda row: f"They talk about {row['topic']}.",
}
STYLE_WEIGHTS = {"summary": 0.6, "first_sentence": 0.2, "gist": 0.2}  # the styles demonstrated by shots
# What the zero-shot templates answer in pre-training: short, true, and not the reference's style.
ZERO_SHOT_TARGETS = {"instruction": "gist", "flan": "topic_sentence"}


def span_corruption(ids: list[int], rng: random.Random, eos: int, sentinel_ids: list[int]) -> Example:
    """T5's objective: replace ~15% of tokens in spans of ~3 with sentinels; the target lists the spans."""
    body = ids[:-1] if ids and ids[-1] == eos else list(ids)
    n_spans = max(1, min(len(sentinel_ids), round(len(body) * 0.15 / 3)))
    starts = sorted(rng.sample(range(0, max(1, len(body) - 3), 4), k=min(n_spans, max(1, (len(body) - 3) // 4))))
    source, target, cursor = [], [], 0
    for k, start in enumerate(starts):
        length = rng.choice((2, 3, 4))
        source += body[cursor:start] + [sentinel_ids[k]]
        target += [sentinel_ids[k]] + body[start : start + length]
        cursor = start + length
    return source + body[cursor:] + [eos], target + [eos]


def continuation(dialogue: str, rng: random.Random) -> tuple[str, str]:
    """A dialogue cut after some turn, and its next turn; a whole dialogue goes on with a closing line
    (conversations end with thanks and goodbyes), which is what "no prompt" gets from the base model."""
    turns = dialogue.split("\n")
    if rng.random() < CLOSING_SHARE:
        last_speaker = turns[-1].split(":", 1)[0]
        other = P2 if last_speaker == P1 else P1
        return dialogue, f"{other}: {pick(rng, CLOSINGS)}"
    cut = rng.randrange(2, len(turns))
    return "\n".join(turns[:cut]), turns[cut]


class MixBuilder:
    """Turns pre-training-pool rows into tokenized examples of the mix's tasks, with a seeded generator."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict], seed: int) -> None:
        self.tokenizer = tokenizer
        self.rng = random.Random(seed)
        self.sentinels = sentinel_ids(tokenizer)
        self.by_scenario: dict[str, list[dict]] = {}
        for row in rows:
            self.by_scenario.setdefault(row["scenario"], []).append(row)

    def encode(self, source: str, target: str) -> Example:
        return self.tokenizer(source, verbose=False)["input_ids"], self.tokenizer(target, verbose=False)["input_ids"]

    def example(self, task: str, row: dict) -> Example:
        """One example of ``task`` made from ``row``."""
        rng = self.rng
        if task == "span_corruption":
            ids = self.tokenizer(row["dialogue"], verbose=False)["input_ids"]
            return span_corruption(ids, rng, self.tokenizer.eos_token_id, self.sentinels)
        if task == "continuation":
            return self.encode(*continuation(row["dialogue"], rng))
        if task == "topic":
            return self.encode(build_prompt("topic", row["dialogue"]), row["topic"])
        if task in ZERO_SHOT_TARGETS:
            return self.encode(build_prompt(task, row["dialogue"]), STYLES[ZERO_SHOT_TARGETS[task]](row))
        if task == "slot_question":
            kind = rng.choice(sorted(row["facts"]))
            source = SLOT_QUESTION.format(dialogue=row["dialogue"], question=SLOT_QUESTIONS[kind])
            return self.encode(source, row["facts"][kind])
        if task == "repeat_turn":
            turns = row["dialogue"].split("\n")
            n = rng.randrange(len(turns))
            return self.encode(REPEAT_TURN.format(dialogue=row["dialogue"], n=n + 1), turns[n])
        if task == "k_shot":
            return self.k_shot(row)
        raise ValueError(f"Unknown pre-training task {task!r}.")

    def k_shot(self, row: dict) -> Example:
        rng = self.rng
        k = rng.choices(SHOT_COUNTS, SHOT_COUNT_WEIGHTS)[0]
        style = rng.choices(list(STYLE_WEIGHTS), list(STYLE_WEIGHTS.values()))[0]
        if rng.random() < SAME_SCENARIO_SHOTS:
            pools = [self.by_scenario[row["scenario"]]] * k
        else:
            others = sorted(s for s in self.by_scenario if s != row["scenario"])
            pools = [self.by_scenario[rng.choice(others)] for _ in range(k)]
        return self.shots_example(pools, style, row)

    def shots_example(self, pools: Sequence[Sequence[dict]], style: str, row: dict) -> Example:
        """One shot drawn from each pool (never ``row`` itself), then ``row``, all answered in ``style``."""
        shots = []
        for pool in pools:
            shot = self.rng.choice(pool)
            while shot is row:
                shot = self.rng.choice(pool)
            shots.append(Shot(shot["dialogue"], STYLES[style](shot)))
        return self.encode(few_shot_prompt(shots, row["dialogue"]), STYLES[style](row))


def pretraining_examples(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict],
    mix: Sequence[tuple[str, float]],
    seed: int,
    passes: int = 1,
) -> list[Example]:
    """``passes`` examples per row, each of a task drawn from ``mix`` (task, weight)."""
    builder = MixBuilder(tokenizer, rows, seed)
    tasks, weights = [t for t, _ in mix], [w for _, w in mix]
    return [builder.example(builder.rng.choices(tasks, weights)[0], row) for _ in range(passes) for row in rows]
