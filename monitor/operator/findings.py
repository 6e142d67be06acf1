"""`trial-monitor findings`: each article's open findings, with their ids, as the last cycle left
them: the stored rows (store/findings.py) worded against the evidence the sources stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.standing import Finding, Standing
from monitor.editorial.words import article_name, finding_words, importance_name, short_moment
from monitor.store.findings import Kept


@dataclass(frozen=True)
class ArticleFindings:
    standing: Standing
    kept: tuple[Kept, ...]  # its open findings as stored, oldest first

    def worded(self) -> list[tuple[Kept, Finding | None]]:
        """Each open finding with the words of the standing, when it still stands: in the
        standing's order (the article check's), then any it no longer words, oldest first."""
        now = {f.id: f for f in self.standing.findings}
        order = {f.id: n for n, f in enumerate(self.standing.findings)}
        kept = sorted(self.kept, key=lambda k: order.get(k.id, len(order)))
        return [(k, now.get(k.id)) for k in kept]


def findings_text(articles: Sequence[ArticleFindings]) -> str:
    lines: list[str] = []
    for entry in articles:
        article = entry.standing.article
        count = len(entry.kept)
        lines.append(
            f"{article_name(article.title)} ({article.id}): "
            f"{count} open finding{'s' if count != 1 else ''}"
        )
        for kept, finding in entry.worded():
            sentence = finding_words(finding).sentence if finding else _plain(kept)
            level = importance_name(finding.importance) if finding else kept.importance
            lines.append(f"  {kept.id}  [{level}] {sentence}")
            lines.append(f"              since {short_moment(kept.first_seen_at)} UTC")
        lines.append("")
    return "\n".join(lines).rstrip()


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
