"""How the quality reports write numbers (one style for check, repair and optimize)."""

from __future__ import annotations


def count(x: int) -> str:
    """``142311`` as ``'142 311'``."""
    return f"{int(x):,}".replace(",", " ")


def plural(x: int, word: str, many: str | None = None) -> str:
    """``'1 hole'``, ``'3 holes'`` (``many``: the plural when it is not ``word + 's'``)."""
    return f"{count(x)} {word if x == 1 else (many or word + 's')}"
