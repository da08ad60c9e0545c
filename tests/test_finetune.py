"""Tests of genai_course.finetune on small random-weight T5 models and a tokenizer trained here."""

from __future__ import annotations

import copy
import os
import random
import signal

import pytest
import torch
from datasets import Dataset
from peft import get_peft_model
from stand_in import tiny_t5, trained_word_tokenizer
from transformers import (
    DataCollatorForSeq2Seq,
    GenerationConfig,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    T5ForConditionalGeneration,
    T5TokenizerFast,
    TrainerCallback,
    set_seed,
)

from genai_course import finetune as ft
from genai_course.generation import generate
from genai_course.metrics import MetricInputError
from genai_course.models import count_parameters, flan_t5_base_config
from genai_course.profiles import Profile
from genai_course.prompting import instruction_prompt

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

NAMES = ["Anna", "Ben", "Carl", "Dora", "Emil", "Fay"]
THINGS = ["a red car", "a blue hat", "two tickets", "a new phone", "some bread", "a green bike"]
PLACES = ["at the shop", "at the station", "online", "at the market"]
GREEDY = GenerationConfig(max_new_tokens=8, do_sample=False)


def _rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        who, thing, where = rng.choice(NAMES), rng.choice(THINGS), rng.choice(PLACES)
        extra = " #Person2#: Sure . Anything else ?" * rng.randint(0, 3)
        rows.append(
            {
                "id": f"row_{i}",
                "dialogue": f"#Person1#: I am {who} and I want {thing} {where} .{extra} #Person1#: No thanks .",
                "summary": f"{who} buys {thing} {where} ." + (" It was quick ." if i % 3 == 0 else ""),
                "topic": "shopping",
            }
        )
    return rows


@pytest.fixture(scope="module")
def data() -> Dataset:
    return Dataset.from_list(_rows(48))


@pytest.fixture(scope="module")
def tokenizer(data) -> T5TokenizerFast:
    return trained_word_tokenizer([instruction_prompt(d) for d in data["dialogue"]] + list(data["summary"]))


def _tiny_t5(tokenizer, seed: int = 0) -> T5ForConditionalGeneration:
    return tiny_t5(tokenizer, seed)


@pytest.fixture(scope="module")
def base_model(tokenizer):
    return _tiny_t5(tokenizer)


def _full_config(tmp_path, **overrides) -> ft.FullFinetuneConfig:
    values = dict(
        output_dir=str(tmp_path / "full"),
        learning_rate=3e-3,
        max_steps=12,
        per_device_train_batch_size=8,
        logging_steps=1,
        save_steps=4,
        disable_tqdm=True,
        use_cpu=True,
    )
    values.update(overrides)
    return ft.FullFinetuneConfig(**values)


def _lora_config(tmp_path, **overrides) -> ft.LoraFinetuneConfig:
    values = dict(
        output_dir=str(tmp_path / "lora"),
        learning_rate=1e-2,
        max_steps=12,
        per_device_train_batch_size=8,
        logging_steps=1,
        save_steps=4,
        r=4,
        lora_alpha=8,
        disable_tqdm=True,
        use_cpu=True,
    )
    values.update(overrides)
    return ft.LoraFinetuneConfig(**values)


def _summaries(model, tokenizer, dialogues) -> list[str]:
    return generate(model, tokenizer, [instruction_prompt(d) for d in dialogues], GREEDY, progress=False)


# ---- tokenization -------------------------------------------------------------------------------


def test_labels_are_padded_with_minus_100_only_where_padding(data, tokenizer):
    tokenized, report = ft.tokenize_for_summarization(data, tokenizer)
    assert not report.any
    rows = [tokenized[i] for i in range(8)]
    label_lengths = [len(r["labels"]) for r in rows]
    assert len(set(label_lengths)) > 1, "the fixture should mix summary lengths so padding happens"
    batch = ft.summarization_collator(tokenizer)(rows)
    width = max(label_lengths)
    assert batch["labels"].shape == (8, width)
    for row, n, labels in zip(rows, label_lengths, batch["labels"]):
        assert labels[:n].tolist() == row["labels"]
        assert (labels[n:] == ft.LABEL_PAD).all()
        assert labels[n - 1] == tokenizer.eos_token_id  # the summary ends with EOS, which is learned
    # inputs are padded with the pad id and masked out
    for row, ids, mask in zip(rows, batch["input_ids"], batch["attention_mask"]):
        n = len(row["input_ids"])
        assert ids[:n].tolist() == row["input_ids"] and (ids[n:] == tokenizer.pad_token_id).all()
        assert mask.sum() == n


