import json

import pytest
from datasets import Dataset, DatasetDict

from genai_course.data import DataError, filter_by_length, load_dialogsum, subsample

ROWS = {
    "train": [
        {
            "id": f"train_{i}",
            "dialogue": f"#Person1#: Hi {i}.\n#Person2#: Hello.",
            "summary": "They greet.",
            "topic": "greeting",
        }
        for i in range(4)
    ],
    "validation": [
        {"id": "dev_0", "dialogue": "#Person1#: Bye.\n#Person2#: Bye.", "summary": "They part.", "topic": "bye"}
    ],
    "test": [
        {"id": "test_0", "dialogue": "#Person1#: Rain?\n#Person2#: Yes.", "summary": "It rains.", "topic": "weather"}
    ],
}


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def check(data: DatasetDict):
    assert set(data) == {"train", "validation", "test"}
    for split in data.values():
        assert split.column_names == ["id", "dialogue", "summary", "topic"]
    assert data["train"][0]["dialogue"].startswith("#Person1#")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_hub_layout_files(tmp_path, fmt):
    for split, rows in ROWS.items():
        dataset = Dataset.from_list(rows)
        path = tmp_path / f"{split}.{fmt}"
        writer = {"jsonl": dataset.to_json, "csv": dataset.to_csv, "parquet": dataset.to_parquet}[fmt]
        writer(str(path))
    data = load_dialogsum(tmp_path)
    check(data)
    assert len(data["train"]) == 4


def test_original_release_layout(tmp_path):
    write_jsonl(
        tmp_path / "dialogsum.train.jsonl",
        [
            {"fname": r["id"], "dialogue": r["dialogue"], "summary": r["summary"], "topic": r["topic"]}
            for r in ROWS["train"]
        ],
    )
    write_jsonl(
        tmp_path / "dialogsum.dev.jsonl",
        [{"fname": "dev_0", "dialogue": "#Person1#: A.\n#Person2#: B.", "summary": "S."}],
    )
    write_jsonl(
        tmp_path / "dialogsum.test.jsonl",
        [
            {
                "fname": "test_0",
                "dialogue": "#Person1#: A.\n#Person2#: B.",
                "summary1": "One.",
                "summary2": "Two.",
                "summary3": "Three.",
                "topic1": "t1",
                "topic2": "t2",
                "topic3": "t3",
            }
        ],
    )
    data = load_dialogsum(tmp_path)
    check(data)
    assert data["test"][0]["summary"] == "One." and data["test"][0]["topic"] == "t1"
    assert data["validation"][0]["id"] == "dev_0" and data["validation"][0]["topic"] == ""


def test_save_to_disk_folder(tmp_path):
    DatasetDict({k: Dataset.from_list(v) for k, v in ROWS.items()}).save_to_disk(str(tmp_path / "saved"))
    check(load_dialogsum(tmp_path / "saved"))


def test_missing_column_names_the_file(tmp_path):
    for split, rows in ROWS.items():
        write_jsonl(tmp_path / f"{split}.jsonl", [{k: v for k, v in r.items() if k != "summary"} for r in rows])
    with pytest.raises(DataError, match=r"(train|validation|test)\.jsonl: missing column\(s\) summary"):
        load_dialogsum(tmp_path)


def test_empty_dialogue_names_the_row(tmp_path):
    rows = {k: [dict(r) for r in v] for k, v in ROWS.items()}
    rows["train"][2]["dialogue"] = "   "
    DatasetDict({k: Dataset.from_list(v) for k, v in rows.items()}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError, match=r"\[train\] row 2 \(id 'train_2'\): empty dialogue"):
        load_dialogsum(tmp_path / "saved")


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "train.parquet").write_text("this is not parquet")
    with pytest.raises(DataError, match=r"train\.parquet: cannot be read"):
        load_dialogsum(tmp_path)


def test_missing_split(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS["train"])
    with pytest.raises(DataError, match=r"missing split\(s\) validation, test"):
        load_dialogsum(tmp_path)


def test_unknown_source():
    with pytest.raises(DataError, match=r"'./no/such/place' does not exist \(looked for /"):
        load_dialogsum("./no/such/place")
    with pytest.raises(DataError, match="Unknown DialogSum source"):
        load_dialogsum("nothing-like-a-source")


def test_unreachable_hub_suggests_tiny(monkeypatch):
    import genai_course.data as data

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(data, "load_dataset", offline)
    with pytest.raises(DataError, match=r"load_dialogsum\('tiny'\)"):
        load_dialogsum("knkarthick/dialogsum")


def test_filter_by_length_and_subsample():
    dataset = Dataset.from_list([{"dialogue": "x" * n} for n in (10, 200, 500, 1500)])
    assert [len(d) for d in filter_by_length(dataset, 200, 1000)["dialogue"]] == [200, 500]
    with pytest.raises(ValueError):
        filter_by_length(dataset, 10, 5)
    a, b = subsample(dataset, 2, seed=1), subsample(dataset, 2, seed=1)
    assert a["dialogue"] == b["dialogue"] and len(a) == 2
    assert len(subsample(dataset, None)) == 4 and len(subsample(dataset, 99)) == 4
