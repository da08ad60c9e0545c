"""Rubrics: which recorded results a graded lab notebook must show, per profile (``labs/<lab>/rubric.toml``).

Every rule is data, not an expression: a dotted ``path`` into the lab's recorded results, an ``op``
and a ``value``. Two optional keys cover the few rules that need more than one number:
``minus`` (another path, subtracted: a gain or a gap between two results) and ``of`` (``spread``,
the largest minus the smallest of a ``*`` path; ``count``, how many items there are)::

    [[profiles.tiny.rules]]
    name = "full fine-tuning beats the original model (ROUGE-1)"
    path = "rouge.full.rouge1"
    minus = "rouge.original.rouge1"
    op = ">="
    value = 0.15

Nothing is parsed as an expression and nothing is evaluated as Python, so a rubric cannot run code.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_course.course_files import find_course_folder
from genai_course.results import LAB_NAMES, lab_id

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
AGGREGATES = ("spread", "count")
_PATH = re.compile(r"^(?:\w+|\*)(?:\.(?:\w+|\*))*$")
_RULE_KEYS = {"name", "path", "op", "value", "minus", "of"}


class RuleError(ValueError):
    """A rule that is malformed, or cannot be evaluated on the given results."""


class RubricError(ValueError):
    """A rubric file that is missing or malformed."""


def lookup(results: Any, path: str) -> Any:
    """The value at a dotted path (``rouge.full.rouge1``, ``shots_curve.0.fits``); ``*`` gives a list
    of all matches (``rouge.*.rouge1``). A missing key is a :class:`RuleError` naming it."""
    current: list[tuple[str, Any]] = [("", results)]  # (concrete path so far, value)
    for part in path.split("."):
        current = [step for where, value in current for step in _children(where, value, part)]
    values = [value for _, value in current]
    return values if "*" in path.split(".") else values[0]


def _children(where: str, value: Any, part: str) -> list[tuple[str, Any]]:
    """The values one path segment below ``value`` (all of them for ``*``)."""

    def joined(key: Any) -> str:
        return f"{where}.{key}" if where else str(key)

    if part == "*":
        if isinstance(value, dict):
            return [(joined(k), v) for k, v in value.items()]
        if isinstance(value, list):
            return [(joined(i), v) for i, v in enumerate(value)]
        raise RuleError(f"'{where}' is not a table or list, cannot use '*'.")
    if isinstance(value, dict) and part in value:
        return [(joined(part), value[part])]
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return [(joined(part), value[int(part)])]
    raise RuleError(f"missing result '{joined(part)}'")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, what: str) -> float:
    if not _is_number(value):
        raise RuleError(f"'{what}' is {_show(value)}, not a number")
    return float(value)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return f"{value:.4g}"
    return repr(value) if not isinstance(value, (list, dict)) else f"a {type(value).__name__}"


@dataclass(frozen=True)
class Rule:
    """One named threshold: ``path [- minus] op value``, or ``spread``/``count`` ``of`` a path."""

    name: str
    path: str
    op: str
    value: float | bool
    minus: str | None = None
    of: str | None = None

    @property
    def quantity(self) -> str:
        """What is measured, as a person reads it (``max(rouge.*.rouge1) - min(rouge.*.rouge1)``)."""
        if self.of == "spread":
            return f"max({self.path}) - min({self.path})"
        if self.of == "count":
            return f"len({self.path})"
        return f"{self.path} - {self.minus}" if self.minus else self.path

    @property
    def text(self) -> str:
        """The whole rule, e.g. ``rouge.full.rouge1 - rouge.original.rouge1 >= 0.15``."""
        return f"{self.quantity} {self.op} {_show(self.value)}"

    def measure(self, results: Any) -> tuple[Any, str]:
        """The measured quantity, and how it was computed (for the report)."""
        found = lookup(results, self.path)
        if self.of == "count":
            if not isinstance(found, (list, dict)):
                raise RuleError(f"'{self.path}' is {_show(found)}, not a list or table to count")
            return len(found), str(len(found))
        if self.of == "spread":
            items = list(found.values()) if isinstance(found, dict) else found
            if not isinstance(items, list) or not items:
                raise RuleError(f"'{self.path}' has no values to take the spread of")
            numbers = [_number(v, self.path) for v in items]
            return max(numbers) - min(numbers), f"{max(numbers):.4g} - {min(numbers):.4g}"
        if self.minus:
            left, right = _number(found, self.path), _number(lookup(results, self.minus), self.minus)
            return left - right, f"{left:.4g} - {right:.4g}"
        return found, _show(found)

    def check(self, results: Any) -> tuple[bool, str]:
        """Whether the rule holds on ``results``, and what was measured; :class:`RuleError` if it cannot say."""
        measured, how = self.measure(results)
        if isinstance(self.value, bool) != isinstance(measured, bool):
            raise RuleError(f"'{self.quantity}' is {_show(measured)}, the rule compares it with {_show(self.value)}")
        if not isinstance(self.value, bool):
            measured = _number(measured, self.quantity)
        shown = how if how == _show(measured) else f"{how} = {_show(measured)}"
        report = f"{self.quantity} = {shown}, needs {self.op} {_show(self.value)}"
        return bool(OPERATORS[self.op](measured, self.value)), report

    @classmethod
    def from_dict(cls, entry: Any) -> Rule:
        """A rule from its TOML table, checked: unknown keys, bad paths and operators are refused."""
        if not isinstance(entry, dict):
            raise RuleError("each rule must be a table with path, op and value")
        unknown = set(entry) - _RULE_KEYS
        if unknown:
            raise RuleError(f"unknown key(s) {', '.join(sorted(unknown))}; a rule has {', '.join(sorted(_RULE_KEYS))}")
        path, minus, of, op, value = (entry.get(k) for k in ("path", "minus", "of", "op", "value"))
        for key, given in (("path", path), ("minus", minus)):
            if (given is not None or key == "path") and not (isinstance(given, str) and _PATH.match(given)):
                raise RuleError(f"'{key}' must be a dotted result path such as 'rouge.full.rouge1', not {given!r}")
        if op not in OPERATORS:
            raise RuleError(f"'op' must be one of {', '.join(OPERATORS)}, not {op!r}")
        if not (_is_number(value) or isinstance(value, bool)):
            raise RuleError(f"'value' must be a number or true/false, not {value!r}")
        if of is not None and (of not in AGGREGATES or minus is not None):
            raise RuleError(f"'of' must be one of {', '.join(AGGREGATES)} (and not used with 'minus'), not {of!r}")
        if of is None and "*" in path.split(".") + (minus or "").split("."):
            raise RuleError(f"a '*' path needs of = 'spread' or 'count' ({path!r})")
        if isinstance(value, bool) and (op not in ("==", "!=") or minus or of):
            raise RuleError("true/false can only be compared with == or != on a plain path")
        rule = cls(name="", path=path, op=op, value=value, minus=minus, of=of)
        return cls(str(entry.get("name") or rule.text), path, op, value, minus, of)


@dataclass
class Rubric:
    """What a graded notebook of one lab must show, per profile.

    TOML layout::

        lab = "lab2"
        min_exercises = 2                            # answered nbgrader exercises required
        required = ["n_eval", "rouge.full.rouge1"]   # result keys every record must have
        required_profile = "full"                    # optional: refuse notebooks run with another
        [[profiles.tiny.rules]]
        name = "enough dialogues scored"
        path = "n_eval"
        op = ">="
        value = 50
    """

    lab: str
    path: Path | None = None
    required: list[str] = field(default_factory=list)
    min_exercises: int = 2
    profiles: dict[str, list[Rule]] = field(default_factory=dict)
    required_profile: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> Rubric:
        """Read and check a rubric file; every rule is checked now so mistakes show up at once."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RubricError(f"Rubric {path} does not exist.") from None
        except (OSError, UnicodeDecodeError) as error:
            raise RubricError(f"Rubric {path} cannot be read: {error}") from None
        except tomllib.TOMLDecodeError as error:
            raise RubricError(f"Rubric {path} is not valid TOML: {error}") from None
        return cls.from_dict(data, path=path)

    @classmethod
    def from_dict(cls, data: dict, *, path: Path | None = None) -> Rubric:
        """A rubric from its parsed TOML, with a :class:`RubricError` naming the first problem."""
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
        sections = (data.get("profiles") or {}).items()
        profiles = {name: _profile_rules(name, section, where) for name, section in sections}
        if not profiles:
            raise RubricError(f"{where}: no [profiles.<name>] sections with rules.")
        required_profile = data.get("required_profile")
        if required_profile is not None and required_profile not in profiles:
            raise RubricError(f"{where}: required_profile {required_profile!r} has no [profiles.{required_profile}].")
        return cls(lab, path, required, min_exercises, profiles, required_profile)

    def missing(self, results: Any) -> list[str]:
        """The required result keys that ``results`` lacks."""
        absent = []
        for key in self.required:
            try:
                lookup(results, key)
            except RuleError:
                absent.append(key)
        return absent


def _profile_rules(profile: str, section: Any, where: str) -> list[Rule]:
    rules = section.get("rules", []) if isinstance(section, dict) else None
    if not isinstance(rules, list):
        raise RubricError(f"{where}: profiles.{profile}.rules must be a list of {{name, path, op, value}} tables.")
    parsed = []
    for index, entry in enumerate(rules, start=1):
        try:
            parsed.append(Rule.from_dict(entry))
        except RuleError as error:
            raise RubricError(f"{where}, profile {profile}, rule {index}: {error}") from None
    return parsed


def find_rubric(lab: str, labs_dir: str | Path | None = None) -> Path:
    """``labs/<lab folder>/rubric.toml`` in ``labs_dir`` or the course checkout; clear error if absent."""
    folder = find_course_folder("labs", labs_dir)
    path = folder / LAB_NAMES[lab_id(lab)] / "rubric.toml"
    if not path.is_file():
        raise RubricError(
            f"No rubric at {path}. Pass --rubric FILE, or --labs DIR pointing to the course's labs/ folder."
        )
    return path
