"""Grading executed lab notebooks safely: ``genai-course grade LAB PATH... [--csv FILE]``.

A submitted notebook is data, never code: it is size-checked, parsed as JSON, validated with nbformat
and inspected. Nothing in it is executed, evaluated or rendered (no kernel, no ``eval``, no HTML).
Each file gets a verdict: ``pass``, ``fail`` (with reasons) or ``error`` (it could not be graded:
too big, not JSON, not a notebook). The lab's ``labs/<lab>/rubric.toml`` says which recorded results
must meet which thresholds per profile, written in a tiny rule language parsed here (paths, ``+``,
``-``, ``max``/``min``/``abs``/``len``, one comparison) — again without ``eval``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_course.results import LAB_NAMES, RecordedOutput, find_records, lab_id

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

MAX_MEGABYTES = 20.0
VERDICTS = ("pass", "fail", "error")
PROFILES = ("tiny", "full")

# ---------------------------------------------------------------------------------------------------
# The rule language: `rouge.full.rouge1 - rouge.original.rouge1 >= 0.15`
# ---------------------------------------------------------------------------------------------------


class RuleError(ValueError):
    """A rule that cannot be parsed, or cannot be evaluated on the given results."""


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<op>>=|<=|==|!=|[<>+\-(),])"
    r"|(?P<name>(?:[A-Za-z_]\w*|\*)(?:\.(?:\w+|\*))*)"
    r")"
)
_COMPARISONS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_FUNCTIONS = ("max", "min", "abs", "len")
_MAX_RULE_CHARS = 500


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise RuleError(f"Unexpected character {text[position:].lstrip()[:1]!r} in rule {text!r}.")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over: rule := sum CMP sum; sum := term (('+'|'-') term)*;
    term := '-' term | NUMBER | true | false | PATH | FUNC '(' sum (',' sum)* ')' | '(' sum ')'."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (value is not None and token[1] != value):
            found = repr(token[1]) if token else "the end"
            raise RuleError(f"Expected {value or 'a value'!r} but found {found} in rule {self.text!r}.")
        self.index += 1
        return token

    def rule(self) -> tuple:
        left = self._sum()
        kind, op = self._take()
        if op not in _COMPARISONS:
            raise RuleError(f"Expected a comparison (>=, <=, >, <, ==, !=), found {op!r} in {self.text!r}.")
        right = self._sum()
        if self._peek() is not None:
            raise RuleError(f"Unexpected {self._peek()[1]!r} after the comparison in rule {self.text!r}.")
        return ("cmp", op, left, right)

    def _sum(self) -> tuple:
        node = self._term()
        while self._peek() in (("op", "+"), ("op", "-")):
            op = self._take()[1]
            node = (op, node, self._term())
        return node

    def _term(self) -> tuple:
        kind, value = self._take()
        if kind == "num":
            return ("num", float(value))
        if kind == "op" and value == "-":
            return ("neg", self._term())
        if kind == "op" and value == "(":
            node = self._sum()
            self._take(")")
            return node
        if kind == "name":
            if value in ("true", "false"):
                return ("bool", value == "true")
            nxt = self._peek()
            if nxt and nxt[1] == "(":
                if value not in _FUNCTIONS:
                    known = ", ".join(_FUNCTIONS)
                    raise RuleError(f"Unknown function {value!r} in rule {self.text!r}; known: {known}.")
                self._take("(")
                args = [self._sum()]
                while self._peek() and self._peek()[1] == ",":
                    self._take(",")
                    args.append(self._sum())
                self._take(")")
                return ("call", value, args)
            return ("path", value)
        raise RuleError(f"Unexpected {value!r} in rule {self.text!r}.")


def parse_rule(text: str) -> tuple:
    """Parse a rule such as ``rouge.lora.rouge1 >= rouge.full.rouge1 - 0.05`` into a small tree."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("A rule must be a non-empty string such as 'n_eval >= 100'.")
    if len(text) > _MAX_RULE_CHARS:
        raise RuleError(f"Rule is longer than {_MAX_RULE_CHARS} characters: {text[:60]!r}...")
    return _Parser(text).rule()


