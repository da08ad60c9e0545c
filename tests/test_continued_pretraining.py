"""Continued pre-training: self-supervised examples from text alone, a trained copy, the lab's budgets."""

import pytest
import torch
from stand_in import tiny_t5, word_tokenizer
from transformers import AutoTokenizer

from genai_course import get_profile
from genai_course.continued_pretraining import (
    LABELED_COLUMNS,
    SELF_SUPERVISED_MIX,
    ContinuedPretrainingConfig,
    ContinuedPretrainingError,
    DomainBudget,
    continue_pretraining,
    domain_scores,
    new_domain_data,
    self_supervised_dataset,
)
from genai_course.finetune import weights_hash
from genai_course.tiny.new_domain import new_domain_rows
from genai_course.tiny.tokenizer import sentinel

pytestmark = pytest.mark.usefixtures("one_thread")
TEXTS = [row["dialogue"] for row in new_domain_rows(24, "unlabeled")]


@pytest.fixture(scope="module")
def tokenizer(tiny_world):
    return AutoTokenizer.from_pretrained(str(tiny_world.tokenizer))


def test_each_text_gives_one_example_per_pass_of_the_mix_tasks(tokenizer):
    data = self_supervised_dataset(TEXTS, tokenizer, passes=2, seed=3)
    assert len(data) == 2 * len(TEXTS) and set(data.column_names) == {"input_ids", "labels"}
    sources = [tokenizer.decode(ids) for ids in data["input_ids"]]
    corrupted = sum(sentinel(0) in s for s in sources)
    repeats = sum("Repeat turn" in s for s in sources)
    assert corrupted + repeats == len(data) and corrupted > 5 and repeats > 5  # both tasks of the mix
    # A repeated turn is copied out of the dialogue: its target is one of the dialogue's own lines.
    for ids, labels in zip(data["input_ids"], data["labels"]):
        source = tokenizer.decode(ids, skip_special_tokens=True)
        if "Repeat turn" in source:
            assert tokenizer.decode(labels, skip_special_tokens=True).split(": ", 1)[1] in source
    assert self_supervised_dataset(TEXTS, tokenizer, passes=2, seed=3)["labels"] == data["labels"]  # seeded


def test_bad_inputs_get_clear_errors(tokenizer):
    with pytest.raises(ContinuedPretrainingError, match="No texts"):
        self_supervised_dataset([], tokenizer)
    with pytest.raises(ContinuedPretrainingError, match="need labels"):
        self_supervised_dataset(TEXTS, tokenizer, mix=(("topic", 1.0),))
    with pytest.raises(ContinuedPretrainingError, match="no <extra_id_N> sentinel"):
        self_supervised_dataset(TEXTS, word_tokenizer())


def test_continued_pretraining_trains_a_copy_and_lowers_its_loss(tokenizer, tmp_path):
    model = tiny_t5(tokenizer)
    before = weights_hash(model)
    config = ContinuedPretrainingConfig(
        output_dir=str(tmp_path), num_train_epochs=3, per_device_train_batch_size=8, logging_steps=3,
        disable_tqdm=True, use_cpu=True, mix=SELF_SUPERVISED_MIX,
    )  # fmt: skip
    result = continue_pretraining(model, tokenizer, TEXTS, config)
    assert weights_hash(model) == before, "the model passed in must not change"
    assert weights_hash(result.model) != before and not result.model.training
    assert result.n_examples == 2 * len(TEXTS) and result.seconds > 0
    assert len(result.losses) >= 2 and result.losses[-1] < result.losses[0]
    assert all(isinstance(loss, float) for loss in result.losses)
    assert next(result.model.parameters()).dtype == torch.float32


def test_the_budget_follows_the_profile():
    tiny, cpu, full = (DomainBudget.for_profile(get_profile(name)) for name in ("tiny", "cpu", "full"))
    assert tiny == DomainBudget() and tiny.labeled == cpu.labeled == full.labeled  # the same labeled budget
    assert cpu.unlabeled < tiny.unlabeled and cpu.pretrain_epochs <= tiny.pretrain_epochs
    assert full.pretrain_lr < tiny.pretrain_lr and full.finetune_lr < tiny.finetune_lr  # flan-t5-base


def test_the_domain_plot_draws_a_bar_per_run_and_metric_and_the_gain_interval():
    from genai_course.plots.continued_pretraining import plot_domain_scores  # noqa: PLC0415 - matplotlib

    scores = {run: {"rouge1": 0.5 + i / 10, "slot_recall": 0.3 + i / 10} for i, run in enumerate(
        ("base", "finetuned", "pretrained", "pretrained_finetuned"))}  # fmt: skip
    fig = plot_domain_scores(scores, {"change": 0.1, "ci_low": 0.05, "ci_high": 0.15})
    ax = fig.axes[0]
    assert len(ax.patches) == 8 and len(ax.get_legend().get_texts()) == 4 and len(ax.lines) >= 1
    with pytest.raises(ValueError, match="No scores"):
        plot_domain_scores({})


def test_the_new_domain_comes_at_the_budget_in_three_disjoint_parts():
    budget = DomainBudget(unlabeled=30, labeled=8, test=12)
    unlabeled, labeled, test = new_domain_data(budget, seed=0)
    assert (len(unlabeled), len(labeled), len(test)) == (30, 8, 12)
    assert labeled.column_names == list(LABELED_COLUMNS) and all("slots" in row for row in test)
    assert not (set(unlabeled) | set(labeled["dialogue"])) & {row["dialogue"] for row in test}
    assert test == new_domain_rows(12, "test", 0)
    assert new_domain_data(budget, seed=1)[2] != test  # each world seed draws its own


def test_domain_scores_score_each_model_and_bootstrap_the_gain():
    rows = new_domain_rows(8, "test")
    references = [row["summary"] for row in rows]
    scores, gain = domain_scores({"finetuned": ["Nothing happened."] * 8, "pretrained_finetuned": references}, rows)
    assert scores["pretrained_finetuned"]["rouge1"] == pytest.approx(1.0)
    assert scores["pretrained_finetuned"]["slot_recall"] == pytest.approx(1.0)
    assert scores["finetuned"]["slot_recall"] == 0 and gain["change"] > 0.5 and gain["ci_low"] > 0
    with pytest.raises(ValueError, match="No summaries"):
        domain_scores({"finetuned": references}, rows)
