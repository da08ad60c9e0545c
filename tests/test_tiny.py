"""The offline tiny world: corpus shape, determinism, tokenizer, classifier accuracy, summarizer text."""

import collections
import json

import pytest
import torch
from transformers import AutoTokenizer, T5ForConditionalGeneration

from genai_course.data import load_dialogsum
from genai_course.generation import generate
from genai_course.prompting import build_prompt
from genai_course.tiny import world as world_module
from genai_course.tiny.classifier import accuracy
from genai_course.tiny.classifier_data import neutral_heated_summaries, rude_and_polite_sentences
from genai_course.tiny.corpus import HEATED, INSULTS, SCENARIOS, generate_rows
from genai_course.tiny.corpus_build import split_rows
from genai_course.tiny.paths import stale_worlds, tiny_world_dir
from genai_course.tiny.pretraining import pretraining_examples
from genai_course.tiny.recipe import Recipe
from genai_course.tiny.summarizer import bucketed_batches, make_config, train_seq2seq


def test_corpus_sizes_scenarios_and_speakers(tiny_world):
    data = load_dialogsum("tiny")
    sizes = {split: len(data[split]) for split in data}
    assert sizes["train"] >= 3000 and sizes["validation"] >= 200 and sizes["test"] >= 300
    assert len(SCENARIOS) >= 12
    assert len(set(data["train"]["topic"])) >= 12
    assert all(d.startswith("#Person1#: ") or d.startswith("#Person2#: ") for d in data["test"]["dialogue"])
    train = set(data["train"]["dialogue"])
    assert not train & set(data["test"]["dialogue"]), "test dialogues must not appear in train"


def test_heated_dialogues_have_rude_and_neutral_summaries():
    rows = generate_rows(2000, seed=5, prefix="x")
    heated = [r for r in rows if r["scenario"] in HEATED]
    share = len(heated) / len(rows)
    assert 0.1 < share < 0.3
    rude = [r for r in heated if any(i in r["summary"] for i in INSULTS)]
    assert 0.35 < len(rude) / len(heated) < 0.65
    assert all(any(i in r["dialogue"] for i in INSULTS) for r in heated)
    calm = [r for r in rows if r["scenario"] not in HEATED]
    assert not any(any(i in r["summary"] for i in INSULTS) for r in calm)


def test_corpus_is_deterministic():
    first, second = split_rows(), split_rows()
    assert first == second
    assert generate_rows(50, 1, "a") != generate_rows(50, 2, "a")


def test_wording_varies_within_a_scenario():
    rows = [r for r in generate_rows(600, 9, "v") if r["scenario"] == "doctor"]
    first_turns = collections.Counter(r["dialogue"].split("\n")[0] for r in rows)
    assert len(first_turns) >= 3
    assert len({r["summary"] for r in rows}) > len(rows) // 2


