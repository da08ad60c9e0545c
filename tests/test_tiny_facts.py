"""The fact check: a summary passes only with every fact of its reference and no invented one."""

import pytest

from genai_course.tiny.corpus import generate_rows
from genai_course.tiny.facts import check_facts, facts_rate, slot_vocabulary
from genai_course.tiny.slots import mentions

ROWS = generate_rows(600, seed=11, prefix="f")


def _party():
    return next(r for r in ROWS if r["scenario"] == "party")


def test_every_reference_summary_passes():
    assert facts_rate([r["summary"] for r in ROWS], ROWS) == 1.0
    assert all(r["slots"] for r in ROWS), "every reference states at least one fact"


def test_a_wrong_name_fails_and_is_named():
    row = _party()
    name = row["facts"]["name"]
    other = "Anna" if name != "Anna" else "Tom"
    check = check_facts(row["summary"].replace(name, other), row["dialogue"], row["slots"])
    assert not check.ok and check.missing == (name,) and check.wrong == (other,)


def test_a_summary_that_leaves_a_fact_out_fails():
    row = _party()
    day = row["facts"]["day"]
    check = check_facts(row["summary"].replace(f" on {day}", ""), row["dialogue"], row["slots"])
    assert not check.ok and check.missing == (day,) and check.wrong == ()


def test_whole_words_only():
    assert mentions("Mike's party", "Mike") and not mentions("often", "ten") and mentions("Ten dollars", "ten")
    assert {"Mike", "Wednesday", "a cake"} <= slot_vocabulary()


def test_facts_rate_needs_matching_inputs():
    with pytest.raises(ValueError, match="2 summaries for 1 rows"):
        facts_rate(["a", "b"], ROWS[:1])
    with pytest.raises(ValueError, match="No rows"):
        facts_rate([], [])
