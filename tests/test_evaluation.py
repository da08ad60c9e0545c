"""The evaluation set on DialogSum files the tests write: the Hub's layout (one row per reference) and the
original release's (summary1..3), repeated and over-long dialogues, and multi-reference ROUGE by hand."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset
from stand_in import word_tokenizer, words

from genai_course.data import course_length_filter, load_dialogsum
from genai_course.evaluation import (
    compare_on_dialogues,
    drop_over_long,
    evaluation_set,
    group_references,
    per_dialogue_rouge,
    score_dialogues,
)
from genai_course.metrics import MetricInputError, rouge
from genai_course.models import load_tokenizer
from genai_course.prompting import build_prompt, instruction_prompt

# Three test dialogues with three references each; the last one is 620 words (> FLAN-T5's 512 tokens).
DIALOGUES = {
    "test_0": "#Person1#: " + words(30),
    "test_1": "#Person1#: " + words(40, start=100),
    "test_2": "#Person1#: " + words(620, start=1000),
}
REFERENCES = {key: [f"{key} summary {k}" for k in (1, 2, 3)] for key in DIALOGUES}
TRAIN = [
    {"id": f"train_{i}", "dialogue": f"#Person1#: hello {i}", "summary": "greeting", "topic": "t"} for i in range(3)
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def hub_rows() -> list[dict]:
    """The Hub's test layout, with the references of different dialogues interleaved (row order must not
    decide the grouping, only the first appearance decides the dialogue order)."""
    order = [
        ("test_1", 1),
        ("test_0", 1),
        ("test_1", 2),
        ("test_0", 2),
        ("test_0", 3),
        ("test_1", 3),
        ("test_2", 1),
        ("test_2", 2),
        ("test_2", 3),
    ]
    return [
        {"id": f"{key}_{k}", "dialogue": DIALOGUES[key], "summary": REFERENCES[key][k - 1], "topic": f"topic {k}"}
        for key, k in order
    ]


def write_hub_layout(folder):
    write_jsonl(folder / "train.jsonl", TRAIN)
    write_jsonl(
        folder / "validation.jsonl", [{"id": "dev_0", "dialogue": "#Person1#: bye", "summary": "bye", "topic": "t"}]
    )
    write_jsonl(folder / "test.jsonl", hub_rows())


def write_release_layout(folder):
    write_jsonl(
        folder / "dialogsum.train.jsonl",
        [{"fname": r["id"], "dialogue": r["dialogue"], "summary": r["summary"], "topic": r["topic"]} for r in TRAIN],
    )
    write_jsonl(folder / "dialogsum.dev.jsonl", [{"fname": "dev_0", "dialogue": "#Person1#: bye", "summary": "bye"}])
    write_jsonl(
        folder / "dialogsum.test.jsonl",
        [
            {
                "fname": key,
                "dialogue": dialogue,
                **{f"summary{k}": REFERENCES[key][k - 1] for k in (1, 2, 3)},
                **{f"topic{k}": f"topic {k}" for k in (1, 2, 3)},
            }
            for key, dialogue in DIALOGUES.items()
        ],
    )


def test_release_loader_keeps_all_three_summaries_as_the_hub_does(tmp_path):
    write_release_layout(tmp_path)
    test = load_dialogsum(tmp_path)["test"]
    assert len(test) == 9  # 3 dialogues x 3 references, as the Hub's 1,500 rows for 500 dialogues
    assert test["id"][:3] == ["test_0_1", "test_0_2", "test_0_3"]
    assert test["summary"][:3] == REFERENCES["test_0"] and test["topic"][:3] == ["topic 1", "topic 2", "topic 3"]
    assert set(test["dialogue"][:3]) == {DIALOGUES["test_0"]}


def test_release_rows_with_fewer_summaries_keep_the_ones_they_have(tmp_path):
    write_release_layout(tmp_path)
    write_jsonl(
        tmp_path / "dialogsum.test.jsonl",
        [
            {
                "fname": "test_0",
                "dialogue": DIALOGUES["test_0"],
                "summary1": "a",
                "summary2": "",
                "summary3": "c",
                "topic1": "x",
                "topic2": "y",
                "topic3": "z",
            },
        ],
    )
    test = load_dialogsum(tmp_path)["test"]
    assert test["id"] == ["test_0_1", "test_0_3"] and test["summary"] == ["a", "c"] and test["topic"] == ["x", "z"]


@pytest.mark.parametrize("layout", ["hub", "release"])
def test_grouping_gives_unique_dialogues_with_all_references(tmp_path, layout):
    (write_hub_layout if layout == "hub" else write_release_layout)(tmp_path)
    grouped = group_references(load_dialogsum(tmp_path)["test"])
    assert grouped.column_names == ["id", "dialogue", "references", "topic"]
    expected_order = ["test_1", "test_0", "test_2"] if layout == "hub" else ["test_0", "test_1", "test_2"]
    assert grouped["id"] == expected_order  # first appearance decides
    for key, dialogue, references in zip(grouped["id"], grouped["dialogue"], grouped["references"]):
        assert dialogue == DIALOGUES[key]
        assert sorted(references) == REFERENCES[key]


def test_grouping_a_split_without_repeats_gives_one_reference_each():
    grouped = group_references(Dataset.from_list(TRAIN))
    assert grouped["id"] == ["train_0", "train_1", "train_2"] and grouped["references"] == [["greeting"]] * 3


def test_ids_without_a_common_reference_stem_keep_the_first_id():
    rows = Dataset.from_list(
        [
            {"id": "a", "dialogue": "same", "summary": "x", "topic": ""},
            {"id": "b", "dialogue": "same ", "summary": "y", "topic": ""},
        ]
    )
    grouped = group_references(rows)
    assert grouped["id"] == ["a"] and grouped["references"] == [["x", "y"]]


def test_over_long_dialogues_are_dropped_and_counted(tmp_path):
    write_hub_layout(tmp_path)
    grouped = group_references(load_dialogsum(tmp_path)["test"])
    tokenizer = word_tokenizer()
    assert len(tokenizer(instruction_prompt(DIALOGUES["test_2"]))["input_ids"]) > 600
    kept, dropped = drop_over_long(grouped, tokenizer, instruction_prompt)
    assert dropped == 1 and kept["id"] == ["test_1", "test_0"]
    kept, dropped = drop_over_long(grouped, tokenizer, instruction_prompt, window=40)
    assert dropped == 2 and kept["id"] == ["test_0"]  # 30 words + the instruction's words + EOS fit in 40


def test_other_columns_follow_the_dialogues_first_row():
    rows = Dataset.from_list(
        [
            {"id": "test_0_1", "dialogue": "same", "summary": "x", "topic": "a", "slots": ["Anna"]},
            {"id": "test_1_1", "dialogue": "other", "summary": "z", "topic": "b", "slots": ["Ben"]},
            {"id": "test_0_2", "dialogue": "same", "summary": "y", "topic": "c", "slots": ["Dora"]},
        ]
    )
    grouped = group_references(rows)
    assert grouped.column_names == ["id", "dialogue", "references", "topic", "slots"]
    assert grouped["id"] == ["test_0", "test_1_1"] and grouped["references"] == [["x", "y"], ["z"]]
    assert grouped["topic"] == ["a", "b"] and grouped["slots"] == [["Anna"], ["Ben"]]


def test_a_dialogue_is_dropped_when_any_of_its_prompts_overflows():
    tokenizer = word_tokenizer()
    dialogue = "#Person1#: " + words(505)
    lengths = {style: len(tokenizer(build_prompt(style, dialogue))["input_ids"]) for style in ("instruction", "topic")}
    assert lengths["instruction"] <= 512 < lengths["topic"], lengths  # the topic question has two words more
    rows = Dataset.from_dict({"dialogue": [dialogue, "#Person1#: " + words(10)]})
    assert drop_over_long(rows, tokenizer, instruction_prompt)[1] == 0
    templates = [instruction_prompt, lambda d: build_prompt("topic", d)]
    kept, dropped = drop_over_long(rows, tokenizer, templates)
    assert dropped == 1 and kept["dialogue"] == [rows["dialogue"][1]]


@pytest.mark.parametrize("layout", ["hub", "release"])
def test_the_evaluation_set_scores_each_dialogue_once_and_counts_what_it_leaves_out(tmp_path, layout):
    (write_hub_layout if layout == "hub" else write_release_layout)(tmp_path)
    split = load_dialogsum(tmp_path)["test"]
    tokenizer = word_tokenizer()
    chosen = evaluation_set(split, tokenizer, ("none", "instruction", "flan"))
    assert (chosen.n_rows, chosen.n_dialogues, chosen.n_over_long, chosen.window) == (9, 3, 1, 512)
    assert sorted(chosen.rows["id"]) == ["test_0", "test_1"]  # test_2's 620 words do not fit
    for key, references in zip(chosen.rows["id"], chosen.rows["references"]):
        assert sorted(references) == REFERENCES[key]
    assert chosen.references_per_dialogue == 3.0
    described = chosen.describe()
    assert "9 test rows: 3 distinct dialogues" in described and "1 left out" in described and "2 kept" in described
    first = evaluation_set(split, tokenizer, ("instruction",), n=1)
    assert len(first.rows) == 1 and first.rows["id"] == chosen.rows["id"][:1] and first.n_over_long == 1
    # One summary per dialogue, scored against all three references: the best match counts.
    predictions = [references[2] for references in chosen.rows["references"]]
    assert score_dialogues(predictions, chosen.rows, aggregate="mean")["rouge1"] == pytest.approx(1.0)


def test_on_one_row_per_dialogue_the_evaluation_set_is_the_splits_first_rows_and_scores_the_same():
    """The tiny world's test split has one summary per dialogue: grouping must change nothing, numbers included."""
    rows = Dataset.from_list(
        [
            {
                "id": f"test_{i}",
                "dialogue": "#Person1#: " + words(6, start=10 * i),
                "summary": words(4, start=10 * i + 1),
                "topic": f"topic {i}",
                "slots": [f"w{10 * i + 1}"],
            }
            for i in range(8)
        ]
    )
    chosen = evaluation_set(rows, word_tokenizer(), ("none", "instruction", "flan", "topic"), n=6)
    assert chosen.n_over_long == 0 and chosen.n_dialogues == 8
    first = rows.select(range(6))
    for column in ("id", "dialogue", "topic", "slots"):
        assert chosen.rows[column] == first[column]
    assert chosen.rows["references"] == [[summary] for summary in first["summary"]]
    predictions = [words(3, start=10 * i + 2) for i in range(6)]
    assert rouge(predictions, chosen.rows["references"]) == rouge(predictions, first["summary"])


