"""The words an editor reads: each kind of change, each claim, each registry value, in plain
English. Every message, `status`, `history` and `verify` take their wording from here, one
module per subject: values, claims, changes, articles, the digest.

Depends on the typed values only (no templates, no database), so each phrase is a one-line test
and a new kind of change that has no words yet is a type error here, not a wrong email.
"""

from monitor.editorial.words.articles import (
    ArticleNote,
    article_name,
    article_note,
)
from monitor.editorial.words.changes import (
    ChangeWords,
    change_role,
    change_words,
    conclusion_words,
    notice_label,
    notice_short,
    paper_citation,
    paper_label,
)
from monitor.editorial.words.claims import (
    agreement_words,
    claim_field,
    claim_field_name,
    claim_sentence,
    claim_words,
)
from monitor.editorial.words.digest import (
    category_words,
    headline,
    importance_name,
    index_words,
    nearness_words,
    off_topic_intro,
    section_heading,
    summary,
    trial_facts,
    where_words,
)
from monitor.editorial.words.findings import (
    FindingWords,
    agreements,
    finding_short,
    finding_words,
    other_papers,
    stated_words,
    undecided,
    verdict,
    verdict_short,
)
from monitor.editorial.words.values import (
    MONTHS,
    PHASE_WORDS,
    STATUS_WORDS,
    and_words,
    data_timestamp_words,
    date_words,
    enrollment_words,
    moment_words,
    phase_words,
    sentence,
    short_moment,
    status_words,
)

__all__ = [
    "MONTHS",
    "PHASE_WORDS",
    "STATUS_WORDS",
    "ArticleNote",
    "ChangeWords",
    "FindingWords",
    "agreement_words",
    "agreements",
    "and_words",
    "article_name",
    "article_note",
    "category_words",
    "change_role",
    "change_words",
    "claim_field",
    "claim_field_name",
    "claim_sentence",
    "claim_words",
    "conclusion_words",
    "data_timestamp_words",
    "date_words",
    "enrollment_words",
    "finding_short",
    "finding_words",
    "headline",
    "importance_name",
    "index_words",
    "moment_words",
    "nearness_words",
    "notice_label",
    "notice_short",
    "off_topic_intro",
    "other_papers",
    "paper_citation",
    "paper_label",
    "phase_words",
    "section_heading",
    "sentence",
    "short_moment",
    "stated_words",
    "status_words",
    "summary",
    "trial_facts",
    "undecided",
    "verdict",
    "verdict_short",
    "where_words",
]
