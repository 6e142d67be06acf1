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

from monitor.models import (
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
)

_WHITESPACE = re.compile(r"\s+")
# A record's own id is always NCT and eight digits; anything else never reaches the store.
_NCT_ID = re.compile(r"NCT\d{8}")
_PMID = re.compile(r"\d{1,9}")
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_ENUM = re.compile(r"[A-Z][A-Z0-9_]{0,40}")


class IncompleteRecord(ValueError):
    """The record lacks the fields that define a trial."""


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
    nct_id = study_id(study)
    status = _enum(_path(study, "protocolSection", "statusModule", "overallStatus"))
    if nct_id is None or status is None:
        raise IncompleteRecord(f"record {nct_id or '(no valid NCT id)'} has no overall status")
    identification = _path(study, "protocolSection", "identificationModule")
    status_module = _path(study, "protocolSection", "statusModule")
    enrollment = _path(study, "protocolSection", "designModule", "enrollmentInfo")
    completion = _path(status_module, "primaryCompletionDateStruct")
    snapshot = Snapshot(
        nct_id=nct_id,
        title=_text(_path(identification, "briefTitle")),
        status=status,
        last_known_status=_enum(_path(status_module, "lastKnownStatus")),
        why_stopped=_text(_path(status_module, "whyStopped")),
        enrollment_count=_count(_path(enrollment, "count")),
        enrollment_type=_enum(_path(enrollment, "type")),
        has_results=_path(study, "hasResults") is True,
        results_first_posted=_date(_path(status_module, "resultsFirstPostDateStruct", "date")),
        primary_completion_date=_date(_path(completion, "date")),
        primary_completion_type=_enum(_path(completion, "type")),
        last_update_posted=_date(_path(status_module, "lastUpdatePostDateStruct", "date")),
        publications=_publications(
            _path(study, "protocolSection", "referencesModule", "references")
        ),
        phases=_phases(_path(study, "protocolSection", "designModule", "phases")),
        completion_date=_date(_path(status_module, "completionDateStruct", "date")),
        aliases=_aliases(_path(identification, "nctIdAliases"), nct_id),
    )
    raw = json.dumps(study, ensure_ascii=False, separators=(",", ":"))
    return Observation(snapshot=snapshot, raw=raw)


def _path(node: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(value: object, limit: int = 2000) -> str | None:
    """Registry text on one line: titles may carry CR/LF, which must never reach a header."""
    if not isinstance(value, str):
        return None
    flat = _WHITESPACE.sub(" ", value).strip()
    return flat[:limit] or None


def _enum(value: object) -> str | None:
    return value if isinstance(value, str) and _ENUM.fullmatch(value) else None


def _date(value: object) -> str | None:
    return value if isinstance(value, str) and _DATE.fullmatch(value) else None


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**9:
        return None
    return value


def _phases(value: object) -> str | None:
    if not isinstance(value, list):
        return None
    phases = [p for p in value if isinstance(p, str) and _ENUM.fullmatch(p)]
    return "|".join(phases) or None


def _aliases(values: object, nct_id: str) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    found = {alias for alias in map(_nct_id, values) if alias and alias != nct_id}
    return tuple(sorted(found))


def _publications(references: object) -> tuple[Publication, ...]:
    """RESULT and DERIVED references, by PMID, or by citation when the reference has none."""
    if not isinstance(references, list):
        return ()
    found: dict[str, Publication] = {}
    for reference in references:
        kind = _path(reference, "type")
        if kind not in RESULT_REFERENCE_TYPES:
            continue
        pmid = _pmid(_path(reference, "pmid"))
        citation = _text(_path(reference, "citation"), limit=4000) or ""
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
