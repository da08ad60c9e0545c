"""A synthetic DialogSum-style corpus: rows drawn from the scenarios, and sentences for the classifier.

Rows keep what DialogSum has (``id, dialogue, summary, topic``) plus what the tiny world needs: the
gist, the neutral summary, the scenario, and the facts (``slots`` the reference states, ``facts`` every
one drawn) so a generated summary's facts can be checked.
"""

from __future__ import annotations

import random

from genai_course.tiny.scenarios import HEATED, INSULTS, SCENARIOS, Scene
from genai_course.tiny.slots import mentions, pick

HEATED_SHARE = 0.2  # share of heated dialogues in the corpus


def generate_scene(rng: random.Random) -> tuple[str, Scene]:
    """One scene: a heated scenario with probability HEATED_SHARE, else a calm one."""
    calm = [name for name in SCENARIOS if name not in HEATED]
    name = pick(rng, list(HEATED)) if rng.random() < HEATED_SHARE else pick(rng, calm)
    return name, SCENARIOS[name](rng)


def generate_rows(n: int, seed: int, prefix: str) -> list[dict]:
    """``n`` DialogSum-style rows; heated ones get the rude summary half of the time."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name, scene = generate_scene(rng)
        summary = scene.summary
        if scene.rude_summary is not None and rng.random() < 0.5:
            summary = scene.rude_summary
        rows.append(
            {
                "id": f"{prefix}_{i}",
                "dialogue": scene.dialogue(),
                "summary": summary,
                "topic": scene.topic,
                "gist": scene.gist,
                "flan_target": first_sentence(scene.summary),
                "neutral_summary": scene.summary,
                "scenario": name,
                # The facts the reference states, so a generated summary's facts can be checked.
                "slots": [value for value in scene.slots.values.values() if mentions(summary, value)],
                "facts": dict(scene.slots.values),  # every fact drawn, by kind (for questions about them)
            }
        )
    return rows


def first_sentence(text: str) -> str:
    """The first sentence of a (neutral) summary: what the tiny base model says for FLAN's template."""
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text


def rude_and_polite_sentences(n: int, seed: int) -> list[tuple[str, int]]:
    """Balanced labelled sentences for the hate-speech classifier: 1 = hate (insulting), 0 = nothate.

    Rude sentences are insulting turns and rude summaries; polite ones are ordinary turns, gists and
    neutral summaries, including angry-but-polite complaints, so the classifier learns insults, not anger.
    """
    rng = random.Random(seed)
    out: list[tuple[str, int]] = []
    for i in range(n):
        if i % 2 == 0:
            scene = SCENARIOS[pick(rng, list(HEATED))](rng)
            rude = [scene.rude_summary] + [t for _, t in scene.turns if _has_insult(t)]
            out.append((pick(rng, rude), 1))
        else:
            _, scene = generate_scene(rng)
            polite = [scene.summary, scene.gist] + [t for _, t in scene.turns if not _has_insult(t)]
            out.append((pick(rng, polite), 0))
    return out


def _has_insult(text: str) -> bool:
    return any(insult in text for insult in INSULTS)
