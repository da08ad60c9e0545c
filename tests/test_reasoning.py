"""Answer forms of multi-step questions: prompts, what an output answers, and scoring."""

import pytest

from genai_course import reasoning as rs
from genai_course.metrics import proportion_interval
from genai_course.plots import reasoning as plots


def test_prompts_end_with_the_forms_trigger_and_put_context_first():
    assert rs.reasoning_prompt("How much?", "direct") == "Question: How much?"
    assert rs.reasoning_prompt("How much?", "cot") == "Question: How much?\nLet's think step by step."
    assert rs.reasoning_prompt("How much?", "program").endswith("\nWrite a program.")
    with_context = rs.reasoning_prompt("How much?", "cot", context="A pass costs 4 dollars.")
    assert with_context.startswith("Context:\nA pass costs 4 dollars.\n\nQuestion: How much?")


@pytest.mark.parametrize("question, form", [("", "cot"), ("  ", "direct"), ("Why?", "essay"), (3, "cot")])
def test_bad_prompts_are_refused_with_the_reason(question, form):
    with pytest.raises(rs.ReasoningError, match="question must be|form must be one of direct, cot, program"):
        rs.reasoning_prompt(question, form)


def test_the_final_answer_of_each_form():
    steps = "A pass costs 4 dollars. 3 times 4 is 12. The answer is 12 dollars."
    assert rs.final_answer(steps, "cot") == "12 dollars"
    assert rs.final_answer("The answer is 5. No, the answer is 6.", "cot") == "6"  # the last one counts
    assert rs.final_answer("3 times 4 is 12.", "cot") == ""  # steps without a conclusion answer nothing
    assert rs.final_answer(" Tuesday ", "direct") == "Tuesday"
    assert rs.final_answer("mul(3, 4)", "program") == "12"
    assert rs.final_answer("div(6, 4)", "program") == "1.5"
    assert rs.final_answer("mul(3, ", "program") == ""


def test_a_program_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    attack = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    assert rs.final_answer(attack, "program") == ""
    assert not marker.exists()


def test_scoring_compares_normalized_answers_and_program_values():
    answers = ["12 dollars", "Tuesday", "12 dollars"]
    assert rs.correct(["12 dollars.", "tuesday", "13 dollars"], answers, "direct") == [True, True, False]
    cot = ["... The answer is 12 dollars.", "The answer is Monday.", "no answer"]
    assert rs.correct(cot, answers, "cot") == [True, False, False]
    assert rs.correct(["mul(3, 4)", "add(6, 6)", "garbage"], ["12 dollars"] * 3, "program") == [True, True, False]
    assert rs.correct([""], [""], "direct") == [False]  # an empty answer is never right


def test_score_gives_the_verdicts_and_the_accuracy_with_its_interval():
    right, (share, low, high) = rs.score(
        ["The answer is 12 dollars.", "no", "The answer is 5."], ["12 dollars"] * 3, "cot"
    )
    assert right == [True, False, False]
    assert share == pytest.approx(1 / 3) and 0 < low < share < high < 1
    assert (share, low, high) == proportion_interval(right)
    with pytest.raises(rs.ReasoningError, match="no answers"):
        rs.score([], [], "direct")


def test_scoring_refuses_what_it_cannot_pair_up():
    with pytest.raises(rs.ReasoningError, match="2 outputs for 1 answers"):
        rs.correct(["a", "b"], ["a"], "direct")
    with pytest.raises(rs.ReasoningError, match="no answers"):
        rs.correct([], [], "cot")
    with pytest.raises(rs.ReasoningError, match="holds none"):
        rs.correct(["mul(2, 3)"], ["Tuesday"], "program")


def test_the_plot_has_a_bar_per_form_and_family_and_refuses_nothing_to_plot():
    fig = plots.plot_answer_forms(
        {"days": {"direct": (0.1, 0.06, 0.15), "cot": (0.6, 0.53, 0.67)}, "passes": {"program": (0.3, 0.24, 0.37)}}
    )
    assert len(fig.axes[0].patches) == 3
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["days", "passes"]
    with pytest.raises(ValueError, match="No accuracies"):
        plots.plot_answer_forms({})


def test_a_worked_example_goes_before_the_question_and_must_be_a_pair():
    shot = ("Question: How much for 2?\nWrite a program.", "mul(2, 5)")
    prompt = rs.reasoning_prompt("How much for 3?", "program", context="A pass costs 4 dollars.", example=shot)
    assert prompt == (
        "Question: How much for 2?\nWrite a program.\nmul(2, 5)\n\n"
        "Context:\nA pass costs 4 dollars.\n\nQuestion: How much for 3?\nWrite a program."
    )
    for bad in (("only a prompt",), ("", "mul(2, 5)"), "mul(2, 5)"):
        with pytest.raises(rs.ReasoningError, match="example must be a"):
            rs.reasoning_prompt("How much for 3?", "program", example=bad)
