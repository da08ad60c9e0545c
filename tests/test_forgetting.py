"""Forgetting and its remedies: the mixed-task data builder, the topic score, and LoRA's adapter switched
off giving back the base model exactly."""

import pytest
from datasets import Dataset
from stand_in import tiny_t5, trained_word_tokenizer
from transformers import T5TokenizerFast

from genai_course import finetune as ft
from genai_course.finetune.tokenization import tokenize_for_summarization
from genai_course.forgetting import PROMPTS_WRITTEN_OUT, mixed_task_dataset, task_accuracy
from genai_course.prompting import build_prompt

pytestmark = pytest.mark.usefixtures("one_thread")
TOPICS = ["shopping", "travel", "a party"]


@pytest.fixture(scope="module")
def train() -> Dataset:
    rows = [
        {
            "id": f"r{i}",
            "dialogue": f"#Person1#: item {i} please . #Person2#: here {i} .",
            "summary": f"#Person1# buys item {i} .",
            "topic": TOPICS[i % 3],
        }
        for i in range(40)
    ]
    return Dataset.from_list(rows)


@pytest.fixture(scope="module")
def tokenizer(train) -> T5TokenizerFast:
    corpus = [build_prompt(s, d) for s in ("instruction", "topic") for d in train["dialogue"]]
    return trained_word_tokenizer(corpus + list(train["summary"]) + TOPICS)


def test_mixed_data_keeps_every_new_row_and_adds_the_share_of_old_ones(train):
    mixed = mixed_task_dataset(train, share=0.2, seed=1)
    tasks = mixed["task"]
    assert tasks.count("instruction") == len(train) and tasks.count("topic") == 10  # 10 of 50 rows = 20%
    old = [r for r in mixed if r["task"] == "topic"]
    assert all(r["dialogue"].endswith("What is the topic of this conversation?") for r in old)
    assert all(r["summary"] in TOPICS for r in old)
    assert mixed["dialogue"] == mixed_task_dataset(train, share=0.2, seed=1)["dialogue"], "seeded"
    assert tasks != sorted(tasks), "the two tasks are shuffled together"
    with pytest.raises(ValueError, match="share"):
        mixed_task_dataset(train, share=1.0)


def test_written_out_prompts_tokenize_as_the_task_prompts(train, tokenizer):
    mixed = mixed_task_dataset(train, share=0.2, seed=0)
    row = next(r for r in mixed if r["task"] == "instruction")
    original = train[[d for d in train["dialogue"]].index(row["dialogue"].split("\n\n")[1])]
    ours, _ = tokenize_for_summarization(Dataset.from_list([row]), tokenizer, prompt_style=PROMPTS_WRITTEN_OUT)
    theirs, _ = tokenize_for_summarization(Dataset.from_list([original]), tokenizer, prompt_style="instruction")
    assert ours[0]["input_ids"] == theirs[0]["input_ids"]


def test_lora_with_its_adapter_off_answers_exactly_as_the_base_model(train, tokenizer, tmp_path):
    base = tiny_t5(tokenizer)
    settings = ft.LoraFinetuneConfig(
        output_dir=str(tmp_path / "lora"),
        learning_rate=5e-2,
        max_steps=8,
        per_device_train_batch_size=8,
        disable_tqdm=True,
        use_cpu=True,
    )
    lora = ft.lora_finetune(base, tokenizer, train, settings)
    before, answers = task_accuracy(base, tokenizer, train["dialogue"], train["topic"])
    on, answers_on = task_accuracy(lora.model, tokenizer, train["dialogue"], train["topic"])
    with lora.model.disable_adapter():
        off, answers_off = task_accuracy(lora.model, tokenizer, train["dialogue"], train["topic"])
    assert answers_on != answers, "the trained adapter changes what the model answers"
    assert answers_off == answers and off == before