def test_the_tiny_worlds_test_split_is_one_row_per_dialogue_and_every_prompt_fits(tiny_world):
    test = load_dialogsum("tiny")["test"]
    chosen = evaluation_set(test, load_tokenizer(str(tiny_world.tokenizer)), ("none", "instruction", "flan", "topic"))
    assert (chosen.n_dialogues, chosen.n_over_long) == (len(test), 0)
    assert chosen.rows["id"] == test["id"] and chosen.rows["dialogue"] == test["dialogue"]
    assert chosen.rows["references"] == [[summary] for summary in test["summary"]]
    assert chosen.rows["slots"] == test["slots"] and chosen.rows["topic"] == test["topic"]


def test_course_length_filter_keeps_200_to_1000_characters():
    rows = Dataset.from_list([{"dialogue": "x" * n} for n in (199, 200, 600, 1000, 1001)])
    assert [len(d) for d in course_length_filter(rows)["dialogue"]] == [200, 600, 1000]


# --- multi-reference ROUGE, computed by hand -------------------------------------------------------------
# Dialogue A: prediction "the cat sat"; references "a dog ran" (no overlap) and "the cat sat down".
#   ROUGE-1 against the second: P = 3/3, R = 3/4, F = 2 * 1 * 0.75 / 1.75 = 6/7.
#   ROUGE-2: bigrams (the cat, cat sat) all in "the cat sat down" (3 bigrams): P = 1, R = 2/3, F = 0.8.
# Dialogue B: prediction "hello world"; references "goodbye" and "hello there world".
#   ROUGE-1 against the second: P = 2/2, R = 2/3, F = 0.8.  ROUGE-2: "hello world" is not a bigram of it: 0.
HAND = Dataset.from_dict(
    {
        "id": ["A", "B"],
        "dialogue": ["a", "b"],
        "topic": ["", ""],
        "references": [["a dog ran", "the cat sat down"], ["goodbye", "hello there world"]],
    }
)
PREDICTIONS = ["the cat sat", "hello world"]


