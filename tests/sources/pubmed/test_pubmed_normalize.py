"""PubMed's XML → Paper, over the real recorded answers in shared/pubmed/real/ (provenance in its
README) and over hostile ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.models import Notice, NoticeKind, PaperRole
from monitor.sources.pubmed.normalize import RejectedDocument, parse_articles

pytestmark = pytest.mark.no_database

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "pubmed"


def real(name: str) -> bytes:
    return (REAL / name).read_bytes()


def one(name: str):  # type: ignore[no-untyped-def]
    parsed = parse_articles(real(name))
    assert parsed.rejected == ()
    (paper,) = parsed.papers
    return paper


def test_every_recorded_efetch_answer_parses_and_every_other_answer_is_refused_in_one_line() -> (
    None
):
    for path in sorted(REAL.glob("*.xml")):
        if "efetch" in path.name:
            parsed = parse_articles(path.read_bytes())
            assert parsed.papers and parsed.rejected == (), path.name
        else:
            with pytest.raises(RejectedDocument) as caught:
                parse_articles(path.read_bytes())
            assert "\n" not in str(caught.value), path.name


def test_a_randomized_trial_lists_its_trial_and_its_conclusion_is_quoted() -> None:
    paper = one("biomcp_efetch_pubmed_22663011_rct_nct_conclusions.xml")
    assert paper.pmid == "22663011"
    assert paper.nct_ids == ("NCT01245062",)
    assert paper.role is PaperRole.RESULTS
    assert "Randomized Controlled Trial" in paper.publication_types
    assert paper.conclusion is not None
    assert paper.conclusion.startswith("Trametinib, as compared with chemotherapy, improved")
    assert paper.url == "https://pubmed.ncbi.nlm.nih.gov/22663011/"
    # Comments are not notices: nothing here changes what the paper can be trusted for.
    assert paper.notices == ()
    assert not paper.retracted


def test_a_conclusion_labelled_interpretation_without_nlm_category_is_found() -> None:
    paper = one("metapub_efetch_pubmed_36987902_interpretation_no_nlmcategory.xml")
    assert paper.conclusion is not None
    assert paper.conclusion.startswith("The yearly number of patients over the age of 75")


def test_inline_markup_does_not_cut_the_conclusion_short() -> None:
    paper = one("biopython_efetch_pubmed_27797938_label_only_commentin.xml")
    assert paper.conclusion == (
        "Prediagnostic leucocyte telomere length and genetic variants at the TERT gene region"
        " were associated with risk of pancreatic cancer."
    )
    # 48 references (`Cites`) and a comment: none is a notice.
    assert paper.notices == ()


def test_a_retracted_paper_carries_its_notices_one_without_a_pmid_known_by_its_source() -> None:
    paper = parse_articles(real("retractobot_efetch_pubmed_10066780_retracted_fragment.xml"))
    (retracted,) = paper.papers
    assert retracted.retracted
    assert Notice(NoticeKind.RETRACTION, "11905463", "J Biol Chem. 2001 Mar 30;276(13):10576") in (
        retracted.notices
    )
    (erratum,) = [n for n in retracted.notices if n.kind is NoticeKind.ERRATUM]
    assert erratum.pmid is None
    assert erratum.key == "ErratumIn:j biol chem 1999 may 7;274(19):13728"


def test_an_erratum_with_its_pmid() -> None:
    paper = one("metapub_efetch_pubmed_35649368_erratumin.xml")
    assert [(n.kind, n.pmid) for n in paper.notices] == [(NoticeKind.ERRATUM, "35767954")]
    assert not paper.retracted


def test_a_publishers_retraction_notice_is_read_by_name_whatever_its_case() -> None:
    paper = one("retractobot_efetch_pubmed_27508352_retraction_notice.xml")
    assert paper.publication_types == ("RETRACTION OF PUBLICATION",)
    assert paper.status == "Publisher"
    # It retracts another paper (RetractionOf); it is not itself retracted.
    assert not paper.retracted
    assert paper.role is PaperRole.OTHER


def test_a_review_is_a_review() -> None:
    papers = parse_articles(real("biopython_efetch_pubmed_12091962_9997.xml")).papers
    assert [(p.pmid, p.role) for p in papers] == [
        ("12091962", PaperRole.REVIEW),
        ("9997", PaperRole.OTHER),
    ]


def test_an_entity_declaration_is_refused_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        b"<ArticleTitle>&b;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
        b"</PubmedArticleSet>"
    )
    with pytest.raises(RejectedDocument, match="declares XML entities"):
        parse_articles(bomb)


def test_an_article_without_a_pmid_is_rejected_alone_and_hostile_text_is_one_line() -> None:
    document = (
        "<PubmedArticleSet>"
        "<PubmedArticle><MedlineCitation><PMID>not-a-pmid</PMID></MedlineCitation></PubmedArticle>"
        "<PubmedArticle><MedlineCitation Status='MEDLINE'><PMID Version='1'>38258677</PMID>"
        "<Article><ArticleTitle>Low dose\nnaltrexone&#x2028;\t<i>for</i> pain"
        + "!"
        * 900
        + "</ArticleTitle>"
        "<DataBankList><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>"
        "<AccessionNumberList><AccessionNumber>nct04270877</AccessionNumber>"
        "<AccessionNumber>NCT00000000</AccessionNumber></AccessionNumberList></DataBank>"
        "</DataBankList></Article></MedlineCitation></PubmedArticle>"
        "</PubmedArticleSet>"
    ).encode()
    parsed = parse_articles(document)
    assert parsed.rejected == ("article 1 of the answer has no valid PMID ('not-a-pmid')",)
    (paper,) = parsed.papers
    assert paper.nct_ids == ("NCT04270877",)  # upper-cased; the all-zero number is no trial
    assert paper.title is not None
    assert paper.title.startswith("Low dose naltrexone for pain!!!")
    assert len(paper.title) == 500 and paper.title.endswith("…")


def test_a_deleted_citation_is_said_to_be_deleted_and_a_book_chapter_is_passed_over() -> None:
    document = (
        b"<PubmedArticleSet>"
        b"<PubmedBookArticle><BookDocument><PMID>20301295</PMID></BookDocument>"
        b"</PubmedBookArticle>"
        b"<DeleteCitation><PMID Version='1'>32845365</PMID><PMID>0</PMID></DeleteCitation>"
        b"</PubmedArticleSet>"
    )
    parsed = parse_articles(document)
    assert parsed.papers == () and parsed.rejected == ()
    assert parsed.deleted == ("32845365",)
