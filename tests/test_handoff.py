"""Lab 2 -> Lab 3 (genai_course.handoff): which saved result Lab 3 finds, what it loads, and that PPO's KL
reference is the Lab 2 model PPO starts from (frozen), not the base model from before Lab 2.

Most tests train a small stand-in T5 for a few steps with the real Lab 2 code (``ft.lora_finetune`` and
``ft.full_finetune`` saving ``runs/lab2/<method>/final``); the last one does the same on the tiny world.
"""

from __future__ import annotations

import json
import random

import pytest
import torch
from datasets import Dataset
from peft import PeftModel
from stand_in import tiny_t5, trained_word_tokenizer
from transformers import PreTrainedTokenizerFast

from genai_course import finetune as ft
from genai_course.data import load_dialogsum
from genai_course.handoff import HandoffError, find_lab2_result, load_starting_point
from genai_course.models import load_summarizer
from genai_course.profiles import Profile, get_profile
from genai_course.prompting import instruction_prompt
from genai_course.rlhf.ppo import PPOConfig, Seq2SeqPPOTrainer
from genai_course.rlhf.reward import RewardModel

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

NAMES = ["Anna", "Ben", "Carl", "Dora"]
THINGS = ["a red car", "a blue hat", "two tickets", "some bread"]


def _rows(n: int) -> list[dict]:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        who, thing = rng.choice(NAMES), rng.choice(THINGS)
        rows.append(
            {
                "id": f"train_{i}",
                "dialogue": f"#Person1#: I am {who} and I want {thing} . #Person2#: Sure .",
                "summary": f"{who} buys {thing} .",
                "topic": "shopping",
            }
        )
    return rows


DATA = Dataset.from_list(_rows(24))
QUERIES = [instruction_prompt(d) for d in DATA["dialogue"][:8]]


def polite(queries, responses):
    return [float("bread" in r) for r in responses]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The stand-in 'base summarizer', saved with its tokenizer as a model folder a profile can name."""
    words = trained_word_tokenizer([instruction_prompt(d) for d in DATA["dialogue"]] + list(DATA["summary"]))
    model = tiny_t5(words, dropout_rate=0.0)
    # Saved as a plain fast tokenizer: transformers would rebuild a "T5TokenizerFast" as SentencePiece.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words.backend_tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=words.model_max_length,
    )
    folder = tmp_path_factory.mktemp("base") / "t5-stand-in"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def _profile(base_folder, **overrides) -> Profile:
    values = dict(
        name="cpu", summarizer=str(base_folder), reward_model="unused", dataset="unused", device="cpu", dtype="float32"
    )
    return Profile(**(values | overrides))


def _train(method: str, model, tokenizer, runs) -> ft.FinetuneResult:
    """Lab 2, a few steps of it, saving where the notebook saves (``<runs>/lab2/<method>/final``)."""
    common = dict(
        output_dir=str(runs / "lab2" / method),
        max_steps=4,
        per_device_train_batch_size=8,
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
        report_to="none",
    )
    if method == "lora":
        return ft.lora_finetune(model, tokenizer, DATA, ft.LoraFinetuneConfig(learning_rate=3e-2, r=4, **common))
    return ft.full_finetune(model, tokenizer, DATA, ft.FullFinetuneConfig(learning_rate=1e-2, **common))


@pytest.fixture(scope="module")
def lab2(base, tmp_path_factory):
    """A folder in which Lab 2 ran both methods, and the two results."""
    _, model, tokenizer = base
    folder = tmp_path_factory.mktemp("lab2-ran-here")
    results = {method: _train(method, model, tokenizer, folder / "runs") for method in ("lora", "full")}
    return folder, results


def _logprobs(trainer: Seq2SeqPPOTrainer, model, batch) -> torch.Tensor:
    rows = torch.arange(len(batch.queries))
    logprobs, _, _ = trainer.forward(model, *batch.select(rows), values=False)
    return logprobs


# --- finding Lab 2's result ------------------------------------------------------------------------------


def test_lora_is_found_first_then_full_and_only_finished_runs_count(tmp_path):
    runs = tmp_path / "runs" / "lab2"
    assert find_lab2_result(search=[runs]) is None
    (runs / "lora" / "checkpoint-4").mkdir(parents=True)  # an interrupted run: no final/, not a result
    (runs / "full" / "final").mkdir(parents=True)
    (runs / "full" / "final" / "config.json").write_text("{}")
    (runs / "full" / "final" / "trainer_state.json").write_text(json.dumps({"global_step": 7}))
    found = find_lab2_result(search=[runs])
    assert found.method == "full" and found.steps == 7 and found.path == runs / "full" / "final"
    (runs / "lora" / "final").mkdir()
    (runs / "lora" / "final" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "b"}))
    found = find_lab2_result(search=[runs])
    assert found.method == "lora" and found.steps is None and found.base == "b"
    assert find_lab2_result("full", search=[runs]).method == "full"
    with pytest.raises(HandoffError, match="Unknown Lab 2 method"):
        find_lab2_result("merged", search=[runs])


def test_the_runner_layout_is_searched_from_the_lab3_folder(tmp_path, monkeypatch):
    """`genai-course run` runs each lab in <out>/<lab>/: Lab 3 finds Lab 2's result next door."""
    final = tmp_path / "out" / "lab2" / "runs" / "lab2" / "lora" / "final"
    final.mkdir(parents=True)
    (final / "adapter_config.json").write_text("{}")
    (tmp_path / "out" / "lab3").mkdir()
    monkeypatch.chdir(tmp_path / "out" / "lab3")
    assert find_lab2_result().path.resolve() == final.resolve()


