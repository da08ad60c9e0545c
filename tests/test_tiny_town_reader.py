"""Lab 5's training mix, its cache (trained once, keyed by recipe and world) and a short real training."""

import json
import random

import pytest
from transformers import AutoTokenizer

from genai_course.knowledge_cutoff import CLOSED_BOOK_TEMPLATE
from genai_course.plots import retrieval as plots
from genai_course.tiny import town_reader as tr
from genai_course.tiny.cutoff_facts import town

pytestmark = pytest.mark.usefixtures("one_thread")


def test_closed_book_examples_teach_the_stale_facts():
    facts = town(0)
    pairs = tr.closed_book_examples(facts)
    assert pairs[0] == (CLOSED_BOOK_TEMPLATE.format(question=facts[0].question), facts[0].stale)
    assert len(pairs) == len(facts)


def test_reading_examples_answer_from_a_passage_in_the_context():
    facts = town(0)
    pairs = tr.reading_examples(facts, 300, random.Random(0), max_passages=4)
    assert len(pairs) == 300
    for source, value in pairs:
        context = source.split("\n\nQuestion: ")[0].removeprefix("Context:\n").split("\n")
        question = source.split("\n\nQuestion: ")[1]
        fact = next(f for f in facts if f.question == question)
        assert 1 <= len(context) <= 4
        # the passage stating the answer names the place and the value
        assert any(fact.place in p and value in p for p in context)
    values = [value for _, value in pairs]
    assert len(set(values)) > 20  # random values: no memory can hold them


def test_the_cache_key_follows_the_recipe_and_the_world(tiny_world):
    recipe = tr.ReaderRecipe()
    assert recipe.key(tiny_world) == tr.ReaderRecipe().key(tiny_world)
    assert recipe.key(tiny_world) != tr.ReaderRecipe(steps=401).key(tiny_world)


def test_ensure_reader_trains_once_and_then_reads_the_cache(tiny_world, tmp_path, monkeypatch):
    recipe = tr.ReaderRecipe(closed_book_passes=1, reading_examples=64, steps=3, batch_size=8)
    monkeypatch.setattr(tr, "reader_folder", lambda world, r: tmp_path / f"reader-{r.key(world)}")
    model, tokenizer, info = tr.ensure_reader(tiny_world, 0, recipe, progress=False)
    assert len(info["losses"]) == 3 and info["recipe"]["steps"] == 3
    stored = json.loads((tmp_path / f"reader-{recipe.key(tiny_world)}" / "reader.json").read_text())
    assert stored["losses"] == info["losses"]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached reader must not train again")

    monkeypatch.setattr(tr, "train_reader", no_training)
    again, _, info_again = tr.ensure_reader(tiny_world, 0, recipe, progress=False)
    assert info_again == info
    assert all((a == b).all() for a, b in zip(model.parameters(), again.parameters()))


def test_training_leaves_the_world_model_untouched(tiny_world):
    before = AutoTokenizer.from_pretrained(str(tiny_world.tokenizer))
    recipe = tr.ReaderRecipe(closed_book_passes=1, reading_examples=32, steps=2, batch_size=8)
    stamp = (tiny_world.summarizer / "model.safetensors").stat().st_mtime
    model, tokenizer, losses = tr.train_reader(tiny_world, 0, recipe, progress=False)
    assert len(losses) == 2 and len(tokenizer) == len(before)
    assert (tiny_world.summarizer / "model.safetensors").stat().st_mtime == stamp


def test_plots_draw_and_refuse_empty_input():
    fig = plots.plot_answer_sources({"closed": {"current": 0.1, "stale": 0.8, "other": 0.1}})
    assert len(fig.axes[0].patches) == 4  # one bar per source, zero-height ones included
    fig = plots.plot_k_curve([1, 2], [0.9, 0.8], [0.95, 1.0], 0.01)
    assert len(fig.axes[0].lines) == 3
    with pytest.raises(ValueError):
        plots.plot_answer_sources({})
    with pytest.raises(ValueError):
        plots.plot_k_curve([1], [0.5, 0.4], [1.0], 0.0)