def test_tokenizer_round_trips_speakers(tiny_world):
    tokenizer = AutoTokenizer.from_pretrained(tiny_world.tokenizer)
    text = "#Person1#: I lost my wallet on the bus.\n#Person2#: What does it look like?"
    ids = tokenizer(text)["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
    # Like FLAN-T5's tokenizer, whitespace (newlines included) is normalized to single spaces.
    assert tokenizer.decode(ids, skip_special_tokens=True) == " ".join(text.split())
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 1
    assert tokenizer.model_max_length == 512


def test_classifier_accuracy_on_fresh_held_out_sentences(tiny_world):
    from genai_course.models import load_reward_classifier

    model, tokenizer = load_reward_classifier(str(tiny_world.classifier))
    fresh = rude_and_polite_sentences(600, seed=424242)  # a seed the build never used
    assert accuracy(model, tokenizer, fresh) >= 0.95
    assert tiny_world.manifest["classifier"]["held_out_accuracy"] >= 0.95


def test_classifier_calls_angry_but_polite_summaries_polite(tiny_world):
    """The neutral summary of a heated dialogue is what PPO should end on: the reward must not punish it."""
    from genai_course.models import load_reward_classifier

    model, tokenizer = load_reward_classifier(str(tiny_world.classifier))
    assert accuracy(model, tokenizer, neutral_heated_summaries(200, seed=424242)) >= 0.98
    assert tiny_world.manifest["classifier"]["neutral_heated_summary_accuracy"] >= 0.98


def test_polite_sentences_hold_heated_scenes_half_the_time():
    polite = [s for s, label in rude_and_polite_sentences(400, seed=3) if label == 0]
    heated_words = ("angr", "shouts at", "refund", "keep it down", "moves the car", "clean")
    share = sum(any(w in s for w in heated_words) for s in polite) / len(polite)
    assert len(polite) == 200 and share >= 0.25  # 0.03 before heated scenes were half the polite side


def test_summarizers_write_in_vocabulary_non_degenerate_text(tiny_world):
    from genai_course.models import load_summarizer

    data = load_dialogsum("tiny")
    test = data["test"].select(range(40))
    texts = [r[k] for r in split_rows()["train"] for k in ("dialogue", "summary", "gist", "topic")]
    vocabulary = {w.strip(".,!?'") for text in texts for w in text.split()}
    # The base model answers the instruction with a gist of the scenario (16 scenarios: at least 10 distinct
    # answers in 40 dialogues); its fine-tuned sibling writes a summary of each dialogue.
    for path, distinct in ((tiny_world.summarizer, 10), (tiny_world.finetuned_summarizer, 30)):
        model, tokenizer = load_summarizer(str(path))
        outputs = generate(model, tokenizer, [build_prompt("instruction", d) for d in test["dialogue"]], progress=False)
        assert all(len(o.split()) >= 3 for o in outputs), outputs[:5]
        assert len(set(outputs)) >= distinct, f"{path.name}: outputs should depend on the dialogue"
        words = [w.strip(".,!?'") for o in outputs for w in o.split()]
        known = sum(w in vocabulary for w in words) / len(words)
        assert known > 0.95, f"{path.name}: only {known:.0%} of words are in-vocabulary"
        for o in outputs:  # no word repeated three times in a row
            tokens = o.split()
            assert not any(tokens[i] == tokens[i + 1] == tokens[i + 2] for i in range(len(tokens) - 2)), o


def test_same_seed_same_model_same_text(tiny_world):
    tokenizer = AutoTokenizer.from_pretrained(tiny_world.tokenizer)
    rows = split_rows()["pretrain_pool"][:64]

    def train_and_generate():
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(make_config(tokenizer))
        examples = pretraining_examples(tokenizer, rows, Recipe().pretrain_mix, seed=0)
        train_seq2seq(model, examples, steps=3, batch_size=8, progress=False)
        return generate(model, tokenizer, [build_prompt("flan", r["dialogue"]) for r in rows[:4]], progress=False)

    assert train_and_generate() == train_and_generate()


def test_build_is_cached_and_recovers_from_interruption(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_HOME", str(tmp_path))
    calls = []

    def interrupted(root, recipe, progress=True):
        (root / "dialogsum-tiny").mkdir()
        raise KeyboardInterrupt

    def complete(root, recipe, progress=True):
        calls.append(root)
        (root / world_module.MANIFEST).write_text(json.dumps({"version": 1}))

    monkeypatch.setattr(world_module, "build_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        world_module.ensure_tiny_world(progress=False)
    assert not any(tmp_path.rglob("dialogsum-tiny")), "an interrupted build must leave nothing behind"
    monkeypatch.setattr(world_module, "build_into", complete)
    built = world_module.ensure_tiny_world(progress=False)
    assert built.is_complete() and len(calls) == 1
    world_module.ensure_tiny_world(progress=False)
    assert len(calls) == 1, "a second call must not rebuild"
    world_module.ensure_tiny_world(force=True, progress=False)
    assert len(calls) == 2


def test_build_pins_torch_threads_and_restores_them(tmp_path, monkeypatch):
    """The thread count changes the weights a build trains, so the build pins it (and gives it back)."""
    seen = []

    def fake_build(root, recipe, progress):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop here")

    monkeypatch.setattr(world_module, "_build", fake_build)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            world_module.build_into(tmp_path, Recipe(), progress=False)
        assert seen == [Recipe().build_threads] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_pretraining_mix_is_deterministic_and_holds_every_task(tiny_world):
    tokenizer = AutoTokenizer.from_pretrained(tiny_world.tokenizer)
    rows = split_rows()["pretrain_pool"][:300]
    mix = Recipe().pretrain_mix
    first = pretraining_examples(tokenizer, rows, mix, seed=3, passes=2)
    assert first == pretraining_examples(tokenizer, rows, mix, seed=3, passes=2)
    assert first != pretraining_examples(tokenizer, rows, mix, seed=4, passes=2)
    assert len(first) == 2 * len(rows)
    sources = [tokenizer.decode(s) for s, _ in first]
    assert any("Question:" in s for s in sources) and any("Repeat turn" in s for s in sources)
    k_shot = [s for s in sources if s.count("What was going on?") >= 2]
    assert len(k_shot) > 0.35 * len(first), "about half of the examples should be k-shot prompts"
    assert any(s.count("What was going on?") == 4 for s in sources), "some prompts should hold three shots"


def test_bucketed_batches_group_lengths_and_cover_every_example():
    import random

    lengths = [random.Random(i).randrange(10, 400) for i in range(800)]
    batches = bucketed_batches(lengths, 16, 50, random.Random(0))
    assert len(batches) == 50 and all(len(b) == 16 for b in batches)
    assert len({i for b in batches for i in b}) == 800, "one epoch's batches use every example once"
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / 50
    assert spread < 60, f"batches should hold similar lengths; mean spread {spread:.0f} tokens"
    assert bucketed_batches(lengths, 16, 50, random.Random(0)) == batches


def test_world_seeds_have_their_own_folders_and_old_versions_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAI_COURSE_HOME", str(tmp_path))
    monkeypatch.delenv("GENAI_COURSE_TINY_SEED", raising=False)
    assert tiny_world_dir().name == f"tiny-world-v{world_module.TINY_WORLD_VERSION}"
    monkeypatch.setenv("GENAI_COURSE_TINY_SEED", "2")
    assert tiny_world_dir().name.endswith("-seed2")
    assert Recipe(world_seed=2).seed("train") != Recipe().seed("train")
    (tmp_path / "tiny-world-v1").mkdir()
    (tmp_path / tiny_world_dir().name).mkdir()
    assert stale_worlds() == [tmp_path / "tiny-world-v1"]
    monkeypatch.setenv("GENAI_COURSE_TINY_SEED", "two")
    with pytest.raises(ValueError, match="non-negative integer"):
        tiny_world_dir()