# --- what is loaded, and why -----------------------------------------------------------------------------


def test_auto_without_a_lab2_result_starts_from_the_base_model_and_says_so(base, tmp_path):
    folder, model, _ = base
    point = load_starting_point(_profile(folder), None, search=[tmp_path / "runs" / "lab2"])
    assert point.source == "base" and not point.from_lab2
    assert "no Lab 2 result was found" in point.describe() and str(tmp_path) in point.describe()
    assert ft.weights_hash(point.model) == ft.weights_hash(model)


def test_asking_for_a_lab2_result_that_is_not_there_is_an_error(base, tmp_path):
    with pytest.raises(HandoffError, match="Lab 2 has saved no lora result here"):
        load_starting_point(_profile(base[0]), "lora", search=[tmp_path / "runs" / "lab2"])
    with pytest.raises(HandoffError, match="neither one of lora, full, base"):
        load_starting_point(_profile(base[0]), str(tmp_path / "no-such-folder"))


def test_auto_loads_the_lora_adapter_merged_and_names_the_full_model_too(base, lab2):
    folder, results = lab2
    point = load_starting_point(_profile(base[0]), None, search=[folder / "runs" / "lab2"])
    assert point.source == "lab2-lora" and point.path == str(results["lora"].saved_to)
    assert not isinstance(point.model, PeftModel)  # merged: a plain model, which PPO gives a fresh adapter
    assert any("LAB2_RESULT='full'" in note for note in point.notes)
    assert "not the base model from before Lab 2" in point.describe()
    encoded = base[2](QUERIES, return_tensors="pt", padding=True)
    labels = base[2](list(DATA["summary"][:8]), return_tensors="pt", padding=True)["input_ids"]
    with torch.no_grad():
        merged = point.model(**encoded, labels=labels).logits
        adapter = results["lora"].model(**encoded, labels=labels).logits
    assert torch.allclose(merged, adapter, atol=1e-5)


def test_full_and_folder_choices_load_what_lab2_saved(base, lab2):
    folder, results = lab2
    search = [folder / "runs" / "lab2"]
    full = load_starting_point(_profile(base[0]), "full", search=search)
    assert full.source == "lab2-full" and ft.weights_hash(full.model) == ft.weights_hash(results["full"].model)
    by_folder = load_starting_point(_profile(base[0]), str(folder / "runs" / "lab2" / "lora"))
    assert by_folder.source == "folder-lora" and by_folder.path.endswith("final")
    base_point = load_starting_point(_profile(base[0]), "base", search=search)
    assert base_point.source == "base" and ft.weights_hash(base_point.model) == ft.weights_hash(base[1])


def test_a_profile_finetuned_summarizer_comes_first_in_auto(base, lab2):
    """The tiny profile's default: its finetuned_summarizer, whatever Lab 2 left here (named in a note)."""
    folder, results = lab2
    profile = _profile(base[0], finetuned_summarizer=str(results["full"].saved_to))
    point = load_starting_point(profile, None, search=[folder / "runs" / "lab2"])
    assert point.source == "profile" and point.path == str(results["full"].saved_to)
    assert any("LAB2_RESULT='lora'" in note for note in point.notes)


# --- the KL reference ------------------------------------------------------------------------------------


