"""Lab 5's tiny model: the world's pre-trained T5, taught the town as it was before its knowledge cut-off
and taught to read passages.

Two tasks, each giving the model what one half of the lesson needs:

- ``closed_book``: "Question: Who is the manager of the Green Bakery?" answered with the fact **as it
  was**: the model's memory, which the cut-off makes stale (:mod:`genai_course.tiny.cutoff_facts`);
- ``reading``: the same questions with the 1-5 passages BM25 finds for them in an index of the town's
  facts stated with *random* values, answered from the passage: whenever the context holds the answer,
  the context, not memory, is right, which is what retrieval augmentation relies on (FLAN's mixture
  holds reading-comprehension tasks for the same reason).

The run takes about 45 s on 2 cores, so Lab 5 trains it on first use and caches the model beside the
world's others, keyed by its recipe and the world: deleting the world deletes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from genai_course.knowledge_cutoff import CLOSED_BOOK_TEMPLATE
from genai_course.retrieval import CONTEXT_TEMPLATE, BM25Index
from genai_course.tiny.cached_training import Trained, cached, tokenized_pairs, train_from
from genai_course.tiny.cutoff_facts import BY_NAME, Fact, town
from genai_course.tiny.paths import TinyWorld
from genai_course.tiny.summarizer import Example

READER_CODE_VERSION = 1  # bump when the mix or the training changes: cached models of older code retrain
SHUFFLED_CONTEXTS = 0.3  # reading contexts in random order instead of BM25's


@dataclass(frozen=True)
class ReaderRecipe:
    """Sizes, budget and seed of Lab 5's training (measured on three world seeds: see the lab README)."""

    closed_book_passes: int = 8  # each stale fact seen this many times
    reading_examples: int = 4000
    max_passages: int = 5
    steps: int = 400
    batch_size: int = 32
    # 5e-4, not the world's fine-tuning 2e-3: at 2e-3 the new prompts' first large gradients wreck what
    # the model knew, and it ends up copying nothing (measured: 0.23 against 0.43 exact match, 400 steps).
    lr: float = 5e-4
    seed: int = 0
    threads: int = 2  # pinned, as the world's build: the model must not depend on the machine's cores

    def key(self, world: TinyWorld) -> str:
        manifest = world.manifest
        world_id = {"version": manifest.get("version"), "seed": manifest.get("seed")}
        fields = dataclasses.asdict(self) | {"code": READER_CODE_VERSION, "world": world_id}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def closed_book_examples(facts: Sequence[Fact]) -> list[tuple[str, str]]:
    """The town as it was: every place's facts, asked without context."""
    return [(CLOSED_BOOK_TEMPLATE.format(question=f.question), f.stale) for f in facts]


def reading_examples(facts: Sequence[Fact], n: int, rng: random.Random, max_passages: int) -> list[tuple[str, str]]:
    """``n`` questions, each with the 1 to ``max_passages`` passages BM25 finds for it in an index of the
    town's facts stated with random values (the answer's passage put in where it was not found): the
    kind of context retrieval gives in the lab, with answers no memory can hold."""
    pairs: list[tuple[str, str]] = []
    questions = [f.question for f in facts]
    while len(pairs) < n:
        values = [rng.choice(BY_NAME[f.attribute].values) for f in facts]
        documents = [f.statement(v, rng) for f, v in zip(facts, values)]
        found = BM25Index(documents, [f.id for f in facts]).search_many(questions, max_passages)
        for fact, value, document, hits in zip(facts, values, documents, found):
            k = rng.randint(1, max_passages)
            passages = [h.text for h in hits[:k]]
            if document not in passages:
                passages[rng.randrange(k)] = document
            if rng.random() < SHUFFLED_CONTEXTS:
                rng.shuffle(passages)
            pairs.append((CONTEXT_TEMPLATE.format(context="\n".join(passages), question=fact.question), value))
    return pairs[:n]


def reader_examples(tokenizer: PreTrainedTokenizerBase, world_seed: int, recipe: ReaderRecipe) -> list[Example]:
    """The whole mix, tokenized, in a seeded order."""
    rng = random.Random(recipe.seed + 1000 * world_seed)
    facts = town(world_seed)
    pairs = closed_book_examples(facts) * recipe.closed_book_passes
    pairs += reading_examples(facts, recipe.reading_examples, rng, recipe.max_passages)
    rng.shuffle(pairs)
    return tokenized_pairs(tokenizer, pairs)


def train_reader(
    world: TinyWorld, world_seed: int, recipe: ReaderRecipe = ReaderRecipe(), progress: bool = True
) -> Trained:
    """The world's pre-trained T5 after the mix (a fresh copy: the world's model is not modified)."""
    return train_from(
        world.summarizer,
        lambda tokenizer: reader_examples(tokenizer, world_seed, recipe),
        recipe,
        world_seed,
        desc="Lab 5: the town before the cut-off",
        tokenizer_from=world.tokenizer,
        progress=progress,
    )


def reader_folder(world: TinyWorld, recipe: ReaderRecipe) -> Path:
    return world.root / f"lab5-reader-{recipe.key(world)}"


def ensure_reader(
    world: TinyWorld, world_seed: int, recipe: ReaderRecipe = ReaderRecipe(), progress: bool = True
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """Lab 5's model from the world's cache, trained first if it is not there (once per recipe); the
    dict holds the recipe, the training losses and seconds."""
    folder = reader_folder(world, recipe)
    return cached(world, folder, "reader.json", recipe, lambda: train_reader(world, world_seed, recipe, progress))
