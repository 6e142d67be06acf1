"""Recorded API v2 records → Snapshot, and records that are not what they should be."""

from __future__ import annotations

import json

import pytest
from standin import load_fixture, parse_fields, project

from monitor.core.models import Publication, Retraction, Snapshot
from monitor.sources.ctgov.normalize import (
    TRACKED_FIELDS,
    IncompleteRecord,
    InvalidRecord,
    normalize,
)


def tracked(name: str) -> dict[str, object]:
    """The record as the registry sends it when asked for the tracked fields only."""
    return project(load_fixture(name), parse_fields(",".join(TRACKED_FIELDS)))


def test_a_completed_trial_with_results_and_papers() -> None:
    snapshot = normalize(tracked("biomcp_get_nct00791778_20260902_raw.json")).snapshot
    assert snapshot == Snapshot(
        nct_id="NCT00791778",
        title=(
            "Comparison of Nexavar/Placebo as Maintenance Therapy for Patients With Advanced "
            "Ovarian or Primary Peritoneal Cancer"
        ),
        status="COMPLETED",
        enrollment_count=246,
        enrollment_type="ACTUAL",
        has_results=True,
        results_first_posted="2012-11-30",
        primary_completion_date="2011-07",
        primary_completion_type="ACTUAL",
        last_update_posted="2015-09-28",
        publications=(
            Publication("23591401", "RESULT", snapshot.publications[0].citation),
            Publication("37185961", "DERIVED", snapshot.publications[1].citation),
        ),
        phases="PHASE2",
        completion_date="2012-12",
        conditions=("Ovarian Neoplasms",),
        interventions=("Sorafenib (Nexavar, BAY43-9006)", "Placebo"),
        sponsor="Bayer",
        start_date="2008-11",
    )
    assert snapshot.publications[0].citation.startswith("Herzog TJ, Scambia G")


def test_a_terminated_trial_keeps_why_it_stopped() -> None:
    snapshot = normalize(tracked("biomcp_get_nct02576665_full_20260903.json")).snapshot
    assert snapshot.status == "TERMINATED"
    assert snapshot.why_stopped
    assert not snapshot.has_results
    assert [p.type for p in snapshot.publications] == ["DERIVED", "DERIVED"]


def test_the_full_record_and_the_restricted_one_give_the_same_snapshot() -> None:
    name = "biomcp_get_nct00791778_20260902_raw.json"
    assert normalize(load_fixture(name)).snapshot == normalize(tracked(name)).snapshot


def test_the_raw_record_is_kept_as_received() -> None:
    record = tracked("biomcp_get_nct02576665_full_20260903.json")
    assert json.loads(normalize(record).raw or "") == record


def test_results_and_derived_papers_are_kept_by_pmid_or_else_by_citation() -> None:
    record = tracked("biomcp_get_nct02576665_full_20260903.json")
    record["protocolSection"]["referencesModule"]["references"] = [  # type: ignore[index]
        {"pmid": "123", "type": "BACKGROUND", "citation": "background reading"},
        {"type": "RESULT", "citation": "Results in a journal PubMed does not index."},
        {"pmid": "not-a-number", "type": "RESULT"},
        {"pmid": "456", "type": "RESULT"},
        {
            "pmid": "789",
            "type": "DERIVED",
            "citation": "A review.",
            "retractions": [{"pmid": "999", "source": "Pain. 2025"}, {"pmid": "x"}],
        },
    ]
    assert normalize(record).snapshot.publications == (
        Publication("456", "RESULT", ""),
        Publication("789", "DERIVED", "A review.", (Retraction("999", "Pain. 2025"),)),
        Publication(None, "RESULT", "Results in a journal PubMed does not index."),
    )


def test_aliases_and_the_last_known_status_are_read() -> None:
    record = tracked("biomcp_get_nct02576665_full_20260903.json")
    record["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT00000001", "junk"]  # type: ignore[index]
    status = record["protocolSection"]["statusModule"]  # type: ignore[index]
    status["overallStatus"], status["lastKnownStatus"] = "UNKNOWN", "RECRUITING"
    snapshot = normalize(record).snapshot
    assert snapshot.aliases == ("NCT00000001",)
    assert snapshot.status_value == "UNKNOWN RECRUITING"


def test_a_record_whose_id_is_not_an_nct_id_is_rejected() -> None:
    record = tracked("biomcp_get_nct02576665_full_20260903.json")
    record["protocolSection"]["identificationModule"]["nctId"] = "NCT02576665 FREE MONEY"  # type: ignore[index]
    with pytest.raises(InvalidRecord):
        normalize(record)


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"protocolSection": {}},
        {"protocolSection": {"identificationModule": {"nctId": "NCT1"}}},
        [],
        None,
        "x",
    ],
)
def test_a_record_without_id_or_status_is_rejected_whole(record: object) -> None:
    with pytest.raises(IncompleteRecord):
        normalize(record)


def test_oddly_typed_fields_count_as_absent() -> None:
    record = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT04270877", "briefTitle": 42},
            "statusModule": {"overallStatus": "COMPLETED", "primaryCompletionDateStruct": "2022"},
            "designModule": {"enrollmentInfo": {"count": "99", "type": ["ACTUAL"]}},
            "referencesModule": {"references": {"pmid": "1"}},
        },
        "hasResults": "yes",
    }
    assert normalize(record).snapshot == Snapshot(nct_id="NCT04270877", status="COMPLETED")


def test_line_breaks_in_titles_are_flattened() -> None:
    record = tracked("biomcp_get_nct02576665_full_20260903.json")
    record["protocolSection"]["identificationModule"]["briefTitle"] = "A\r\nBcc: x@y.org\tB"  # type: ignore[index]
    assert normalize(record).snapshot.title == "A Bcc: x@y.org B"