def test_padding_does_not_change_the_loss(data, tokenizer, base_model):
    """-100 labels are ignored: a padded batch gives each example the same loss as alone."""
    tokenized, _ = ft.tokenize_for_summarization(data, tokenizer)
    collate = ft.summarization_collator(tokenizer)
    rows = [tokenized[i] for i in range(4)]
    with torch.no_grad():
        batch = collate(rows)
        logits = base_model(**batch).logits
        per_token = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), batch["labels"], ignore_index=ft.LABEL_PAD, reduction="none"
        )
        for i, row in enumerate(rows):
            alone = base_model(**collate([row])).loss
            n = len(row["labels"])
            assert torch.allclose(per_token[i, :n].mean(), alone, atol=1e-5)


def test_mask_label_padding_replaces_pad_ids_only():
    labels = torch.tensor([[5, 7, 1, 0, 0], [9, 1, 0, 0, 0]])
    masked = ft.mask_label_padding(labels, pad_token_id=0)
    assert masked.tolist() == [[5, 7, 1, -100, -100], [9, 1, -100, -100, -100]]
    assert labels[0, 3] == 0, "the input tensor is not modified"


def test_truncation_is_reported_and_warned(data, tokenizer):
    prompts = [instruction_prompt(d) for d in data["dialogue"]]
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    limit = sorted(lengths)[len(lengths) // 2]  # about half the prompts overflow
    expected_cut = [n - limit for n in lengths if n > limit]
    with pytest.warns(ft.TruncationWarning, match=f"{len(expected_cut)} of {len(data)} prompts"):
        tokenized, report = ft.tokenize_for_summarization(data, tokenizer, max_input_tokens=limit)
    assert report.inputs_truncated == len(expected_cut) > 0
    assert report.input_tokens_dropped_max == max(expected_cut)
    assert report.input_tokens_dropped_total == sum(expected_cut)
    assert report.targets_truncated == 0
    for ids, n in zip(tokenized["input_ids"], lengths):
        assert len(ids) == min(n, limit)
        assert ids[-1] == tokenizer.eos_token_id  # the cut keeps the end-of-sequence marker
    assert str(expected_cut and max(expected_cut)) in str(report)


def test_summary_truncation_is_reported(data, tokenizer):
    with pytest.warns(ft.TruncationWarning, match="summaries"):
        _, report = ft.tokenize_for_summarization(data, tokenizer, max_target_tokens=4)
    lengths = [len(ids) for ids in tokenizer(list(data["summary"]))["input_ids"]]
    assert report.targets_truncated == sum(n > 4 for n in lengths)
    assert report.target_tokens_dropped_max == max(lengths) - 4


def test_bad_inputs_give_clear_errors(data, tokenizer, base_model, tmp_path):
    with pytest.raises(ft.FinetuneError, match="lacks the column.*summary"):
        ft.tokenize_for_summarization(data.remove_columns("summary"), tokenizer)
    broken = Dataset.from_list([{"id": "x1", "dialogue": "  ", "summary": "s", "topic": "t"}])
    with pytest.raises(ft.FinetuneError, match="x1"):
        ft.tokenize_for_summarization(broken, tokenizer)
    with pytest.raises(ft.FinetuneError, match="train_examples=500 but the dataset has 48 rows"):
        ft.full_finetune(base_model, tokenizer, data, _full_config(tmp_path, train_examples=500))
    with pytest.raises(ft.FinetuneError, match="Choose among: .*q.*v"):
        ft.add_lora(base_model, ft.LoraFinetuneConfig(target_modules=("query", "v")))
    with pytest.raises(ft.FinetuneError, match="no checkpoint"):
        ft.full_finetune(base_model, tokenizer, data, _full_config(tmp_path / "empty", resume_from_checkpoint=True))


# ---- configuration and parameter counts ---------------------------------------------------------


def test_course_defaults_and_profile_budget():
    full, lora = ft.FullFinetuneConfig(), ft.LoraFinetuneConfig()
    assert (full.learning_rate, full.weight_decay) == (1e-5, 0.01)
    peft_config = lora.lora_config()
    assert (peft_config.r, peft_config.lora_alpha, peft_config.lora_dropout, peft_config.bias) == (32, 32, 0.05, "none")
    assert set(peft_config.target_modules) == {"q", "v"} and peft_config.task_type == "SEQ_2_SEQ_LM"
    assert lora.learning_rate == 1e-3
    profile = Profile(
        name="x",
        summarizer="s",
        reward_model="r",
        dataset="d",
        device="cpu",
        train_batch_size=5,
        full_ft_lr=2e-4,
        full_ft_epochs=3.0,
        lora_lr=5e-3,
        lora_epochs=2.0,
        lora_r=8,
        train_examples=100,
        seed=7,
    )
    full = ft.FullFinetuneConfig.for_profile(profile, output_dir="elsewhere")
    assert (full.learning_rate, full.num_train_epochs, full.per_device_train_batch_size) == (2e-4, 3.0, 5)
    assert (full.train_examples, full.seed, full.use_cpu, full.output_dir) == (100, 7, True, "elsewhere")
    lora = ft.LoraFinetuneConfig.for_profile(profile)
    assert (lora.learning_rate, lora.num_train_epochs, lora.r, lora.lora_alpha) == (5e-3, 2.0, 8, 8)


def test_flan_t5_base_course_lora_has_exactly_3538944_trainable_parameters():
    with torch.device("meta"):  # the real shape without allocating 900 MB of weights
        model = T5ForConditionalGeneration(flan_t5_base_config())
        peft_model = ft.add_lora(model, ft.LoraFinetuneConfig())
    counts = count_parameters(peft_model)
    assert counts["trainable"] == 3_538_944 == 72 * 32 * (768 + 768)
    assert counts["total"] == count_parameters(model)["total"] + 3_538_944
    assert counts["percent"] < 2.0
    assert count_parameters(model)["trainable"] == count_parameters(model)["total"], "the input model is not frozen"


# ---- training, saving, loading ------------------------------------------------------------------


class _HoldMemory(TrainerCallback):
    """Holds a touched block of ``mib`` MiB from the first step to the end of training: memory the run adds."""

    def __init__(self, mib: int):
        self.mib, self.block = mib, None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.block is None:
            self.block = torch.ones(self.mib * 2**20 // 4)

    def on_train_end(self, args, state, control, **kwargs):
        self.block = None


def test_full_finetune_trains_a_copy_and_round_trips(data, tokenizer, base_model, tmp_path):
    before = ft.weights_hash(base_model)
    result = ft.full_finetune(base_model, tokenizer, data, _full_config(tmp_path), callbacks=[_HoldMemory(48)])
    assert ft.weights_hash(base_model) == before, "full_finetune modified the model it was given"
    assert ft.weights_hash(result.model) != before
    assert result.global_step == 12 and result.cost.steps == 12
    assert result.params["trainable"] == result.params["total"] == count_parameters(base_model)["total"]
    losses = [entry["loss"] for entry in result.loss_history]
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3]), f"loss did not fall: {losses}"
    assert result.cost.seconds > 0 and result.cost.memory_method
    # The 48 MiB held during training are part of the run's peak (a clamped peak >= 0 could never fail).
    assert result.cost.peak_memory_mb >= 40, f"measured {result.cost.peak_memory_mb:.1f} MiB"
    model_bytes = sum(p.numel() * 4 for p in base_model.state_dict().values())
    assert result.cost.saved_mb * 2**20 >= 0.9 * model_bytes
    reloaded = ft.load_full_checkpoint(result.saved_to, device="cpu")
    dialogues = list(data["dialogue"][:6])
    assert _summaries(reloaded, tokenizer, dialogues) == _summaries(result.model, tokenizer, dialogues)
    loaded = ft.load_result("full", result.saved_to, base_model, tokenizer)
    assert loaded.loss_history == result.loss_history and loaded.global_step == 12
    assert loaded.cost.saved_mb == result.cost.saved_mb and loaded.cost.seconds == 0.0
    assert ft.weights_hash(loaded.model) == ft.weights_hash(result.model)


