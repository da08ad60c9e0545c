"""Three ways to answer a multi-step question: directly, with chain-of-thought, or with a program.

- ``direct``: the question alone; the model must do every step inside one forward pass per token.
- ``cot``: the prompt ends with a trigger ("Let's think step by step."); the model writes its steps
  and ends with "The answer is X.", and only X is scored. Each step is then a small problem the model
  can solve with what it wrote before in view.
- ``program``: the prompt ends with "Write a program."; the model writes an arithmetic expression such
  as ``mul(3, 16)``, which :func:`genai_course.safe_arithmetic.try_evaluate` computes without ever
  executing model text: the arithmetic moves out of the model (program-aided answers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from genai_course.metrics import normalize_answer, proportion_interval
from genai_course.safe_arithmetic import format_number, try_evaluate

FORMS = ("direct", "cot", "program")
TRIGGERS = {"direct": "", "cot": "Let's think step by step.", "program": "Write a program."}
QUESTION_TEMPLATE = "Question: {question}"
CONTEXT_QUESTION_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"
_FINAL = re.compile(r"answer is\s*([^.]*)", re.IGNORECASE)


class ReasoningError(ValueError):
    """A question, form or answer list the scoring cannot use."""


def _check_form(form: str) -> str:
    if form not in FORMS:
        raise ReasoningError(f"form must be one of {', '.join(FORMS)}, got {form!r}.")
    return form


def reasoning_prompt(
    question: str, form: str, context: str | None = None, example: tuple[str, str] | None = None
) -> str:
    """The prompt for ``question`` in answer ``form``; ``context`` (facts the model is given) goes first.

    ``example`` is a worked (prompt, answer) pair in the same form, put before everything: one-shot
    prompting, for a model that was never trained on the form (the tiny model was; FLAN-T5 was not
    trained to write ``mul(3, 16)``).
    """
    if not isinstance(question, str) or not question.strip():
        raise ReasoningError(f"question must be a non-empty string, got {question!r}.")
    trigger = TRIGGERS[_check_form(form)]
    base = (
        QUESTION_TEMPLATE.format(question=question)
        if context is None
        else CONTEXT_QUESTION_TEMPLATE.format(context=context, question=question)
    )
    prompt = f"{base}\n{trigger}" if trigger else base
    if example is None:
        return prompt
    if not (isinstance(example, tuple) and len(example) == 2 and all(isinstance(x, str) and x for x in example)):
        raise ReasoningError(f"example must be a (prompt, answer) pair of non-empty strings, got {example!r}.")
    return f"{example[0]}\n{example[1]}\n\n{prompt}"


def final_answer(output: str, form: str) -> str:
    """What an output answers: the whole text (direct), the X of its last "The answer is X" (cot; empty
    when it never says), or its program's value as a number (program; empty when it is not a program)."""
    _check_form(form)
    if form == "program":
        value = try_evaluate(output)
        return "" if value is None else format_number(value)
    if form == "cot":
        found = _FINAL.findall(output)
        return found[-1].strip() if found else ""
    return output.strip()


def correct(outputs: Sequence[str], answers: Sequence[str], form: str) -> list[bool]:
    """Per question, whether the output's final answer is the reference, after normalizing case and
    punctuation. For programs the reference's number is compared ("48 dollars" is answered by 48)."""
    if len(outputs) != len(answers):
        raise ReasoningError(f"{len(outputs)} outputs for {len(answers)} answers; they must pair up.")
    if not answers:
        raise ReasoningError("Nothing to score: no answers.")
    finals = [final_answer(o, form) for o in outputs]
    if form == "program":
        numbers = [_number_of(a) for a in answers]
        return [f != "" and f == n for f, n in zip(finals, numbers)]
    return [normalize_answer(f) != "" and normalize_answer(f) == normalize_answer(a) for f, a in zip(finals, answers)]


def score(outputs: Sequence[str], answers: Sequence[str], form: str) -> tuple[list[bool], tuple[float, float, float]]:
    """Per question whether the output is right (:func:`correct`), and the accuracy with its Wilson 95%
    interval, (share, low, high) (:func:`genai_course.metrics.proportion_interval`): one row of the score
    table, so the notebook keeps the per-question verdicts for its paired comparisons and examples."""
    right = correct(outputs, answers, form)
    return right, proportion_interval(right)


def _number_of(answer: str) -> str:
    found = re.search(r"-?\d+(?:\.\d+)?", answer)
    if found is None:
        raise ReasoningError(f"a program's answer is a number; the reference {answer!r} holds none.")
    return format_number(float(found.group()) if "." in found.group() else int(found.group()))
