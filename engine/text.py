"""Text that must stay on one line (a person's name, an e-mail header): what breaks it."""

from __future__ import annotations

import unicodedata

#: Everything ``str.splitlines`` (and so the e-mail library) takes for the end of a line.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def line_problem(value: str) -> str | None:
    """Why ``value`` cannot stand on one line ("enthält einen Zeilenumbruch", "enthält ein
    Steuerzeichen (U+0000)"), or None. Tab counts as a control character here."""
    for char in value:
        if char in LINE_BREAKS:
            return "enthält einen Zeilenumbruch"
        if unicodedata.category(char) == "Cc":
            return f"enthält ein Steuerzeichen (U+{ord(char):04X})"
    return None


def one_line(value: str) -> str:
    """``value`` with each line break and control character replaced by a space, runs of
    spaces collapsed."""
    return " ".join("".join(" " if c in LINE_BREAKS or unicodedata.category(c) == "Cc" else c
                            for c in value).split())
