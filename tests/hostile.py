"""Hostile input. Registry records for property-based tests (hypothesis): a real record's
tracked fields, each kept, dropped, nulled, given the wrong type, made huge, or filled with
Markdown-escaped, HTML-ish or control-character text. And whole answers, served with 200 and
the right content type, that no parser should take for data (tests/run/test_bad_answers.py)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st
from standin import load_fixture, parse_fields, project

from monitor.sources.ctgov.normalize import TRACKED_FIELDS

BASE = project(
    load_fixture("biomcp_get_nct00791778_20260902_raw.json"), parse_fields(",".join(TRACKED_FIELDS))
)

NASTY_TEXT = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "\\*\\*Results\\*\\* \\_posted\\_",
            "<script>alert(1)</script>",
            "Bcc: x@example.org\r\nSubject: hijacked",
            "\x00\x07\x1b[31m",
            "&lt;b&gt;",
            "{{ 7*7 }} {% raw %}",
            "ACTIVE_NOT_RECRUITING",
            "2022-13-45",
            "PHASE2",
        ]
    ),
    st.builds(lambda n: "x" * n, st.integers(min_value=10_000, max_value=200_000)),
)
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    NASTY_TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
DROP = object()

# Where each tracked value sits in a record.
PATHS = [
    ("protocolSection", "identificationModule", "briefTitle"),
    ("protocolSection", "statusModule", "overallStatus"),
    ("protocolSection", "statusModule", "whyStopped"),
    ("protocolSection", "statusModule", "primaryCompletionDateStruct", "date"),
    ("protocolSection", "statusModule", "primaryCompletionDateStruct", "type"),
    ("protocolSection", "statusModule", "completionDateStruct", "date"),
    ("protocolSection", "statusModule", "resultsFirstPostDateStruct", "date"),
    ("protocolSection", "statusModule", "lastUpdatePostDateStruct", "date"),
    ("protocolSection", "designModule", "enrollmentInfo", "count"),
    ("protocolSection", "designModule", "enrollmentInfo", "type"),
    ("protocolSection", "designModule", "phases"),
    ("protocolSection", "referencesModule", "references"),
    ("protocolSection", "statusModule"),
    ("protocolSection", "designModule", "enrollmentInfo"),
    ("hasResults",),
]
REFERENCE = st.fixed_dictionaries(
    {},
    optional={
        "pmid": st.one_of(st.from_regex(r"\A[0-9]{1,9}\Z"), ODD),
        "type": st.one_of(st.sampled_from(["RESULT", "DERIVED", "BACKGROUND"]), ODD),
        "citation": NASTY_TEXT,
    },
)


def _set(record: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    node: Any = record
    for key in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        return
    if value is DROP:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A copy of the real record with some tracked values replaced by hostile ones."""
    record = copy.deepcopy(BASE)
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=6, unique=True)):
        if path[-1] == "references":
            value: object = draw(st.one_of(st.lists(REFERENCE, max_size=5), ODD))
        else:
            value = draw(st.one_of(st.just(DROP), ODD))
        _set(record, path, value)
    return record


# -- hostile answers ---------------------------------------------------------------------------

DEEP = 100_000  # lists inside lists: far deeper than Python's JSON parser recurses (about 200 kB)

# Bodies of a 200 application/json answer to /studies (or /version).
REGISTRY_ANSWERS: dict[str, bytes] = {
    "nested 100,000 deep": b'{"studies":' + b"[" * DEEP + b"]" * DEEP + b"}",
    "not UTF-8": b'{"studies":[{"protocolSection":{"identificationModule":{"briefTitle":"\xff"}}}]}',
    "cut off": b'{"studies":[{"protocolSection":{"identificationModule":{"nctId":"NCT0',
    "a list, not an object": b"[]",
    "studies not a list": b'{"studies":"none"}',
    "a study that is not an object": b'{"studies":[NaN]}',
    "a page token that is not a string": b'{"studies":[],"nextPageToken":{"a":1}}',
}

# Bodies of a 200 answer from ESearch (JSON) and from EFetch (XML).
ESEARCH_ANSWERS: dict[str, bytes] = {
    "nested 100,000 deep": b'{"esearchresult":' + b"[" * DEEP + b"]" * DEEP + b"}",
    "not UTF-8": b'{"esearchresult":{"count":"1","idlist":["\xff"]}}',
    "cut off": b'{"header":{"type":"esearch","version":"0.3"},"esearchresult":{"cou',
}
EFETCH_ANSWERS: dict[str, bytes] = {
    "not UTF-8": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<PubmedArticleSet><PubmedArticle>\xff\xfe</PubmedArticle></PubmedArticleSet>"
    ),
    "cut off": b'<?xml version="1.0" ?>\n<PubmedArticleSet><PubmedArticle><MedlineCitation St',
    "an entity declared": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
        b"<PubmedArticleSet>&a;</PubmedArticleSet>"
    ),
}
