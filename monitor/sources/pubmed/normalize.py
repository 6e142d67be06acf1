"""PubMed's XML (an EFetch `PubmedArticleSet`) → `Paper` values. Pure.

Parsed with defusedxml: every answer starts with a DOCTYPE naming NCBI's DTD, which is allowed,
but an entity declaration is refused, so a hostile or broken answer cannot expand into
gigabytes. Elements are found by name and unknown ones ignored: NCBI changes the DTD yearly.

One article that cannot be read (no PMID) is rejected alone, with a line that says why; the
others are kept. What the monitor reads, and why (see shared/pubmed/NOTES.md, sections 5-8):

* the trials a paper lists: `DataBankList`, ClinicalTrials.gov accession numbers (`[si]`);
* its publication types, compared by name without case (a publisher's record may shout);
* its conclusion: the sections NLM files under CONCLUSIONS, else those labelled CONCLUSION(S)
  or INTERPRETATION, else the last sentences of an unstructured abstract;
* the notices linked to it: CommentsCorrections of the RefTypes in `NoticeKind` (a `Cites`
  list of references and comments are not notices).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # for its types and ParseError; parsing is defusedxml's
from collections.abc import Iterable
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from monitor.core.models import NCT_ID, Notice, NoticeKind, Paper

TITLE_CHARS = 500
CONCLUSION_CHARS = 1_200
TYPE_CHARS = 100
SOURCE_CHARS = 300
MAX_LISTED = 50  # trials, types or notices kept per paper: more is a broken record
PMID = re.compile(r"[1-9]\d{0,9}")
CONCLUSION_LABELS = ("CONCLUSION", "INTERPRETATION")
NOTICE_KINDS = {kind.value: kind for kind in NoticeKind}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
JOINED = {"sub", "sup"}  # inline markup that is part of its word: H<sub>2</sub>O


class RejectedDocument(ValueError):
    """An answer that is not a PubmedArticleSet: not XML, an entity in it, or NCBI's <ERROR>."""


class UnreadableDocument(RejectedDocument):
    """An answer that is not XML at all, or declares entities: a bad answer, which the client
    asks for again (a body cut short or garbled in transit reads well the next time)."""


def document_root(document: bytes) -> ET.Element:
    """The root element of an EFetch answer, or UnreadableDocument saying why there is none.
    (expat reads any depth without recursion; RecursionError is named in case a parser that
    recurses ever takes its place.)"""
    try:
        return SafeET.fromstring(document)
    except DefusedXmlException as exc:
        raise UnreadableDocument(
            f"PubMed's answer declares XML entities ({exc}); refused"
        ) from None
    except (ET.ParseError, RecursionError, UnicodeDecodeError) as exc:
        raise UnreadableDocument(f"PubMed's answer is not XML ({str(exc)[:200]})") from None


@dataclass(frozen=True)
class Parsed:
    papers: tuple[Paper, ...]
    rejected: tuple[str, ...] = ()  # one line per article that could not be read
    # PMIDs PubMed says it deleted (DeleteCitation): gone, not merely absent from the answer.
    deleted: tuple[str, ...] = ()


def parse_articles(document: bytes | ET.Element) -> Parsed:
    """The papers in an EFetch answer (its bytes, or the root the client has already read)."""
    root = document if isinstance(document, ET.Element) else document_root(document)
    if root.tag == "ERROR" or root.find("ERROR") is not None:
        error = root if root.tag == "ERROR" else root.find("ERROR")
        raise RejectedDocument(f"PubMed answered an error: {_text(error, 300)}")
    if root.tag not in ("PubmedArticleSet", "PubmedArticle"):  # one article alone, as quoted
        raise RejectedDocument(f"PubMed's answer is a <{root.tag[:40]}>, not a PubmedArticleSet")
    papers: list[Paper] = []
    rejected: list[str] = []
    articles = [root] if root.tag == "PubmedArticle" else root.findall("PubmedArticle")
    for number, article in enumerate(articles, start=1):
        pmid = _text(article.find("MedlineCitation/PMID"), 20)
        if pmid is None or not PMID.fullmatch(pmid):
            rejected.append(f"article {number} of the answer has no valid PMID ({pmid!r})")
            continue
        papers.append(paper(pmid, article))
    deleted = _unique(
        pmid
        for pmid in (_text(p, 20) for p in root.iterfind("DeleteCitation/PMID"))
        if pmid and PMID.fullmatch(pmid)
    )
    # A book chapter (PubmedBookArticle) lists no trial and is no journal's paper: not read.
    return Parsed(tuple(papers), tuple(rejected), deleted)


