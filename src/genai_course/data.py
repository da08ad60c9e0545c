"""DialogSum from any of its homes, as one ``DatasetDict`` with columns ``id, dialogue, summary, topic``.

Sources: the Hub id ``knkarthick/dialogsum``; local files in the Hub's layout (jsonl/csv/parquet with
``id, dialogue, summary, topic``) or the original release's jsonl (``fname, dialogue, summary[, topic]``
in train/dev and ``summary1..3``/``topic1..3`` in test, turned into the Hub's layout of one row per human
summary); a folder written by ``save_to_disk``; or ``"tiny"``, the offline tiny world. The test split
thus repeats each dialogue once per reference (500 dialogues, 1,500 rows): :mod:`genai_course.evaluation`
groups them back into one dialogue with all its references for scoring. Malformed input is reported with
the file, row (or jsonl line) and problem. Duplicated ids and rows shared between train and test are
reported too: a warning with counts by default, an error with ``strict=True`` (a test row seen in training
inflates every score).
"""

from __future__ import annotations

import csv
import json
import warnings
from collections import Counter
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from genai_course.cache import atomic_directory, file_lock
from genai_course.paths import looks_local, missing_local_path
from genai_course.tiny.world import ensure_tiny_world

COLUMNS = ("id", "dialogue", "summary", "topic")
# Kept when present: the tiny world's ``slots`` (the facts each reference states, for Lab 2's fact check).
OPTIONAL_COLUMNS = ("slots",)
SPLITS = ("train", "validation", "test")
HUB_ID = "knkarthick/dialogsum"
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
LAB3_MIN_CHARS, LAB3_MAX_CHARS = 200, 1000  # the course's Lab 3 dialogue lengths, in characters
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


class DataError(ValueError):
    """Data that cannot be used as DialogSum, with where and what is wrong."""


class DataWarning(UserWarning):
    """Data that can be used but probably should not be as it is (duplicates, train/test overlap)."""


def load_dialogsum(source: str | Path = HUB_ID, *, strict: bool = False) -> DatasetDict:
    """DialogSum with splits train/validation/test and columns ``id, dialogue, summary, topic``.

    Duplicate ids within a split and rows (ids or dialogues) shared by train and test are reported as a
    :class:`DataWarning` with counts, or raised as a :class:`DataError` when ``strict``.
    """
    source = str(source)
    if source == "tiny":
        return _checked(load_from_disk(str(ensure_tiny_world().corpus)), "the tiny world's corpus", strict)
    path = Path(source).expanduser()
    if path.is_dir() and (path / "dataset_dict.json").exists():
        return _checked(_load_saved(path), str(path), strict)
    if path.exists():
        return _checked(_load_files(path), str(path), strict)
    if looks_local(source):
        raise DataError(missing_local_path(source, "DialogSum"))
    if source.count("/") == 1:
        return _checked(_load_hub(source), source, strict)
    raise DataError(
        f"Unknown DialogSum source {source!r}: not an existing file or folder, not a Hub id "
        f"(like {HUB_ID!r}) and not 'tiny'."
    )


def dataset_location(source: str | Path = HUB_ID) -> str:
    """What to pass to ``datasets.load_dataset`` for ``source``: a Hub id or a local folder as given.

    ``"tiny"`` becomes a folder of Parquet files (``train/validation/test.parquet``) beside the tiny
    world's corpus, written once from it, so that the notebooks' own ``load_dataset(...)`` call reads the
    offline world exactly as it reads ``knkarthick/dialogsum`` from the Hub (Parquet keeps the columns'
    types, the ``slots`` facts included).
    """
    if str(source) != "tiny":
        return str(source)
    corpus = ensure_tiny_world().corpus
    folder = corpus.with_name(corpus.name + "-files")
    with file_lock(folder.with_name(folder.name + ".lock")):
        if not all((folder / f"{split}.parquet").exists() for split in SPLITS):
            saved = load_from_disk(str(corpus))
            with atomic_directory(folder) as tmp:
                for split in SPLITS:
                    saved[split].to_parquet(str(tmp / f"{split}.parquet"))
    return str(folder)


def _checked(data: DatasetDict, where: str, strict: bool) -> DatasetDict:
    data = _validated(data, where)
    _report_overlaps(data, where, strict)
    return data


def _load_saved(path: Path) -> DatasetDict:
    try:
        return load_from_disk(str(path))
    except Exception as error:  # datasets raises many types for a damaged folder
        raise DataError(
            f"{path}: cannot be read as a save_to_disk folder ({error.__class__.__name__}: {error}); "
            "save it again with DatasetDict.save_to_disk."
        ) from error


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


def _check_json_lines(file: Path) -> None:
    """Name the first malformed line of a jsonl file (datasets' own error gives no line number)."""
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{file}, line {number}: not valid JSON ({error.msg}); fix or remove it.") from error
            if not isinstance(row, dict):
                raise DataError(f"{file}, line {number}: expected a JSON object per line, got {type(row).__name__}.")