def test_logged_loss_is_the_mean_loss_with_accumulation(data, tokenizer, base_model, tmp_path):
    """T5 ignores num_items_in_batch; a Trainer told otherwise would skip dividing by the accumulation steps
    (and multiply by the number of processes, see tests/test_distributed.py): twice the loss here."""
    still = dict(learning_rate=1e-12, max_steps=3, save_final=False, save_steps=100)
    whole = ft.full_finetune(base_model, tokenizer, data, _full_config(tmp_path / "a", **still))
    halves = ft.full_finetune(
        base_model,
        tokenizer,
        data,
        _full_config(tmp_path / "b", per_device_train_batch_size=4, gradient_accumulation_steps=2, **still),
    )
    for one, two in zip(whole.loss_history, halves.loss_history):  # the same 8 rows a step, 4 + 4 or 8
        assert one["loss"] == pytest.approx(two["loss"], rel=0.1), (whole.loss_history, halves.loss_history)


def test_lora_trains_only_adapters_and_round_trips(data, tokenizer, base_model, tmp_path):
    before = ft.weights_hash(base_model)
    result = ft.lora_finetune(base_model, tokenizer, data, _lora_config(tmp_path))
    assert ft.weights_hash(base_model) == before, "lora_finetune modified the model it was given"
    expected = 2 * 3 * 2 * 4 * (32 + 32)  # (enc self + dec self + dec cross) x 2 layers, q and v, r=4
    assert result.params["trainable"] == expected
    assert result.params["total"] == count_parameters(base_model)["total"] + expected
    losses = [entry["loss"] for entry in result.loss_history]
    assert sum(losses[-3:]) < sum(losses[:3]), f"loss did not fall: {losses}"
    assert 0 < result.cost.saved_mb * 2**20 < 1.2 * expected * 4 + 4096, "only the adapter should be saved"
    assert not (result.saved_to / "model.safetensors").exists()

    dialogues = list(data["dialogue"][:6])
    trained = _summaries(result.model, tokenizer, dialogues)
    assert trained != _summaries(base_model, tokenizer, dialogues), "the adapter changed nothing"
    reloaded = ft.load_adapter(base_model, result.saved_to)
    assert _summaries(reloaded, tokenizer, dialogues) == trained
    assert not reloaded.training and not any(p.requires_grad for p in reloaded.parameters())
    loaded = ft.load_result("lora", result.saved_to, base_model, tokenizer)
    assert loaded.params == result.params and loaded.loss_history == result.loss_history
    assert ft.weights_hash(base_model) == before, "load_adapter modified the base model"

    merged = ft.merge_adapter(result.model)
    assert count_parameters(merged)["total"] == count_parameters(base_model)["total"]
    assert _summaries(merged, tokenizer, dialogues) == trained
    path = ft.save_merged(result.model, tmp_path / "merged", tokenizer)
    assert _summaries(ft.load_full_checkpoint(path, device="cpu"), tokenizer, dialogues) == trained
    assert _summaries(result.model, tokenizer, dialogues) == trained, "merging modified the adapter model"