def lookup(results: Any, path: str) -> Any:
    """The value at a dotted path (``rouge.full.rouge1``, ``shots_curve.0.fits``); ``*`` gives a list
    of all matches (``rouge.*.rouge1``). A missing key is a :class:`RuleError` naming it."""
    current: list[tuple[str, Any]] = [("", results)]  # (concrete path so far, value)
    wildcard = False
    for part in path.split("."):
        following: list[tuple[str, Any]] = []
        for where, value in current:
            here = f"{where}.{part}" if where else part
            if part == "*":
                wildcard = True
                if isinstance(value, dict):
                    following.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
                elif isinstance(value, list):
                    following.extend((f"{where}.{i}" if where else str(i), v) for i, v in enumerate(value))
                else:
                    raise RuleError(f"'{where}' is not a table or list, cannot use '*'.")
            elif isinstance(value, dict) and part in value:
                following.append((here, value[part]))
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                following.append((here, value[int(part)]))
            else:
                raise RuleError(f"missing result '{here}'")
        current = following
    values = [value for _, value in current]
    return values if wildcard else values[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, what: str) -> float:
    if not _is_number(value):
        raise RuleError(f"'{what}' is {value!r}, not a number")
    return float(value)


def _evaluate(node: tuple, results: Any) -> Any:
    kind = node[0]
    if kind in ("num", "bool"):
        return node[1]
    if kind == "path":
        return lookup(results, node[1])
    if kind == "neg":
        return -_number(_evaluate(node[1], results), "negated value")
    if kind in ("+", "-"):
        left = _number(_evaluate(node[1], results), _describe(node[1]))
        right = _number(_evaluate(node[2], results), _describe(node[2]))
        return left + right if kind == "+" else left - right
    if kind == "call":
        return _call(node[1], [_evaluate(arg, results) for arg in node[2]], node)
    raise RuleError(f"Cannot evaluate {node!r}")  # pragma: no cover - the parser makes no other nodes


def _call(name: str, args: list[Any], node: tuple) -> Any:
    if name == "len":
        if len(args) != 1 or not isinstance(args[0], (list, dict)):
            raise RuleError(f"len() needs one list or table, in {_describe(node)}")
        return float(len(args[0]))
    if name == "abs":
        if len(args) != 1:
            raise RuleError(f"abs() needs one value, in {_describe(node)}")
        return abs(_number(args[0], _describe(node)))
    values = [v for arg in args for v in (arg if isinstance(arg, list) else [arg])]
    if not values:
        raise RuleError(f"{name}() of nothing, in {_describe(node)}")
    numbers = [_number(v, _describe(node)) for v in values]
    return max(numbers) if name == "max" else min(numbers)


def _describe(node: tuple) -> str:
    kind = node[0]
    if kind == "num":
        return f"{node[1]:g}"
    if kind == "bool":
        return "true" if node[1] else "false"
    if kind == "path":
        return node[1]
    if kind == "neg":
        return f"-{_describe(node[1])}"
    if kind in ("+", "-"):
        return f"{_describe(node[1])} {kind} {_describe(node[2])}"
    if kind == "call":
        return f"{node[1]}({', '.join(_describe(a) for a in node[2])})"
    return f"{_describe(node[2])} {node[1]} {_describe(node[3])}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return f"{value:.4g}"
    return repr(value)


def check_rule(tree: tuple, results: Any) -> tuple[bool, str]:
    """Evaluate a parsed rule: whether it holds, and what was measured (for the report)."""
    _, op, left_node, right_node = tree
    left, right = _evaluate(left_node, results), _evaluate(right_node, results)
    if isinstance(left, list) or isinstance(right, list):
        raise RuleError(f"a '*' path needs max(), min() or len() around it in {_describe(tree)}")
    if isinstance(left, bool) or isinstance(right, bool):
        if op not in ("==", "!=") or not (isinstance(left, bool) and isinstance(right, bool)):
            raise RuleError(
                f"{_describe(tree)} compares {_show(left)} with {_show(right)}; use == or != between true/false"
            )
    else:
        left, right = _number(left, _describe(left_node)), _number(right, _describe(right_node))
    measured = f"{_describe(left_node)} = {_show(left)}, needs {op} {_show(right)}"
    return bool(_COMPARISONS[op](left, right)), measured


# ---------------------------------------------------------------------------------------------------
# Rubrics: labs/<lab>/rubric.toml
# ---------------------------------------------------------------------------------------------------


class RubricError(ValueError):
    """A rubric file that is missing or malformed."""


