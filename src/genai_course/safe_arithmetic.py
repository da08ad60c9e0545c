"""Program-aided answers: a language model writes an arithmetic expression and Python computes its value.

Small models get multi-step arithmetic wrong but can write the expression right, so Lab 5 lets the model
write ``add(mul(3, 4), mul(2, 5))`` (the tiny world's tokenizer has no ``+`` or ``*``) or ``3 * 4 + 2 * 5``
(FLAN-T5) and lets Python do the sums. Model text is untrusted, so it never reaches ``eval``, ``exec`` or
``compile``: :func:`ast.parse` only builds a syntax tree (nothing runs), and :func:`evaluate_program` walks
that tree itself, computing only numbers, unary ``+``/``-``, ``+ - * /``, parentheses and calls to
:data:`ALLOWED_FUNCTIONS`. Anything else, and anything too long, too deep or too large, is a
:class:`ProgramError` that says what is not allowed and what is.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import reduce

ALLOWED_FUNCTIONS: tuple[str, ...] = ("add", "sub", "mul", "div")


class ProgramError(ValueError):
    """Text that is not an allowed arithmetic program, or whose value cannot be computed."""


def _divide(a: int | float, b: int | float) -> float:
    if b == 0:
        raise ProgramError("division by zero: the program divides by 0, which has no value")
    return a / b


_ALLOWED = (
    "a program may use int and float numbers, unary + and -, the operators + - * /, parentheses and calls "
    "add(a, b, ...), sub(a, b), mul(a, b, ...), div(a, b)"
)

_SYMBOLS = {
    ast.Pow: "**",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.Not: "not",
    ast.Invert: "~",
}
# What the model wrote, in words, for the constructs a model (or an attacker) is likely to write.
_CONSTRUCTS = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "subscripts (a[b])",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "conditional expressions",
    ast.JoinedStr: "f-strings",
    ast.Tuple: "tuples (a comma outside a call)",
    ast.List: "lists",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "starred arguments (*a)",
    ast.Await: "await",
}
# (fewest, most) positional arguments; None: any number.
_ARITY = {"add": (2, None), "sub": (2, 2), "mul": (2, None), "div": (2, 2)}
_FUNCTIONS: dict[str, Callable[..., int | float]] = {
    "add": lambda *args: sum(args),
    "sub": operator.sub,
    "mul": lambda *args: reduce(operator.mul, args),
    "div": _divide,
}
_BINARY: dict[type, Callable] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _divide}


class _Evaluator:
    """Computes an expression tree node by node, refusing every node type it does not know."""

    def __init__(self, max_depth: int, max_value: float):
        self.max_depth = max_depth
        self.max_value = max_value

    def value(self, node: ast.AST, depth: int = 0) -> int | float:
        # depth counts the operations (calls, operators) above a node, so a lone number has depth 0.
        if depth > self.max_depth:
            raise ProgramError(f"the program nests operations more than {self.max_depth} deep; write it flatter")
        if isinstance(node, ast.Constant):
            return self._checked(self._constant(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = self.value(node.operand, depth + 1)
            return self._checked(-operand if isinstance(node.op, ast.USub) else +operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.value(node.left, depth + 1), self.value(node.right, depth + 1)
            return self._checked(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.Call):
            name = self._function(node)
            return self._checked(_FUNCTIONS[name](*(self.value(arg, depth + 1) for arg in node.args)))
        op = getattr(node, "op", None)
        if op is not None and type(op) in _SYMBOLS:
            raise ProgramError(f"the operator '{_SYMBOLS[type(op)]}' is not allowed; {_ALLOWED}")
        if isinstance(node, ast.Name):
            raise ProgramError(f"the name '{node.id}' is not allowed (it is not a number); {_ALLOWED}")
        construct = _CONSTRUCTS.get(type(node), type(node).__name__)
        raise ProgramError(f"the program uses {construct}, which is not allowed; {_ALLOWED}")

    @staticmethod
    def _constant(value: object) -> int | float:
        # type() rather than isinstance(): True is an int to Python but not a number to a program.
        if type(value) in (int, float):
            return value
        kinds = {bool: "booleans", str: "strings", bytes: "bytes", complex: "complex numbers"}
        shown = kinds.get(type(value), f"constants like {value!r}")
        raise ProgramError(f"{shown} are not allowed, only int and float numbers; {_ALLOWED}")

    def _function(self, call: ast.Call) -> str:
        """The name of the allowed function ``call`` calls, once its arguments have the allowed shape."""
        if not isinstance(call.func, ast.Name):
            raise ProgramError(
                f"only a function named by itself can be called, not {ast.unparse(call.func)!r}; "
                f"a program may call {', '.join(ALLOWED_FUNCTIONS)}"
            )
        name = call.func.id
        if name not in _FUNCTIONS:
            raise ProgramError(
                f"'{name}' is not an allowed function; a program may call {', '.join(ALLOWED_FUNCTIONS)}"
            )
        if call.keywords:
            raise ProgramError(f"{name}() takes positional arguments only, e.g. {name}(2, 3), not keywords")
        if any(isinstance(arg, ast.Starred) for arg in call.args):
            raise ProgramError(f"{name}() takes its arguments written out, e.g. {name}(2, 3), not starred (*a)")
        fewest, most = _ARITY[name]
        if len(call.args) < fewest or (most is not None and len(call.args) > most):
            wanted = f"exactly {fewest}" if most == fewest else f"at least {fewest}"
            raise ProgramError(f"{name}() takes {wanted} arguments, got {len(call.args)}")
        return name

    def _checked(self, value: int | float) -> int | float:
        # Checked after every step, so a product of many large factors stops before it grows huge.
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > self.max_value:
            raise ProgramError(f"the program reaches the value {value:.6g}, beyond the limit of ±{self.max_value:g}")
        return value


def evaluate_program(text: str, *, max_length: int = 200, max_depth: int = 20, max_value: float = 1e12) -> int | float:
    """The value of an arithmetic program written by a model; :class:`ProgramError` if it is not one.

    Surrounding whitespace and one trailing period ("add(2, 3).") are ignored. The value follows Python's
    arithmetic: an int when every number is an int and nothing is divided (``/`` and ``div`` are true
    division), else a float; so ``mul(2, 3)`` is 6 and ``div(6, 3)`` is 2.0. Limits: at most ``max_length``
    characters, operations nested at most ``max_depth`` deep, every number and intermediate value at most
    ``max_value`` in absolute value.
    """
    if not isinstance(text, str):
        raise ProgramError(f"a program is a string, got {type(text).__name__}")
    source = text.strip().removesuffix(".").strip()
    if not source:
        raise ProgramError(f"the program is empty; {_ALLOWED}")
    if len(source) > max_length:
        raise ProgramError(f"the program has {len(source)} characters, more than the limit of {max_length}")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        reason = getattr(error, "msg", None) or str(error) or type(error).__name__
        raise ProgramError(f"{source!r} is not a valid expression ({reason}); {_ALLOWED}") from None
    return _Evaluator(max_depth, max_value).value(tree.body)


def try_evaluate(text: str) -> int | float | None:
    """The value of ``text`` as a program, or None where it is not one: scoring treats garbage as wrong."""
    try:
        return evaluate_program(text)
    except ProgramError:
        return None


def format_number(value: float) -> str:
    """``value`` as a reference answer writes it: "26" for 26 and 26.0, "2.5" for 2.5, at most 6 decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"format_number takes an int or float, got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value} has no written answer; a program's value is always finite")
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
