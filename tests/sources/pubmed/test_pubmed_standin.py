"""Checks that the PubMed stand-in (tests/pubmed_standin.py) answers as the recorded real
E-utilities replies in shared/pubmed/real do, and as shared/pubmed/NOTES.md describes."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from pubmed_standin import (
    CHRONIC_PAIN_REVIEW,
    CROSSOVER_RESULTS,
    DOSE_RESPONSE,
    FINAL_PROTOCOL,
    FINAL_RESULTS,
    LDN_REVIEW,
    NEW_TRIAL,
    REAL_DIR,
    RECORDED_RATE_LIMIT_BODY,
    RETRACTION_NOTICE,
    Fault,
    StandinPubmed,
    add_comment,
    article,
    ldn_new_trial,
    ldn_retraction_notice,
    ldn_world,
    mark_retracted,
)

LDN_RCTS = "low dose naltrexone AND (randomized controlled trial[pt] OR meta-analysis[pt])"
# Recorded EFetch replies in the current (2025 DTD) form, with the PMIDs they hold.
CURRENT_EFETCH = {
    "biomcp_efetch_pubmed_22663011_rct_nct_conclusions.xml": "22663011",
    "biopython_efetch_pubmed_12091962_9997.xml": "12091962,9997",
    "metapub_efetch_pubmed_35649368_erratumin.xml": "35649368",
    "metapub_efetch_pubmed_36987902_interpretation_no_nlmcategory.xml": "36987902",
}
OLDER_EFETCH = {
    "biopython_efetch_pubmed_27797938_label_only_commentin.xml": "27797938",
    "biopython_efetch_pubmed_28775130_structured_nlmcategory.xml": "28775130",
    "retractobot_efetch_pubmed_10066780_retracted_fragment.xml": "10066780",
    "retractobot_efetch_pubmed_27508352_retraction_notice.xml": "27508352",
}


def real(name: str) -> bytes:
    return (REAL_DIR / name).read_bytes()


@pytest.fixture
def pm() -> Iterator[StandinPubmed]:
    with StandinPubmed() as standin:
        standin.enforce_rate = False  # the rate tests switch it back on
        standin.put(*ldn_world())
        yield standin


@pytest.fixture
def client(pm: StandinPubmed) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pm.url, timeout=5) as http:
        yield http


def esearch(client: httpx.Client, **params: Any) -> dict[str, Any]:
    reply = client.get("/esearch.fcgi", params={"db": "pubmed", "retmode": "json", **params})
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()["esearchresult"]
    return result


def ids(client: httpx.Client, term: str, **params: Any) -> list[str]:
    found: list[str] = esearch(client, term=term, retmax=100, **params)["idlist"]
    return found


def must(elem: ET.Element | None) -> ET.Element:
    assert elem is not None
    return elem


def child_tags(elem: ET.Element, path: str) -> list[str]:
    return [c.tag for c in must(elem.find(path))]


def efetch_pmids(body: bytes) -> list[str]:
    return [
        a.findtext("MedlineCitation/PMID") or "" for a in ET.fromstring(body).iter("PubmedArticle")
    ]


# -- ESearch shapes, as recorded ---------------------------------------------------------------


def test_esearch_json_has_the_recorded_keys_and_string_numbers(client: httpx.Client) -> None:
    recorded = json.loads(real("biomcp_esearch_json_pten_d326n.json"))
    reply = client.get(
        "/esearch.fcgi",
        params={"db": "pubmed", "retmode": "json", "term": "NCT04270877[si]", "retmax": 100},
    )
    body = reply.json()
    assert reply.text.endswith("}\n")
    assert reply.headers["content-type"].startswith("application/json")
    assert body["header"] == recorded["header"]
    assert list(body["esearchresult"]) == list(recorded["esearchresult"])
    result = body["esearchresult"]
    assert (result["count"], result["retmax"], result["retstart"]) == (
        "2",
        "2",
        "0",
    )  # retmax: ids sent, not asked
    assert result["idlist"] == [FINAL_RESULTS, FINAL_PROTOCOL]
    assert result["translationset"] == []
    assert result["querytranslation"] == '"nct04270877"[Secondary Source ID]'


def test_esearch_xml_has_the_recorded_layout(client: httpx.Client) -> None:
    recorded = real("biopython_esearch_pubmed_biopython.xml")
    reply = client.get("/esearch.fcgi", params={"db": "pubmed", "term": "naltrexone"})
    assert reply.content.splitlines()[:2] == recorded.splitlines()[:2]  # declaration and DOCTYPE
    assert reply.content.endswith(b"</eSearchResult>\n")
    assert b"<IdList>\n<Id>" in reply.content
    mine, theirs = ET.fromstring(reply.content), ET.fromstring(recorded)
    assert [e.tag for e in mine] == [e.tag for e in theirs]
    assert mine.findtext("Count") == "6"


def test_retmax_defaults_to_20_and_pages_with_retstart(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    pm.put(
        *(
            article(30000000 + n, f"Naltrexone note {n}", create_date=date(2019, 1, 1 + n))
            for n in range(25)
        )
    )
    first = esearch(client, term="naltrexone note")
    assert (first["count"], first["retmax"], len(first["idlist"])) == ("25", "20", 20)
    rest = esearch(client, term="naltrexone note", retstart=20)
    assert (rest["retmax"], rest["retstart"]) == ("5", "20")
    assert not set(first["idlist"]) & set(rest["idlist"])


def test_retstart_past_the_pubmed_ceiling_is_an_in_band_error_with_malformed_json(
    client: httpx.Client,
) -> None:
    reply = client.get(
        "/esearch.fcgi",
        params={"db": "pubmed", "retmode": "json", "term": "naltrexone", "retstart": 9999},
    )
    assert reply.status_code == 200
    assert "\\'retstart\\' cannot be larger than 9998" in reply.text  # \' is not JSON
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert (
        client.get("/esearch.fcgi", params={"term": "naltrexone", "retstart": 9998}).status_code
        == 200
    )


def test_a_word_that_matches_nothing_is_dropped_and_reported(client: httpx.Client) -> None:
    recorded = json.loads(real("biomcp_esearch_json_apc_not_retracted_errorlist.json"))[
        "esearchresult"
    ]
    result = esearch(client, term="naltrexone zzyzx NOT retracted publication[pt]", retmax=100)
    assert list(result) == list(recorded)
    assert result["errorlist"] == {"phrasesnotfound": ["zzyzx"], "fieldsnotfound": []}
    assert result["count"] == "6"  # the query widened to "naltrexone NOT ..."
    assert (
        result["querytranslation"]
        == '"naltrexone"[All Fields] NOT "retracted publication"[Publication Type]'
    )


def test_no_hits_is_a_normal_reply_with_no_items_found(client: httpx.Client) -> None:
    recorded = ET.fromstring(real("biopython_esearch_protein_abcxyz_phrasenotfound.xml"))
    reply = client.get("/esearch.fcgi", params={"db": "pubmed", "term": "abcXYZ"})
    mine = ET.fromstring(reply.content)
    assert [e.tag for e in mine] == [e.tag for e in recorded]
    assert ET.tostring(must(mine.find("ErrorList"))) == ET.tostring(
        must(recorded.find("ErrorList"))
    )
    assert mine.findtext("QueryTranslation") == recorded.findtext("QueryTranslation")
    result = esearch(client, term="NCT09999999[si]")
    assert result["count"] == "0"
    assert result["warninglist"]["outputmessages"] == ["No items found."]
    assert "errorlist" not in result


def test_bad_db_and_empty_term_are_errors_inside_a_200(client: httpx.Client) -> None:
    bad = client.get("/esearch.fcgi", params={"db": "fleegle", "term": "x", "retmode": "json"})
    assert (bad.status_code, bad.json()) == (
        200,
        {
            "header": {"type": "esearch", "version": "0.3"},
            "esearchresult": {"ERROR": "Invalid db name specified: fleegle"},
        },
    )
    assert (
        b"<ERROR>Invalid db name specified: fleegle</ERROR>"
        in client.get("/esearch.fcgi", params={"db": "fleegle", "term": "x"}).content
    )
    assert "ERROR" in esearch(client, term="")
    assert ids(client, "naltrexone")  # db defaults to pubmed (NBK25499)


# -- the term language -------------------------------------------------------------------------


def test_si_finds_the_papers_that_list_a_trial(client: httpx.Client) -> None:
    assert ids(client, "NCT02806440[si]") == [CROSSOVER_RESULTS]
    assert ids(client, "nct04270877 [si]") == [FINAL_RESULTS, FINAL_PROTOCOL]
    assert ids(client, "clinicaltrials.gov/NCT04270877[si]") == [FINAL_RESULTS, FINAL_PROTOCOL]
    assert len(ids(client, "clinicaltrials.gov[si]")) == 3
    assert (
        ids(client, f"{DOSE_RESPONSE}[uid]")
        == ids(client, f"{DOSE_RESPONSE}[pmid]")
        == [DOSE_RESPONSE]
    )


def test_boolean_queries_with_publication_types(client: httpx.Client) -> None:
    assert ids(client, LDN_RCTS) == [FINAL_RESULTS, CROSSOVER_RESULTS]
    assert ids(client, '"Randomized Controlled Trial"[pt] AND fibromyalgia[ti]') == [
        FINAL_RESULTS,
        CROSSOVER_RESULTS,
    ]
    assert ids(client, "naltrexone NOT review[pt]") == [
        FINAL_RESULTS,
        CROSSOVER_RESULTS,
        FINAL_PROTOCOL,
        DOSE_RESPONSE,
    ]
    assert ids(client, "clinical trial protocol[pt]") == [FINAL_PROTOCOL]
    assert ids(client, '"low-dose naltrexone"[tiab] AND chronic pain') == [CHRONIC_PAIN_REVIEW]
    assert ids(client, "naltrexone[mh] AND review[pt]") == []


def test_a_thousand_terms_ored_in_one_post_are_one_search(pm: StandinPubmed) -> None:
    """A client ORs a thousand cited trials' `[si]` terms in one POSTed search (about 17 kB):
    answered as the same set as each asked alone, not a recursion error."""
    term = " OR ".join(
        [f"NCT{n:08d}[si]" for n in range(1, 999)] + ["NCT04270877[si]", "NCT02806440[si]"]
    )
    with httpx.Client(base_url=pm.url, timeout=30) as http:
        reply = http.post("/esearch.fcgi", data={"db": "pubmed", "retmode": "json", "term": term})
    assert reply.status_code == 200, reply.text[:300]
    found = set(reply.json()["esearchresult"]["idlist"])
    assert found == {FINAL_RESULTS, FINAL_PROTOCOL, CROSSOVER_RESULTS}


def test_operators_run_left_to_right_without_precedence(client: httpx.Client) -> None:
    # (review OR protocol) AND trials-journal words: only the protocol; with precedence it would add reviews.
    assert ids(client, "review[pt] OR clinical trial protocol[pt] AND randomise") == [
        FINAL_PROTOCOL
    ]
    assert set(ids(client, "review[pt] OR (clinical trial protocol[pt] AND randomise)")) == {
        FINAL_PROTOCOL,
        CHRONIC_PAIN_REVIEW,
        LDN_REVIEW,
    }


@pytest.mark.parametrize(
    "term",
    [
        "asthma[Title:~3]",
        "#1 AND naltrexone",
        "naltrexone and placebo",
        "(naltrexone",
        "naltrexone[journal]",
        '"unbalanced',
        "[pt]",
    ],
)
def test_terms_the_stand_in_does_not_understand_are_refused(
    client: httpx.Client, term: str
) -> None:
    reply = client.get("/esearch.fcgi", params={"term": term})
    assert (reply.status_code, reply.text[:9]) == (400, "stand-in:")


def test_default_order_is_most_recent_entry_first_and_pub_date_sorts(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    # Entered 2025, published 2019: EDAT is back-dated to 2019 (TB-2008), so it sorts last.
    pm.put(
        article(
            39000001, "Naltrexone, a late record", year=2019, month=6, create_date=date(2025, 3, 1)
        )
    )
    order = ids(client, "naltrexone")
    assert order == [
        FINAL_RESULTS,
        CROSSOVER_RESULTS,
        FINAL_PROTOCOL,
        CHRONIC_PAIN_REVIEW,
        DOSE_RESPONSE,
        "39000001",
        LDN_REVIEW,
    ]
    assert ids(client, "naltrexone", sort="pub_date")[:2] == [FINAL_RESULTS, CROSSOVER_RESULTS]
    assert (
        ids(client, "naltrexone", sort="JournalName")[0] == CHRONIC_PAIN_REVIEW
    )  # "Current pain..."
    assert (
        client.get("/esearch.fcgi", params={"term": "x", "sort": "most+cited"}).status_code == 400
    )


# -- dates -------------------------------------------------------------------------------------


def test_date_windows_on_entry_create_publication_and_modification(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    late = article(
        39000001, "Naltrexone, a late record", year=2019, month=6, create_date=date(2025, 3, 1)
    )
    pm.put(late)
    window = {"mindate": "2025/01/01", "maxdate": "2025/12/31"}
    assert ids(client, "naltrexone", datetype="crdt", **window) == ["39000001"]
    assert ids(client, "naltrexone", datetype="edat", **window) == []  # EDAT was back-dated
    assert ids(client, 'naltrexone AND ("2025/01/01"[crdt] : "2025/12/31"[crdt])') == ["39000001"]
    assert ids(client, "naltrexone AND 2025/03[crdt]") == ["39000001"]
    assert ids(client, "naltrexone", datetype="pdat", mindate="2018", maxdate="2018") == [
        LDN_REVIEW
    ]
    result = esearch(
        client, term="naltrexone", datetype="edat", mindate="2024/01", maxdate="2024/01"
    )
    assert result["idlist"] == [FINAL_RESULTS, CROSSOVER_RESULTS]
    assert (
        result["querytranslation"] == '"naltrexone"[All Fields] AND 2024/01:2024/01[Date - Entry]'
    )


def test_reldate_becomes_an_absolute_range_in_the_translation(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    recorded = (
        ET.fromstring(
            real("biopython_esearch_pubmed_cancer_reldate60_edat_usehistory.xml")
        ).findtext("QueryTranslation")
        or ""
    )
    pm.today = date(2025, 11, 26)
    pm.put(ldn_new_trial(create_date=date(2025, 11, 20)))
    result = esearch(client, term="naltrexone OR placebo", reldate=60, datetype="edat")
    assert result["idlist"] == [NEW_TRIAL]
    assert result["querytranslation"].endswith(") AND 2025/09/27:2025/11/26[Date - Entry]")
    assert recorded.endswith(") AND 2025/09/27:2025/11/26[Date - Entry]")


@pytest.mark.parametrize(
    "params",
    [
        {"mindate": "2024/01/01", "datetype": "edat"},
        {"reldate": "5"},
        {"mindate": "2024/13", "maxdate": "2024", "datetype": "pdat"},
    ],
)
def test_incomplete_date_windows_are_refused(client: httpx.Client, params: dict[str, str]) -> None:
    assert client.get("/esearch.fcgi", params={"term": "naltrexone", **params}).status_code == 400


def test_retraction_moves_the_revision_date_but_not_the_entry_dates(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    pm.today = date(2026, 2, 3)
    pm.put(ldn_retraction_notice(create_date=date(2026, 2, 2)))
    before = ET.fromstring(pm.get(DOSE_RESPONSE)).find("PubmedData/History")
    mark_retracted(pm, DOSE_RESPONSE)
    fetched = ET.fromstring(
        client.get("/efetch.fcgi", params={"db": "pubmed", "id": DOSE_RESPONSE}).content
    )
    record = fetched.find("PubmedArticle")
    assert record is not None
    assert ET.tostring(must(record.find("PubmedData/History"))) == ET.tostring(must(before))
    assert record.findtext("MedlineCitation/DateRevised/Year") == "2026"
    types = [p.text for p in record.iterfind(".//PublicationType")]
    assert types == ["Journal Article", "Retracted Publication"]
    link = record.find(".//CommentsCorrections[@RefType='RetractionIn']")
    assert link is not None and link.findtext("PMID") == RETRACTION_NOTICE
    window = {"mindate": "2026/02/01", "maxdate": "2026/02/28"}
    assert ids(client, "naltrexone", datetype="mdat", **window) == [
        RETRACTION_NOTICE,
        DOSE_RESPONSE,
    ]
    assert ids(client, "naltrexone", datetype="edat", **window) == [RETRACTION_NOTICE]
    assert ids(client, "retracted publication[pt]") == [DOSE_RESPONSE]
    assert ids(client, "retraction of publication[pt]") == [RETRACTION_NOTICE]


def test_an_update_can_leave_the_revision_date_alone(pm: StandinPubmed) -> None:
    revised = ET.fromstring(pm.get(DOSE_RESPONSE)).findtext("MedlineCitation/DateRevised/Year")
    pm.update(
        DOSE_RESPONSE,
        lambda a: add_comment(a, "ErratumIn", None, "Pain Med. 2021;22(1):1."),
        touch=False,
    )
    record = ET.fromstring(pm.get(DOSE_RESPONSE))
    assert record.findtext("MedlineCitation/DateRevised/Year") == revised
    assert record.find(".//CommentsCorrections[@RefType='ErratumIn']/PMID") is None
    # The list goes where the DTD puts it: before MeshHeadingList.
    tags = child_tags(record, "MedlineCitation")
    assert tags.index("CommentsCorrectionsList") < tags.index("MeshHeadingList")


# -- EFetch ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "pmids"), CURRENT_EFETCH.items())
def test_recorded_current_records_are_served_byte_for_byte(
    pm: StandinPubmed, client: httpx.Client, name: str, pmids: str
) -> None:
    recorded = real(name)
    assert pm.put_xml(recorded) == pmids.split(",")
    reply = client.get(
        "/efetch.fcgi",
        params={"db": "pubmed", "id": pmids, "retmode": "xml", "rettype": "abstract"},
    )
    assert reply.content == recorded
    assert reply.headers["content-type"].startswith("text/xml")


@pytest.mark.parametrize(("name", "pmid"), OLDER_EFETCH.items())
def test_older_and_fragment_records_are_served_verbatim_inside_a_current_set(
    pm: StandinPubmed, client: httpx.Client, name: str, pmid: str
) -> None:
    recorded = real(name)
    pm.put_xml(REAL_DIR / name)
    reply = client.get("/efetch.fcgi", params={"db": "pubmed", "id": pmid})
    assert efetch_pmids(reply.content) == [pmid]
    start = recorded.index(b"<PubmedArticle>")
    end = recorded.index(b"</PubmedArticle>") + len(b"</PubmedArticle>")
    assert recorded[start:end] in reply.content
    assert ids(client, f"{pmid}[uid]") == [pmid]


def test_recorded_records_are_searchable(pm: StandinPubmed, client: httpx.Client) -> None:
    pm.put_xml(real("biomcp_efetch_pubmed_22663011_rct_nct_conclusions.xml"))
    pm.put_xml(real("retractobot_efetch_pubmed_10066780_retracted_fragment.xml"))
    pm.put_xml(real("retractobot_efetch_pubmed_27508352_retraction_notice.xml"))
    assert ids(client, "NCT01245062[si]") == ["22663011"]
    assert ids(client, "trametinib AND randomized controlled trial[pt]") == ["22663011"]
    assert ids(client, "retracted publication[pt]") == ["10066780"]
    assert ids(client, "retraction of publication[pt]") == ["27508352"]  # upper case, empty UI
    assert ids(
        client, "22663011[uid]", datetype="edat", mindate="2012/06/06", maxdate="2012/06/06"
    ) == ["22663011"]


def test_unknown_ids_are_absent_and_order_is_as_asked(client: httpx.Client) -> None:
    reply = client.get(
        "/efetch.fcgi", params={"db": "pubmed", "id": f"{LDN_REVIEW},99999999,{FINAL_RESULTS}"}
    )
    assert efetch_pmids(reply.content) == [LDN_REVIEW, FINAL_RESULTS]
    assert reply.content.startswith(b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC')
    assert b"</PubmedArticle><PubmedArticle>" in reply.content and not reply.content.endswith(b"\n")
    none = client.get("/efetch.fcgi", params={"db": "pubmed", "id": "99999999"})
    assert none.content.endswith(b"<PubmedArticleSet>\n</PubmedArticleSet>")


def test_efetch_without_ids_says_so_in_band(client: httpx.Client) -> None:
    reply = client.get("/efetch.fcgi", params={"db": "pubmed"})
    assert reply.status_code == 200
    assert ET.fromstring(reply.content).findtext("ERROR") == "Empty id list - nothing todo"


def test_many_ids_go_by_post_and_a_long_get_is_414(pm: StandinPubmed, client: httpx.Client) -> None:
    many = ",".join(str(30000000 + n) for n in range(1500)) + f",{FINAL_RESULTS}"
    assert client.get("/efetch.fcgi", params={"db": "pubmed", "id": many}).status_code == 414
    reply = client.post(
        "/efetch.fcgi",
        data={"db": "pubmed", "id": many, "tool": "trial-monitor", "email": "ops@example.org"},
    )
    assert efetch_pmids(reply.content) == [FINAL_RESULTS]
    recorded = pm.requests_to("/efetch.fcgi")[-1]
    assert (recorded.method, recorded.params["tool"], recorded.params["email"]) == (
        "POST",
        "trial-monitor",
        "ops@example.org",
    )


def test_the_ldn_world_abstracts_say_where_the_conclusion_is(client: httpx.Client) -> None:
    body = client.get(
        "/efetch.fcgi",
        params={"db": "pubmed", "id": f"{FINAL_RESULTS},{CROSSOVER_RESULTS},{FINAL_PROTOCOL}"},
    ).content
    final, crossover, protocol = ET.fromstring(body).iter("PubmedArticle")
    conclusion = final.find(".//AbstractText[@NlmCategory='CONCLUSIONS']")
    assert conclusion is not None and "not better than placebo" in (conclusion.text or "")
    sections = crossover.findall(".//AbstractText")
    assert [s.get("Label") for s in sections][-1] == "INTERPRETATION"
    assert all(s.get("NlmCategory") is None for s in sections)
    assert [p.text for p in protocol.iterfind(".//PublicationType")] == [
        "Clinical Trial Protocol",
        "Journal Article",
    ]
    assert (
        protocol.find(".//AbstractText[@NlmCategory='CONCLUSIONS']") is not None
    )  # types decide, not sections
    assert [p.get("UI") for p in final.iterfind(".//PublicationType")] == ["D016428", "D016449"]


def test_built_records_follow_the_dtd_order_and_write_non_ascii_as_references() -> None:
    text = article(
        1,
        "Ørsted's naltrexone ≥ placebo",
        nct_ids=["NCT04270877"],
        comments_corrections=[("CommentIn", "2", "X. 2024.")],
        mesh=["Humans"],
    )
    assert "&#xd8;rsted" in text and "&#x2265;" in text and text.isascii()
    root = ET.fromstring(text)
    citation, data = root
    assert [c.tag for c in citation] == [
        "PMID",
        "DateCompleted",
        "DateRevised",
        "Article",
        "MedlineJournalInfo",
        "CommentsCorrectionsList",
        "MeshHeadingList",
    ]
    assert child_tags(citation, "Article") == [
        "Journal",
        "ArticleTitle",
        "ELocationID",
        "AuthorList",
        "Language",
        "DataBankList",
        "PublicationTypeList",
    ]
    assert [p.get("PubStatus") for p in data.iter("PubMedPubDate")] == [
        "entrez",
        "pubmed",
        "medline",
    ]


# -- history server ----------------------------------------------------------------------------


def test_history_server_pages_an_esearch_through_efetch(client: httpx.Client) -> None:
    result = esearch(client, term="naltrexone", usehistory="y", retmax=0)
    assert result["webenv"].startswith("MCID_") and len(result["webenv"]) == 29
    assert (result["querykey"], result["idlist"], result["count"]) == ("1", [], "6")
    assert list(result)[:5] == ["count", "retmax", "retstart", "querykey", "webenv"]
    pages = [
        client.post(
            "/efetch.fcgi",
            data={
                "db": "pubmed",
                "WebEnv": result["webenv"],
                "query_key": "1",
                "retstart": start,
                "retmax": 4,
            },
        )
        for start in (0, 4)
    ]
    assert [efetch_pmids(p.content) for p in pages] == [
        ids(client, "naltrexone")[:4],
        ids(client, "naltrexone")[4:],
    ]
    second = esearch(client, term="review[pt]", usehistory="y", WebEnv=result["webenv"])
    assert (second["querykey"], second["webenv"]) == ("2", result["webenv"])


def test_an_unknown_or_expired_webenv_is_an_in_band_error(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    webenv = esearch(client, term="naltrexone", usehistory="y")["webenv"]
    pm.expire_history()
    reply = client.get(
        "/efetch.fcgi", params={"db": "pubmed", "WebEnv": webenv, "query_key": "1", "retmax": 20}
    )
    assert (reply.status_code, ET.fromstring(reply.content).findtext("ERROR")) == (
        200,
        "Unable to obtain query #1",
    )
    assert (
        client.get("/efetch.fcgi", params={"WebEnv": webenv, "query_key": "1"}).status_code == 200
    )  # in-band too


# -- ESummary ----------------------------------------------------------------------------------


def test_esummary_json_is_minimal_but_real_shaped(client: httpx.Client) -> None:
    body = client.get(
        "/esummary.fcgi",
        params={"db": "pubmed", "retmode": "json", "id": f"{FINAL_RESULTS},99999999"},
    ).json()
    assert body["header"] == {"type": "esummary", "version": "0.3"}
    assert body["result"]["uids"] == [FINAL_RESULTS, "99999999"]
    summary = body["result"][FINAL_RESULTS]
    assert (summary["source"], summary["pubdate"], summary["pubtype"]) == (
        "Lancet Rheumatol",
        "2024 Mar",
        ["Journal Article", "Randomized Controlled Trial"],
    )
    assert "error" in body["result"]["99999999"]


def test_esummary_without_ids_answers_the_recorded_error(client: httpx.Client) -> None:
    assert client.get("/esummary.fcgi").content == real("biopython_esummary_error_no_id.xml")


# -- rate limits -------------------------------------------------------------------------------


def test_more_than_three_requests_a_second_without_a_key_get_429(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    pm.enforce_rate = True
    replies = [
        client.get("/esearch.fcgi", params={"term": "naltrexone", "retmode": "json"})
        for _ in range(4)
    ]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    recorded = json.loads(real("biomcp_esummary_json_rate_limited.json"))
    refused = replies[-1].json()
    assert list(refused) == list(recorded)
    assert refused == {
        "error": "API rate limit exceeded",
        "api-key": "127.0.0.1",
        "count": "4",
        "limit": "3",
    }
    time.sleep(1.05)  # the window slides
    assert client.get("/esearch.fcgi", params={"term": "naltrexone"}).status_code == 200


def test_a_valid_key_allows_ten_a_second_and_a_wrong_key_is_refused(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    pm.enforce_rate = True
    pm.api_keys.add("k-valid")
    codes = [
        client.get("/esearch.fcgi", params={"term": "naltrexone", "api_key": "k-valid"}).status_code
        for _ in range(11)
    ]
    assert codes == [200] * 10 + [429]
    wrong = client.get("/esearch.fcgi", params={"term": "naltrexone", "api_key": "k-typo"})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "API key invalid")


def test_with_the_limit_off_peak_rate_tells_whether_a_client_kept_to_it(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    for _ in range(5):
        client.get("/esearch.fcgi", params={"term": "naltrexone"})
    assert pm.peak_rate() == 5
    assert pm.peak_rate("k-valid") == 0


# -- faults and the request log ----------------------------------------------------------------


def test_faults_come_once_then_normal_answers(pm: StandinPubmed, client: httpx.Client) -> None:
    pm.fail_next(
        Fault.status(503),
        Fault.rate_limited(),
        Fault.error("Search Backend failed: boom"),
        Fault.html(),
        Fault.garbled(),
    )
    params = {"term": "naltrexone", "retmode": "json"}
    replies = [client.get("/esearch.fcgi", params=params) for _ in range(6)]
    assert [r.status_code for r in replies] == [503, 429, 200, 200, 200, 200]
    assert (
        replies[1].content
        == RECORDED_RATE_LIMIT_BODY
        == real("biomcp_esummary_json_rate_limited.json")
    )
    assert replies[2].json()["esearchresult"] == {"ERROR": "Search Backend failed: boom"}
    assert replies[3].headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        replies[4].json()
    assert replies[5].json()["esearchresult"]["count"] == "6"
    assert [r.response_status for r in pm.requests_to("/esearch.fcgi")] == [
        503,
        429,
        200,
        200,
        200,
        200,
    ]


def test_dropped_and_slow_answers(pm: StandinPubmed, client: httpx.Client) -> None:
    pm.fail_next(Fault.drop(), Fault.slow(0.5))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/efetch.fcgi", params={"id": FINAL_RESULTS})
    with pytest.raises(httpx.ReadTimeout):
        client.get("/efetch.fcgi", params={"id": FINAL_RESULTS}, timeout=0.1)
    pm.fail_always(Fault.error("Unable to obtain query #1"))
    reply = client.get("/efetch.fcgi", params={"id": FINAL_RESULTS})
    assert ET.fromstring(reply.content).findtext("ERROR") == "Unable to obtain query #1"
    pm.fail_always(None)
    assert efetch_pmids(client.get("/efetch.fcgi", params={"id": FINAL_RESULTS}).content) == [
        FINAL_RESULTS
    ]


def test_unknown_parameters_and_endpoints_are_refused(client: httpx.Client) -> None:
    assert client.get("/esearch.fcgi", params={"term": "x", "field": "title"}).status_code == 400
    assert client.get("/esearch.fcgi", params=[("term", "x"), ("term", "y")]).status_code == 400
    assert client.get("/einfo.fcgi").status_code == 404
    assert (
        client.get("/efetch.fcgi", params={"id": FINAL_RESULTS, "retmode": "json"}).status_code
        == 400
    )


def test_new_papers_appear_for_an_incremental_window(
    pm: StandinPubmed, client: httpx.Client
) -> None:
    today = datetime(2026, 3, 10, 9, 0).date()
    pm.put(ldn_new_trial(create_date=today))
    window = {"datetype": "crdt", "mindate": "2026/03/07", "maxdate": "2026/03/10"}
    assert ids(client, LDN_RCTS, **window) == [NEW_TRIAL]
    assert ids(client, LDN_RCTS) == [NEW_TRIAL, FINAL_RESULTS, CROSSOVER_RESULTS]


def test_real_files_are_where_the_stand_in_looks() -> None:
    assert real("biopython_pubmed_250101.dtd").startswith(b"<!--")
    # put_xml refuses text with no article rather than storing nothing silently.
    with StandinPubmed() as standin, pytest.raises(ValueError, match="PubmedArticle"):
        standin.put_xml("<eSearchResult/>")
