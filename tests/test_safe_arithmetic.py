"""Program-aided answers: the evaluator computes both syntaxes a model writes and refuses everything else."""

from __future__ import annotations

import pytest

from genai_course.safe_arithmetic import (
    ALLOWED_FUNCTIONS,
    ProgramError,
    evaluate_program,
    format_number,
    try_evaluate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add(mul(3, 4), mul(2, 5))", 22),  # the tiny world's syntax (its tokenizer has no + or *)
        ("3 * 4 + 2 * 5", 22),  # FLAN-T5's
        ("(3 + 4) * 2", 14),
        ("sub(10, mul(2, add(1, 2)))", 4),
        ("add(1, 2, 3, 4)", 10),
        ("mul(2, 3, 4)", 24),
        ("-3 + +5", 2),
        ("-(2 + 3) * 1.5", -7.5),
        ("div(7, 2)", 3.5),
        ("  add(2, 3).  ", 5),  # a model's sentence-final period and whitespace
        ("add(0.1, 0.2)", pytest.approx(0.3)),
    ],
)
def test_values_of_both_syntaxes(text, expected):
    assert evaluate_program(text) == expected


def test_int_unless_a_float_or_a_division():
    assert type(evaluate_program("mul(2, 3)")) is int
    assert type(evaluate_program("6 / 3")) is float and evaluate_program("6 / 3") == 2.0
    assert type(evaluate_program("div(6, 3)")) is float
    assert type(evaluate_program("add(2.0, 3)")) is float


def test_the_allowed_functions():
    assert ALLOWED_FUNCTIONS == ("add", "sub", "mul", "div")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("pow(2, 3)", "'pow' is not an allowed function; a program may call add, sub, mul, div"),
        ("x + 1", "the name 'x'"),
        ("math.pi", "attribute access"),
        ("a[0]", "subscripts"),
        ("(lambda: 1)()", "only a function named by itself can be called"),
        ("lambda: 1", "lambda"),
        ("[i for i in (1, 2)]", "comprehensions"),
        ("add(*(1, 2))", "not starred"),
        ("add(a=1, b=2)", "positional arguments only"),
        ("2 ** 3", "'**'"),
        ("7 % 2", "'%'"),
        ("7 // 2", "'//'"),
        ("'5'", "strings"),
        ("1j", "complex numbers"),
        ("True", "booleans"),
        ("add(True, 1)", "booleans"),
        ("1 < 2", "comparisons"),
        ("1 if 1 else 2", "conditional expressions"),
        ("(1, 2)", "tuples"),
        ("None", "constants like None are not allowed"),
        ("__import__('os')", "'__import__' is not an allowed function"),
        ("sub(1, 2, 3)", "sub() takes exactly 2 arguments, got 3"),
        ("add(1)", "add() takes at least 2 arguments, got 1"),
        ("div(1, 0)", "division by zero"),
        ("1 / 0", "division by zero"),
    ],
)
def test_forbidden_constructs_name_what_is_wrong(text, named):
    with pytest.raises(ProgramError) as raised:
        evaluate_program(text)
    assert named in str(raised.value)


def test_messages_say_what_is_allowed():
    with pytest.raises(ProgramError, match=r"the operators \+ - \* /, parentheses and calls add\(a, b, \.\.\.\)"):
        evaluate_program("2 ** 3")


def test_a_malicious_program_runs_nothing(tmp_path):
    target = tmp_path / "pwned"  # in tmp_path, not /tmp: a file left by anyone else cannot fail the test
    attacks = [
        f"__import__('os').system('touch {target}')",
        f"open('{target}', 'w')",
        f"add(__import__('os').system('touch {target}'), 1)",
        "().__class__.__bases__[0].__subclasses__()",
    ]
    for attack in attacks:
        with pytest.raises(ProgramError):
            evaluate_program(attack, max_length=500)
        assert try_evaluate(attack) is None
    assert not target.exists()


@pytest.mark.parametrize("garbage", ["add(3,", "", "   ", "the answer is 5", "5 apples", "add(3, 4", ".", "\x00"])
def test_try_evaluate_scores_garbage_as_none(garbage):
    assert try_evaluate(garbage) is None


def test_try_evaluate_returns_the_value():
    assert try_evaluate("add(2, 3).") == 5


def test_non_string_is_a_program_error():
    with pytest.raises(ProgramError, match="a program is a string, got int"):
        evaluate_program(5)


def test_length_limit():
    long = "add(" + ", ".join(["1"] * 100) + ")"
    with pytest.raises(ProgramError, match=f"{len(long)} characters, more than the limit of 200"):
        evaluate_program(long)
    assert evaluate_program(long, max_length=len(long)) == 100


def test_depth_limit():
    nested = "add(1, " * 21 + "1" + ")" * 21  # 21 operations deep
    with pytest.raises(ProgramError, match="more than 20 deep"):
        evaluate_program(nested, max_length=1000)
    assert evaluate_program(nested, max_length=1000, max_depth=21) == 22


def test_value_limit_on_numbers_and_on_every_step():
    with pytest.raises(ProgramError, match="beyond the limit"):
        evaluate_program("1e13")
    with pytest.raises(ProgramError, match="beyond the limit"):
        evaluate_program("mul(1000000, 1000000, 10)")  # each number is small, the product is not
    with pytest.raises(ProgramError, match="beyond the limit"):
        evaluate_program("1e999")  # inf
    assert evaluate_program("mul(1000, 1000)", max_value=1e6) == 1_000_000
    with pytest.raises(ProgramError, match="beyond the limit of ±1e\\+06"):
        evaluate_program("mul(1000, 1001)", max_value=1e6)


def test_too_many_parentheses_for_the_parser_is_a_program_error():
    nested = "(" * 300 + "1" + ")" * 300
    with pytest.raises(ProgramError):
        evaluate_program(nested, max_length=1000)


@pytest.mark.parametrize(
    ("value", "text"),
    [(26, "26"), (26.0, "26"), (2.5, "2.5"), (1 / 3, "0.333333"), (-7.5, "-7.5"), (2.9999999, "3"), (-1e-9, "0")],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_number_refuses_what_is_not_a_finite_number():
    with pytest.raises(TypeError):
        format_number(True)
    with pytest.raises(TypeError):
        format_number("26")
    with pytest.raises(ValueError, match="no written answer"):
        format_number(float("inf"))
