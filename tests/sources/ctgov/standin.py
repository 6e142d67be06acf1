"""A stand-in for the ClinicalTrials.gov data API v2, served over real HTTP on loopback.

This is a test double. Its behaviour is shaped by recorded responses of the real API (the files
in ``tests/fixtures/ctgov``, provenance in ``tests/fixtures/ctgov/README.md``) and by NLM's OpenAPI document
for API 2.0.5. Production code knows nothing about it: tests hand ``reg.url`` to the code as its
base URL and the code talks to it with httpx exactly as it talks to clinicaltrials.gov.

Served: ``GET /api/v2/version``, ``GET /api/v2/studies`` and ``GET /api/v2/studies/{nctId}``.

Usage::

    with StandinRegistry() as reg:
        reg.put_all(ldn_studies())
        reg.fail_next(Fault.status(503))      # the first request gets a 503, later ones are normal
        ...                                   # run the code under test with base URL reg.url
        assert reg.requests[-1].params["filter.ids"] == "NCT02806440,NCT04270877"

Deliberate simplifications, so a test never relies on them by accident:

* ``query.term`` is not Essie. A study matches when every whitespace-separated word of the term
  (lower-cased, hyphens and double quotes treated as spaces, a bare ``AND`` ignored) occurs as a
  substring of the lower-cased JSON text of its ``protocolSection``. ``OR``, ``NOT``, brackets
  and parentheses are refused with 400 rather than silently misread.
* ``filter.advanced`` understands only ``AREA[LastUpdatePostDate]RANGE[from,to]``, each bound a
  ``YYYY-MM-DD`` day (inclusive, as Essie's RANGE is) or ``MIN``/``MAX``.
* Results come in a fixed order that is not NCT ID order, as the real API's are not sorted by
  default; ``sort`` is validated loosely and otherwise ignored.
* Parameters listed in the spec but not implemented here (``query.cond``, ``filter.geo``, ...)
  and parameters the spec does not list are refused with 400, as is a repeated parameter.
* A page token is a cursor bound to the query that produced it. As the spec says, a later page
  must repeat every parameter of the first page except ``countTotal``, ``pageSize`` and
  ``pageToken``; otherwise 400 ``pageToken does not match the query``. Tokens are tied to the
  data version: a refresh expires every token handed out before it (400 on its next use).

Behaviours of the real registry it models (see ``shared/ctgov/NOTES.md``):

* ``filter.ids`` matches NCTId and NCTIdAlias and answers under the canonical id;
  ``/studies/{alias}`` answers 301 to the canonical study (``merge``).
* A change need not move LastUpdatePostDate (NLM linking a PubMed paper, the registry's own
  switch to Unknown status): ``update(..., touch=False)``.
* ``markup`` fields (whyStopped, briefSummary, ...) are stored as the API's default
  ``markupFormat=markdown`` sends them, CommonMark-escaped (``\\[``, ``\\>``);
  ``markupFormat=legacy`` answers them unescaped.
* An edge that refuses a client answers 403 (``Fault.refused()``).
* In a ``fields`` projection, list items left empty by the projection are dropped.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from loopback import LoopbackHandler, LoopbackServer, LoopbackService

T = TypeVar("T")
JSONObject = dict[str, Any]
# A fields projection as a tree of keys; an empty dict means "the whole subtree from here".
FieldTree = dict[str, Any]

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ctgov"
API_PREFIX = "/api/v2"
API_VERSION = "2.0.5"
MAX_URL_BYTES = 8192  # nginx's default large_client_header_buffers size
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NCT_ID_PATTERN = re.compile(r"^[Nn][Cc][Tt]0*[1-9]\d{0,7}$")
UPDATED_FILTER = re.compile(
    r"^AREA\[LastUpdatePostDate\]RANGE\[ *(MIN|\d{4}-\d{2}-\d{2}) *, *(MAX|\d{4}-\d{2}-\d{2}) *\]$"
)
FIELD_ITEM = re.compile(r"^[a-zA-Z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)*$")
SORT_ITEM = re.compile(r"^(([a-zA-Z][a-zA-Z0-9\-. ]*)|(@relevance))(:(asc|desc))?$")
STATUSES = _words(
    "ACTIVE_NOT_RECRUITING COMPLETED ENROLLING_BY_INVITATION NOT_YET_RECRUITING "
    "RECRUITING SUSPENDED TERMINATED WITHDRAWN AVAILABLE NO_LONGER_AVAILABLE "
    "TEMPORARILY_NOT_AVAILABLE APPROVED_FOR_MARKETING WITHHELD UNKNOWN"
)

# Sections of a study and their modules, from the spec's Study / *Section schemas.
SECTIONS: dict[str, frozenset[str]] = {
    "protocolSection": _words(
        "identificationModule statusModule sponsorCollaboratorsModule oversightModule "
        "descriptionModule conditionsModule designModule armsInterventionsModule outcomesModule "
        "eligibilityModule contactsLocationsModule referencesModule ipdSharingStatementModule"
    ),
    "resultsSection": _words(
        "participantFlowModule baselineCharacteristicsModule outcomeMeasuresModule "
        "adverseEventsModule moreInfoModule"
    ),
    "annotationSection": _words("annotationModule"),
    "documentSection": _words("largeDocumentModule"),
    "derivedSection": _words("miscInfoModule conditionBrowseModule interventionBrowseModule"),
    "hasResults": frozenset(),
}

_PS = "protocolSection"
_ID = (_PS, "identificationModule")
_STATUS = (_PS, "statusModule")
_DESIGN = (_PS, "designModule")
_REFS = (_PS, "referencesModule", "references")

# Piece names (as on the API's Data Structure page) -> path in the study record.
PIECES: dict[str, tuple[str, ...]] = {
    "NCTId": (*_ID, "nctId"),
    "BriefTitle": (*_ID, "briefTitle"),
    "OfficialTitle": (*_ID, "officialTitle"),
    "Acronym": (*_ID, "acronym"),
    "OverallStatus": (*_STATUS, "overallStatus"),
    "NCTIdAlias": (*_ID, "nctIdAliases"),
    "WhyStopped": (*_STATUS, "whyStopped"),
    "LastKnownStatus": (*_STATUS, "lastKnownStatus"),
    "StatusVerifiedDate": (*_STATUS, "statusVerifiedDate"),
    "StartDate": (*_STATUS, "startDateStruct", "date"),
    "StartDateType": (*_STATUS, "startDateStruct", "type"),
    "PrimaryCompletionDate": (*_STATUS, "primaryCompletionDateStruct", "date"),
    "PrimaryCompletionDateType": (*_STATUS, "primaryCompletionDateStruct", "type"),
    "CompletionDate": (*_STATUS, "completionDateStruct", "date"),
    "CompletionDateType": (*_STATUS, "completionDateStruct", "type"),
    "StudyFirstPostDate": (*_STATUS, "studyFirstPostDateStruct", "date"),
    "ResultsFirstPostDate": (*_STATUS, "resultsFirstPostDateStruct", "date"),
    "LastUpdatePostDate": (*_STATUS, "lastUpdatePostDateStruct", "date"),
    "LastUpdatePostDateType": (*_STATUS, "lastUpdatePostDateStruct", "type"),
    "LeadSponsorName": (_PS, "sponsorCollaboratorsModule", "leadSponsor", "name"),
    "BriefSummary": (_PS, "descriptionModule", "briefSummary"),
    "Condition": (_PS, "conditionsModule", "conditions"),
    "Keyword": (_PS, "conditionsModule", "keywords"),
    "StudyType": (*_DESIGN, "studyType"),
    "Phase": (*_DESIGN, "phases"),
    "EnrollmentCount": (*_DESIGN, "enrollmentInfo", "count"),
    "EnrollmentType": (*_DESIGN, "enrollmentInfo", "type"),
    "InterventionName": (_PS, "armsInterventionsModule", "interventions", "name"),
    "MinimumAge": (_PS, "eligibilityModule", "minimumAge"),
    "MaximumAge": (_PS, "eligibilityModule", "maximumAge"),
    "ReferencePMID": (*_REFS, "pmid"),
    "ReferenceType": (*_REFS, "type"),
    "ReferenceCitation": (*_REFS, "citation"),
    "RetractionPMID": (*_REFS, "retractions", "pmid"),
    "RetractionSource": (*_REFS, "retractions", "source"),
    "HasResults": ("hasResults",),
}
# Section and module pieces ("ProtocolSection", "StatusModule") select whole subtrees.
for _section, _modules in SECTIONS.items():
    PIECES.setdefault(_section[0].upper() + _section[1:], (_section,))
    for _module in _modules:
        PIECES[_module[0].upper() + _module[1:]] = (_section, _module)

STUDIES_PARAMS = _words(
    "format markupFormat query.term filter.ids filter.overallStatus filter.advanced "
    "fields sort countTotal pageSize pageToken"
)
SINGLE_STUDY_PARAMS = frozenset({"format", "markupFormat", "fields"})
# Search areas (a few of the spec's /studies/search-areas); AREA[X] with another X is refused.
KNOWN_AREAS = frozenset(
    {"Condition", "InterventionName", "BriefTitle", "OfficialTitle", "LastUpdatePostDate"}
)

# Fields of type `markup` (spec: their format follows markupFormat), by their path.
MARKUP = (
    (*_STATUS, "whyStopped"),
    (_PS, "descriptionModule", "briefSummary"),
    (_PS, "descriptionModule", "detailedDescription"),
    (_PS, "eligibilityModule", "eligibilityCriteria"),
)
# CommonMark's backslash escapes: a backslash before ASCII punctuation.
MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")

# Spec parameters of /studies that the stand-in refuses rather than ignores.
UNSUPPORTED_PARAMS = _words(
    "query.cond query.locn query.titles query.intr query.outc query.spons query.lead "
    "query.id query.patient filter.geo filter.synonyms postFilter.overallStatus "
    "postFilter.geo postFilter.ids postFilter.advanced postFilter.synonyms aggFilters "
    "geoDecay"
)
# The spec lets later pages differ from the first page only in these.
PAGE_PARAMS = frozenset({"countTotal", "pageSize", "pageToken"})


class BadRequest(Exception):
    """A request the stand-in answers with 400 and this message as a text/plain body."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, payload: Any) -> Response:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return cls(200, text.encode("utf-8"))

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        return cls(status, message.encode("utf-8"), TEXT_TYPE)


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of (or before) answering it normally."""

    kind: Literal["respond", "drop", "slow", "trickle"]
    response: Response | None = None
    seconds: float = 0.0

    @classmethod
    def status(
        cls,
        code: int,
        body: str | None = None,
        content_type: str = TEXT_TYPE,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer with this status; the body defaults to e.g. "503 Service Unavailable"."""
        text = body if body is not None else f"{code} {HTTPStatus(code).phrase}"
        extra = tuple((headers or {}).items())
        return cls("respond", Response(code, text.encode("utf-8"), content_type, extra))

    @classmethod
    def rate_limited(cls, retry_after: str = "1") -> Fault:
        """429 with a Retry-After header."""
        return cls.status(429, headers={"Retry-After": retry_after})

    @classmethod
    def refused(cls) -> Fault:
        """403, as the registry's edge answers a client it will not serve."""
        body = "<html><head><title>403 Forbidden</title></head><body>Access denied</body></html>"
        return cls.status(403, body, content_type=HTML_TYPE)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending any response."""
        return cls("drop")

    @classmethod
    def garbled(cls) -> Fault:
        """200 application/json whose body is cut off mid-document."""
        body = b'{"studies":[{"protocolSection":{"identificationModule":{"nctId":"NCT0'
        return cls("respond", Response(200, body, JSON_TYPE))

    @classmethod
    def answer(cls, body: bytes) -> Fault:
        """200 application/json with exactly these bytes (tests/hostile.py keeps the bad ones)."""
        return cls("respond", Response(200, body, JSON_TYPE))

    @classmethod
    def html(cls) -> Fault:
        """200 text/html, like a maintenance page served in place of the API."""
        body = (
            "<!DOCTYPE html><html><head><title>ClinicalTrials.gov</title></head>"
            "<body><h1>Scheduled maintenance</h1><p>Please try again later.</p></body></html>"
        )
        return cls("respond", Response(200, body.encode("utf-8"), HTML_TYPE))

    @classmethod
    def trickle(cls, seconds_per_byte: float) -> Fault:
        """Answer normally, but send the body one byte at a time, this long apart: a server
        that keeps a connection busy without ever timing out a single read."""
        return cls("trickle", seconds=seconds_per_byte)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait this long, then answer normally (for client timeouts)."""
        return cls("slow", seconds=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    params: dict[str, str]
    url: str  # the raw request target: path and query, as sent
    headers: dict[str, str]  # names lower-cased
    response_status: int | None  # None when the connection was dropped without a response
    response_bytes: int


@dataclass(frozen=True)
class _Cursor:
    signature: tuple[tuple[str, str], ...]
    last_key: str  # the order key of the last study served


@dataclass(frozen=True)
class _Query:
    ids: frozenset[str] | None
    statuses: frozenset[str] | None
    words: tuple[str, ...]
    updated: tuple[str | None, str | None] | None  # (from, to), inclusive; None: unbounded
    fields: FieldTree | None
    page_size: int
    count_total: bool
    page_token: str | None
    signature: tuple[tuple[str, str], ...]
    legacy_markup: bool = False

    def matches(self, record: JSONObject) -> bool:
        ident = record.get(_PS, {}).get("identificationModule", {})
        status = record.get(_PS, {}).get("statusModule", {})
        if self.ids is not None:
            known = {ident.get("nctId"), *ident.get("nctIdAliases", [])}
            if not self.ids & known:
                return False
        if self.statuses is not None and status.get("overallStatus") not in self.statuses:
            return False
        if self.updated is not None:
            updated = status.get("lastUpdatePostDateStruct", {}).get("date")
            low, high = self.updated
            if updated is None or (low and updated < low) or (high and updated > high):
                return False
        if not self.words:
            return True
        text = json.dumps(record.get(_PS, {}), ensure_ascii=False).lower()
        return all(word in text for word in self.words)


# ---------------------------------------------------------------------------------------------
# Parameter parsing


def _split_list(value: str) -> list[str]:
    """Split a comma- or pipe-separated parameter value (spec style pipeDelimited)."""
    return [item.strip() for item in re.split(r"[,|]", value)]


def normalise_nct_id(raw: str) -> str:
    if not NCT_ID_PATTERN.match(raw):
        raise BadRequest(f"Invalid NCT ID: {raw!r}")
    return f"NCT{int(raw[3:]):08d}"


def _parse_ids(value: str) -> frozenset[str]:
    return frozenset(normalise_nct_id(item) for item in _split_list(value))


def _parse_statuses(value: str) -> frozenset[str]:
    statuses = frozenset(_split_list(value))
    unknown = sorted(statuses - STATUSES)
    if unknown:
        raise BadRequest(f"filter.overallStatus: unknown status {unknown[0]!r}")
    return statuses


def _parse_term(term: str) -> tuple[str, ...]:
    # The real API's answer to an area it does not know (cyanheads' tests record it).
    for area in re.findall(r"AREA\[([^\]]*)\]", term):
        if area not in KNOWN_AREAS:
            raise BadRequest(f"Error parsing query in advanced filter: Unknown area name: `{area}`")
    if any(char in term for char in "()[]"):
        raise BadRequest("query.term: the stand-in supports plain words only")
    words = term.replace('"', " ").replace("-", " ").split()
    if "OR" in words or "NOT" in words:
        raise BadRequest("query.term: the stand-in supports plain words only")
    return tuple(word.lower() for word in words if word != "AND")


def _parse_updated(value: str) -> tuple[str | None, str | None]:
    match = UPDATED_FILTER.match(value.strip())
    if match is None:
        raise BadRequest(
            "filter.advanced: the stand-in supports only "
            f"AREA[LastUpdatePostDate]RANGE[YYYY-MM-DD|MIN,YYYY-MM-DD|MAX], got {value!r}"
        )
    low, high = match.group(1), match.group(2)
    return (None if low == "MIN" else low, None if high == "MAX" else high)


def _field_path(name: str) -> tuple[str, ...]:
    if name in PIECES:
        return PIECES[name]
    path = tuple(name.split("."))
    valid = FIELD_ITEM.match(name) and path[0] in SECTIONS
    if valid and len(path) > 1:
        valid = path[1] in SECTIONS[path[0]]
    if not valid:
        raise BadRequest(f"Unknown field: {name!r}")
    return path


def parse_fields(value: str) -> FieldTree:
    tree: FieldTree = {}
    for name in _split_list(value):
        if not name:
            raise BadRequest("fields must be a non-empty list of field names")
        node = tree
        path = _field_path(name)
        for key in path[:-1]:
            if node.get(key) == {}:  # an ancestor is already requested whole
                break
            node = node.setdefault(key, {})
        else:
            node[path[-1]] = {}
    return tree


def _parse_bool(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false, got {value!r}")
    return value.lower() == "true"


def _parse_page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not value.isdigit():
        raise BadRequest(f"pageSize must be a non-negative integer, got {value!r}")
    size = int(value)
    return DEFAULT_PAGE_SIZE if size == 0 else min(size, MAX_PAGE_SIZE)


def _check_common(params: dict[str, str], allowed: frozenset[str]) -> None:
    for name in params:
        if name in UNSUPPORTED_PARAMS:
            raise BadRequest(f"Parameter {name!r} is not supported by the stand-in")
        if name not in allowed:
            raise BadRequest(f"Unknown parameter: {name!r}")
    if params.get("format", "json") != "json":
        raise BadRequest(f"format {params['format']!r} is not supported; use json")
    if params.get("markupFormat", "markdown") not in ("markdown", "legacy"):
        raise BadRequest(f"Invalid markupFormat: {params['markupFormat']!r}")


def _optional(params: dict[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    return parse(params[name]) if name in params else None


def parse_studies_query(params: dict[str, str]) -> _Query:
    _check_common(params, STUDIES_PARAMS)
    sort = params.get("sort")
    if sort is not None and not all(SORT_ITEM.match(item) for item in _split_list(sort)):
        raise BadRequest(f"Invalid sort: {sort!r}")
    signature = tuple(sorted((k, v) for k, v in params.items() if k not in PAGE_PARAMS))
    return _Query(
        ids=_optional(params, "filter.ids", _parse_ids),
        statuses=_optional(params, "filter.overallStatus", _parse_statuses),
        words=_parse_term(params.get("query.term", "")),
        updated=_optional(params, "filter.advanced", _parse_updated),
        fields=_optional(params, "fields", parse_fields),
        page_size=_parse_page_size(params.get("pageSize")),
        count_total=_parse_bool("countTotal", params.get("countTotal", "false")),
        page_token=params.get("pageToken"),
        signature=signature,
        legacy_markup=params.get("markupFormat") == "legacy",
    )


def parse_params(query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)
    repeated = sorted(name for name, count in Counter(n for n, _ in pairs).items() if count > 1)
    if repeated:
        raise BadRequest(f"Parameter given more than once: {repeated[0]!r}")
    return dict(pairs)


# ---------------------------------------------------------------------------------------------
# Projection

_MISSING: Any = object()


def _project(value: Any, tree: FieldTree) -> Any:
    if not tree:
        return copy.deepcopy(value)
    if isinstance(value, list):
        items = [_project(item, tree) for item in value]
        kept = [item for item in items if item is not _MISSING]
        return kept or _MISSING
    if not isinstance(value, dict):
        return _MISSING
    out: JSONObject = {}
    for key, item in value.items():  # record order, as the real API keeps it
        if key in tree:
            projected = _project(item, tree[key])
            if projected is not _MISSING:
                out[key] = projected
    return out or _MISSING


def project(record: JSONObject, fields: FieldTree | None) -> JSONObject:
    """The record restricted to ``fields``; missing values are omitted, as the real API does."""
    if fields is None:
        return copy.deepcopy(record)
    projected = _project(record, fields)
    return {} if projected is _MISSING else dict(projected)


# ---------------------------------------------------------------------------------------------
# The registry


class StandinRegistry(LoopbackService[Fault, RecordedRequest]):
    """An in-memory registry answering like ClinicalTrials.gov API v2. See the module docstring.

    ``studies`` is the live store (NCT ID -> full record); hold ``lock`` while changing it if a
    request may be in flight, or use ``put``/``remove``/``update``.
    """

    prefix = API_PREFIX

    def __init__(self) -> None:
        super().__init__()
        self.studies: dict[str, JSONObject] = {}
        self.data_timestamp = "2026-09-04T09:00:06"
        self.today: date | None = None  # the registry's day; None: the wall clock's
        self.api_version = API_VERSION
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._cursors: dict[str, _Cursor] = {}
        self._refresh_before: int | None = None
        # Caches for large registries, checked against len(studies); put/remove reset them.
        self._order: list[str] | None = None  # the ids in the order results come
        self._alias_count: tuple[int, int] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.registry = self
        return server

    # -- data ---------------------------------------------------------------------------------

    # Like the real registry, every change to the data is published by a refresh: /version's
    # dataTimestamp moves on, page tokens handed out before expire, and a changed record's
    # LastUpdatePostDate becomes today (the wall clock's, or `today` when a test sets it).

    def refresh(self) -> None:
        """Move dataTimestamp on, as the registry's daily refresh does."""
        with self.lock:
            stamp = datetime.fromisoformat(self.data_timestamp) + timedelta(seconds=1)
            now = datetime.now(UTC).replace(tzinfo=None)
            if self.today is not None:
                now = datetime.combine(self.today, datetime.min.time()).replace(hour=9)
            self.data_timestamp = max(stamp, now).strftime("%Y-%m-%dT%H:%M:%S")
            self._cursors.clear()

    def _today(self) -> str:
        return (self.today or datetime.now(UTC).date()).isoformat()

    def put(self, study: JSONObject) -> None:
        """Add or replace a full study record (a deep copy is stored, as it is given)."""
        nct_id = study["protocolSection"]["identificationModule"]["nctId"]
        with self.lock:
            self.studies[nct_id] = copy.deepcopy(study)
            self._changed()

    def put_all(self, studies: Iterable[JSONObject]) -> None:
        for record in studies:
            self.put(record)

    def adopt(self, records: Iterable[JSONObject]) -> None:
        """Store records as they are, without copying or refreshing: for benchmark registries
        of 100,000 studies whose records share most of their modules."""
        with self.lock:
            for record in records:
                self.studies[_nct_id(record)] = record
            self._order = self._alias_count = None

    def remove(self, nct_id: str) -> None:
        with self.lock:
            self.studies.pop(nct_id, None)
            self._changed()

    def update(
        self, nct_id: str, change: Callable[[JSONObject], object], *, touch: bool = True
    ) -> None:
        """Apply ``change`` to the stored record in place, under the lock; its
        LastUpdatePostDate becomes today unless ``change`` set one itself, or ``touch`` is
        False: NLM linking a paper, or the registry's own switch to Unknown status, keeps the
        record's old date."""
        with self.lock:
            record = self.studies[nct_id]
            status = record.setdefault(_PS, {}).setdefault("statusModule", {})
            before = copy.deepcopy(status.get("lastUpdatePostDateStruct"))
            change(record)
            if touch and status.get("lastUpdatePostDateStruct") == before:
                status["lastUpdatePostDateStruct"] = {"date": self._today(), "type": "ACTUAL"}
            self._changed()

    def merge(self, alias: str, into: str) -> None:
        """The registration `alias` becomes an alias of the study `into` (a duplicate merged
        into it): `alias` disappears as a record of its own, and `into` lists it in
        nctIdAliases. `into` must already be stored."""
        with self.lock:
            self.studies.pop(alias, None)
            ident = self.studies[into].setdefault(_PS, {}).setdefault("identificationModule", {})
            aliases = ident.setdefault("nctIdAliases", [])
            if alias not in aliases:
                aliases.append(alias)
            self._changed()

    def _changed(self) -> None:
        self._order = self._alias_count = None
        self.refresh()

    # -- faults and log -----------------------------------------------------------------------

    def refresh_at_request(self, number: int) -> None:
        """Refresh just before answering the `number`-th request from now (1: the next), as
        the daily refresh can fall in the middle of a listing."""
        with self.lock:
            self._refresh_before = len(self.requests) + number

    def _refresh_if_due(self) -> None:
        with self.lock:
            if self._refresh_before is not None and len(self.requests) + 1 >= self._refresh_before:
                self._refresh_before = None
                self.refresh()

    def expire_page_tokens(self) -> None:
        """Forget every page token handed out so far (the next use gets 400)."""
        with self.lock:
            self._cursors.clear()

    def _enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    # -- endpoints ----------------------------------------------------------------------------

    def respond(self, target: str) -> Response:
        """The normal answer to ``GET target`` (path and query)."""
        if len(target) > MAX_URL_BYTES:  # http.server decodes as latin-1: chars == bytes
            return Response.text(414, "414 Request-URI Too Large")
        parts = urlsplit(target)
        try:
            params = parse_params(parts.query)
            return self._route(parts.path, params)
        except BadRequest as exc:
            return Response.text(400, str(exc))

    def _route(self, path: str, params: dict[str, str]) -> Response:
        if path == f"{API_PREFIX}/version":
            version = {"apiVersion": self.api_version, "dataTimestamp": self.data_timestamp}
            return Response.json(version)
        if path == f"{API_PREFIX}/studies":
            return self._search(parse_studies_query(params))
        nct_id = path.removeprefix(f"{API_PREFIX}/studies/")
        if nct_id != path and nct_id and "/" not in nct_id:
            return self._single(nct_id, params)
        return Response.text(404, f"Not Found: {path}")

    def _single(self, raw_id: str, params: dict[str, str]) -> Response:
        _check_common(params, SINGLE_STUDY_PARAMS)
        nct_id = normalise_nct_id(raw_id)
        fields = _optional(params, "fields", parse_fields)
        with self.lock:
            record = self.studies.get(nct_id)
            if record is None:
                canonical = self._canonical(nct_id)
                if canonical is None:
                    return Response.text(404, f"Study {nct_id} not found")
                query = urlencode(params)
                location = f"{API_PREFIX}/studies/{canonical}" + (f"?{query}" if query else "")
                return Response(301, b"", TEXT_TYPE, (("Location", location),))
            return Response.json(render(record, fields, legacy=_legacy(params)))

    def _canonical(self, alias: str) -> str | None:
        """The study that lists `alias` among its NCTIdAliases, if any."""
        for nct_id, record in self.studies.items():
            if alias in record.get(_PS, {}).get("identificationModule", {}).get("nctIdAliases", []):
                return nct_id
        return None

    def _search(self, query: _Query) -> Response:
        with self.lock:
            after = self._resolve_token(query)
            matches = [rec for rec in self._candidates(query) if query.matches(rec)]
            remaining = [rec for rec in matches if after is None or _order_key(rec) > after]
            page = remaining[: query.page_size]
            payload: JSONObject = {
                "studies": [render(rec, query.fields, legacy=query.legacy_markup) for rec in page]
            }
            if after is None and query.count_total:
                payload["totalCount"] = len(matches)
            if len(remaining) > len(page):
                payload["nextPageToken"] = self._issue_token(query, _order_key(page[-1]))
        return Response.json(payload)

    def _candidates(self, query: _Query) -> list[JSONObject]:
        """The studies a query can match, in the order results come. With ids given, only those
        (and any whose alias is asked for): a benchmark's registry holds 100,000 studies."""
        if query.ids is not None and not self._has_aliases():
            chosen = [self.studies[i] for i in query.ids if i in self.studies]
            return sorted(chosen, key=_order_key)
        if self._order is None or len(self._order) != len(self.studies):
            self._order = sorted(self.studies, key=_key_of_id)
        return [self.studies[key] for key in self._order if key in self.studies]

    def _has_aliases(self) -> bool:
        if self._alias_count is None or self._alias_count[0] != len(self.studies):
            count = sum(
                1
                for rec in self.studies.values()
                if rec.get(_PS, {}).get("identificationModule", {}).get("nctIdAliases")
            )
            self._alias_count = (len(self.studies), count)
        return self._alias_count[1] > 0

    def _resolve_token(self, query: _Query) -> str | None:
        if query.page_token is None:
            return None
        cursor = self._cursors.get(query.page_token)
        if cursor is None:
            raise BadRequest("Invalid or expired pageToken")
        if cursor.signature != query.signature:
            raise BadRequest("pageToken does not match the query")
        return cursor.last_key

    def _issue_token(self, query: _Query, last_key: str) -> str:
        token = secrets.token_urlsafe(36)
        self._cursors[token] = _Cursor(query.signature, last_key)
        return token


def _nct_id(record: JSONObject) -> str:
    return str(record["protocolSection"]["identificationModule"]["nctId"])


def _key_of_id(nct_id: str) -> str:
    """Where a study comes in results: a fixed order that is not NCT ID order (the real API's
    results are not sorted unless asked), so nothing can rely on them being sorted."""
    return hashlib.sha256(nct_id.encode()).hexdigest()[:16] + nct_id


def _order_key(record: JSONObject) -> str:
    return _key_of_id(_nct_id(record))


def _legacy(params: dict[str, str]) -> bool:
    return params.get("markupFormat") == "legacy"


def render(record: JSONObject, fields: FieldTree | None, *, legacy: bool) -> JSONObject:
    """The record as the API sends it: projected on ``fields``; its markup fields as stored
    (markdown, CommonMark-escaped) or, with markupFormat=legacy, unescaped."""
    out = project(record, fields)
    if legacy:
        for path in MARKUP:
            node: Any = out
            for key in path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
                node[path[-1]] = MARKDOWN_ESCAPE.sub(r"\1", node[path[-1]])
    return out


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(LoopbackServer):
    registry: StandinRegistry


class _Handler(LoopbackHandler):
    server: _Server

    def do_GET(self) -> None:
        registry = self.server.registry
        registry._enter()
        try:
            self._handle(registry)
        finally:
            registry._leave()

    def _handle(self, registry: StandinRegistry) -> None:
        registry._refresh_if_due()
        fault = registry._take_fault(urlsplit(self.path).path)
        if fault is not None and fault.kind == "trickle":
            self._trickle(self._normal_response(registry), fault.seconds)
            return
        time.sleep(registry.delay + (fault.seconds if fault is not None else 0.0))
        if fault is not None and fault.kind == "drop":
            self._record(None, 0)
            self._drop()
        elif fault is not None and fault.response is not None:
            self._send(fault.response)
        else:
            self._send(self._normal_response(registry))

    def _normal_response(self, registry: StandinRegistry) -> Response:
        try:
            return registry.respond(self.path)
        except Exception as exc:  # a stand-in bug: make it visible to the test, keep serving
            return Response.text(500, f"stand-in error: {exc!r}")

    def _not_allowed(self) -> None:
        self._send(Response.text(405, "405 Method Not Allowed"), extra=(("Allow", "GET"),))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by http.server itself (bad request line, 414 over 64 KiB) as text/plain."""
        self.close_connection = True
        code = int(code)  # http.server passes HTTPStatus members
        self._send(Response.text(code, f"{code} {message or HTTPStatus(code).phrase}"))

    def _send(self, response: Response, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self._record(response.status, len(response.body))
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in (*response.headers, *extra):
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client went away; nothing to tell it
            self.close_connection = True

    def _trickle(self, response: Response, seconds: float) -> None:
        self._record(response.status, len(response.body))
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.flush()
            for index in range(len(response.body)):
                if self.server.registry._server is None:
                    break  # stopped: let the test end
                self.wfile.write(response.body[index : index + 1])
                self.wfile.flush()
                time.sleep(seconds)
        except OSError:  # the client gave up, as it should
            pass
        self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _record(self, status: int | None, size: int) -> None:
        target = getattr(self, "path", "")
        try:
            params = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
        except ValueError:
            params = {}
        message = getattr(self, "headers", None)  # absent when the request line was bad
        headers = {k.lower(): v for k, v in message.items()} if message is not None else {}
        self.server.registry._record(
            RecordedRequest(
                method=getattr(self, "command", "") or "",
                path=urlsplit(target).path,
                params=params,
                url=target,
                headers=headers,
                response_status=status,
                response_bytes=size,
            )
        )


# ---------------------------------------------------------------------------------------------
# Fixtures and record helpers


def load_fixture(name: str) -> JSONObject:
    """A fixture file from tests/fixtures/ctgov, parsed (a fresh object on every call)."""
    with (FIXTURES / name).open(encoding="utf-8") as handle:
        data: JSONObject = json.load(handle)
    return data


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ldn_studies() -> list[JSONObject]:
    """The two constructed low-dose-naltrexone records (NCT04270877 FINAL, NCT02806440)."""
    return [load_fixture("ldn_nct04270877.json"), load_fixture("ldn_nct02806440.json")]


def set_piece(record: JSONObject, piece: str, value: Any) -> None:
    """Set a scalar piece (e.g. ``OverallStatus``) in a record, creating modules as needed."""
    path = PIECES[piece]
    if path[:3] == _REFS:
        raise ValueError("use add_reference() for references")
    node = record
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def study(nct_id: str, template: str = "ldn_nct04270877.json", **pieces: Any) -> JSONObject:
    """A copy of a fixture record with its NCT ID replaced, last updated today, and the given
    pieces set.

    Example: ``study("NCT01234567", OverallStatus="TERMINATED", WhyStopped="Funding")``.
    """
    record = load_fixture(template)
    set_piece(record, "NCTId", nct_id)
    # A record made now was posted now, unless the caller says otherwise.
    set_piece(record, "LastUpdatePostDate", datetime.now(UTC).date().isoformat())
    for piece, value in pieces.items():
        set_piece(record, piece, value)
    return record


def add_reference(
    record: JSONObject, pmid: str | None, ref_type: str = "RESULT", citation: str | None = None
) -> JSONObject:
    """Append a reference to the record (in place) and return the record; without a PMID, as
    the registry lists a paper PubMed does not index."""
    references = record.setdefault(_PS, {}).setdefault("referencesModule", {})
    entry: JSONObject = {"pmid": pmid, "type": ref_type} if pmid else {"type": ref_type}
    entry["citation"] = citation if citation is not None else f"Citation for PMID {pmid}."
    references.setdefault("references", []).append(entry)
    return record


def add_retraction(record: JSONObject, pmid: str, notice: str, source: str) -> JSONObject:
    """Attach a retraction notice to the record's reference `pmid` (in place), as NLM does."""
    for entry in record[_PS]["referencesModule"]["references"]:
        if entry.get("pmid") == pmid:
            entry.setdefault("retractions", []).append({"pmid": notice, "source": source})
            return record
    raise KeyError(pmid)
