"""API v2 study JSON → Snapshot.

The registry's JSON is input we do not control: every field is read defensively, and a value of
the wrong type counts as absent rather than crashing the cycle. A record without the fields that
define it (its NCT id and overall status) is rejected as a whole, so that a partial response can
never be mistaken for a trial whose status vanished.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from monitor.core.models import (
    BACKGROUND_REFERENCE,
    PHASES,
    RESULT_REFERENCE_TYPES,
    Observation,
    Publication,
    Retraction,
    Snapshot,
)

# The `fields` the registry client asks for: exactly what a Snapshot is built from.
TRACKED_FIELDS = (
    "NCTId",
    "NCTIdAlias",
    "BriefTitle",
    "OverallStatus",
    "LastKnownStatus",
    "WhyStopped",
    "EnrollmentCount",
    "EnrollmentType",
    "HasResults",
    "ResultsFirstPostDate",
    "PrimaryCompletionDate",
    "PrimaryCompletionDateType",
    "LastUpdatePostDate",
    "ReferencePMID",
    "ReferenceType",
    "ReferenceCitation",
    "RetractionPMID",
    "RetractionSource",
    "Phase",
    "CompletionDate",
    "Condition",
    "InterventionName",
    "LeadSponsorName",
    "StartDate",
    "Acronym",
)

_WHITESPACE = re.compile(r"\s+")
# What must never reach a database or an email: control characters (NUL among them, which
# PostgreSQL refuses in text), bidi overrides that reorder what a reader sees, and lone
# surrogates, which no encoding can store.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
# Lengths as the registry bounds them (briefTitle 300, whyStopped 250 characters; a citation is
# allowed more), so that no value outgrows its column.
TITLE_CHARS, WHY_STOPPED_CHARS, CITATION_CHARS, NAME_CHARS = 300, 250, 4000, 200
ACRONYM_CHARS = 40
_ARMS = ("protocolSection", "armsInterventionsModule")
_REFERENCES = ("protocolSection", "referencesModule", "references")
_SPONSOR = ("protocolSection", "sponsorCollaboratorsModule")
STATUS_CHARS, TYPE_CHARS = 40, 20
# A record's own id is always NCT and eight digits; anything else never reaches the store.
_NCT_ID = re.compile(r"NCT\d{8}")
_PMID = re.compile(r"\d{1,9}")
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_ENUM = re.compile(r"[A-Z][A-Z0-9_]{0,40}")


class RejectedRecord(ValueError):
    """A record the monitor will not store: it names the record and why."""


class IncompleteRecord(RejectedRecord):
    """The record lacks the fields that define a trial (its NCT id, its overall status): the
    mark of a partial answer or a changed format, which the sanity gate watches for."""


class InvalidRecord(RejectedRecord):
    """The record has those fields, but not as the API defines them (an NCT id that is no NCT
    id, a status that is no status): one bad record, turned away on its own."""


def study_id(study: object) -> str | None:
    """The NCT id of a raw study, or None when it has none (or not one of the API's form)."""
    value = _path(study, "protocolSection", "identificationModule", "nctId")
    return _nct_id(value)


def _nct_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = value.strip().upper()
    return cleaned if _NCT_ID.fullmatch(cleaned) else None


def normalize(study: object) -> Observation:
    given_id = _path(study, "protocolSection", "identificationModule", "nctId")
    given_status = _path(study, "protocolSection", "statusModule", "overallStatus")
    if given_id is None or given_status is None:
        name = given_id if isinstance(given_id, str) and given_id else "(no NCT id)"
        raise IncompleteRecord(f"record {_shown(name)} has no NCT id or no overall status")
    nct_id, status = study_id(study), _enum(given_status)
    if nct_id is None:
        raise InvalidRecord(f"a record's NCT id {_shown(given_id)} is not an NCT id")
    if status is None:
        raise InvalidRecord(f"record {nct_id}'s status {_shown(given_status)} is not a status")
    identification = _path(study, "protocolSection", "identificationModule")
    status_module = _path(study, "protocolSection", "statusModule")
    enrollment = _path(study, "protocolSection", "designModule", "enrollmentInfo")
    completion = _path(status_module, "primaryCompletionDateStruct")
    snapshot = Snapshot(
        nct_id=nct_id,
        title=_text(_path(identification, "briefTitle"), TITLE_CHARS),
        status=status,
        last_known_status=_enum(_path(status_module, "lastKnownStatus")),
        why_stopped=_text(_path(status_module, "whyStopped"), WHY_STOPPED_CHARS),
        enrollment_count=_count(_path(enrollment, "count")),
        enrollment_type=_enum(_path(enrollment, "type"), TYPE_CHARS),
        has_results=_path(study, "hasResults") is True,
        results_first_posted=_date(_path(status_module, "resultsFirstPostDateStruct", "date")),
        primary_completion_date=_date(_path(completion, "date")),
        primary_completion_type=_enum(_path(completion, "type"), TYPE_CHARS),
        last_update_posted=_date(_path(status_module, "lastUpdatePostDateStruct", "date")),
        publications=_publications(_path(study, *_REFERENCES)),
        background=_publications(_path(study, *_REFERENCES), background=True),
        phases=_phases(_path(study, "protocolSection", "designModule", "phases")),
        completion_date=_date(_path(status_module, "completionDateStruct", "date")),
        aliases=_aliases(_path(identification, "nctIdAliases"), nct_id),
        conditions=_names(_path(study, "protocolSection", "conditionsModule", "conditions")),
        interventions=_names(
            [_path(i, "name") for i in _list(_path(study, *_ARMS, "interventions"))]
        ),
        sponsor=_text(_path(study, *_SPONSOR, "leadSponsor", "name"), NAME_CHARS),
        start_date=_date(_path(status_module, "startDateStruct", "date")),
        acronym=_text(_path(identification, "acronym"), ACRONYM_CHARS),
    )
    return Observation(snapshot=snapshot, raw=_raw(study))


def _raw(study: object) -> str:
    """The record as received, for the history; ASCII-escaped only when it holds something
    (a lone surrogate) that UTF-8 cannot store."""
    raw = json.dumps(study, ensure_ascii=False, separators=(",", ":"))
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raw = json.dumps(study, ensure_ascii=True, separators=(",", ":"))
    return raw


def _shown(value: object) -> str:
    """A value for a log line: quoted, cleaned and short, whatever the registry put in it."""
    text = _INVISIBLE.sub("", repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _path(node: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(value: object, limit: int) -> str | None:
    """Registry text on one line, cleaned and bounded: titles may carry CR/LF, which must never
    reach a header, and anything may carry NUL or a bidi override."""
    if not isinstance(value, str):
        return None
    flat = _WHITESPACE.sub(" ", _INVISIBLE.sub("", value)).strip()
    return flat[:limit].rstrip() or None


def _enum(value: object, limit: int = STATUS_CHARS) -> str | None:
    ok = isinstance(value, str) and len(value) <= limit and _ENUM.fullmatch(value)
    return value if ok and isinstance(value, str) else None


def _date(value: object) -> str | None:
    return value if isinstance(value, str) and _DATE.fullmatch(value) else None


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**9:
        return None
    return value


def _phases(value: object) -> str | None:
    """The API's phases, each once: at most "NA|EARLY_PHASE1|…|PHASE4"."""
    if not isinstance(value, list):
        return None
    known = [p for p in value if isinstance(p, str) and p in PHASES]
    return "|".join(dict.fromkeys(known)) or None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _names(values: object) -> tuple[str, ...]:
    """Conditions or intervention names: cleaned, each once, at most 40."""
    names = [_text(value, NAME_CHARS) for value in _list(values)]
    return tuple(dict.fromkeys(n for n in names if n))[:40]


def _aliases(values: object, nct_id: str) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    found = {alias for alias in map(_nct_id, values) if alias and alias != nct_id}
    return tuple(sorted(found))


def _publications(references: object, background: bool = False) -> tuple[Publication, ...]:
    """RESULT and DERIVED references, by PMID, or by citation when the reference has none;
    `background`: the BACKGROUND references the registry marks retracted (real record
    NCT00554515: reference 17255299, retracted by 30087149)."""
    if not isinstance(references, list):
        return ()
    found: dict[str, Publication] = {}
    for reference in references:
        kind = _path(reference, "type")
        if background:
            if kind != BACKGROUND_REFERENCE or not _retractions(reference):
                continue
        elif kind not in RESULT_REFERENCE_TYPES:
            continue
        pmid = _pmid(_path(reference, "pmid"))
        citation = _text(_path(reference, "citation"), CITATION_CHARS) or ""
        if pmid is None and not citation:
            continue
        publication = Publication(pmid, kind, citation, _retractions(reference))
        found.setdefault(publication.key, publication)
    return tuple(sorted(found.values(), key=lambda p: (p.pmid is None, int(p.pmid or 0), p.key)))


def _pmid(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and _PMID.fullmatch(value.strip()) else None


def _retractions(reference: object) -> tuple[Retraction, ...]:
    notices = _path(reference, "retractions")
    if not isinstance(notices, list):
        return ()
    found = {
        pmid: Retraction(pmid, _text(_path(notice, "source"), limit=200))
        for notice in notices
        if (pmid := _pmid(_path(notice, "pmid")))
    }
    return tuple(found[pmid] for pmid in sorted(found, key=int))