def _check_csv_rows(file: Path) -> None:
    """A csv file with a header but no rows is named as such (datasets says "corresponds to no data")."""
    with open(file, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise DataError(f"{file}: is empty; a DialogSum split needs a header and at least one row.")
        if not any(any(cell.strip() for cell in row) for row in rows):
            raise DataError(
                f"{file}: has no rows (only a header: {', '.join(header)}); "
                "a DialogSum split needs at least one example."
            )


def _read_file(file: Path) -> Dataset:
    if file.suffix.lower() == ".jsonl":
        _check_json_lines(file)
    if file.suffix.lower() == ".csv":
        _check_csv_rows(file)
    try:
        dataset = load_dataset(FORMATS[file.suffix.lower()], data_files=str(file), split="train")
    except Exception as error:
        raise DataError(f"{file}: cannot be read as {file.suffix} ({error.__class__.__name__}: {error}).") from error
    if len(dataset) == 0:
        header = f" (only a header: {', '.join(dataset.column_names)})" if dataset.column_names else ""
        raise DataError(f"{file}: has no rows{header}; a DialogSum split needs at least one example.")
    return dataset


def _load_files(path: Path) -> DatasetDict:
    return DatasetDict({split: _to_hub_layout(_read_file(file), file) for split, file in _data_files(path).items()})


def _numbered(columns: set[str], stem: str) -> list[str]:
    """``summary1``, ``summary2``, ... present in ``columns``, in order."""
    numbered = [c for c in columns if c.startswith(stem) and c[len(stem) :].isdigit()]
    return sorted(numbered, key=lambda c: int(c[len(stem) :]))


def _one_row_per_reference(dataset: Dataset) -> Dataset:
    """The release's test rows (``summary1..3``, ``topic1..3``) as the Hub stores them: one row per human
    summary, the dialogue repeated, ids ``<fname>_1``, ``<fname>_2``, ... (the Hub's ``test_0_1``, ...).

    Keeping every reference matters: DialogSum's test set has three summaries per dialogue, and scoring
    against the first alone reports a different (lower) number than the paper's multi-reference setting."""
    id_column = "fname" if "fname" in dataset.column_names else "id"
    summaries = _numbered(set(dataset.column_names), "summary")
    topics = _numbered(set(dataset.column_names), "topic")
    rows = {"id": [], "dialogue": [], "summary": [], "topic": []}
    for row in dataset:
        for k, column in enumerate(summaries, start=1):
            if not isinstance(row[column], str) or not row[column].strip():
                continue  # a dialogue with fewer annotations leaves later columns empty
            topic = row[topics[k - 1]] if k <= len(topics) else (row[topics[0]] if topics else "")
            rows["id"].append(f"{row[id_column]}_{k}")
            rows["dialogue"].append(row["dialogue"])
            rows["summary"].append(row[column])
            rows["topic"].append(topic or "")
    return Dataset.from_dict(rows)


def _to_hub_layout(dataset: Dataset, file: Path) -> Dataset:
    """Map the original release's columns (fname, summary1..3, topic1..3, ...) to the Hub's."""
    columns = set(dataset.column_names)
    if {"dialogue", "summary1"} <= columns and "summary" not in columns and columns & {"fname", "id"}:
        return _one_row_per_reference(dataset)
    renames = {}
    if "id" not in columns and "fname" in columns:
        renames["fname"] = "id"
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
    """Check splits, columns and non-empty dialogues/summaries; return the four columns (and ``slots``)."""
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
            raise DataError(
                f"{where} [{split}]: missing column(s) {', '.join(missing)}; found {', '.join(dataset.column_names)}."
            )
        if len(dataset) == 0:
            raise DataError(f"{where} [{split}]: the split has no rows.")
        for column in ("dialogue", "summary"):
            _check_texts(dataset, column, f"{where} [{split}]")
        out[split] = dataset.select_columns(list(COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in dataset.column_names])
    return DatasetDict(out)


def _check_texts(dataset: Dataset, column: str, where: str) -> None:
    for row, text in enumerate(dataset[column]):
        if not isinstance(text, str):
            problem = f"the {column} is a {type(text).__name__} ({text!r:.60}), not text"
        elif not text.strip():
            problem = f"empty {column}"
        else:
            continue
        raise DataError(f"{where} row {row} (id {dataset[row]['id']!r}): {problem}. Remove or fix that row.")


def _overlap_problems(data: DatasetDict) -> list[str]:
    problems = []
    for split in SPLITS:
        counts = Counter(data[split]["id"])
        repeated = {i: n for i, n in counts.items() if n > 1}
        if repeated:
            example = next(iter(repeated))
            problems.append(
                f"{len(repeated)} id(s) repeated in {split} ({sum(repeated.values())} rows, "
                f"e.g. {example!r} x{repeated[example]})"
            )
    train_ids, train_dialogues = set(data["train"]["id"]), set(data["train"]["dialogue"])
    for split in ("validation", "test"):
        shared_ids = train_ids & set(data[split]["id"])
        shared_rows = sum(d in train_dialogues for d in data[split]["dialogue"])
        if shared_ids:
            problems.append(f"{len(shared_ids)} id(s) of {split} are also in train (e.g. {sorted(shared_ids)[0]!r})")
        if shared_rows:
            problems.append(f"{shared_rows} {split} dialogue(s) also appear in train")
    return problems


def _report_overlaps(data: DatasetDict, where: str, strict: bool) -> None:
    """Duplicate ids and train/test overlap: a warning with counts, or an error when ``strict``."""
    problems = _overlap_problems(data)
    if not problems:
        return
    message = f"{where}: " + "; ".join(problems) + ". Scores on rows seen in training are inflated."
    if strict:
        raise DataError(message + " Deduplicate the splits, or load with strict=False to continue anyway.")
    warnings.warn(message + " (load_dialogsum(..., strict=True) makes this an error.)", DataWarning, stacklevel=3)


def course_length_filter(dataset: Dataset) -> Dataset:
    """The course's Lab 3 selection: dialogues of 200 to 1,000 characters (short enough for quick PPO
    rollouts, long enough to summarise)."""
    return filter_by_length(dataset, LAB3_MIN_CHARS, LAB3_MAX_CHARS)


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
