"""DialogSum from any of its homes, as one ``DatasetDict`` with columns ``id, dialogue, summary, topic``.

Sources: the Hub id ``knkarthick/dialogsum``; local files in the Hub's layout (jsonl/csv/parquet with
``id, dialogue, summary, topic``) or the original release's jsonl (``fname, dialogue, summary[, topic]``
in train/dev and ``summary1..3``/``topic1..3`` in test); a folder written by ``save_to_disk``; or
``"tiny"``, the offline tiny world. Malformed input is reported with the file, row and problem.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

COLUMNS = ("id", "dialogue", "summary", "topic")
SPLITS = ("train", "validation", "test")
HUB_ID = "knkarthick/dialogsum"
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
SPLIT_ALIASES = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation",
                 "dev": "validation", "test": "test"}


class DataError(ValueError):
    """Data that cannot be used as DialogSum, with where and what is wrong."""


def load_dialogsum(source: str | Path = HUB_ID) -> DatasetDict:
    """DialogSum with splits train/validation/test and columns ``id, dialogue, summary, topic``."""
    source = str(source)
    if source == "tiny":
        from genai_course.tiny import ensure_tiny_world

        return _validated(load_from_disk(str(ensure_tiny_world().corpus)), "the tiny world's corpus")
    path = Path(source).expanduser()
    if path.is_dir() and (path / "dataset_dict.json").exists():
        return _validated(load_from_disk(str(path)), str(path))
    if path.exists():
        return _validated(_load_files(path), str(path))
    if source.count("/") == 1 and not source.startswith((".", "/", "~")):
        return _validated(_load_hub(source), source)
    raise DataError(
        f"Unknown DialogSum source {source!r}: not an existing file or folder, not a Hub id "
        f"(like {HUB_ID!r}) and not 'tiny'."
    )


def _load_hub(repo_id: str) -> DatasetDict:
    try:
        return load_dataset(repo_id)
    except Exception as error:  # datasets raises many types for "offline"/"not found"
        raise DataError(
            f"Could not load {repo_id!r} from the Hugging Face Hub ({error.__class__.__name__}: {error}). "
            "If you are offline, use load_dialogsum('tiny') or a local copy (files or a save_to_disk folder)."
        ) from error


def _split_of(file: Path) -> str | None:
    stem = file.name.lower().split(".")
    for part in stem:
        for token in part.replace("-", "_").split("_"):
            if token in SPLIT_ALIASES:
                return SPLIT_ALIASES[token]
    return None


def _data_files(path: Path) -> dict[str, Path]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() in FORMATS)
    found: dict[str, Path] = {}
    for file in files:
        if file.suffix.lower() not in FORMATS:
            raise DataError(f"{file}: unsupported format {file.suffix!r}; use one of {', '.join(FORMATS)}.")
        split = _split_of(file)
        if split is None:
            continue
        if split in found:
            raise DataError(f"Two files for the {split} split: {found[split]} and {file}. Keep one.")
        found[split] = file
    if not found:
        raise DataError(
            f"No DialogSum files found in {path}: expected names containing train, validation/dev and test "
            f"with extension {', '.join(FORMATS)}."
        )
    return found


def _load_files(path: Path) -> DatasetDict:
    splits = {}
    for split, file in _data_files(path).items():
        try:
            dataset = load_dataset(FORMATS[file.suffix.lower()], data_files=str(file), split="train")
        except Exception as error:
            raise DataError(f"{file}: cannot be read as {file.suffix} ({error.__class__.__name__}: {error}).") from error
        splits[split] = _to_hub_layout(dataset, file)
    return DatasetDict(splits)


def _to_hub_layout(dataset: Dataset, file: Path) -> Dataset:
    """Map the original release's columns (fname, summary1, topic1, ...) to the Hub's."""
    columns = set(dataset.column_names)
    renames = {}
    if "id" not in columns and "fname" in columns:
        renames["fname"] = "id"
    if "summary" not in columns and "summary1" in columns:
        renames["summary1"] = "summary"
    if "topic" not in columns and "topic1" in columns:
        renames["topic1"] = "topic"
    dataset = dataset.rename_columns(renames) if renames else dataset
    if "topic" not in dataset.column_names and {"id", "dialogue", "summary"} <= set(dataset.column_names):
        dataset = dataset.add_column("topic", [""] * len(dataset))  # the release's train/dev may lack topics
    missing = [c for c in COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{file}: missing column(s) {', '.join(missing)}; found {', '.join(dataset.column_names)}. "
            "Expected the Hub layout (id, dialogue, summary, topic) or the original release's "
            "(fname, dialogue, summary / summary1..3, topic / topic1..3)."
        )
    return dataset.select_columns(list(COLUMNS))


def _validated(data: DatasetDict, where: str) -> DatasetDict:
    """Check splits, columns and non-empty dialogues/summaries; return only the four columns."""
    if not isinstance(data, DatasetDict):
        raise DataError(f"{where}: expected a DatasetDict with splits {', '.join(SPLITS)}, got {type(data).__name__}.")
    missing_splits = [s for s in SPLITS if s not in data]
    if missing_splits:
        raise DataError(f"{where}: missing split(s) {', '.join(missing_splits)}; found {', '.join(data)}.")
    out = {}
    for split in SPLITS:
        dataset = data[split]
        missing = [c for c in COLUMNS if c not in dataset.column_names]
        if missing:
            raise DataError(f"{where} [{split}]: missing column(s) {', '.join(missing)}; found {', '.join(dataset.column_names)}.")
        for column in ("dialogue", "summary"):
            for row, text in enumerate(dataset[column]):
                if not isinstance(text, str) or not text.strip():
                    raise DataError(
                        f"{where} [{split}] row {row} (id {dataset[row]['id']!r}): empty {column}. "
                        "Remove or fix that row."
                    )
        out[split] = dataset.select_columns(list(COLUMNS))
    return DatasetDict(out)


def filter_by_length(dataset: Dataset, min_chars: int = 0, max_chars: int | None = None) -> Dataset:
    """Dialogues whose length in characters lies in [min_chars, max_chars] (Lab 3 used 200-1000)."""
    if max_chars is not None and max_chars < min_chars:
        raise ValueError(f"max_chars ({max_chars}) is smaller than min_chars ({min_chars}).")
    return dataset.filter(
        lambda row: min_chars <= len(row["dialogue"]) and (max_chars is None or len(row["dialogue"]) <= max_chars)
    )


def subsample(dataset: Dataset, n: int | None, seed: int = 42) -> Dataset:
    """A seeded random subset of ``n`` rows (all rows, in order, when ``n`` is None or too large)."""
    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise ValueError(f"Cannot take a subsample of {n} rows.")
    return dataset.shuffle(seed=seed).select(range(n))