def paper(pmid: str, article: ET.Element) -> Paper:
    citation = article.find("MedlineCitation")
    assert citation is not None  # the PMID was found inside it
    body = citation.find("Article")
    return Paper(
        pmid=pmid,
        title=_text(body.find("ArticleTitle") if body is not None else None, TITLE_CHARS),
        journal=_text(citation.find("Article/Journal/Title"), TITLE_CHARS)
        or _text(citation.find("MedlineJournalInfo/MedlineTA"), TITLE_CHARS),
        year=_year(citation),
        publication_types=_unique(
            _text(t, TYPE_CHARS) for t in citation.iterfind("Article/PublicationTypeList/*")
        ),
        nct_ids=_trials(citation),
        conclusion=_conclusion(citation.findall("Article/Abstract/AbstractText")),
        notices=_notices(citation),
        status=_text_of(citation.get("Status"), 40),
    )


def _year(citation: ET.Element) -> str | None:
    """The year of publication: <Year>, else the first year in a <MedlineDate>, which is free
    text for what a date cannot say ("2001 Nov-Dec", "2019 Winter", "1998 Dec-1999 Jan")."""
    date = citation.find("Article/Journal/JournalIssue/PubDate")
    if date is None:
        return None
    year = _text(date.find("Year"), 4)
    if year is None:
        found = YEAR.search(_text(date.find("MedlineDate"), 100) or "")
        year = found[0] if found else None
    return year if year and year.isdigit() else None


def _trials(citation: ET.Element) -> tuple[str, ...]:
    found = []
    for bank in citation.iterfind("Article/DataBankList/DataBank"):
        if (_text(bank.find("DataBankName"), 40) or "").lower() != "clinicaltrials.gov":
            continue
        for number in bank.iterfind("AccessionNumberList/AccessionNumber"):
            nct_id = (_text(number, 20) or "").upper()
            if NCT_ID.fullmatch(nct_id):
                found.append(nct_id)
    return _unique(found)


def _conclusion(sections: list[ET.Element]) -> str | None:
    """The abstract's conclusion, in its own words: never a guess from its middle."""
    chosen = [s for s in sections if (s.get("NlmCategory") or "").upper() == "CONCLUSIONS"]
    if not chosen:
        chosen = [
            s for s in sections if (s.get("Label") or "").upper().startswith(CONCLUSION_LABELS)
        ]
    if chosen:
        return _text_of(" ".join(_all_text(s) for s in chosen), CONCLUSION_CHARS)
    if len(sections) == 1 and not sections[0].get("Label"):
        # Unstructured: its last two sentences, where abstracts state what was found.
        sentences = SENTENCE_END.split(" ".join(_all_text(sections[0]).split()))
        return _text_of(" ".join(sentences[-2:]), CONCLUSION_CHARS)
    return None


def _notices(citation: ET.Element) -> tuple[Notice, ...]:
    found: dict[str, Notice] = {}
    for link in citation.iterfind("CommentsCorrectionsList/CommentsCorrections"):
        kind = NOTICE_KINDS.get(link.get("RefType") or "")
        if kind is None:
            continue
        pmid = _text(link.find("PMID"), 20)
        notice = Notice(
            kind,
            pmid if pmid and PMID.fullmatch(pmid) else None,
            _text(link.find("RefSource"), SOURCE_CHARS) or "",
        )
        found.setdefault(notice.key, notice)
    return tuple(found.values())[:MAX_LISTED]


def _all_text(element: ET.Element) -> str:
    """The element's text, its inline markup (<i>, <b>, <sub>) and all: `.text` alone stops at
    the first tag. Where words meet across a tag with nothing between them ("at the<i>TERT</i>
    gene") a space keeps them apart; a subscript or superscript is part of its word (H<sub>2
    </sub>O). Walked with a stack, not by recursion: an answer may nest very deep."""
    out: list[str] = []

    def put(text: str | None, boundary: bool) -> None:
        if not text:
            return
        if boundary and out and out[-1][-1:].isalnum() and text[:1].isalnum():
            out.append(" ")
        out.append(text)

    put(element.text, False)
    stack: list[tuple[bool, ET.Element]] = [(True, child) for child in reversed(element)]
    while stack:
        opening, node = stack.pop()
        spaced = node.tag not in JOINED
        if opening:
            put(node.text, spaced)
            stack.append((False, node))
            stack.extend((True, child) for child in reversed(node))
        else:
            put(node.tail, spaced)
    return "".join(out)


def _text(element: ET.Element | None, limit: int) -> str | None:
    return None if element is None else _text_of(_all_text(element), limit)


def _text_of(value: str | None, limit: int) -> str | None:
    """One line of printable text, cut at `limit` characters; None when nothing is left."""
    if value is None:
        return None
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))[:MAX_LISTED]
