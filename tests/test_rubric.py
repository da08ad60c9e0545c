"""Rubrics as data: structured rules (path, op, value; minus; spread/count), loading and evaluating them."""

from __future__ import annotations

import pytest

from genai_course.profiles import PROFILE_NAMES
from genai_course.rubric import Rubric, RubricError, Rule, RuleError, find_rubric, lookup

RESULTS = {"a": {"x": 0.5, "y": 0.25}, "b": {"x": 0.1}, "flag": True, "curve": [{"k": 1}, {"k": 4}], "n": 3}


def rule(**entry) -> Rule:
    return Rule.from_dict({"name": "r", **entry})


@pytest.mark.parametrize(
    "entry, holds",
    [
        ({"path": "a.x", "minus": "b.x", "op": ">=", "value": 0.4}, True),
        ({"path": "a.x", "minus": "b.x", "op": ">=", "value": 0.41}, False),
        ({"path": "a.y", "minus": "a.x", "op": ">=", "value": -0.3}, True),
        ({"path": "a.*", "of": "spread", "op": "==", "value": 0.25}, True),
        ({"path": "curve.*.k", "of": "spread", "op": ">=", "value": 3}, True),
        ({"path": "curve.1.k", "minus": "curve.0.k", "op": ">", "value": 0}, True),
        ({"path": "curve", "of": "count", "op": ">=", "value": 3}, False),
        ({"path": "a", "of": "count", "op": "==", "value": 2}, True),
        ({"path": "flag", "op": "==", "value": True}, True),
        ({"path": "flag", "op": "!=", "value": True}, False),
        ({"path": "n", "op": ">=", "value": 1e1}, False),
    ],
)
def test_rules(entry, holds):
    assert rule(**entry).check(RESULTS)[0] is holds


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"path": "a.z", "op": ">=", "value": 1}, "missing result 'a.z'"),
        ({"path": "flag", "minus": "n", "op": ">=", "value": 1}, "not a number"),
        ({"path": "flag", "op": ">=", "value": 1}, "compares it with 1"),
        ({"path": "n.*", "of": "spread", "op": ">=", "value": 1}, "not a table or list"),
        ({"path": "*.x", "of": "spread", "op": ">=", "value": 1}, "missing result 'flag.x'"),
        ({"path": "n", "of": "count", "op": ">=", "value": 1}, "not a list or table to count"),
    ],
)
def test_rule_evaluation_errors_are_clear(entry, message):
    with pytest.raises(RuleError, match=message.replace("*", r"\*")):
        rule(**entry).check(RESULTS)


@pytest.mark.parametrize(
    "entry",
    [
        {"rule": "a.x >= 1"},  # the old expression format is refused, not guessed at
        {"path": "__import__('os').system('x')", "op": ">=", "value": 0},
        {"path": "a.x", "op": ">>=", "value": 1},
        {"path": "a.x", "op": ">=", "value": "1"},
        {"path": "a.x", "op": ">=", "value": 1, "minus": "b x"},
        {"path": "a.*", "op": ">=", "value": 1},
        {"path": "a.x", "of": "mean", "op": ">=", "value": 1},
        {"path": "flag", "op": ">=", "value": True},
        {"op": ">=", "value": 1},
    ],
)
def test_anything_but_a_well_formed_rule_is_refused(entry):
    with pytest.raises(RuleError):
        Rule.from_dict(entry)


def test_a_failed_rule_shows_what_was_measured():
    ok, measured = rule(path="a.y", minus="a.x", op=">=", value=0).check(RESULTS)
    assert not ok and measured == "a.y - a.x = 0.25 - 0.5 = -0.25, needs >= 0"


def test_lookup_walks_lists_and_wildcards():
    assert lookup(RESULTS, "curve.1.k") == 4
    assert sorted(lookup(RESULTS, "a.*")) == [0.25, 0.5]
    assert sorted(lookup({"p": {"x": 2}, "q": {"x": 1}}, "*.x")) == [1, 2]


def test_every_lab_rubric_loads_and_requires_the_shared_result_keys():
    expected = {
        "lab1": "overflow_detected",
        "lab2": "params.lora.percent",
        "lab3": "toxicity.ci_high",
        "lab4": "scaling.law.alpha",
        "lab5": "lift.change",
    }
    for lab, key in expected.items():
        rubric = Rubric.load(find_rubric(lab))
        # every profile a learner can run gets its thresholds (auto resolves to one of them)
        assert rubric.lab == lab and set(rubric.profiles) == set(PROFILE_NAMES) - {"auto"}
        assert rubric.min_exercises >= 2
        assert key in rubric.required or any(key in r.text for r in rubric.profiles["tiny"])


def test_tiny_thresholds_from_the_issues():
    def rules(lab):
        return {r.text for r in Rubric.load(find_rubric(lab)).profiles["tiny"]}

    lab1 = {
        "max(rouge.*.rouge1) - min(rouge.*.rouge1) >= 0.15",
        "overflow_detected == true",
        "rouge.instruction.rouge1 - rouge.no_prompt.rouge1 >= 0.05",
        "rouge.one_shot.rouge1 - zero_shot_best.rouge1 >= 0.03",
        "rouge.few_shot.rouge1 - rouge.one_shot.rouge1 >= -0.02",
    }
    assert lab1 <= rules("lab1")
    assert {
        "rouge.full.rouge1 - rouge.best_prompt.rouge1 >= 0.1",
        "rouge.lora.rouge1 - rouge.full.rouge1 >= -0.04",
        "params.lora.percent <= 5",
        "facts.full >= 0.9",
        "forgetting_drop.mixed_over_full <= 0.5",
        "forgetting_lora_off_is_original == true",
    } <= rules("lab2")
    lab3 = {"toxicity.relative_change <= -0.5", "toxicity.ci_high < 0", "rougeL.before - rougeL.after <= 0.02"}
    assert lab3 <= rules("lab3")
    lab4 = {
        "formula_matches_all == true",
        "memory_base.weights_fp32_ratio <= 1.2",
        "memory_base.training_full_ratio >= 0.8",
        "scaling.falls_with_size == true",
        "scaling.optimum_inside == true",
        "domain.gain.ci_low > 0",
    }
    assert lab4 <= rules("lab4")
    lab5 = {"n_questions >= 200", "lift.change >= 0.5", "lift.ci_low > 0", "wrong_passage_drop >= 0.5"}
    assert lab5 <= rules("lab5")


def test_malformed_rubrics_are_rejected_with_the_reason(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text('lab = "lab2"\n[[profiles.tiny.rules]]\nname = "x"\npath = "a.x"\nop = ">>="\nvalue = 1\n')
    with pytest.raises(RubricError, match="profile tiny, rule 1"):
        Rubric.load(bad)
    bad.write_text('lab = "lab7"\n', encoding="utf-8")
    with pytest.raises(RubricError, match="Unknown lab"):
        Rubric.load(bad)
    bad.write_text("lab = [", encoding="utf-8")
    with pytest.raises(RubricError, match="not valid TOML"):
        Rubric.load(bad)
    rule = '[[profiles.tiny.rules]]\npath = "n"\nop = ">"\nvalue = 1\n'
    bad.write_text('lab = "lab2"\nrequired_profile = "huge"\n' + rule)
    with pytest.raises(RubricError, match="required_profile 'huge'"):
        Rubric.load(bad)
