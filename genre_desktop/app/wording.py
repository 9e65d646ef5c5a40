"""Small wording helpers shared by the window's labels."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 error', '2 errors', '0 songs' ('many' for irregular plurals)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"