@dataclass(frozen=True)
class Rule:
    """One named threshold, e.g. ``fine-tuning helps: rouge.full.rouge1 - rouge.original.rouge1 >= 0.15``."""

    name: str
    text: str
    tree: tuple


@dataclass
class Rubric:
    """What a graded notebook of one lab must show, per profile.

    TOML layout::

        lab = "lab2"
        min_exercises = 2                       # answered nbgrader exercises required
        required = ["n_eval", "rouge.full.rouge1"]  # result keys every record must have
        [[profiles.tiny.rules]]
        name = "fine-tuning helps"
        rule = "rouge.full.rouge1 - rouge.original.rouge1 >= 0.15"
    """

    lab: str
    path: Path | None = None
    required: list[str] = field(default_factory=list)
    min_exercises: int = 2
    profiles: dict[str, list[Rule]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "Rubric":
        """Read and check a rubric file; every rule is parsed now so mistakes show up at once."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RubricError(f"Rubric {path} does not exist.") from None
        except tomllib.TOMLDecodeError as error:
            raise RubricError(f"Rubric {path} is not valid TOML: {error}") from None
        return cls.from_dict(data, path=path)

    @classmethod
    def from_dict(cls, data: dict, *, path: Path | None = None) -> "Rubric":
        where = f"rubric {path}" if path else "rubric"
        try:
            lab = lab_id(data.get("lab", ""))
        except ValueError as error:
            raise RubricError(f"{where}: {error}") from None
        required = data.get("required", [])
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            raise RubricError(f"{where}: 'required' must be a list of dotted result keys.")
        min_exercises = data.get("min_exercises", 2)
        if not isinstance(min_exercises, int) or min_exercises < 0:
            raise RubricError(f"{where}: 'min_exercises' must be a whole number >= 0.")
        profiles: dict[str, list[Rule]] = {}
        for profile, section in (data.get("profiles") or {}).items():
            rules = section.get("rules", []) if isinstance(section, dict) else None
            if not isinstance(rules, list):
                raise RubricError(f"{where}: profiles.{profile}.rules must be a list of {{name, rule}} tables.")
            parsed = []
            for entry in rules:
                if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str):
                    raise RubricError(f"{where}: each rule of profiles.{profile} needs a 'rule' string.")
                try:
                    parsed.append(Rule(str(entry.get("name", entry["rule"])), entry["rule"], parse_rule(entry["rule"])))
                except RuleError as error:
                    raise RubricError(f"{where}, profile {profile}: {error}") from None
            profiles[profile] = parsed
        if not profiles:
            raise RubricError(f"{where}: no [profiles.<name>] sections with rules.")
        return cls(lab=lab, path=path, required=required, min_exercises=min_exercises, profiles=profiles)


def find_rubric(lab: str, labs_dir: str | Path | None = None) -> Path:
    """``labs/<lab folder>/rubric.toml`` in ``labs_dir`` or the course checkout; clear error if absent."""
    from genai_course.runner import find_course_folder

    folder = find_course_folder("labs", labs_dir)
    path = folder / LAB_NAMES[lab_id(lab)] / "rubric.toml"
    if not path.is_file():
        raise RubricError(
            f"No rubric at {path}. Pass --rubric FILE, or --labs DIR pointing to the course's labs/ folder."
        )
    return path


# ---------------------------------------------------------------------------------------------------
# Grading one notebook
# ---------------------------------------------------------------------------------------------------


@dataclass
class GradeReport:
    """The verdict on one submitted file, and why."""

    student: str
    path: str
    verdict: str = "pass"
    profile: str = ""
    rules_passed: int = 0
    rules_total: int = 0
    exercises_answered: int = 0
    exercises_total: int = 0
    tests_passed: int = 0
    tests_total: int = 0
    points: float = 0.0
    points_total: float = 0.0
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.reasons.append(reason)
        if self.verdict == "pass":
            self.verdict = "fail"


class _CannotGrade(Exception):
    """The file is not a gradable notebook: verdict ``error``."""


def _read_notebook(path: Path, max_bytes: int) -> Any:
    """Parse a file as a notebook without trusting it: size first, then JSON, then nbformat."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise _CannotGrade(f"cannot read the file ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise _CannotGrade("not a regular file")
    limit_mb = max_bytes / 1_000_000
    if info.st_size > max_bytes:
        raise _CannotGrade(f"file is {info.st_size / 1_000_000:.1f} MB, over the {limit_mb:g} MB limit (not parsed)")
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:  # it grew after stat
        raise _CannotGrade(f"file is over the {limit_mb:g} MB limit (not parsed)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _CannotGrade("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise _CannotGrade(f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except (RecursionError, ValueError) as error:
        raise _CannotGrade(f"not valid JSON ({type(error).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        raise _CannotGrade("JSON but not a Jupyter notebook (no 'cells' list and 'nbformat' version)")
    if data.get("nbformat") != 4:
        version = _clean(data.get("nbformat"), 20)
        raise _CannotGrade(f"notebook format {version} is not supported; save it with Jupyter (format 4)")
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = nbformat.from_dict(data)
            nbformat.validate(notebook)
            rejoin_lines(notebook)  # sources stored as lists of lines become strings, as nbformat.read does
    except nbformat.ValidationError as error:
        where = "/".join(str(p) for p in getattr(error, "absolute_path", [])) or "top level"
        message = str(error.message)
        # jsonschema quotes the whole offending object; keep the part that says what is wrong
        message = message.rsplit("} ", 1)[-1] if message.startswith("{") else message
        raise _CannotGrade(f"not a valid notebook (at {where}: {_clean(message, 100)})") from None
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise _CannotGrade(f"not a valid notebook ({type(error).__name__})") from None
    return notebook


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: Any, limit: int = 160) -> str:
    """Submitted text made safe to print: no terminal escape sequences, one line, bounded length."""
    text = _CONTROL.sub("?", str(text)).replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(cell: Any) -> str:
    for line in str(cell.get("source", "")).splitlines():
        if line.strip():
            return _clean(line.strip(), 60)
    return ""


def _where(index: int, cell: Any) -> str:
    first = _first_line(cell)
    return f"cell {index}" + (f" ({first})" if first else "")


def _describe_error(error: Any, limit: int) -> str:
    return f"{_clean(error.get('ename'), 40)}: {_clean(error.get('evalue'), limit)}"


def _nbgrader(cell: Any) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _error_output(cell: Any) -> Any:
    tags = cell.get("metadata", {}).get("tags", [])
    if isinstance(tags, list) and "raises-exception" in tags:
        return None  # the author expects this cell to fail
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output
    return None


def _check_execution(notebook: Any, report: GradeReport) -> None:
    """Every code cell ran, in order, without errors (the record of a real top-to-bottom run)."""
    unrun, previous = [], None
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not str(cell.source).strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            unrun.append(index)
            if cell.get("outputs"):
                report.fail(f"{_where(index, cell)} has outputs but no execution count (edited by hand?)")
            continue
        if previous is not None and count <= previous[1]:
            report.fail(
                f"cells ran out of order: {_where(index, cell)} has execution count {count} "
                f"after {previous[1]} in cell {previous[0]}; restart the kernel and run all cells"
            )
        previous = (index, count)
        error = _error_output(cell)
        if error is not None and not _nbgrader(cell).get("grade"):  # failed tests are reported with exercises
            report.fail(f"{_where(index, cell)} raised {_describe_error(error, 100)}")
    if unrun:
        shown = ", ".join(str(i) for i in unrun[:8]) + (" …" if len(unrun) > 8 else "")
        report.fail(f"{len(unrun)} code cell(s) were not run (cells {shown})")


def _check_lab(notebook: Any, lab: str, records: list[RecordedOutput], report: GradeReport) -> bool:
    """Whether this is the lab being graded, judged by its metadata, exercise ids and records."""
    claimed = notebook.metadata.get("genai_course", {})
    claimed = claimed.get("lab") if isinstance(claimed, dict) else None
    if claimed is not None:
        try:
            claimed = lab_id(claimed)
        except ValueError:
            pass
        if claimed != lab:
            report.fail(f"wrong lab: the notebook's metadata says {_clean(claimed, 40)}, expected {lab}")
            return False
    prefixes = set()
    for cell in notebook.cells:
        match = re.match(r"(lab\d+)[-_]", str(_nbgrader(cell).get("grade_id", "")))
        if match:
            prefixes.add(match.group(1))
    if prefixes - {lab}:
        report.fail(f"wrong lab: its exercises belong to {', '.join(sorted(prefixes))}, expected {lab}")
        return False
    labs_recorded = {r.lab for r in records}
    if records and lab not in labs_recorded:
        shown = ", ".join(sorted(_clean(x, 20) for x in labs_recorded))
        report.fail(f"wrong lab: it recorded results for {shown}, expected {lab}")
        return False
    return True


def _first_difference(record: Any, printed: Any, path: str = "") -> str | None:
    """The first dotted path where two JSON values differ (numbers compared to 1e-9), else None."""
    here = path or "(top level)"
    if isinstance(record, dict) and isinstance(printed, dict):
        for key in sorted(set(record) | set(printed), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in record or key not in printed:
                return sub
            found = _first_difference(record[key], printed[key], sub)
            if found:
                return found
        return None
    if isinstance(record, list) and isinstance(printed, list):
        if len(record) != len(printed):
            return here
        for i, (a, b) in enumerate(zip(record, printed)):
            found = _first_difference(a, b, f"{path}.{i}" if path else str(i))
            if found:
                return found
        return None
    if _is_number(record) and _is_number(printed):
        return None if math.isclose(record, printed, rel_tol=1e-9, abs_tol=1e-12) else here
    return None if (type(record) is type(printed) and record == printed) else here


def _trusted_record(records: list[RecordedOutput], lab: str, report: GradeReport) -> dict | None:
    """The lab's last record, if it is well-formed, was produced by a run, and matches its printed text."""
    mine = [r for r in records if r.lab == lab]
    if not mine:
        report.fail("no recorded results: run the notebook to the end (the record_results cell) and save it")
        return None
    record = mine[-1]
    payload = record.payload
    well_formed = isinstance(payload, dict) and isinstance(payload.get("profile"), str)
    if not (well_formed and isinstance(payload.get("results"), dict)):
        report.fail(f"malformed results record in cell {record.cell_index} (expected lab, profile and results)")
        return None
    if record.execution_count is None:
        report.fail(f"results record in cell {record.cell_index} comes from a cell that never ran (forged?)")
        return None
    if record.text is None:
        report.fail(f"results record in cell {record.cell_index} has no printed text to check it against (forged?)")
        return None
    try:
        printed = json.loads(record.text)
    except (ValueError, RecursionError):
        report.fail(f"tampered results: the printed results in cell {record.cell_index} are not the record's JSON")
        return None
    difference = _first_difference(payload, printed)
    if difference:
        report.fail(
            f"tampered results: the record and the printed results in cell {record.cell_index} "
            f"disagree at '{_clean(difference, 60)}'"
        )
        return None
    return payload


def _check_results(payload: dict, rubric: Rubric, required_profile: str | None, report: GradeReport) -> None:
    """The recorded numbers against the rubric's thresholds for the profile the notebook ran with."""
    profile = payload["profile"]
    report.profile = _clean(profile, 20)
    if required_profile and profile != required_profile:
        report.fail(f"ran with profile '{report.profile}', this assignment requires '{required_profile}'")
        return
    rules = rubric.profiles.get(profile)
    if rules is None:
        known = ", ".join(rubric.profiles)
        report.fail(f"the rubric has no thresholds for profile '{report.profile}' (it has: {known})")
        return
    results = payload["results"]
    for key in rubric.required:
        try:
            lookup(results, key)
        except RuleError:
            report.fail(f"missing result '{key}'")
    report.rules_total = len(rules)
    for rule in rules:
        try:
            ok, measured = check_rule(rule.tree, results)
        except RuleError as error:
            report.fail(f"rubric '{rule.name}': {error}")
            continue
        if ok:
            report.rules_passed += 1
        else:
            report.fail(f"rubric '{rule.name}' not met: {measured}")


_UNANSWERED = re.compile(r"raise\s+NotImplementedError|YOUR ANSWER HERE")


def _check_exercises(notebook: Any, rubric: Rubric, report: GradeReport) -> None:
    """nbgrader answer cells filled in and run; their test cells ran without an error."""
    for index, cell in enumerate(notebook.cells):
        meta = _nbgrader(cell)
        grade_id = _clean(meta.get("grade_id", f"cell {index}"), 40)
        if meta.get("solution"):
            report.exercises_total += 1
            if _UNANSWERED.search(str(cell.source)):
                report.fail(f"exercise {grade_id} not answered")
            elif cell.cell_type == "code" and cell.get("execution_count") is None:
                report.fail(f"exercise {grade_id} answered but not run")
            else:
                report.exercises_answered += 1
        if meta.get("grade") and cell.cell_type == "code":
            report.tests_total += 1
            points = meta.get("points", 0)
            points = float(points) if _is_number(points) else 0.0
            report.points_total += points
            error = _error_output(cell)
            if cell.get("execution_count") is None:
                report.fail(f"test {grade_id} was not run")
            elif error is not None:
                report.fail(f"test {grade_id} failed: {_describe_error(error, 80)}")
            else:
                report.tests_passed += 1
                report.points += points
    if report.exercises_total < rubric.min_exercises:
        report.fail(
            f"only {report.exercises_total} exercise answer cell(s) found, the lab has at least "
            f"{rubric.min_exercises} (were cells deleted?)"
        )


_SCRIPTED_MIMES = ("application/javascript", "text/javascript", "application/x-javascript")
_ACTIVE_MARKUP = re.compile(r"<\s*script|javascript:|<\s*iframe", re.IGNORECASE)


def _flag_suspicious(notebook: Any, report: GradeReport) -> None:
    """Script or active HTML anywhere in outputs or markdown: flagged for a human, never rendered."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and _ACTIVE_MARKUP.search(str(cell.source)):
            report.flags.append(f"cell {index}: script/active HTML in markdown")
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mime, value in (output.get("data") or {}).items():
                text = value if isinstance(value, str) else json.dumps(value) if mime.endswith("json") else str(value)
                if mime in _SCRIPTED_MIMES:
                    report.flags.append(f"cell {index}: {mime} output")
                elif _ACTIVE_MARKUP.search(text):
                    report.flags.append(f"cell {index}: <script> or active HTML in {_clean(mime, 40)} output")


def grade_notebook(
    path: str | Path,
    rubric: Rubric,
    *,
    student: str | None = None,
    profile: str | None = None,
    max_megabytes: float = MAX_MEGABYTES,
) -> GradeReport:
    """Grade one executed notebook file without running anything in it. Never raises."""
    path = Path(path)
    report = GradeReport(student=student or path.stem, path=str(path))
    try:
        notebook = _read_notebook(path, int(max_megabytes * 1_000_000))
        records = find_records(notebook)
        _flag_suspicious(notebook, report)
        if not _check_lab(notebook, rubric.lab, records, report):
            return report
        _check_execution(notebook, report)
        payload = _trusted_record(records, rubric.lab, report)
        if payload is not None:
            _check_results(payload, rubric, profile, report)
        _check_exercises(notebook, rubric, report)
    except _CannotGrade as reason:
        report.verdict, report.reasons = "error", [str(reason)]
    except Exception as error:  # hostile input must never stop the batch
        report.verdict = "error"
        report.reasons.append(f"could not grade ({type(error).__name__}: {_clean(error, 100)})")
    return report


def collect_submissions(paths: list[str | Path]) -> list[tuple[str, Path]]:
    """(student, file) pairs: files as given, folders searched for ``*.ipynb`` (checkpoints skipped).

    In a folder, ``alice.ipynb`` is student ``alice`` and ``alice/lab1_prompting.ipynb`` too (nbgrader's
    ``submitted/<student>/<assignment>/`` layout gives the student's folder name).
    """
    found: list[tuple[str, Path]] = []
    for given in map(Path, paths):
        if given.is_dir():
            for file in sorted(given.rglob("*.ipynb")):
                relative = file.relative_to(given)
                if ".ipynb_checkpoints" in relative.parts:
                    continue
                found.append((relative.parts[0] if len(relative.parts) > 1 else file.stem, file))
        else:  # a missing file is graded too: its verdict says it cannot be read
            found.append((given.stem, given))
    return found


def grade_paths(
    lab: str,
    paths: list[str | Path],
    rubric: Rubric,
    *,
    profile: str | None = None,
    max_megabytes: float = MAX_MEGABYTES,
    progress: bool = True,
) -> list[GradeReport]:
    """Grade every notebook found in ``paths`` for ``lab``; one report per file, in order."""
    if lab_id(lab) != rubric.lab:
        raise RubricError(f"The rubric {rubric.path or ''} is for {rubric.lab}, not {lab_id(lab)}.")
    from tqdm.auto import tqdm

    submissions = collect_submissions(paths)
    return [
        grade_notebook(file, rubric, student=student, profile=profile, max_megabytes=max_megabytes)
        for student, file in tqdm(submissions, desc=f"Grading {rubric.lab}", unit="notebook", disable=not progress)
    ]


# ---------------------------------------------------------------------------------------------------
# Reporting and the command line
# ---------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "student", "file", "verdict", "profile", "rubric_passed", "rubric_total", "exercises_answered",
    "exercises_total", "tests_passed", "tests_total", "points", "points_total", "reasons", "flags",
)


def _row(report: GradeReport) -> dict:
    return {
        "student": _clean(report.student, 80),
        "file": _clean(report.path, 200),
        "verdict": report.verdict,
        "profile": report.profile,
        "rubric_passed": report.rules_passed,
        "rubric_total": report.rules_total,
        "exercises_answered": report.exercises_answered,
        "exercises_total": report.exercises_total,
        "tests_passed": report.tests_passed,
        "tests_total": report.tests_total,
        "points": f"{report.points:g}",
        "points_total": f"{report.points_total:g}",
        "reasons": " | ".join(report.reasons),
        "flags": " | ".join(report.flags),
    }


def format_table(reports: list[GradeReport]) -> str:
    """A fixed-width per-student table, then every reason and flag in full."""
    header = ("student", "verdict", "profile", "rubric", "exercises", "tests", "points", "flags")
    rows = [
        (
            _clean(r.student, 24), r.verdict, r.profile or "-", f"{r.rules_passed}/{r.rules_total}",
            f"{r.exercises_answered}/{r.exercises_total}", f"{r.tests_passed}/{r.tests_total}",
            f"{r.points:g}/{r.points_total:g}", str(len(r.flags)) if r.flags else "",
        )
        for r in reports
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = []
    for r in reports:
        for reason in r.reasons:
            details.append(f"  {_clean(r.student, 24)} [{r.verdict}]: {reason}")
        for flag in r.flags:
            details.append(f"  {_clean(r.student, 24)} [suspicious]: {flag}")
    counts = ", ".join(f"{sum(r.verdict == v for r in reports)} {v}" for v in VERDICTS)
    details = ["", "Details:", *details] if details else []
    return "\n".join([*lines, *details, "", f"{len(reports)} notebook(s): {counts}"])


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula in spreadsheets: never let a submission inject one.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(reports: list[GradeReport], path: str | Path) -> None:
    """One row per file with the verdict, counts, reasons and flags."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for report in reports:
            writer.writerow({k: _csv_safe(v) for k, v in _row(report).items()})


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genai-course grade`` to the CLI."""
    parser = subparsers.add_parser(
        "grade",
        help="grade executed lab notebooks safely (nothing in them is run)",
        description=(
            "Grade executed lab notebooks without running anything in them: the right lab, cells run in "
            "order without errors, recorded results untampered and meeting labs/<lab>/rubric.toml for the "
            "profile they ran with, exercises answered. Prints a per-student table; --csv writes it out."
        ),
    )
    parser.add_argument("lab", help="lab1, lab2 or lab3 (or the folder name, e.g. lab2_finetuning)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="executed notebooks, or folders holding them")
    parser.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    parser.add_argument("--profile", choices=PROFILES, help="require this profile (default: any the rubric knows)")
    parser.add_argument("--rubric", metavar="FILE", help="rubric TOML (default: labs/<lab>/rubric.toml)")
    parser.add_argument("--labs", metavar="DIR", help="the course's labs/ folder (default: found from the checkout)")
    parser.add_argument("--max-mb", type=float, default=MAX_MEGABYTES, help="reject bigger files unread (default 20)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``grade``: 0 when every file got a verdict, 2 when the command itself was misused."""
    try:
        lab = lab_id(args.lab)
        rubric = Rubric.load(args.rubric or find_rubric(lab, args.labs))
        reports = grade_paths(lab, args.paths, rubric, profile=args.profile, max_megabytes=args.max_mb)
    except (ValueError, FileNotFoundError) as error:
        print(f"genai-course grade: {error}", file=sys.stderr)
        return 2
    if not reports:
        print(f"genai-course grade: no .ipynb files found in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    print(format_table(reports))
    if args.csv:
        write_csv(reports, args.csv)
        print(f"CSV written to {args.csv}")
    return 0
