"""PubMed's own words: how the monitor names it, and its searches as `status` lists them. What a
paper's changes say (results published, a retraction) is the editor's, in editorial/words."""

from __future__ import annotations

from sqlalchemy import Engine

from monitor.core.counted import counted
from monitor.editorial.words import short_moment
from monitor.sources.pubmed.tables import Library

LABEL = "PubMed"
WHERE = "in PubMed"  # where a digest's changes were found


def literature_lines(engine: Engine) -> list[str]:
    """PubMed's searches: a cited trial's papers, each literature search, when each last ran
    and what it has found."""
    searches = Library(engine).terms()
    lines = [f"PubMed searches ({len(searches)})"]
    if not searches:
        lines.append("  none has run yet")
    for term, name, papers in searches:
        shown = name if name == term.term.removesuffix("[si]") else f"“{name}”"
        what = counted(papers, "paper")
        what += " listing it" if term.term.endswith("[si]") else " found"
        lines.append(f"  {shown}: {what}; last ran {short_moment(term.last_run_at)}")
    return [*lines, ""]
