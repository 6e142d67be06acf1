"""The sources the monitor reads, one folder each (sources/<name>/: client, normalize, reading,
tables, words, settings, doctor check, and the `SOURCE` that answers base.py's protocol). What
follows them, diff → store → words → digest, is shared.

Registered here, one line each, in the order a cycle reads them: the only place that names
them. A new source is a folder and a line in SOURCES.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from monitor.sources.base import Source

SOURCES = (
    "monitor.sources.ctgov",
    "monitor.sources.pubmed",
)


def registered() -> tuple[Source, ...]:
    """Each registered source's `SOURCE` (from its folder's source.py)."""
    return tuple(cast("Source", import_module(f"{name}.source").SOURCE) for name in SOURCES)
