"""Lab 5's models: which loader each profile uses (the trained ones are tested in tests/test_tiny_town_*.py)."""

from genai_course import town_models
from genai_course.profiles import get_profile


def test_off_tiny_the_reasoner_is_the_reader_itself():
    profile = get_profile("cpu")
    reader, tokenizer = object(), object()
    assert town_models.load_reasoner(profile, reader, tokenizer) == (reader, tokenizer, None)


def test_on_tiny_the_reader_is_the_one_trained_on_the_tiny_world(monkeypatch):
    calls, tiny_world = [], object()

    def fake_ensure_reader(world, seed):
        calls.append((world, seed))
        return "model", "tokenizer", {"seconds": 1.0}

    monkeypatch.setattr(town_models, "ensure_tiny_world", lambda: tiny_world)
    monkeypatch.setattr(town_models, "ensure_reader", fake_ensure_reader)
    monkeypatch.setenv("GENAI_COURSE_TINY_SEED", "0")
    assert town_models.load_reader(get_profile("tiny")) == ("model", "tokenizer", {"seconds": 1.0})
    assert calls == [(tiny_world, 0)]


def test_town_seed_is_the_worlds_on_tiny_and_the_first_town_elsewhere(monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_TINY_SEED", "3")
    assert town_models.town_seed(get_profile("tiny")) == 3
    assert town_models.town_seed(get_profile("full")) == 0