def test_best_matching_reference_counts():
    assert per_dialogue_rouge(PREDICTIONS, HAND, "rouge1") == pytest.approx([6 / 7, 0.8])
    assert per_dialogue_rouge(PREDICTIONS, HAND, "rouge2") == pytest.approx([0.8, 0.0])
    scores = score_dialogues(PREDICTIONS, HAND, aggregate="mean", rouge_types=("rouge1", "rouge2"))
    assert scores == pytest.approx({"rouge1": (6 / 7 + 0.8) / 2, "rouge2": 0.4})
    # Against the first reference alone, dialogue A would score 0: the convention changes the number.
    single = rouge(PREDICTIONS, [r[0] for r in HAND["references"]], aggregate="mean", rouge_types=("rouge1",))
    assert single["rouge1"] == pytest.approx(0.0)


def test_predictions_must_be_one_per_dialogue():
    with pytest.raises(MetricInputError, match="one summary per grouped dialogue"):
        score_dialogues(PREDICTIONS * 3, HAND)
    with pytest.raises(MetricInputError, match="grouped evaluation set"):
        score_dialogues(PREDICTIONS, Dataset.from_dict({"summary": ["a", "b"]}))


def test_bootstrap_resamples_dialogues():
    grouped = Dataset.from_dict(
        {
            "id": [str(i) for i in range(6)],
            "dialogue": [str(i) for i in range(6)],
            "topic": [""] * 6,
            "references": [["the cat sat down", "a dog ran"]] * 6,
        }
    )
    before = ["one bird flew"] * 3 + ["the cat sat"] * 3
    after = ["the cat sat down"] * 6
    result = compare_on_dialogues(before, after, grouped, "rouge1", n_resamples=500)
    assert result["after_mean"] == pytest.approx(1.0)
    assert result["before_mean"] == pytest.approx((0 + 6 / 7) / 2)
    assert 0 < result["ci_low"] <= result["change"] <= result["ci_high"]
    with pytest.raises(MetricInputError, match="one summary per grouped dialogue"):
        compare_on_dialogues(before * 3, after * 3, grouped)
