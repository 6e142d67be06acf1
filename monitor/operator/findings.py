"""`trial-monitor findings`: each article's findings, with their ids and where editors put them, as
the last cycle left them: the stored rows (store/findings.py) worded against the evidence the
sources stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.counted import counted
from monitor.core.standing import Finding, FindingState, Standing
from monitor.editorial.words import article_name, finding_words, importance_name, short_moment
from monitor.store.findings import Kept, StateChange


@dataclass(frozen=True)
class ArticleFindings:
    standing: Standing
    kept: tuple[Kept, ...]  # its findings as stored (in the states asked for), oldest first

    def worded(self) -> list[tuple[Kept, Finding | None]]:
        """Each finding with the words of the standing, when it still stands: in the
        standing's order (the article check's), then any it no longer words, oldest first."""
        now = {f.id: f for f in self.standing.findings}
        order = {f.id: n for n, f in enumerate(self.standing.findings)}
        kept = sorted(self.kept, key=lambda k: order.get(k.id, len(order)))
        return [(k, now.get(k.id)) for k in kept]


def findings_text(articles: Sequence[ArticleFindings], state: str = "open") -> str:
    """`state`: what was asked for (open, handled, dismissed or all), which the counts name."""
    lines: list[str] = []
    for entry in articles:
        article = entry.standing.article
        lines.append(f"{article_name(article.title)} ({article.id}): {_count(entry, state)}")
        for kept, finding in entry.worded():
            sentence = finding_words(finding).sentence if finding else _plain(kept)
            level = importance_name(finding.importance) if finding else kept.importance
            lines.append(f"  {kept.id}  [{level}] {sentence}")
            lines.append(f"              since {short_moment(kept.first_seen_at)} UTC")
            if kept.state is not FindingState.OPEN and kept.last is not None:
                lines.append(f"              {state_line(kept.last)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _count(entry: ArticleFindings, state: str) -> str:
    if state != "all":
        return counted(len(entry.kept), f"{state} finding")
    by_state = [sum(k.state is s for k in entry.kept) for s in FindingState]
    each = ", ".join(f"{n} {s.value}" for s, n in zip(FindingState, by_state, strict=True) if n)
    return counted(len(entry.kept), "finding") + (f" ({each})" if each else "")


def state_line(change: StateChange) -> str:
    """ "handled by alice, 2026-12-08 10:00 UTC: “the abstract now says it”"."""
    note = f": “{change.note}”" if change.note else ""
    return f"{change.state.value} by {change.by}, {short_moment(change.at)} UTC{note}"


def findings_json(articles: Sequence[ArticleFindings]) -> str:
    report = {
        "articles": [
            {
                "id": entry.standing.article.id,
                "title": entry.standing.article.title,
                "url": entry.standing.article.url,
                "findings": [
                    {
                        "id": kept.id,
                        "kind": kept.kind,
                        "subject": kept.subject,
                        "evidence": kept.evidence,
                        "importance": kept.importance,
                        "sentence": finding_words(finding).sentence if finding else _plain(kept),
                        "link": finding_words(finding).link if finding else None,
                        "recheck": finding_words(finding).recheck if finding else None,
                        "first_seen_at": kept.first_seen_at.isoformat(),
                        "state": kept.state.value,
                        "history": [
                            {
                                "state": change.state.value,
                                "previous": change.previous.value,
                                "by": change.by,
                                "via": change.via,
                                "note": change.note,
                                "at": change.at.isoformat(),
                            }
                            for change in kept.history
                        ],
                    }
                    for kept, finding in entry.worded()
                ],
            }
            for entry in articles
        ]
    }
    return json.dumps(report, indent=2, ensure_ascii=False)


def _plain(kept: Kept) -> str:
    """A stored finding the evidence no longer words (the config changed since the cycle)."""
    return f"{kept.kind.replace('_', ' ')}: {kept.subject} ({kept.evidence})"
