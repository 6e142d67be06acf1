"""A stand-in for NCBI's PubMed E-utilities (ESearch, EFetch, ESummary), on loopback HTTP.

A test double, shaped by the recorded real responses in ``tests/fixtures/pubmed`` (provenance in its
README) and the sourced notes in ``tests/fixtures/pubmed/NOTES.md`` (cited below as "NOTES §n"). Tests
hand ``pm.url`` (ending in ``/entrez/eutils``) to the code as ``pubmed.base_url``.

Served, by GET or by POST with a form body (``pm.url`` + ...):

* ``/esearch.fcgi``: db, term, retmode (xml|json), retmax, retstart, usehistory=y, WebEnv,
  datetype, mindate, maxdate, reldate, sort, tool, email, api_key.
* ``/efetch.fcgi``: db, id (comma list) or WebEnv + query_key with retstart/retmax, retmode=xml,
  rettype (abstract or none), tool, email, api_key. Answers a ``PubmedArticleSet``.
* ``/esummary.fcgi``: db, id, retmode=json (a minimal version-2 shape), tool, email, api_key.

Usage::

    with StandinPubmed() as pm:
        pm.put(*ldn_world())
        pm.put_xml(REAL_DIR / "biomcp_efetch_pubmed_22663011_rct_nct_conclusions.xml")
        pm.fail_next(Fault.status(503))
        ...                       # the code under test, with base URL pm.url
        assert pm.requests_to("/efetch.fcgi")[0].params["id"] == "38258677"

Deliberate simplifications (a test must not rely on them):

* Term language: words, "quoted phrases", the tags [si] [uid] [pmid] [pt] [ti] [tiab] [mh]
  [all], date tags [edat] [crdt] [pdat] [dp] [mdat] (``2024/01/01:2024/12/31[edat]`` or
  ``"2024/01/01"[crdt] : "2024/12/31"[crdt]``), AND OR NOT, parentheses. Boolean operators run
  left to right with no precedence (PubMed Help's rule; not in NOTES); adjacent terms are ANDed;
  a tag binds the run of bare words before it (``randomized controlled trial[pt]``). No automatic
  term mapping: a word matches as a case-insensitive substring (hyphens read as spaces) of title,
  abstract, MeSH headings and keywords, and ``translationset`` is always empty. Anything else
  (other tags, ``#1``, proximity, lower-case and/or/not, ``field``, ``rettype=count``) is refused
  with 400 text/plain "stand-in: ...", never silently misread.
* Only ``db=pubmed`` (also the default when ``db`` is absent, as NBK25499 says of all three); any
  other name, even a real database, gets the real "Invalid db name specified: <db>" error.
* Default order (no ``sort``): Entrez date, newest first (the recorded ESearch replies are in that
  order; the real default is undocumented, NOTES §3). ``sort=pub_date|Author|JournalName`` are
  modelled; ``relevance`` is a fixed order that is neither date nor PMID order.
* Parameters it does not implement, and repeated parameters, are refused with 400. A date window
  without ``datetype``, ``mindate`` without ``maxdate``, EFetch by WebEnv without ``retmax``, and
  ``retstart``/``retmax`` with an id list are refused too (the real defaults are undocumented).
* Error wordings not in the recordings ("Empty id list - nothing todo", "Unable to obtain query
  #n", "Empty term and query_key - nothing todo", ESummary's "cannot get document summary") are
  what clients and reports quote; only the *shape* (``ERROR`` element/key) is sourced.
* HTTP headers and status codes were never recorded (NOTES "Not found"): content types here are
  ``application/json; charset=UTF-8`` and ``text/xml; charset=UTF-8``; in-band errors come with 200.
* Rate limiting is per API key or per anonymous caller (all of loopback is one caller).

Real behaviours modelled:

* JSON shapes of the recorded ESearch replies: numbers as strings, ``retmax`` = ids returned,
  ``errorlist`` / ``warninglist`` only when the real one sends them, trailing newline (NOTES §3).
* An unqualified word that matches nothing is dropped from the query, listed in
  ``errorlist.phrasesnotfound``, and the rest still runs: the result *widens* (NOTES §3, APC capture).
  No hits is a normal reply with "No items found." (NOTES §3, protein capture).
* Hard errors in-band: ``esearchresult.ERROR`` / ``<ERROR>`` (NOTES §3, §9). ``retstart`` > 9998 gets
  the reported backend error, whose JSON is malformed (``\\'``); ``retmax`` is clipped so the window
  ends at 9,999 (reported measurements, refining NOTES §3's 10,000).
* ``reldate`` is rewritten into ``AND <from>:<to>[Date - Entry]`` in ``querytranslation`` (NOTES §4).
* Dates (NOTES §4, TB-2008): ``PubStatus="entrez"`` carries the Create Date (CRDT),
  ``PubStatus="pubmed"`` the Entrez Date (EDAT), back-dated to the publication date when the
  record arrives more than twelve months after publication (``article()`` applies the rule).
  ``update()`` never moves CRDT/EDAT; it moves ``DateRevised`` (MDAT) unless ``touch=False``
  (whether NLM's linking of a retraction moves MDAT is undocumented).
* ``[si]`` matches DataBankList accessions, ``clinicaltrials.gov[si]`` the bank, and
  ``clinicaltrials.gov/nct...[si]`` both (NOTES §5, TB-2005).
* EFetch: the 2025 DOCTYPE, all articles on one line, no trailing newline, the order asked for;
  unknown ids are absent (NOTES §9). Recorded articles are served byte for byte (``put_xml``).
  Non-ASCII is written as ``&#x..;`` as in the recordings.
* Rate limits (NOTES §2): 3 requests/s without a key, 10/s with a key in ``pm.api_keys``, over a
  sliding second, every request counted; over the limit: 429 and the recorded body shape
  ``{"error":"API rate limit exceeded","api-key":<caller IP or key>,"count":..,"limit":..}``.
  A key not in ``pm.api_keys`` (even an empty one, even with ``enforce_rate`` off): 400
  ``{"error":"API key invalid","api-key":<key>,...}`` (third-party reports; NOTES has no sample).
* History server: ``usehistory=y`` gives ``webenv`` ``MCID_<24 hex>`` and ``querykey`` (NOTES §3);
  ESearch with a WebEnv appends the next query key; EFetch pages it with retstart/retmax.
* Over-long GETs answer 414 (reported for a big ESummary GET, NOTES §2; the 8 KiB threshold is the
  stand-in's own): send many ids by POST.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import socket
import time
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from loopback import LoopbackHandler, LoopbackServer, LoopbackService

REAL_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "pubmed"
PREFIX = "/entrez/eutils"
JSON_TYPE = "application/json; charset=UTF-8"
XML_TYPE = "text/xml; charset=UTF-8"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
MAX_URL_BYTES = 8192
DEFAULT_RETMAX = 20
ESEARCH_CEILING = 9999  # ids a PubMed ESearch can reach (reported live; NCBI's text says 10,000)
EFETCH_MAX = 10_000  # NBK25499: EFetch retmax "up to a maximum of 10,000"
ANONYMOUS_LIMIT, KEY_LIMIT = 3, 10  # requests per second (KA-05510)

ESEARCH_HEADER = {"type": "esearch", "version": "0.3"}
EFETCH_HEAD = (
    '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
    '1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    "<PubmedArticleSet>\n"
)
ESEARCH_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch '
    '20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
ESUMMARY_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSummaryResult PUBLIC "-//NLM//DTD '
    'esummary v1 20041029//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20041029/esummary-v1.dtd">\n'
)
EFETCH_ERROR_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eFetchResult PUBLIC "-//NLM//DTD efetch '
    '20131226//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
)
# The recorded 429 body (biomcp_esummary_json_rate_limited.json), byte for byte.
RECORDED_RATE_LIMIT_BODY = (
    b'{"error":"API rate limit exceeded","api-key":"[redacted capture-host IP]",'
    b'"count":"4","limit":"3"}'
)
# As reported from live calls: the JSON escapes the quote as \' , which JSON does not allow.
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch "
    "can only retrieve the first 9,999 records matching the query. To obtain more than 9,999 "
    "PubMed records, consider using EDirect that contains additional logic to batch PubMed search "
    "results automatically so that an arbitrary number can be retrieved. For details see "
    "https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# MeSH UIs of publication types; the recorded ones (NOTES §6) and two reported ones. Others get
# UI="" (as publisher-supplied records have): match publication types by name, never by UI.
PUBLICATION_TYPE_UI = {
    "Journal Article": "D016428",
    "Randomized Controlled Trial": "D016449",
    "Clinical Trial, Phase III": "D017428",
    "Comparative Study": "D003160",
    "Multicenter Study": "D016448",
    "Review": "D016454",
    "Observational Study": "D064888",
    "Retracted Publication": "D016441",
    "Meta-Analysis": "D017418",
    "Systematic Review": "D000078182",
    "Retraction of Publication": "D016440",
    "Comment": "D016420",
}
MESH_UI = {"Humans": "D006801", "Female": "D005260", "Male": "D008297"}
# Field tags the term language knows -> the name the real querytranslation uses.
FIELDS = {
    "si": "Secondary Source ID",
    "uid": "UID",
    "pmid": "UID",
    "pt": "Publication Type",
    "ti": "Title",
    "tiab": "Title/Abstract",
    "mh": "MeSH Terms",
    "all": "All Fields",
    "edat": "Date - Entry",
    "crdt": "Date - Create",
    "pdat": "Date - Publication",
    "dp": "Date - Publication",
    "mdat": "Date - Modification",
}
FIELD_ALIASES = {
    "secondary source id": "si",
    "publication type": "pt",
    "title": "ti",
    "title/abstract": "tiab",
    "mesh terms": "mh",
    "all fields": "all",
}
DATE_FIELDS = frozenset({"edat", "crdt", "pdat", "dp", "mdat"})
SORTS = frozenset({"pub_date", "author", "journalname", "relevance"})
_COMMON = "db tool email api_key retmode "
PARAMS = {
    "esearch": _words(
        _COMMON + "term retmax retstart usehistory webenv datetype mindate maxdate reldate sort"
    ),
    "efetch": _words(_COMMON + "id webenv query_key retstart retmax rettype"),
    "esummary": _words(_COMMON + "id version"),
}
# MedlineCitation children that come after CommentsCorrectionsList (DTD 2025 order).
AFTER_COMMENTS = _words(
    "GeneSymbolList MeshHeadingList NumberOfReferences PersonalNameSubjectList OtherID "
    "OtherAbstract KeywordList CoiStatement SpaceFlightMission InvestigatorList GeneralNote"
)


class BadRequest(Exception):
    """A request the stand-in refuses: 400 text/plain, never a real NCBI shape."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n"
        return cls(status, text.encode("utf-8"))

    @classmethod
    def xml(cls, text: str) -> Response:
        return cls(200, text.encode("utf-8"), XML_TYPE)

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        return cls(status, message.encode("utf-8"), TEXT_TYPE)


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of answering it normally."""

    kind: Literal["respond", "drop", "slow", "garble", "error"]
    response: Response | None = None
    seconds: float = 0.0
    message: str = ""

    @classmethod
    def status(cls, code: int, body: str | None = None, content_type: str = TEXT_TYPE) -> Fault:
        """Answer with this status; the body defaults to e.g. "503 Service Unavailable"."""
        text = body if body is not None else f"{code} {HTTPStatus(code).phrase}"
        return cls("respond", Response(code, text.encode("utf-8"), content_type))

    @classmethod
    def rate_limited(cls) -> Fault:
        """429 with the recorded rate-limit body, byte for byte."""
        return cls("respond", Response(429, RECORDED_RATE_LIMIT_BODY, JSON_TYPE))

    @classmethod
    def error(cls, message: str) -> Fault:
        """200 with the endpoint's in-band error (esearchresult.ERROR, <ERROR>) saying this."""
        return cls("error", message=message)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def garbled(cls) -> Fault:
        """The normal answer cut off half way (Content-Length matches the cut body)."""
        return cls("garble")

    @classmethod
    def answer(cls, body: bytes, content_type: str = JSON_TYPE) -> Fault:
        """200 with exactly these bytes (tests/hostile.py keeps the bad ones)."""
        return cls("respond", Response(200, body, content_type))

    @classmethod
    def html(cls) -> Fault:
        """200 text/html, like a maintenance page in place of the API."""
        page = "<html><body><h1>Service unavailable</h1><p>Try again later.</p></body></html>"
        return cls("respond", Response(200, page.encode("utf-8"), HTML_TYPE))

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait this long, then answer normally (for client timeouts)."""
        return cls("slow", seconds=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    params: dict[str, str]  # query string and form body together, names as sent
    url: str  # the raw request target
    headers: dict[str, str]  # names lower-cased
    arrived: float  # time.monotonic() when it came in
    response_status: int | None  # None when the connection was dropped
    response_bytes: int


# ---------------------------------------------------------------------------------------------
# Records: building, reading and changing PubmedArticle XML

Section = tuple[str | None, str | None, str]  # (Label, NlmCategory, text)
CommentCorrection = tuple[str, str | None, str]  # (RefType, PMID or None, RefSource)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ARTICLE = re.compile(r"<PubmedArticle(?:\s[^>]*)?>.*?</PubmedArticle>", re.S)


def _esc(text: str, attribute: bool = False) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        out = out.replace('"', "&quot;")
    return _NON_ASCII.sub(lambda m: f"&#x{ord(m.group()):x};", out)  # as NCBI writes it


def _el(tag: str, *children: str, **attrs: str) -> str:
    attributes = "".join(f' {name}="{_esc(value, True)}"' for name, value in attrs.items())
    return f"<{tag}{attributes}>{''.join(children)}</{tag}>"


def _t(tag: str, text: str, **attrs: str) -> str:
    return _el(tag, _esc(text), **attrs)


def _ymd(tag: str, day: date) -> str:
    return f"<{tag}><Year>{day.year}</Year><Month>{day.month:02d}</Month><Day>{day.day:02d}</Day></{tag}>"


def _history_date(status: str, when: datetime) -> str:
    return (
        f'<PubMedPubDate PubStatus="{status}"><Year>{when.year}</Year><Month>{when.month}</Month>'
        f"<Day>{when.day}</Day><Hour>{when.hour}</Hour><Minute>{when.minute}</Minute></PubMedPubDate>"
    )


def _at_six(day: date | datetime) -> datetime:
    return day if isinstance(day, datetime) else datetime(day.year, day.month, day.day, 6, 0)


def entrez_date_for(created: datetime, published: date) -> datetime:
    """TB-2008: EDAT is the publication date when the record enters PubMed more than twelve
    months after publication; otherwise the date it entered."""
    return _at_six(published) if (created.date() - published).days > 365 else created


def article(
    pmid: int | str,
    title: str,
    *,
    abstract: str | Sequence[Section] | None = None,
    journal: str = "Journal of pain research",
    journal_abbrev: str | None = None,
    year: int = 2024,
    month: int | None = None,
    day: int | None = None,
    publication_types: Sequence[str] = ("Journal Article",),
    nct_ids: Sequence[str] = (),
    comments_corrections: Sequence[CommentCorrection] = (),
    mesh: Sequence[str] = (),
    authors: Sequence[str] = ("Stand-in A",),
    create_date: date | datetime | None = None,
    entrez_date: date | datetime | None = None,
    revised: date | None = None,
    status: str = "MEDLINE",
    doi: str | None = None,
) -> str:
    """One ``<PubmedArticle>`` in the element structure and order of the 2025 DTD and of the
    recorded 2025 replies (compact, non-ASCII as ``&#x..;``). ``create_date`` (CRDT,
    ``PubStatus="entrez"``) defaults to the publication date; ``entrez_date`` (EDAT,
    ``PubStatus="pubmed"``) to TB-2008's rule. ``authors`` are "Lastname Initials"; ``doi``
    defaults to one under the 10.5555 test prefix."""
    published = date(year, month or 1, day or 1)
    created = _at_six(create_date or published)
    entered = _at_six(entrez_date) if entrez_date else entrez_date_for(created, published)
    abbrev, doi = _esc(journal_abbrev or journal), _esc(doi or f"10.5555/standin.{pmid}")
    pub_date = f"<Year>{year}</Year>" + (f"<Month>{MONTHS[month - 1]}</Month>" if month else "")
    pub_date += f"<Day>{day:02d}</Day>" if month and day else ""
    names = "".join(
        f'<Author ValidYN="Y"><LastName>{_esc(a.rsplit(" ", 1)[0])}</LastName>'
        f"<Initials>{_esc(a.rsplit(' ', 1)[-1])}</Initials></Author>"
        for a in authors
    )
    numbers = "".join(f"<AccessionNumber>{_esc(n)}</AccessionNumber>" for n in nct_ids)
    types = "".join(
        _t("PublicationType", p, UI=PUBLICATION_TYPE_UI.get(p, ""))
        for p in sorted(publication_types)  # the recorded lists are in alphabetical order
    )
    headings = "".join(
        f"<MeshHeading>{_t('DescriptorName', m, UI=MESH_UI.get(m, ''), MajorTopicYN='N')}</MeshHeading>"
        for m in mesh
    )
    comments = "".join(_comment(*c) for c in comments_corrections)
    medline = status == "MEDLINE"
    return (
        f'<PubmedArticle><MedlineCitation Status="{status}" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
        + (_ymd("DateCompleted", entered.date()) if medline else "")
        + _ymd("DateRevised", revised or created.date())
        + '<Article PubModel="Print-Electronic"><Journal><JournalIssue CitedMedium="Internet">'
        f"<PubDate>{pub_date}</PubDate></JournalIssue><Title>{_esc(journal)}</Title>"
        f"<ISOAbbreviation>{abbrev}</ISOAbbreviation></Journal><ArticleTitle>{_esc(title)}</ArticleTitle>"
        f'<ELocationID EIdType="doi" ValidYN="Y">{doi}</ELocationID>'
        + (_abstract(abstract) if abstract is not None else "")
        + (f'<AuthorList CompleteYN="Y">{names}</AuthorList>' if names else "")
        + "<Language>eng</Language>"
        + (
            '<DataBankList CompleteYN="Y"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>'
            f"<AccessionNumberList>{numbers}</AccessionNumberList></DataBank></DataBankList>"
            if numbers
            else ""
        )
        + f"<PublicationTypeList>{types}</PublicationTypeList></Article>"
        f"<MedlineJournalInfo><MedlineTA>{abbrev}</MedlineTA></MedlineJournalInfo>"
        + (f"<CommentsCorrectionsList>{comments}</CommentsCorrectionsList>" if comments else "")
        + (f"<MeshHeadingList>{headings}</MeshHeadingList>" if headings else "")
        + "</MedlineCitation><PubmedData><History>"
        + _history_date("entrez", created)
        + _history_date("pubmed", entered)
        + (_history_date("medline", entered) if medline else "")
        + "</History><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        f'<ArticleId IdType="pubmed">{pmid}</ArticleId><ArticleId IdType="doi">{doi}</ArticleId>'
        "</ArticleIdList></PubmedData></PubmedArticle>"
    )


def _abstract(abstract: str | Sequence[Section]) -> str:
    if isinstance(abstract, str):
        return f"<Abstract><AbstractText>{_esc(abstract)}</AbstractText></Abstract>"
    texts = []
    for label, category, text in abstract:
        attrs = {"Label": label} if label else {}
        if category:
            attrs["NlmCategory"] = category
        texts.append(_t("AbstractText", text, **attrs))
    return f"<Abstract>{''.join(texts)}</Abstract>"


def _comment(ref_type: str, pmid: str | None, ref_source: str) -> str:
    pmid_part = _t("PMID", pmid, Version="1") if pmid else ""
    return _el("CommentsCorrections", _t("RefSource", ref_source), pmid_part, RefType=ref_type)


def _parse(xml: str) -> ET.Element:
    # Keep processing instructions (<?pmcsd?> occurs in real records) through an update.
    return ET.fromstring(xml, parser=ET.XMLParser(target=ET.TreeBuilder(insert_pis=True)))


def _serialise(root: ET.Element) -> str:
    text = ET.tostring(root, encoding="unicode")
    return _NON_ASCII.sub(lambda m: f"&#x{ord(m.group()):x};", text)


def add_comment(root: ET.Element, ref_type: str, pmid: str | None, ref_source: str) -> None:
    """Append a CommentsCorrections to a PubmedArticle element (for ``StandinPubmed.update``)."""
    citation = _child(root, "MedlineCitation")
    holder = citation.find("CommentsCorrectionsList")
    if holder is None:
        holder = ET.Element("CommentsCorrectionsList")
        later = [i for i, c in enumerate(citation) if c.tag in AFTER_COMMENTS]
        citation.insert(later[0] if later else len(citation), holder)
    holder.append(_parse(_comment(ref_type, pmid, ref_source)))


def add_publication_type(root: ET.Element, name: str, ui: str | None = None) -> None:
    """Add a PublicationType, keeping the list in alphabetical order as NLM's lists are."""
    types = _child(_child(_child(root, "MedlineCitation"), "Article"), "PublicationTypeList")
    new = _parse(
        _t("PublicationType", name, UI=ui if ui is not None else PUBLICATION_TYPE_UI.get(name, ""))
    )
    place = sum(1 for p in types if (p.text or "") < name)
    types.insert(place, new)


