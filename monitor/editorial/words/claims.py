"""An article's claims in words: what it says of a trial beside what the registry says, as the
article check, `verify` and the digest's claim changes put it."""

from __future__ import annotations

from typing import assert_never

from monitor.core.claims import Agreement, ClaimField
from monitor.editorial.words.values import date_words, phase_words, status_words


def claim_sentence(field: ClaimField | None, said: str, registry: str | None) -> str:
    """ "The article says 99 participants; the registry now says 101 (actual)"."""
    article, now = claim_words(field, said), claim_words(field, registry)
    return f"The article says {article}; the registry now says {now}"


def claim_words(field: ClaimField | None, value: str | None) -> str:
    """What a claim's value means, e.g. enrollment "99" → "99 participants"."""
    if value is None:
        return "no completion date" if field is ClaimField.COMPLETION_YEAR else "nothing"
    match field:
        case ClaimField.STATUS:
            return status_words(value)
        case ClaimField.ENROLLMENT:
            count, _, kind = value.partition(" ")
            count = "an unknown number of" if count == "unknown" else count
            return f"{count} participants" + (f" ({kind.lower()})" if kind else "")
        case ClaimField.ENROLLMENT_TYPE:
            return f"the enrollment is {value.lower()}"
        case ClaimField.PHASE:
            return phase_words(value)
        case ClaimField.RESULTS_POSTED:
            return "results are posted" if value == "true" else "no results are posted"
        case ClaimField.COMPLETION_YEAR:
            return (
                f"completion in {value}" if len(value) == 4 else f"completion {date_words(value)}"
            )
        case None:
            return value
        case _:
            assert_never(field)


def agreement_words(agreement: Agreement) -> str:
    """Whether the registry agrees with a claim, as `verify`'s table says it."""
    match agreement:
        case Agreement.AGREES:
            return "yes"
        case Agreement.DISAGREES:
            return "NO"
        case Agreement.UNKNOWN:
            return "unknown"
        case _:
            assert_never(agreement)


def subject_name(subject: ClaimField) -> str:
    match subject:
        case ClaimField.STATUS:
            return "Status"
        case ClaimField.ENROLLMENT:
            return "Enrollment"
        case ClaimField.ENROLLMENT_TYPE:
            return "Enrollment type"
        case ClaimField.PHASE:
            return "Phase"
        case ClaimField.RESULTS_POSTED:
            return "Results on ClinicalTrials.gov"
        case ClaimField.COMPLETION_YEAR:
            return "Completion"
        case _:
            assert_never(subject)


def registry_words(subject: ClaimField, value: str | None) -> str:
    """The registry's side, said as a claim about it would be (phase 2, 99 participants)."""
    if value is None:
        return "nothing" if subject is not ClaimField.COMPLETION_YEAR else "no completion date"
    if subject is ClaimField.COMPLETION_YEAR:
        return date_words(value)
    return claim_words(subject, value)


def claim_field_name(field: ClaimField) -> str:
    """The claim's subject as a table heading: "enrollment type"."""
    return field.value.replace("_", " ")


def claim_field(stored: str | None) -> ClaimField | None:
    """A claim change keeps its field in `detail`; anything else there gets plain words."""
    try:
        return ClaimField(stored or "")
    except ValueError:
        return None
