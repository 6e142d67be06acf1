"""How one of `doctor`'s checks went: each wing (a source, a channel) checks its own part of an
installation and answers in these words."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path


class State(StrEnum):
    """How one check went."""

    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not run: the config did not load


# What one check found: its state, and what was found (for a warning or a failure, what to do
# about it). doctor names it.
Checked = tuple[State, str]


def blocker(path: Path) -> str | None:
    """What stops `path` being made, folders above it and all, in words: its nearest existing
    ancestor, when that is a file in the way or a folder the monitor's user cannot write;
    else None. Only looked at, never made: the first cycle makes what it needs."""
    parent = path.parent
    while not parent.exists() and parent.parent != parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, in the way"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is a folder the monitor's user cannot write"
    return None
