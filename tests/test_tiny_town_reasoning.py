"""Lab 5's multi-step questions about the town, the training mix and its cache."""

import json

import pytest

from genai_course.reasoning import correct
from genai_course.safe_arithmetic import evaluate_program
from genai_course.tiny import town_reader as tr
from genai_course.tiny import town_reasoning as trs
from genai_course.tiny.cutoff_facts import town

pytestmark = pytest.mark.usefixtures("one_thread")


def _fact(attribute, place=None):
    return next(f for f in town(0) if f.attribute == attribute and (place is None or f.place == place))


def test_a_day_question_counts_through_the_week_and_wraps_around():
    fact = _fact("closed")
    for shift in trs.DAY_SHIFTS:
        q = trs.day_question(fact, shift)
        days = q.rationale.split(": ", 1)[1].split(". The answer")[0].split(", ")
        assert len(days) == abs(shift) and q.answer == days[-1]
        assert q.rationale.startswith(fact.stale_sentence()) and q.fact == fact.stale_sentence()
        assert correct([q.rationale], [q.answer], "cot") == [True]
    saturday = trs._shift("Saturday", 2)
    assert saturday == "Monday" and trs._shift("Monday", -1) == "Sunday"


def test_a_passes_question_multiplies_and_its_program_computes_the_answer():
    fact = _fact("price")
    for people in trs.PEOPLE:
        q = trs.passes_question(fact, people)
        total = people * int(fact.stale.split()[0])
        assert q.answer == f"{total} dollars" and evaluate_program(q.program) == total
        assert correct([q.program], [q.answer], "program") == [True]
        assert correct([q.rationale], [q.answer], "cot") == [True]


def test_questions_refuse_the_wrong_fact_or_step():
    with pytest.raises(ValueError, match="closing-day fact"):
        trs.day_question(_fact("price"), 1)
    with pytest.raises(ValueError, match="shift in"):
        trs.day_question(_fact("closed"), 9)
    with pytest.raises(ValueError, match="head count"):
        trs.passes_question(_fact("price"), 1)
    with pytest.raises(ValueError, match="family must be one of"):
        trs.multi_step_questions(town(0), [], "weeks")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_test_is_200_questions_per_family_about_places_never_trained_on(seed):
    recipe = trs.ReasonerRecipe()
    trained, held_out = trs.split_places(seed, recipe)
    assert len(trained) == 35 and len(held_out) == 25 and not set(trained) & set(held_out)
    tests = trs.held_out_questions(seed, recipe)
    assert {f: len(qs) for f, qs in tests.items()} == {"days": 200, "passes": 200}
    prompts = {source for source, _ in trs.reasoner_pairs(seed, recipe)}
    for questions in tests.values():
        assert all(q.place in held_out for q in questions)
        assert not any(q.question in p for q in questions for p in prompts)
    # every held-out place's single facts are taught, in both forms: only the combinations are new
    assert all(any(place in p for p in prompts) for place in held_out)


def test_the_cache_key_follows_the_recipe_the_reader_and_the_world(tiny_world):
    key = trs.ReasonerRecipe().key(tiny_world, tr.ReaderRecipe())
    assert key == trs.ReasonerRecipe().key(tiny_world, tr.ReaderRecipe())
    assert key != trs.ReasonerRecipe(steps=701).key(tiny_world, tr.ReaderRecipe())
    assert key != trs.ReasonerRecipe().key(tiny_world, tr.ReaderRecipe(steps=401))


def test_ensure_reasoner_needs_the_reader_then_trains_once(tiny_world, tmp_path, monkeypatch):
    reader = tr.ReaderRecipe(closed_book_passes=1, reading_examples=32, steps=2, batch_size=8)
    recipe = trs.ReasonerRecipe(closed_book_passes=1, single_step_passes=1, question_passes=1, week_drills=1, steps=2)
    monkeypatch.setattr(tr, "reader_folder", lambda world, r: tmp_path / f"reader-{r.key(world)}")
    monkeypatch.setattr(trs, "reader_folder", tr.reader_folder)
    monkeypatch.setattr(trs, "reasoner_folder", lambda world, r, rd: tmp_path / f"reasoner-{r.key(world, rd)}")
    with pytest.raises(FileNotFoundError, match="call town_reader.ensure_reader first"):
        trs.ensure_reasoner(tiny_world, 0, recipe, reader, progress=False)
    tr.ensure_reader(tiny_world, 0, reader, progress=False)
    model, _, info = trs.ensure_reasoner(tiny_world, 0, recipe, reader, progress=False)
    assert len(info["losses"]) == 2 and info["recipe"]["steps"] == 2
    stored = tmp_path / f"reasoner-{recipe.key(tiny_world, reader)}" / "reasoner.json"
    assert json.loads(stored.read_text())["losses"] == info["losses"]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached reasoner must not train again")

    monkeypatch.setattr(trs, "train_reasoner", no_training)
    again, _, info_again = trs.ensure_reasoner(tiny_world, 0, recipe, reader, progress=False)
    assert info_again == info
    assert all((a == b).all() for a, b in zip(model.parameters(), again.parameters()))


def test_targets_and_the_one_shot_example_come_from_a_trained_place():
    recipe = trs.ReasonerRecipe()
    trained, _ = trs.split_places(0, recipe)
    q = trs.passes_question(_fact("price"), 3)
    assert [trs.target(q, form) for form in ("direct", "cot", "program")] == [q.answer, q.rationale, q.program]
    with pytest.raises(ValueError, match="no 'program' answer"):
        trs.target(trs.day_question(_fact("closed"), 1), "program")
    prompt, answer = trs.worked_example(0, "passes", "program", recipe)
    assert any(place in prompt for place in trained) and answer.startswith("mul(")
    assert prompt.startswith("Context:\nA day pass at the ") and prompt.endswith("Write a program.")
