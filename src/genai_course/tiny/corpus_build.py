"""Writing the tiny corpus: DialogSum-style splits (no dialogue shared between splits) plus a separate
pre-training pool that the DialogSum splits never see."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, DatasetDict

from genai_course.tiny.corpus import generate_rows
from genai_course.tiny.recipe import Recipe

# DialogSum's columns, plus the facts each reference states (so summaries' facts can be checked).
COLUMNS = ["id", "dialogue", "summary", "topic", "slots"]


def split_rows(recipe: Recipe = Recipe()) -> dict[str, list[dict]]:
    """Rows per split; validation/test drop dialogues seen in train, and the pool drops all split dialogues."""
    sizes = recipe.sizes
    rows = {"train": generate_rows(sizes["train"], recipe.seed("train"), "train")}
    seen = {r["dialogue"] for r in rows["train"]}
    for split in ("validation", "test", "pretrain_pool"):
        extra = 2 if split == "pretrain_pool" else 4  # draw more, then drop repeats
        fresh = []
        for row in generate_rows(sizes[split] * extra, recipe.seed(split), split):
            if row["dialogue"] not in seen:
                seen.add(row["dialogue"])
                fresh.append(row)
            if len(fresh) == sizes[split]:
                break
        rows[split] = fresh
    return rows


def build_corpus(folder: Path, recipe: Recipe) -> dict[str, list[dict]]:
    """Save the DialogSum-style splits with ``save_to_disk``; return all rows (pool included)."""
    rows = split_rows(recipe)
    data = DatasetDict(
        {
            split: Dataset.from_list([{c: r[c] for c in COLUMNS} for r in rows[split]])
            for split in ("train", "validation", "test")
        }
    )
    data.save_to_disk(str(folder))
    return rows