def test_the_kl_reference_is_the_lab2_model_frozen_not_the_base_model(base, lab2):
    folder, results = lab2
    _, base_model, tokenizer = base
    point = load_starting_point(_profile(base[0]), "lora", search=[folder / "runs" / "lab2"])
    config = PPOConfig(learning_rate=3e-2, batch_size=8, mini_batch_size=4, max_new_tokens=6, lora_r=4, lora_alpha=4)
    trainer = Seq2SeqPPOTrainer(config, point.model, point.tokenizer, polite)
    batch = trainer.rollout(QUERIES, seed=1)
    old = trainer.evaluate(batch)
    lab2_model, width = results["lora"].model, batch.mask.shape[1]
    assert torch.equal(old["logprobs"], old["ref_logprobs"])  # PPO starts at its reference: KL exactly 0
    assert torch.allclose(old["ref_logprobs"], _logprobs(trainer, lab2_model, batch)[:, :width], atol=1e-5)
    assert not torch.allclose(old["ref_logprobs"], _logprobs(trainer, base_model, batch)[:, :width], atol=1e-2)
    first = trainer.step(QUERIES)
    assert first["kl"] == 0.0
    trainer.step(QUERIES)
    after = trainer.evaluate(batch)
    # The reference stayed the Lab 2 model while the policy moved away from it.
    assert torch.allclose(after["ref_logprobs"], _logprobs(trainer, lab2_model, batch)[:, :width], atol=1e-5)
    assert not torch.allclose(after["logprobs"], after["ref_logprobs"], atol=1e-3)


def test_the_rejected_alternative_training_lab2s_adapter_in_place_would_use_the_base_model(base, lab2):
    """Why the adapter is merged: a Lab 2 PeftModel trained in place has the *base* model as reference."""
    folder, results = lab2
    _, base_model, tokenizer = base
    in_place = ft.load_adapter(base_model, results["lora"].saved_to, trainable=True)
    config = PPOConfig(batch_size=8, mini_batch_size=4, max_new_tokens=6)
    trainer = Seq2SeqPPOTrainer(config, in_place, tokenizer, polite)
    batch = trainer.rollout(QUERIES, seed=1)
    old = trainer.evaluate(batch)
    width = batch.mask.shape[1]
    assert torch.allclose(old["ref_logprobs"], _logprobs(trainer, base_model, batch)[:, :width], atol=1e-5)
    assert not torch.allclose(old["logprobs"], old["ref_logprobs"], atol=1e-2)  # KL > 0 before any update


# --- end to end on the tiny world ------------------------------------------------------------------------


def test_on_the_tiny_world_lab3_starts_from_what_lab2_saved_and_keeps_to_it(tiny_world, tmp_path, monkeypatch):
    """A few steps of Lab 2's LoRA, saved where the notebook saves; Lab 3 loads it when asked (tiny's auto
    stays the world's fine-tuned sibling); one PPO step; the reference is the Lab 2 model, not the base."""
    profile = get_profile("tiny")
    data = load_dialogsum(profile.dataset)
    original, tokenizer = load_summarizer(profile)
    monkeypatch.chdir(tmp_path)  # the notebooks' runs/ folder is relative to where they run
    settings = ft.LoraFinetuneConfig.for_profile(
        profile, output_dir="runs/lab2/lora", max_steps=3, train_examples=96, save_strategy="no", disable_tqdm=True
    )
    lab2 = ft.lora_finetune(original, tokenizer, data["train"], settings)
    assert lab2.saved_to.resolve() == (tmp_path / "runs" / "lab2" / "lora" / "final").resolve()

    auto = load_starting_point(profile, None)
    assert auto.source == "profile" and auto.path == profile.finetuned_summarizer
    assert any("LAB2_RESULT='lora'" in note for note in auto.notes)
    point = load_starting_point(profile, "lora")
    assert point.source == "lab2-lora" and "not the base model from before Lab 2" in point.describe()

    queries = [instruction_prompt(d) for d in data["train"].select(range(4))["dialogue"]]
    config = PPOConfig.from_profile(profile, batch_size=4, mini_batch_size=4, ppo_epochs=1)
    trainer = Seq2SeqPPOTrainer(config, point.model, point.tokenizer, RewardModel.from_pretrained(profile))
    batch = trainer.rollout(queries, seed=profile.seed)
    old = trainer.evaluate(batch)
    width = batch.mask.shape[1]
    assert torch.equal(old["logprobs"], old["ref_logprobs"])
    assert torch.allclose(old["ref_logprobs"], _logprobs(trainer, lab2.model, batch)[:, :width], atol=1e-4)
    assert not torch.allclose(old["ref_logprobs"], _logprobs(trainer, original, batch)[:, :width], atol=1e-2)
    assert trainer.step(queries)["kl"] == 0.0
