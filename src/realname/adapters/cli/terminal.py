"""What the CLI writes to a terminal: text that comes from the database or from input has its control
characters escaped (``\\x1b``, ``\\u202e``, ``\\n``), so a stored name cannot move the cursor, recolour
or clear the screen, hide or reorder what follows, or start a line of its own."""

from __future__ import annotations

import unicodedata

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """``text`` with every control, format, private-use, unassigned and line/paragraph-separator
    character written as a Python escape; everything else (letters of any script, spaces) unchanged."""
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _UNSAFE_CATEGORIES else char
        for char in text
    )