class _CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


class _StopAfter(TrainerCallback):
    """Simulates an interruption: training stops after ``steps`` optimizer steps."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.steps:
            control.should_training_stop = True
        return control


@pytest.mark.parametrize("method", ["full", "lora"])
def test_resume_after_interruption_loses_no_steps(method, data, tokenizer, base_model, tmp_path):
    train, make = (ft.full_finetune, _full_config) if method == "full" else (ft.lora_finetune, _lora_config)
    reference = train(base_model, tokenizer, data, make(tmp_path / "straight", max_steps=10, save_steps=4))
    config = make(tmp_path / "interrupted", max_steps=10, save_steps=4)
    # Stopped at step 7: the last checkpoint is step 4, so steps 5-7 are lost and must be redone.
    stopped = train(base_model, tokenizer, data, config, callbacks=[_StopAfter(7)])
    assert stopped.global_step == 7
    config.resume_from_checkpoint = True
    counter = _CountSteps()
    resumed = train(base_model, tokenizer, data, config, callbacks=[counter])
    assert counter.steps == 6, "resuming should redo steps 5-10 only, not start over"
    assert resumed.global_step == reference.global_step == 10
    assert [e["step"] for e in resumed.loss_history] == list(range(1, 11))
    ref_state, res_state = reference.model.state_dict(), resumed.model.state_dict()
    assert ref_state.keys() == res_state.keys()
    for name in ref_state:
        assert torch.allclose(ref_state[name], res_state[name], atol=1e-6), f"{name} differs after resuming"
    assert ft.weights_hash(resumed.model) != ft.weights_hash(stopped.model)


def test_exact_match_ignores_case_punctuation_and_spaces():
    assert ft.exact_match(["Job  interview.", "shopping", "a meal"], ["job interview", "Shopping!", "meal"]) == 2 / 3
    with pytest.raises(MetricInputError, match="pair up"):
        ft.exact_match(["a"], ["a", "b"])


def test_peak_memory_sees_an_allocation():
    with ft.PeakMemory("cpu") as memory:
        block = torch.ones(48 * 2**20 // 4)  # 48 MiB, touched
        del block
    assert 40 <= memory.peak_mb <= 200, f"measured {memory.peak_mb:.1f} MiB with {memory.method}"


# ---- the lesson on the tiny world (opt-in: trains for minutes) -----------------------------------


@pytest.mark.skipif(
    not os.environ.get("GENAI_COURSE_SLOW_TESTS"),
    reason="trains on the tiny world for minutes; set GENAI_COURSE_SLOW_TESTS=1 (the notebook asserts the same)",
)
def test_tiny_world_full_finetuning_beats_prompting_and_lora_comes_close(tmp_path):
    from genai_course.data import load_dialogsum
    from genai_course.metrics import rouge
    from genai_course.models import load_summarizer
    from genai_course.profiles import get_profile

    profile = get_profile("tiny")
    data = load_dialogsum(profile.dataset)
    test = data["test"].select(range(profile.n_eval))
    original, tokenizer = load_summarizer(profile)
    config = GenerationConfig(max_new_tokens=profile.max_new_tokens, do_sample=False)
    prompts = [instruction_prompt(d) for d in test["dialogue"]]

    def rouge1(model) -> float:
        summaries = generate(model, tokenizer, prompts, config, batch_size=profile.eval_batch_size, progress=False)
        return rouge(summaries, test["summary"])["rouge1"]

    common = {"disable_tqdm": True, "save_strategy": "no"}
    full = ft.full_finetune(
        original,
        tokenizer,
        data["train"],
        ft.FullFinetuneConfig.for_profile(profile, output_dir=str(tmp_path / "full"), **common),
    )
    lora = ft.lora_finetune(
        original,
        tokenizer,
        data["train"],
        ft.LoraFinetuneConfig.for_profile(profile, output_dir=str(tmp_path / "lora"), **common),
    )
    before, after_full, after_lora = rouge1(original), rouge1(full.model), rouge1(lora.model)
    assert len(test) >= 100
    assert after_full - before >= 0.15, f"full fine-tuning: ROUGE-1 {before:.3f} -> {after_full:.3f}"
    assert after_full - after_lora <= 0.05, f"LoRA {after_lora:.3f} vs full {after_full:.3f}"
    assert lora.params["percent"] <= 5, f"LoRA trains {lora.params['percent']:.2f}% of the parameters"


# ---- figures ------------------------------------------------------------------------------------


def _bar_heights(ax) -> list[float]:
    return [round(patch.get_height(), 6) for patch in ax.patches]


def test_plots_draw_the_numbers_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genai_course.plots import finetuning as plots

    rouge = {
        "original": {"rouge1": 0.2, "rouge2": 0.05, "rougeL": 0.18, "rougeLsum": 0.19},
        "full": {"rouge1": 0.6, "rouge2": 0.3, "rougeL": 0.5, "rougeLsum": 0.55},
        "lora": {"rouge1": 0.58, "rouge2": 0.28, "rougeL": 0.49, "rougeLsum": 0.53},
    }
    fig = plots.plot_rouge_comparison(rouge)
    # bars are drawn model by model: original's four, then full's, then LoRA's
    assert _bar_heights(fig.axes[0]) == [v for row in rouge.values() for v in row.values()]
    with pytest.raises(ValueError, match="lacks"):
        plots.plot_rouge_comparison({"full": {"rouge1": 0.5}})

    state = {
        "full": {"weights": 6.0, "gradients": 6.0, "optimizer": 12.0},
        "lora": {"weights": 6.2, "gradients": 0.2, "optimizer": 0.4},
    }
    cost = {
        "full": {"seconds": 30.0, "peak_memory_mb": 400.0, "saved_mb": 6.0, "training_state_mb": state["full"]},
        "lora": {"seconds": 20.0, "peak_memory_mb": 100.0, "saved_mb": 0.5, "training_state_mb": state["lora"]},
    }
    params = {
        "full": {"trainable": 1_500_000, "total": 1_500_000, "percent": 100.0},
        "lora": {"trainable": 60_000, "total": 1_560_000, "percent": 3.8},
    }
    base = {
        "full": {"weights": 1024.0, "gradients": 1024.0, "optimizer": 2048.0},
        "lora": {"weights": 1024.0, "gradients": 10.0, "optimizer": 20.0},
    }
    fig = plots.plot_cost(cost, params, base_shape=base)
    trainable, held, saved, base_axis = fig.axes[:4]
    assert _bar_heights(trainable) == [1_500_000, 60_000] and _bar_heights(saved) == [6.0, 0.5]
    # stacked: weights, then gradients, then optimizer moments, one bar per run each
    assert _bar_heights(held) == [6.0, 6.2, 6.0, 0.2, 12.0, 0.4]
    assert "(3.5x)" in held.get_title() and "(3.9x)" in base_axis.get_title()
    assert _bar_heights(base_axis) == [1.0, 1.0, 1.0, round(10 / 1024, 6), 2.0, round(20 / 1024, 6)]

    history = [{"step": s, "epoch": s / 10, "loss": 3.0 / s} for s in range(1, 11)]
    fig = plots.plot_loss_curves({"full": history, "lora": history[:5]})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and list(lines[1].get_ydata()) == [e["loss"] for e in history[:5]]

    fig = plots.plot_forgetting({"task": "topic", "metric": "exact match", "original": 0.8, "full": 0.1, "lora": 0.7})
    assert _bar_heights(fig.axes[0]) == [0.8, 0.1, 0.7]
    four = {"task": "topic", "original": 0.9, "full": 0.1, "full_mixed": 0.9, "lora": 0.6, "lora_off": 0.9}
    assert _bar_heights(plots.plot_forgetting(four).axes[0]) == [0.9, 0.1, 0.9, 0.6, 0.9]
    plt.close("all")


# ---- a Trainer the learner built, with the course's callback (the Lab 2 notebook's way) -----------


def _hand_built(model, tokenizer, dataset, out, run, **overrides):
    """What the Lab 2 notebook writes: a tokenize function over dataset.map, the collator, the Trainer."""

    def tokenize(batch):
        inputs = tokenizer([instruction_prompt(d) for d in batch["dialogue"]], truncation=True, max_length=512)
        inputs["labels"] = tokenizer(text_target=batch["summary"], truncation=True, max_length=512)["input_ids"]
        return inputs

    args = dict(
        output_dir=str(out),
        learning_rate=3e-3,
        max_steps=12,
        per_device_train_batch_size=8,
        logging_steps=1,
        save_steps=4,
        save_total_limit=1,
        weight_decay=0.01,
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=Seq2SeqTrainingArguments(**(args | overrides)),
        train_dataset=dataset.map(tokenize, batched=True, remove_columns=dataset.column_names),
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=[run],
    )
    trainer.model_accepts_loss_kwargs = False
    return trainer


def test_a_hand_built_trainer_with_course_run_trains_exactly_as_full_finetune(data, tokenizer, base_model, tmp_path):
    wrapped = ft.full_finetune(base_model, tokenizer, data, _full_config(tmp_path, save_total_limit=1))
    run = ft.CourseRun()
    trainer = _hand_built(copy.deepcopy(base_model), tokenizer, data, tmp_path / "by_hand", run)
    trainer.train()
    result = run.result(trainer)
    assert [e["loss"] for e in result.loss_history] == [e["loss"] for e in wrapped.loss_history]
    assert ft.weights_hash(result.model) == ft.weights_hash(wrapped.model)
    assert result.method == "full" and result.params == wrapped.params and result.global_step == 12
    cost = result.cost
    assert cost.steps == 12 and cost.seconds > 0 and cost.seconds_per_step > 0 and cost.memory_method
    assert set(cost.training_state_mb) == {"weights", "gradients", "optimizer"}
    assert result.saved_to == tmp_path / "by_hand" / "final" and (result.saved_to / "config.json").is_file()
    assert cost.saved_mb == pytest.approx(ft.saved_size_mb(result.saved_to))
    reloaded = ft.load_result("full", result.saved_to, base_model, tokenizer)
    assert reloaded.loss_history == result.loss_history


def test_course_run_refuses_an_earlier_run_when_the_trainer_is_built(data, tokenizer, base_model, tmp_path):
    out = tmp_path / "earlier"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "final").mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ft.FinetuneError, match="already holds an earlier run's results"):
        _hand_built(copy.deepcopy(base_model), tokenizer, data, out, ft.CourseRun())
    assert (out / "checkpoint-4").is_dir() and (out / "final").is_dir()  # nothing deleted on refusal
    _hand_built(copy.deepcopy(base_model), tokenizer, data, out, ft.CourseRun(overwrite=True))
    assert not (out / "checkpoint-4").exists(), "overwrite=True replaces the old checkpoints"
    assert (out / "final").is_dir() and (out / "notes.txt").read_text() == "mine"  # final/ only once replaced
    with pytest.raises(ft.FinetuneError, match="True or False"):
        ft.CourseRun(overwrite="yes")


def test_course_run_measures_nothing_before_training_and_saves_nothing_after_an_interrupt(
    data, tokenizer, base_model, tmp_path
):
    run = ft.CourseRun()
    with pytest.raises(ft.FinetuneError, match="call trainer.train"):
        run.cost()
    trainer = _hand_built(copy.deepcopy(base_model), tokenizer, data, tmp_path / "cut", run, max_steps=2)
    trainer.train()
    run.interrupt.received = signal.SIGINT  # as if Ctrl-C had arrived during the run
    with pytest.raises(ft.FinetuneError, match="interrupted"):
        run.save(trainer)
    assert not (tmp_path / "cut" / "final").exists()


def test_course_run_result_is_a_peft_model_for_lora(data, tokenizer, base_model, tmp_path):
    set_seed(0)
    lora = get_peft_model(copy.deepcopy(base_model), ft.LoraFinetuneConfig(r=4, lora_alpha=8).lora_config())
    run = ft.CourseRun()
    trainer = _hand_built(lora, tokenizer, data, tmp_path / "lora", run, learning_rate=1e-2, max_steps=3)
    trainer.train()
    result = run.result(trainer)
    assert result.method == "lora" and 0 < result.params["percent"] < 100
    assert (result.saved_to / "adapter_config.json").is_file()
