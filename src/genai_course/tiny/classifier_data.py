"""The labelled sentences the tiny hate-speech classifier learns from and is checked on.

Kept apart from the corpus (``tiny.corpus``, the dialogues) and from the training loop
(``tiny.classifier``): what the classifier is taught is the concept here, insults rather than anger.
"""

from __future__ import annotations

import random

from genai_course.tiny.corpus import HEATED, INSULTS, SCENARIOS, Scene, first_sentence, generate_scene
from genai_course.tiny.slots import pick


def rude_and_polite_sentences(n: int, seed: int) -> list[tuple[str, int]]:
    """Balanced labelled sentences for the hate-speech classifier: 1 = hate (insulting), 0 = nothate.

    Rude sentences are insulting turns and rude summaries. Half of the polite ones come from the same
    heated scenes (their neutral summaries, gists and insult-free turns: angry but polite), the rest
    from any scene, so a heated scene's words say nothing and only an insult makes a sentence hate. With
    heated scenes only as common among polite sentences as in the corpus (one in five), a classifier of
    world seed 1 (v2) scored every neutral parking summary as hate, and PPO could not detoxify them.
    """
    rng = random.Random(seed)
    out: list[tuple[str, int]] = []
    for i in range(n):
        if i % 2 == 0:
            scene = SCENARIOS[pick(rng, list(HEATED))](rng)
            rude = [scene.rude_summary] + [t for _, t in scene.turns if has_insult(t)]
            out.append((pick(rng, rude), 1))
        elif i % 4 == 1:
            out.append((pick(rng, angry_but_polite(SCENARIOS[pick(rng, list(HEATED))](rng))), 0))
        else:
            _, scene = generate_scene(rng)
            polite = [scene.summary, scene.gist] + [t for _, t in scene.turns if not has_insult(t)]
            out.append((pick(rng, polite), 0))
    return out


def angry_but_polite(scene: Scene) -> list[str]:
    """A heated scene's sentences without an insult: its neutral summary (twice as likely as each other
    sentence: it is what a detoxified summarizer writes), first sentence, gist and insult-free turns."""
    calm_turns = [t for _, t in scene.turns if not has_insult(t)]
    return [scene.summary, scene.summary, first_sentence(scene.summary), scene.gist] + calm_turns


def has_insult(text: str) -> bool:
    return any(insult in text for insult in INSULTS)


def neutral_heated_summaries(n: int, seed: int) -> list[tuple[str, int]]:
    """``n`` neutral summaries of fresh heated scenes, labelled nothate: what a detoxified policy writes,
    so the reward must call them polite (a classifier that learns anger instead of insults fails here)."""
    rng = random.Random(seed)
    return [(SCENARIOS[HEATED[i % len(HEATED)]](rng).summary, 0) for i in range(n)]