def _child(elem: ET.Element, tag: str) -> ET.Element:
    found = elem.find(tag)
    if found is None:
        raise ValueError(f"<{elem.tag}> has no <{tag}>")
    return found


def _text(elem: ET.Element | None) -> str:
    return "".join(elem.itertext()).strip() if elem is not None else ""


def _norm(text: str) -> str:
    """How the stand-in compares words: lower case, hyphens and dashes as spaces."""
    return " ".join(re.sub(r"[-\u2010-\u2015]", " ", text.lower()).split())


def _month(text: str | None) -> int:
    if not text:
        return 1
    if text.isdigit():
        return int(text)
    return MONTHS.index(text[:3].title()) + 1 if text[:3].title() in MONTHS else 1


def _elem_date(elem: ET.Element | None) -> datetime | None:
    if elem is None:
        return None
    year = elem.findtext("Year") or re.search(r"\d{4}", elem.findtext("MedlineDate") or "")
    if year is None:
        return None
    y = int(year if isinstance(year, str) else year.group())
    when = datetime(y, _month(elem.findtext("Month")), int(elem.findtext("Day") or 1))
    return when.replace(
        hour=int(elem.findtext("Hour") or 0), minute=int(elem.findtext("Minute") or 0)
    )


@dataclass(frozen=True)
class _Record:
    """A stored article: its XML as served, and what searching and sorting need from it."""

    pmid: str
    xml: str
    title: str
    text: str  # normalised title, abstract, MeSH headings and keywords ("All Fields" here)
    title_norm: str
    title_abstract: str
    pub_types: tuple[str, ...]
    banks: tuple[tuple[str, str], ...]  # (bank name, accession), lower case
    mesh: tuple[str, ...]
    journal: str
    journal_abbrev: str
    authors: tuple[str, ...]
    pubdate_text: str
    status: str
    history: tuple[tuple[str, datetime], ...]
    edat: datetime
    crdt: datetime
    pdat: date
    mdat: date

    def date_of(self, field: str) -> date:
        found = {"edat": self.edat.date(), "crdt": self.crdt.date(), "mdat": self.mdat}
        return found.get(field, self.pdat)


