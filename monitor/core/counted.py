"""A count with its noun, in the right number: "1 paper", "2 papers". Every line that counts
something goes through it, so that no operator or editor reads "1 papers" or "1 changes"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, plural unless the count is one; thousands grouped ("1,200")."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
