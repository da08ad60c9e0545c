"""Text from a submission made safe to show: in a terminal, a table or a spreadsheet.

Student names (file and folder names), error messages and cell sources are chosen by the student.
Control characters could move the cursor or rewrite the terminal title; Unicode bidi and other
format characters (U+202E RIGHT-TO-LEFT OVERRIDE, zero-width spaces) make a name or a reason read
differently from what it is. Both are stripped from everything the grader prints or writes.
"""

from __future__ import annotations

import unicodedata
from typing import Any

# Cc: C0/C1 controls (ESC starts terminal sequences); Cf: format characters, the bidi overrides,
# isolates and marks among them; Zl/Zp: line and paragraph separators; Cs/Co/Cn: surrogates,
# private use and unassigned code points, which render unpredictably.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_WHITESPACE = frozenset("\n\r\t\v\f")


def _safe_char(char: str) -> str:
    if char in _WHITESPACE:
        return " "  # keep words apart, but on one line
    return "" if unicodedata.category(char) in _UNSAFE_CATEGORIES else char


def clean(text: Any, limit: int = 160) -> str:
    """``text`` as one printable line of at most ``limit`` characters, unsafe characters stripped."""
    safe = "".join(_safe_char(char) for char in str(text)).strip()
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def csv_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (a leading = + - @ would be one)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