def _index(xml: str) -> _Record:
    root = _parse(xml)
    citation = _child(root, "MedlineCitation")
    art = _child(citation, "Article")
    title = _text(art.find("ArticleTitle"))
    abstract = " ".join(_text(a) for a in art.iterfind("Abstract/AbstractText"))
    mesh = tuple(_text(d) for d in citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName"))
    keywords = " ".join(_text(k) for k in citation.iterfind("KeywordList/Keyword"))
    banks = tuple(
        (_text(bank.find("DataBankName")).lower(), _text(number).lower())
        for bank in art.iterfind("DataBankList/DataBank")
        for number in bank.iterfind("AccessionNumberList/AccessionNumber")
    )
    history = tuple(
        (p.get("PubStatus", ""), when)
        for p in root.iterfind("PubmedData/History/PubMedPubDate")
        if (when := _elem_date(p)) is not None
    )
    dates = dict(history)
    pub = art.find("Journal/JournalIssue/PubDate")
    published = _elem_date(pub) or _elem_date(citation.find("DateCreated")) or datetime(1900, 1, 1)
    crdt = (
        dates.get("entrez")
        or dates.get("pubmed")
        or _elem_date(citation.find("DateCreated"))
        or published
    )
    revised = _elem_date(citation.find("DateRevised")) or crdt
    pub_text = (
        " ".join(t for t in (pub.findtext("Year"), pub.findtext("Month"), pub.findtext("Day")) if t)
        if pub is not None
        else ""
    )
    return _Record(
        pmid=_text(citation.find("PMID")),
        xml=xml,
        title=title,
        text=_norm(" ".join((title, abstract, " ".join(mesh), keywords))),
        title_norm=_norm(title),
        title_abstract=_norm(f"{title} {abstract}"),
        pub_types=tuple(_text(p) for p in art.iterfind("PublicationTypeList/PublicationType")),
        banks=banks,
        mesh=tuple(m.lower() for m in mesh),
        journal=_text(art.find("Journal/Title")),
        journal_abbrev=_text(art.find("Journal/ISOAbbreviation"))
        or _text(citation.find("MedlineJournalInfo/MedlineTA")),
        authors=tuple(
            f"{_text(a.find('LastName'))} {_text(a.find('Initials'))}".strip()
            or _text(a.find("CollectiveName"))
            for a in art.iterfind("AuthorList/Author")
        ),
        pubdate_text=pub_text or (pub.findtext("MedlineDate") or "" if pub is not None else ""),
        status=citation.get("Status", ""),
        history=history,
        edat=dates.get("pubmed") or crdt,
        crdt=crdt,
        pdat=published.date(),
        mdat=revised.date(),
    )


# ---------------------------------------------------------------------------------------------
# The term language


@dataclass(frozen=True)
class _Leaf:
    field: str | None  # a key of FIELDS; None when the term carries no tag
    value: str  # as written (the lower end, for a date range)
    bare: bool  # an unquoted word without a tag: the kind the real one drops when not found
    upper: str | None = None  # the upper end of a date range written as two tagged dates


@dataclass(frozen=True)
class _Op:
    op: str  # AND, OR or NOT
    left: _Node
    right: _Node


_Node = _Leaf | _Op
_TOKEN = re.compile(
    r'\s*(?:(?P<paren>[()])|"(?P<quoted>[^"]*)"|\[(?P<tag>[^\]]*)\]|(?P<word>[^\s()"\[\]]+))'
)
_DATE = re.compile(r"(\d{4})(?:/(\d{1,2})(?:/(\d{1,2}))?)?")


def _date_span(text: str) -> tuple[date, date]:
    """A YYYY, YYYY/MM or YYYY/MM/DD date as the first and last day it covers."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise BadRequest(f"stand-in: dates are YYYY, YYYY/MM or YYYY/MM/DD, got {text!r}")
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    try:
        if day is not None and month is not None:
            return date(year, month, day), date(year, month, day)
        if month is not None:
            after = date(year + month // 12, month % 12 + 1, 1)
            return date(year, month, 1), after - timedelta(days=1)
    except ValueError as exc:
        raise BadRequest(f"stand-in: not a date: {text!r}") from exc
    return date(year, 1, 1), date(year, 12, 31)


def _range(leaf: _Leaf) -> tuple[date, date]:
    low, _, high = leaf.value.partition(":")
    high = leaf.upper or high or low
    return _date_span(low)[0], _date_span(high)[1]


def _field(tag: str) -> str:
    name = " ".join(tag.lower().split())
    name = FIELD_ALIASES.get(name, name)
    if name not in FIELDS:
        raise BadRequest(f"stand-in: the field tag [{tag}] is not implemented")
    return name


def _items(term: str) -> list[str | _Leaf]:
    """Tokens, with each tag bound to the phrase, quoted phrase or date range before it."""
    items: list[str | _Leaf] = []
    pos, term = 0, term.strip()
    while pos < len(term):
        match = _TOKEN.match(term, pos)
        if match is None or match.lastgroup is None:
            raise BadRequest(f"stand-in: cannot read the term from {term[pos:]!r}")
        pos, kind, text = match.end(), match.lastgroup, match.group(match.lastgroup)
        if kind == "paren" or (kind == "word" and text in ("AND", "OR", "NOT", ":")):
            items.append(text)
        elif kind == "tag":
            items.append(_tagged(items, _field(text), text))
        elif kind == "word" and text.startswith("#"):
            raise BadRequest("stand-in: query keys (#1) in the term are not implemented")
        else:
            items.append(_Leaf(None, text, bare=kind == "word"))
    return items


def _tagged(items: list[str | _Leaf], field: str, tag: str) -> _Leaf:
    last = items[-1] if items else None
    if not isinstance(last, _Leaf) or last.field is not None:
        raise BadRequest(f"stand-in: [{tag}] must follow a word or a quoted phrase")
    words = [last.value]
    items.pop()
    if last.bare:  # "randomized controlled trial[pt]": the tag takes the run of bare words
        while (
            items
            and isinstance(before := items[-1], _Leaf)
            and before.bare
            and before.field is None
        ):
            words.insert(0, before.value)
            items.pop()
    value = " ".join(words)
    leaf = _Leaf(field, value, bare=False)
    if field in DATE_FIELDS:
        low = items[-2] if len(items) >= 2 and items[-1] == ":" else None
        if isinstance(low, _Leaf) and low.field == field:  # "A"[crdt] : "B"[crdt]
            del items[-2:]
            leaf = _Leaf(field, low.value, bare=False, upper=value)
        _range(leaf)  # refuse a malformed date now
    return leaf


class _Parser:
    """Left to right, no operator precedence (PubMed's rule); adjacent terms are ANDed."""

    def __init__(self, items: list[str | _Leaf]) -> None:
        self.items, self.pos = items, 0

    def parse(self) -> _Node:
        node = self.expression()
        if self.pos != len(self.items):
            raise BadRequest("stand-in: unbalanced parentheses in the term")
        return node

    def expression(self) -> _Node:
        # A run of one associative operator (a client's thousand `NCT…[si]` ORed) is kept as a
        # balanced tree, the same set as the left-to-right fold, but not a thousand levels deep
        # for the evaluation's recursion; NOT, and a change of operator, fold left to right.
        run_op: str | None = None
        run: list[_Node] = [self.operand()]
        while self.pos < len(self.items) and self.items[self.pos] != ")":
            item = self.items[self.pos]
            if item in ("AND", "OR", "NOT"):
                self.pos += 1
            op = item if isinstance(item, str) and item in ("OR", "NOT") else "AND"
            operand = self.operand()
            if op == run_op:
                run.append(operand)
                continue
            node = _balanced(run_op, run) if run_op else run[0]
            if op == "NOT":
                run_op, run = None, [_Op("NOT", node, operand)]
            else:
                run_op, run = op, [node, operand]
        return _balanced(run_op, run) if run_op else run[0]

    def operand(self) -> _Node:
        if self.pos >= len(self.items):
            raise BadRequest("stand-in: the term ends where a search term was expected")
        item = self.items[self.pos]
        self.pos += 1
        if item == "(":
            node = self.expression()
            if self.pos >= len(self.items):
                raise BadRequest("stand-in: unbalanced parentheses in the term")
            self.pos += 1
            return node
        if isinstance(item, _Leaf):
            if item.bare and item.value in ("and", "or", "not"):
                raise BadRequest("stand-in: write boolean operators in upper case")
            return item
        raise BadRequest(f"stand-in: unexpected {item!r} in the term")


def _balanced(op: str, nodes: list[_Node]) -> _Node:
    if len(nodes) == 1:
        return nodes[0]
    half = len(nodes) // 2
    return _Op(op, _balanced(op, nodes[:half]), _balanced(op, nodes[half:]))


def parse_term(term: str) -> _Node:
    return _Parser(_items(term)).parse()


def _leaves(node: _Node) -> Iterator[_Leaf]:
    if isinstance(node, _Leaf):
        yield node
    else:
        yield from _leaves(node.left)
        yield from _leaves(node.right)


def _prune(node: _Node, missing: set[str]) -> _Node | None:
    """The query without the words that match nothing, as the real one runs it."""
    if isinstance(node, _Leaf):
        return None if node.bare and node.field is None and node.value in missing else node
    left, right = _prune(node.left, missing), _prune(node.right, missing)
    if left is None:
        return None if node.op == "NOT" else right
    return left if right is None else _Op(node.op, left, right)


def _matches(leaf: _Leaf, rec: _Record) -> bool:
    value = leaf.value.lower()
    match leaf.field:
        case None | "all":
            return _norm(value) in rec.text
        case "ti":
            return _norm(value) in rec.title_norm
        case "tiab":
            return _norm(value) in rec.title_abstract
        case "si":
            bank, _, number = value.rpartition("/")
            if bank:
                return (bank, number) in rec.banks
            return any(value in pair for pair in rec.banks)
        case "pt":
            return value in (p.lower() for p in rec.pub_types)
        case "uid" | "pmid":
            return leaf.value.strip() == rec.pmid
        case "mh":
            return value in rec.mesh
        case _:
            low, high = _range(leaf)
            return low <= rec.date_of(leaf.field) <= high


def _evaluate(node: _Node, records: Sequence[_Record]) -> set[str]:
    if isinstance(node, _Leaf):
        return {r.pmid for r in records if _matches(node, r)}
    left, right = _evaluate(node.left, records), _evaluate(node.right, records)
    return left & right if node.op == "AND" else left | right if node.op == "OR" else left - right


def _translate(node: _Node) -> str:
    if isinstance(node, _Leaf):
        if node.field in DATE_FIELDS:
            value = f"{node.value}:{node.upper}" if node.upper else node.value
            return f"{value}[{FIELDS[node.field]}]"
        if node.field in ("uid", "pmid"):
            return f"{node.value}[UID]"
        return f'"{node.value.lower()}"[{FIELDS[node.field or "all"]}]'
    left, right = _translate(node.left), _translate(node.right)
    if isinstance(node.left, _Op) and node.left.op != node.op:
        left = f"({left})"
    if isinstance(node.right, _Op):
        right = f"({right})"
    return f"{left} {node.op} {right}"


# ---------------------------------------------------------------------------------------------
# The service


class StandinPubmed(LoopbackService[Fault, RecordedRequest]):
    """An in-memory PubMed answering like the E-utilities. See the module docstring."""

    prefix = PREFIX

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, _Record] = {}
        self.api_keys: set[str] = set()
        self.enforce_rate = True
        self.today: date | None = None  # PubMed's day (reldate, DateRevised); None: UTC today
        self.delay = 0.0
        self._windows: dict[str, deque[float]] = {}
        self._history: dict[str, list[list[str]]] = {}  # WebEnv -> id lists, query_key - 1

    # -- lifecycle ----------------------------------------------------------------------------

    def make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.pm = self
        return server

    # -- data ---------------------------------------------------------------------------------

    def _today(self) -> date:
        return self.today or datetime.now(UTC).date()

    def put(self, *articles: str) -> None:
        """Add or replace records, each one ``<PubmedArticle>`` (e.g. from ``article()``)."""
        for text in articles:
            self.put_xml(text)

    def put_xml(self, source: str | bytes | Path) -> list[str]:
        """Store every PubmedArticle of a recorded reply (a set, or a bare fragment) byte for
        byte; returns their PMIDs."""
        if isinstance(source, Path):
            source = source.read_bytes()
        text = source.decode("utf-8") if isinstance(source, bytes) else source
        found = [_index(m.group()) for m in _ARTICLE.finditer(text)]
        if not found:
            raise ValueError("no <PubmedArticle> in the text")
        with self.lock:
            for rec in found:
                self.records[rec.pmid] = rec
        return [rec.pmid for rec in found]

    def get(self, pmid: str) -> str:
        """The record's XML as EFetch serves it."""
        with self.lock:
            return self.records[pmid].xml

    def remove(self, pmid: str) -> None:
        with self.lock:
            self.records.pop(pmid, None)

    def update(
        self, pmid: str, change: Callable[[ET.Element], object], *, touch: bool = True
    ) -> None:
        """Change a stored record in place (``change`` gets its PubmedArticle element), as NLM
        revises records. The History dates (CRDT, EDAT) stay; DateRevised (MDAT) becomes today
        unless ``touch`` is False. Example: ``pm.update(pmid, lambda a: add_comment(a, ...))``."""
        with self.lock:
            root = _parse(self.records[pmid].xml)
            change(root)
            revised = root.find("MedlineCitation/DateRevised")
            if touch and revised is not None:
                today = self._today()
                for tag, value in (
                    ("Year", f"{today.year}"),
                    ("Month", f"{today.month:02d}"),
                    ("Day", f"{today.day:02d}"),
                ):
                    _child(revised, tag).text = value
            self.records[pmid] = _index(_serialise(root))

    def expire_history(self) -> None:
        """Forget every WebEnv handed out (the real history server expires them)."""
        with self.lock:
            self._history.clear()

    # -- faults, log and rate -----------------------------------------------------------------

    def peak_rate(self, api_key: str | None = None) -> int:
        """The most requests made with this key (None: without one) within any one second."""
        with self.lock:
            times = sorted(
                r.arrived for r in self.requests if _lower(r.params).get("api_key") == api_key
            )
        peak, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= 1.0:
                first += 1
            peak = max(peak, last - first + 1)
        return peak

    def admit(self, params: dict[str, str], caller: str, arrived: float) -> Response | None:
        """None if the request may be answered; else the key error or the 429."""
        key = _lower(params).get("api_key")
        if key is not None and key not in self.api_keys:
            text = f'{{"error":"API key invalid","api-key":{json.dumps(key)},"type":"invalid",\n"status":"unknown"}}'
            return Response(400, text.encode("utf-8"))
        if not self.enforce_rate:
            return None
        limit = KEY_LIMIT if key else ANONYMOUS_LIMIT
        with self.lock:
            window = self._windows.setdefault(key or "", deque())
            while window and window[0] <= arrived - 1.0:
                window.popleft()
            window.append(arrived)  # refused requests count too: a hasty retry stays refused
            if len(window) <= limit:
                return None
            body = {
                "error": "API rate limit exceeded",
                "api-key": key or caller,
                "count": str(len(window)),
                "limit": str(limit),
            }
        return Response(429, json.dumps(body, separators=(",", ":")).encode("utf-8"))

    # -- endpoints ----------------------------------------------------------------------------

    def respond(self, path: str, params: dict[str, str]) -> Response:
        endpoint = path.removeprefix(PREFIX + "/").removesuffix(".fcgi")
        if not path.startswith(PREFIX + "/") or endpoint not in PARAMS:
            return Response.text(404, f"stand-in: {path} is not served")
        p = _lower(params)
        try:
            unknown = sorted(set(p) - PARAMS[endpoint])
            if unknown:
                raise BadRequest(
                    f"stand-in: {endpoint} parameter {unknown[0]!r} is not implemented"
                )
            if p.get("db", "pubmed") != "pubmed":
                return self.error(endpoint, p, f"Invalid db name specified: {p['db']}")
            with self.lock:
                handler = {
                    "esearch": self._esearch,
                    "efetch": self._efetch,
                    "esummary": self._esummary,
                }[endpoint]
                return handler(p)
        except BadRequest as exc:
            return Response.text(400, str(exc))

    def error(self, endpoint: str, p: dict[str, str], message: str) -> Response:
        """The endpoint's in-band error (HTTP 200), in its retmode."""
        as_json = p.get("retmode") == "json"
        if endpoint == "esearch" and as_json:
            return Response.json({"header": ESEARCH_HEADER, "esearchresult": {"ERROR": message}})
        if endpoint == "esearch":
            return Response.xml(
                f"{ESEARCH_HEAD}<eSearchResult><ERROR>{_esc(message)}</ERROR></eSearchResult>\n"
            )
        if endpoint == "esummary" and as_json:
            return Response.json(
                {"header": {"type": "esummary", "version": "0.3"}, "esummaryresult": [message]}
            )
        head, root = (
            (ESUMMARY_HEAD, "eSummaryResult")
            if endpoint == "esummary"
            else (EFETCH_ERROR_HEAD, "eFetchResult")
        )
        return Response.xml(f"{head}<{root}>\n\t<ERROR>{_esc(message)}</ERROR>\n</{root}>\n")

    def _esearch(self, p: dict[str, str]) -> Response:
        as_json = _retmode(p, ("xml", "json"))
        term = p.get("term", "").strip()
        if not term:
            return self.error("esearch", p, "Empty term and query_key - nothing todo")
        retstart, retmax = _count(p, "retstart", 0), _count(p, "retmax", DEFAULT_RETMAX)
        if retstart > ESEARCH_CEILING - 1:
            if not as_json:
                return self.error("esearch", p, RETSTART_ERROR)
            reply = {"header": ESEARCH_HEADER, "esearchresult": {"ERROR": RETSTART_ERROR}}
            text = json.dumps(reply, separators=(",", ":")).replace("'", "\\'") + "\n"
            return Response(200, text.encode("utf-8"))
        ids, translation, missing = self._search(term, p)
        page = ids[retstart : min(retstart + retmax, ESEARCH_CEILING)]
        result: dict[str, Any] = {"count": str(len(ids)), "retmax": str(len(page))}
        result["retstart"] = str(retstart)
        if "usehistory" in p:
            if p["usehistory"] != "y":
                raise BadRequest("stand-in: usehistory must be y")
            if p.get("webenv", "new") not in (*self._history, "new"):
                return self.error("esearch", p, "Unable to obtain query #1")
            result["querykey"], result["webenv"] = self._remember(p.get("webenv"), ids)
        result.update(idlist=page, translationset=[], querytranslation=translation)
        if missing:
            result["errorlist"] = {"phrasesnotfound": missing, "fieldsnotfound": []}
        if not ids:
            no_items: dict[str, list[str]] = {"phrasesignored": [], "quotedphrasesnotfound": []}
            result["warninglist"] = {**no_items, "outputmessages": ["No items found."]}
        if as_json:
            return Response.json({"header": ESEARCH_HEADER, "esearchresult": result})
        return Response.xml(ESEARCH_HEAD + _esearch_xml(result) + "\n")

    def _search(self, term: str, p: dict[str, str]) -> tuple[list[str], str, list[str]]:
        """The sorted PMIDs, the query translation, and the words dropped as not found."""
        tree, records = parse_term(term), list(self.records.values())
        missing = [
            leaf.value
            for leaf in _leaves(tree)
            if leaf.bare
            and leaf.field is None
            and all(_norm(leaf.value) not in r.text for r in records)
        ]
        pruned = _prune(tree, set(missing))
        window = self._date_window(p)
        if pruned is None:  # nothing left to search: the real one echoes the words
            return [], "(" + " AND ".join(f"{w}[All Fields]" for w in missing) + ")", missing
        if window is not None:
            pruned = _Op("AND", pruned, window)
        return self._sort(_evaluate(pruned, records), p.get("sort")), _translate(pruned), missing

    def _remember(self, webenv: str | None, ids: list[str]) -> tuple[str, str]:
        """Put ids on the history server: a new WebEnv, or the next query key of a given one."""
        if webenv is None:
            webenv = "MCID_" + secrets.token_hex(12)
        self._history.setdefault(webenv, []).append(list(ids))
        return str(len(self._history[webenv])), webenv

    def _date_window(self, p: dict[str, str]) -> _Leaf | None:
        given = [name for name in ("reldate", "mindate", "maxdate") if p.get(name)]
        if not given:
            return None
        field = p.get("datetype", "")
        if field not in ("edat", "crdt", "pdat", "mdat"):
            raise BadRequest(
                "stand-in: send datetype (edat, crdt, pdat or mdat) with a date window"
            )
        if "reldate" in given:
            if len(given) > 1:
                raise BadRequest("stand-in: reldate with mindate/maxdate is not implemented")
            days = _count(p, "reldate", 0)
            today = self._today()
            return _Leaf(
                field,
                (today - timedelta(days=days)).strftime("%Y/%m/%d"),
                False,
                today.strftime("%Y/%m/%d"),
            )
        if len(given) != 2:
            raise BadRequest("stand-in: mindate and maxdate must be used together (NBK25499)")
        leaf = _Leaf(field, p["mindate"], False, p["maxdate"])
        _range(leaf)
        return leaf

    def _sort(self, pmids: Iterable[str], sort: str | None) -> list[str]:
        records = [self.records[p] for p in pmids]
        how = (sort or "").lower().replace(" ", "_")
        if sort is not None and how not in SORTS:
            raise BadRequest(f"stand-in: sort {sort!r} is not implemented")
        keys: dict[str, Callable[[_Record], Any]] = {
            "": lambda r: (r.edat, int(r.pmid)),
            "pub_date": lambda r: (r.pdat, int(r.pmid)),
            "author": lambda r: ((r.authors or ("",))[0].lower(), int(r.pmid)),
            "journalname": lambda r: (r.journal.lower(), int(r.pmid)),
            "relevance": lambda r: hashlib.sha256(r.pmid.encode()).hexdigest(),
        }
        records.sort(key=keys[how], reverse=how in ("", "pub_date"))
        return [r.pmid for r in records]

    def _efetch(self, p: dict[str, str]) -> Response:
        _retmode(p, ("xml",))
        if p.get("rettype", "abstract") not in ("abstract", ""):
            raise BadRequest("stand-in: efetch serves rettype abstract (or none) as XML only")
        if "id" in p:
            if {"webenv", "query_key", "retstart", "retmax"} & set(p):
                raise BadRequest(
                    "stand-in: id with WebEnv/query_key/retstart/retmax is not implemented"
                )
            ids = _ids(p["id"])
        elif "webenv" in p:
            key = p.get("query_key", "")
            stored = self._history.get(p["webenv"], [])
            if not key.isdigit() or not 0 < int(key) <= len(stored):
                return self.error("efetch", p, f"Unable to obtain query #{key}")
            if "retmax" not in p:
                raise BadRequest(
                    "stand-in: send retmax with WebEnv (the real default is undocumented)"
                )
            start = _count(p, "retstart", 0)
            ids = stored[int(key) - 1][start : start + min(_count(p, "retmax", 0), EFETCH_MAX)]
        else:
            ids = []
        if not ids:
            return self.error("efetch", p, "Empty id list - nothing todo")
        found = [self.records[i].xml for i in dict.fromkeys(ids) if i in self.records]
        return Response.xml(EFETCH_HEAD + "".join(found) + "</PubmedArticleSet>")

    def _esummary(self, p: dict[str, str]) -> Response:
        if "id" not in p:
            return self.error("esummary", p, "Neither query_key nor id specified")
        if p.get("retmode") != "json":
            raise BadRequest("stand-in: esummary is served as retmode=json only")
        ids = list(dict.fromkeys(_ids(p["id"])))
        result: dict[str, Any] = {"uids": ids}
        for pmid in ids:
            rec = self.records.get(pmid)
            result[pmid] = (
                _docsum(rec)
                if rec is not None
                else {"uid": pmid, "error": "cannot get document summary"}
            )
        return Response.json({"header": {"type": "esummary", "version": "0.3"}, "result": result})


def _lower(params: dict[str, str]) -> dict[str, str]:
    # Parameter names are matched without case: clients send both WebEnv and webenv.
    return {name.lower(): value for name, value in params.items()}


def _retmode(p: dict[str, str], allowed: tuple[str, ...]) -> bool:
    mode = p.get("retmode", "xml")
    if mode not in allowed:
        raise BadRequest(f"stand-in: retmode {mode!r} is not implemented here")
    return mode == "json"


def _count(p: dict[str, str], name: str, default: int) -> int:
    value = p.get(name)
    if value is None:
        return default
    if not value.strip().isdigit():
        raise BadRequest(f"stand-in: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def _ids(value: str) -> list[str]:
    ids = [item.strip() for item in value.split(",") if item.strip()]
    if not all(item.isdigit() for item in ids):
        raise BadRequest(f"stand-in: ids must be PMIDs, got {value!r}")
    return ids


def _esearch_xml(result: dict[str, Any]) -> str:
    parts = [
        f"<Count>{result['count']}</Count><RetMax>{result['retmax']}</RetMax><RetStart>{result['retstart']}</RetStart>"
    ]
    if "webenv" in result:
        parts.append(
            f"<QueryKey>{result['querykey']}</QueryKey><WebEnv>{result['webenv']}</WebEnv>"
        )
    ids = "".join(f"<Id>{i}</Id>\n" for i in result["idlist"])
    parts.append(f"<IdList>\n{ids}</IdList>" if ids else "<IdList/>")
    parts.append(
        f"<TranslationSet/><QueryTranslation>{_esc(result['querytranslation'])}</QueryTranslation>"
    )
    if "errorlist" in result:
        found = "".join(
            f"<PhraseNotFound>{_esc(w)}</PhraseNotFound>"
            for w in result["errorlist"]["phrasesnotfound"]
        )
        parts.append(f"<ErrorList>{found}</ErrorList>")
    if "warninglist" in result:
        parts.append("<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>")
    return f"<eSearchResult>{''.join(parts)}</eSearchResult>"


def _docsum(rec: _Record) -> dict[str, Any]:
    """A minimal ESummary version-2 document (no real byte-exact sample exists: NOTES gaps)."""
    status = {
        "MEDLINE": "PubMed - indexed for MEDLINE",
        "Publisher": "PubMed - as supplied by publisher",
    }
    return {
        "uid": rec.pmid,
        "pubdate": rec.pubdate_text,
        "source": rec.journal_abbrev,
        "authors": [{"name": a, "authtype": "Author", "clusterid": ""} for a in rec.authors],
        "title": rec.title,
        "pubtype": list(rec.pub_types),
        "recordstatus": status.get(rec.status, "PubMed"),
        "articleids": [{"idtype": "pubmed", "idtypen": 1, "value": rec.pmid}],
        "history": [{"pubstatus": s, "date": d.strftime("%Y/%m/%d %H:%M")} for s, d in rec.history],
        "references": [],
        "fulljournalname": rec.journal,
        "sortpubdate": rec.pdat.strftime("%Y/%m/%d 00:00"),
    }


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


def _request_params(target: str, body: bytes, content_type: str) -> dict[str, str]:
    pairs = parse_qsl(urlsplit(target).query, keep_blank_values=True)
    if body:
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise BadRequest("stand-in: POST a form (application/x-www-form-urlencoded)")
        pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    repeated = [name for name, n in Counter(name for name, _ in pairs).items() if n > 1]
    if repeated:
        raise BadRequest(f"stand-in: parameter {repeated[0]!r} given more than once")
    return dict(pairs)


class _Server(LoopbackServer):
    pm: StandinPubmed


class _Handler(LoopbackHandler):
    server: _Server
    _params: dict[str, str]
    _arrived: float

    def do_GET(self) -> None:
        self._arrived, self._params = time.monotonic(), {}
        pm = self.server.pm
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "GET" and len(self.path) > MAX_URL_BYTES:
            self._send(Response.text(414, "414 Request-URI Too Large"))
            return
        try:
            self._params = _request_params(self.path, body, self.headers.get("Content-Type", ""))
        except (BadRequest, UnicodeDecodeError) as exc:
            self._send(Response.text(400, str(exc)))
            return
        refused = pm.admit(self._params, self.client_address[0], self._arrived)
        if refused is not None:
            self._send(refused)
            return
        fault = pm._take_fault(urlsplit(self.path).path)
        time.sleep(pm.delay + (fault.seconds if fault is not None else 0.0))
        if fault is not None and fault.kind == "drop":
            self._record(None, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif fault is not None and fault.response is not None:
            self._send(fault.response)
        elif fault is not None and fault.kind == "error":
            path = urlsplit(self.path).path
            self._send(
                pm.error(
                    path.removeprefix(PREFIX + "/").removesuffix(".fcgi"),
                    _lower(self._params),
                    fault.message,
                )
            )
        else:
            response = self._normal(pm)
            if fault is not None and fault.kind == "garble":
                response = Response(
                    response.status, response.body[: len(response.body) // 2], response.content_type
                )
            self._send(response)

    do_POST = do_GET

    def _normal(self, pm: StandinPubmed) -> Response:
        try:
            return pm.respond(urlsplit(self.path).path, self._params)
        except Exception as exc:  # a stand-in bug: make it visible to the test, keep serving
            return Response.text(500, f"stand-in error: {exc!r}")

    def _not_allowed(self) -> None:
        self._arrived, self._params = time.monotonic(), {}
        self._send(Response.text(405, "405 Method Not Allowed"))

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by http.server itself (bad request line, 414 over 64 KiB)."""
        self._arrived, self._params = time.monotonic(), {}
        self.close_connection = True
        code = int(code)
        self._send(Response.text(code, f"{code} {message or HTTPStatus(code).phrase}"))

    def _send(self, response: Response) -> None:
        self._record(response.status, len(response.body))
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client went away
            self.close_connection = True

    def _record(self, status: int | None, size: int) -> None:
        target = getattr(self, "path", "")
        message = getattr(self, "headers", None)  # absent when the request line was bad
        self.server.pm._record(
            RecordedRequest(
                method=getattr(self, "command", "") or "",
                path=urlsplit(target).path,
                params=self._params,
                url=target,
                headers={k.lower(): v for k, v in message.items()} if message is not None else {},
                arrived=self._arrived,
                response_status=status,
                response_bytes=size,
            )
        )


# ---------------------------------------------------------------------------------------------
# The low-dose naltrexone (LDN) world
#
# Facts (shared/articles/README.md): the article cites NCT04270877 (FINAL) and NCT02806440
# (crossover) and PMIDs 32068870, 32845365, 30248938 (titles, journals and years as the article
# cites them); FINAL's results are PMID 38258677 (Lancet Rheumatology 2024, no benefit over placebo
# for pain), the crossover's are PMID 38226027 (no clinically relevant analgesic effect).
# Everything else (abstract wording, the placeholder authors, exact dates, the crossover's journal,
# the protocol, notice and new-trial PMIDs) is constructed for the tests and quotes nobody.

FINAL_NCT, CROSSOVER_NCT = "NCT04270877", "NCT02806440"
FINAL_RESULTS, CROSSOVER_RESULTS = "38258677", "38226027"
DOSE_RESPONSE, CHRONIC_PAIN_REVIEW, LDN_REVIEW = "32068870", "32845365", "30248938"
CITED_PMIDS = (DOSE_RESPONSE, CHRONIC_PAIN_REVIEW, LDN_REVIEW)
FINAL_PROTOCOL = "34050000"  # constructed
RETRACTION_NOTICE = "40100000"  # constructed
NEW_TRIAL = "40200000"  # constructed
LDN_MESH = ("Fibromyalgia", "Humans", "Naltrexone")


def ldn_world() -> list[str]:
    """The records PubMed holds at the start: both results papers, FINAL's protocol, and the
    three papers the article cites."""
    return [
        article(
            FINAL_RESULTS,
            "Low-dose naltrexone for pain in women with fibromyalgia: a randomised, double-blind, placebo-controlled phase 2 trial.",
            journal="The Lancet. Rheumatology",
            journal_abbrev="Lancet Rheumatol",
            year=2024,
            month=3,
            publication_types=("Journal Article", "Randomized Controlled Trial"),
            nct_ids=(FINAL_NCT,),
            mesh=(*LDN_MESH, "Female"),
            authors=("Placeholder A", "Placeholder B", "Placeholder C"),
            create_date=datetime(2024, 1, 23, 1, 42),
            abstract=[
                (
                    "BACKGROUND",
                    "BACKGROUND",
                    "Low-dose naltrexone is used off-label for fibromyalgia, but adequately powered randomised trials are few. We tested whether it reduces pain in women with fibromyalgia.",
                ),
                (
                    "METHODS",
                    "METHODS",
                    "Women with fibromyalgia were randomly assigned to low-dose naltrexone or placebo once daily for 12 weeks. The primary outcome was the change in average pain intensity. ClinicalTrials.gov, NCT04270877.",
                ),
                (
                    "RESULTS",
                    "RESULTS",
                    "Ninety-nine women were randomised. Pain intensity fell in both groups, with no significant difference between low-dose naltrexone and placebo; adverse events were mostly mild.",
                ),
                (
                    "CONCLUSIONS",
                    "CONCLUSIONS",
                    "Low-dose naltrexone was not better than placebo for reducing fibromyalgia pain in women. These results do not support its routine use for this indication.",
                ),
            ],
        ),
        article(
            CROSSOVER_RESULTS,
            "Low-dose naltrexone in fibromyalgia: a randomised, double-blind, placebo-controlled crossover trial of pain and central mechanisms.",
            journal="Pain",
            journal_abbrev="Pain",
            year=2024,
            month=1,
            publication_types=("Randomized Controlled Trial",),
            nct_ids=(CROSSOVER_NCT,),
            mesh=LDN_MESH,
            authors=("Placeholder D", "Placeholder E"),
            create_date=datetime(2024, 1, 16, 4, 56),
            abstract=[
                (
                    "BACKGROUND",
                    None,
                    "Low-dose naltrexone has been proposed to relieve fibromyalgia pain through a central, glial mechanism.",
                ),
                (
                    "METHODS",
                    None,
                    "Fifty-eight patients received low-dose naltrexone 4.5 mg and placebo in random order, each for several weeks, in a double-blind crossover design.",
                ),
                (
                    "RESULTS",
                    None,
                    "Pain intensity and measures of central sensitisation did not differ meaningfully between treatment periods.",
                ),
                (
                    "INTERPRETATION",
                    None,
                    "Low-dose naltrexone had no clinically relevant analgesic effect in fibromyalgia compared with placebo.",
                ),
            ],
        ),
        article(
            FINAL_PROTOCOL,
            "Low-dose naltrexone for fibromyalgia in women (FINAL): protocol for a randomised, double-blind, placebo-controlled phase 2 trial.",
            journal="Trials",
            year=2021,
            month=5,
            publication_types=("Clinical Trial Protocol", "Journal Article"),
            nct_ids=(FINAL_NCT,),
            mesh=LDN_MESH,
            authors=("Placeholder A", "Placeholder B"),
            create_date=date(2021, 5, 28),
            abstract=[
                (
                    "BACKGROUND",
                    "BACKGROUND",
                    "Small studies suggest low-dose naltrexone may reduce fibromyalgia pain.",
                ),
                (
                    "METHODS",
                    "METHODS",
                    "This trial will randomise women with fibromyalgia to low-dose naltrexone or placebo for 12 weeks; the primary outcome is pain intensity.",
                ),
                (
                    "DISCUSSION",
                    "CONCLUSIONS",
                    "The trial will show whether low-dose naltrexone is better than placebo for fibromyalgia pain.",
                ),
                ("TRIAL REGISTRATION", "BACKGROUND", "ClinicalTrials.gov NCT04270877."),
            ],
        ),
        article(
            DOSE_RESPONSE,
            "Low-Dose Naltrexone for the Treatment of Fibromyalgia: Investigation of Dose-Response Relationships.",
            journal="Pain medicine (Malden, Mass.)",
            journal_abbrev="Pain Med",
            year=2020,
            month=2,
            mesh=LDN_MESH,
            authors=("Placeholder F",),
            create_date=date(2020, 2, 19),
            abstract="Women with fibromyalgia took rising doses of low-dose naltrexone to find the dose that relieved their symptoms.",
        ),
        article(
            CHRONIC_PAIN_REVIEW,
            "Low-Dose Naltrexone for Chronic Pain: Update and Systemic Review.",
            journal="Current pain and headache reports",
            journal_abbrev="Curr Pain Headache Rep",
            year=2020,
            month=8,
            publication_types=("Journal Article", "Review"),
            authors=("Placeholder G",),
            create_date=date(2020, 8, 27),
            abstract="A review of studies of low-dose naltrexone for chronic pain conditions, including fibromyalgia.",
        ),
        article(
            LDN_REVIEW,
            "Low-Dose Naltrexone (LDN)-Review of Therapeutic Utilization.",
            journal="Medical sciences (Basel, Switzerland)",
            journal_abbrev="Med Sci (Basel)",
            year=2018,
            month=9,
            publication_types=("Journal Article", "Review"),
            authors=("Placeholder H",),
            create_date=date(2018, 9, 26),
            abstract="Low-dose naltrexone is reviewed as an off-label treatment for pain and inflammatory conditions.",
        ),
    ]


def ldn_retraction_notice(
    retracted: str = DOSE_RESPONSE,
    notice: str = RETRACTION_NOTICE,
    *,
    create_date: date | None = None,
) -> str:
    """A retraction notice for a cited paper: "Retraction of Publication", RetractionOf -> it."""
    when = create_date or datetime.now(UTC).date()
    return article(
        notice,
        "Retraction Note: Low-Dose Naltrexone for the Treatment of Fibromyalgia: Investigation of Dose-Response Relationships.",
        journal="Pain medicine (Malden, Mass.)",
        journal_abbrev="Pain Med",
        year=when.year,
        month=when.month,
        publication_types=("Retraction of Publication",),
        create_date=when,
        authors=(),
        comments_corrections=[("RetractionOf", retracted, "Pain Med. 2020;21(10):2056-2064.")],
        abstract=[(None, "UNASSIGNED", f"[This retracts the article PMID: {retracted}.].")],
    )


def mark_retracted(
    pm: StandinPubmed,
    pmid: str,
    notice: str = RETRACTION_NOTICE,
    *,
    ref_source: str = "Pain Med. 2025.",
    touch: bool = True,
) -> None:
    """NLM links a retraction to the original: RetractionIn -> notice and the type "Retracted
    Publication"; CRDT and EDAT stay, DateRevised moves unless ``touch`` is False."""

    def change(root: ET.Element) -> None:
        add_publication_type(root, "Retracted Publication")
        add_comment(root, "RetractionIn", notice, ref_source)

    pm.update(pmid, change, touch=touch)


def ldn_new_trial(pmid: str = NEW_TRIAL, *, create_date: date | None = None) -> str:
    """A new randomised trial of low-dose naltrexone, entered today unless told otherwise."""
    when = create_date or datetime.now(UTC).date()
    return article(
        pmid,
        "Low-dose naltrexone versus placebo for chronic widespread pain: a randomized controlled trial.",
        year=when.year,
        month=when.month,
        publication_types=("Journal Article", "Randomized Controlled Trial"),
        mesh=("Humans", "Naltrexone"),
        authors=("Placeholder J",),
        create_date=when,
        abstract=[
            (
                "OBJECTIVE",
                "OBJECTIVE",
                "To test low-dose naltrexone against placebo for chronic widespread pain.",
            ),
            (
                "CONCLUSIONS",
                "CONCLUSIONS",
                "Low-dose naltrexone did not reduce pain more than placebo.",
            ),
        ],
    )
