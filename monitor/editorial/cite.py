"""`trial-monitor cite`: an article's text → a draft `[[articles]]` block for config.toml. Pure.

The article comes as plain text, Markdown or HTML. This finds the trials (NCT ids) and papers
(PubMed ids) it cites and, in the sentences that mention each trial, what it says of it: status,
enrollment, phase, completion year and design words. It is a draft for an editor to check, so it
reads only what is plainly written next to a trial's id, says where the trial is discussed, and
names what it could not read rather than guess. (Reading the text into lines, whatever its
format, is articletext.py's.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from monitor.core.articles import StatedOutcome
from monitor.core.claims import ClaimField
from monitor.editorial.articletext import NCT_MENTION, Line, article_lines, pmids, title_of

_T = TypeVar("_T")


@dataclass(frozen=True)
class TrialDraft:
    nct_id: str
    status: str | None  # "COMPLETED" when the article says completed/finished
    enrollment: int | None
    phase: str | None  # "PHASE2", or "PHASE2|PHASE3" for "phase 2/3"
    completion_year: int | None
    design: tuple[str, ...]  # "randomized", "double-blind", … in _DESIGNS' order
    passage: str | None  # where the article discusses it: 'Heading: “The opening of the…”'
    unread: tuple[str, ...]  # the claims it could not read: "status", …, "completion year"
    outcome: StatedOutcome = StatedOutcome.NOT_STATED  # what the article says it found
    passages: tuple[str, ...] = ()  # the other places that discuss it, in other sections


@dataclass(frozen=True)
class ArticleDraft:
    title: str | None
    trials: tuple[TrialDraft, ...]  # in order of first mention
    pmids: tuple[str, ...]  # in order of first mention


@dataclass(frozen=True)
class _Context:
    """What one sentence (or reference line) says about one trial it names."""

    trial: str
    text: str  # the part of the sentence about this trial
    sentence: str
    section: str | None
    references: bool


_SENTENCE_END = re.compile(r"[.!?…]+[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset({"al", "vs", "e.g", "i.e", "cf", "dr", "prof", "approx", "fig", "no"})
# Where a sentence naming two trials is cut between them (see _parts).
_CLAUSE_BREAK = re.compile(r"[;,]|\b(?:and|while|whereas|but|versus|vs)\b", re.IGNORECASE)

_PEOPLE = r"(?:participants|patients|women|men|adults|children|people|subjects|volunteers)"
_UNITS = r"(?:weeks?|months?|days?|years?|hours?|mg|ml|percent|sites?|cent(?:er|re)s?|countries)"
# Words that may stand between a count and its people ("58 fibromyalgia patients"), but not
# units or prepositions: "12 weeks in women" is no enrollment.
_FILLER = (
    rf"(?:(?!{_UNITS}\b|(?:of|in|with|for|and|or|to|at|from|by|on|per|than)\b)[a-z][a-z-]*\s+)"
)
_COUNT = r"(\d{1,3}(?:,\d{3})+|\d+)"
_ENROLLMENT = re.compile(
    rf"(?<![\w.,])(?<!phase )(?<!type ){_COUNT}\s+{_FILLER}{{0,2}}{_PEOPLE}\b"
    rf"|\b(?:enrolled|enrolling|randomi[sz]ed)\s+(?:a total of\s+|about\s+|approximately\s+)?"
    rf"{_COUNT}\b(?![.:,]?\d)(?!\s*(?:%|{_UNITS}\b))"
    rf"|\bn\s*=\s*{_COUNT}\b",
    re.IGNORECASE,
)
_PHASE = re.compile(
    r"\b(?i:phase)[\s-]*(IV|I{1,3}|[0-4])[ab]?\b"
    r"(?:\s*[/–-]\s*(?:(?i:phase)\s*)?(IV|I{1,3}|[0-4])[ab]?\b)?"
)
_PHASE_NAMES = {"0": "EARLY_PHASE1", "1": "PHASE1", "2": "PHASE2", "3": "PHASE3", "4": "PHASE4"}
_PHASE_NAMES |= {"I": "PHASE1", "II": "PHASE2", "III": "PHASE3", "IV": "PHASE4"}
_COMPLETED = re.compile(r"\b(?:completed|finished)\b", re.IGNORECASE)
# "has not yet completed", "is expected to be completed", "will be finished": not a status.
_NOT_YET = re.compile(r"\b(?:not|never|yet|be)\s+(?:\w+\s+)?$", re.IGNORECASE)
_NOT_THE_TRIAL = re.compile(r"\s+(?:enrol?lment|enrolling|recruitment|recruiting)\b", re.I)
_MONTHS = r"jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
# Only words of a date may stand between "completed" and its year: "completed in late 2022",
# "Completed 2022"; in "completed, and a 2024 paper…" the year is not the completion's.
_WHEN = (
    r"(?:in|during|by|on|at|around|early|late|mid|the|end|start|beginning|of|date|was|is"
    rf"|(?:{_MONTHS})[a-z]*\.?|spring|summer|autumn|fall|winter|q[1-4]|\d{{1,2}}(?:st|nd|rd|th)?)"
)
_COMPLETION_YEAR = re.compile(
    rf"\b(?:complet(?:ed|ion)|finished)\b(?:[\s,:–-]+{_WHEN}\b){{0,5}}[\s,:–-]+"
    rf"((?:19|20)\d{{2}})\b(?!\s*{_PEOPLE})",
    re.IGNORECASE,
)
_DESIGNS = (
    ("randomized", re.compile(r"(?<!non-)(?<!non )\brandomi[sz]ed\b", re.I)),
    ("double-blind", re.compile(r"\bdouble[- ]blind(?:ed)?\b", re.I)),
    ("placebo-controlled", re.compile(r"\bplacebo[- ]controlled\b", re.I)),
    ("crossover", re.compile(r"\bcross[- ]?over\b", re.I)),
    ("open-label", re.compile(r"\bopen[- ]label\b", re.I)),
)
_PASSAGE_WIDTH = 60
_PASSAGES_MORE = 3  # other passages drafted, at most
# What an article says a trial found, strongest reading first: harm and mixed findings before
# "no benefit", and "no benefit" before "benefit", which its words contain.
_OUTCOMES = (
    (
        StatedOutcome.HARM,
        re.compile(
            r"\b(?:harm(?:ful|ed)?|worse(?:ned)? than placebo|increased (?:the )?risk|"
            r"serious adverse (?:events|effects) (?:were|was) (?:more|higher))\b",
            re.I,
        ),
    ),
    (
        StatedOutcome.MIXED,
        re.compile(
            r"\b(?:mixed (?:results|findings|evidence)|(?:were|was) mixed|"
            r"inconclusive|equivocal)\b",
            re.I,
        ),
    ),
    (
        StatedOutcome.NO_BENEFIT,
        re.compile(
            r"\b(?:no (?:\w+ )?(?:benefit|effect|difference|improvement)|"
            r"not (?:\w+ )?(?:better|superior|effective)|did not (?:\w+ )?(?:reduce|improve|"
            r"differ|help|show)|failed to|ineffective|no better than)\b",
            re.I,
        ),
    ),
    (
        StatedOutcome.BENEFIT,
        re.compile(
            r"\b(?:(?:significant(?:ly)?|meaningful(?:ly)?|clear(?:ly)?) "
            r"(?:reduc|improv|benefit|better)\w*|(?:reduced|improved|relieved|eased) "
            r"(?:\w+ )?(?:pain|symptoms|fatigue)|was effective|showed (?:a )?benefit|"
            r"found (?:a )?benefit|beneficial|superior to placebo)\b",
            re.I,
        ),
    ),
)


def read_article(text: str) -> ArticleDraft:
    """The trials and papers an article cites, and what it says of each trial."""
    lines = article_lines(text)
    by_trial: dict[str, list[_Context]] = {}  # in order of first mention
    for context in (context for line in lines for context in _contexts(line)):
        by_trial.setdefault(context.trial, []).append(context)
    return ArticleDraft(
        title=title_of(lines),
        trials=tuple(_draft(trial, contexts) for trial, contexts in by_trial.items()),
        pmids=_unique(pmid for line in lines for pmid in pmids(line.text)),
    )


def config_block(draft: ArticleDraft) -> str:
    """The `[[articles]]` block for config.toml, with comments on what to check and fill in."""
    lines = [
        "# From the article: check each value against the text before pasting it into config.toml."
    ]
    if not draft.trials and not draft.pmids:
        lines.append("# Found no NCT id and no PubMed id in it: nothing for the monitor to watch.")
    lines += [
        "[[articles]]",
        f"title = {_string(draft.title)}"
        if draft.title
        else 'title = ""  # could not read a title: fill it in',
        'url = ""  # the article\'s address: fill it in',
        _ids_line("trials", [t.nct_id for t in draft.trials], "found no NCT id in the article"),
        _ids_line("pmids", draft.pmids, "found no PubMed id in the article"),
    ]
    for trial in draft.trials:
        lines += ["", *_claims_table(trial)]
    return "\n".join(lines) + "\n"


# Ids, sentences and the claims in them


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _contexts(line: Line) -> Iterator[_Context]:
    # A reference entry is read whole: its full stops end fields ("(2020). PubMed 1"), not
    # sentences, and its id stands at the end.
    whole = line.references or line.level > 0
    for sentence in [line.text] if whole else _sentences(line.text):
        for trial, part in _parts(sentence):
            yield _Context(trial, part, sentence, line.section, line.references)


def _sentences(text: str) -> list[str]:
    sentences, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        before = text[max(start, end.start() - 10) : end.start()].split()  # its last word
        if before and before[-1].lower() in _ABBREVIATIONS:
            continue
        sentences.append(text[start : end.end()].strip())
        start = end.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _parts(sentence: str) -> list[tuple[str, str]]:
    """Each trial the sentence names, with the part of it about that trial. Between two trials'
    ids it is cut at the last clause break: what follows an id is about its trial, and what
    just precedes the next id ("and the Danish study (NCT…)") is about the next."""
    mentions = [(m.start(), m.end(), m[0].upper()) for m in NCT_MENTION.finditer(sentence)]
    if not mentions:
        return []
    cuts, owners = [0], [mentions[0][2]]
    for (_, end, trial), (start, _, following) in pairwise(mentions):
        if following != trial:
            breaks = [m.start() for m in _CLAUSE_BREAK.finditer(sentence, end, start)]
            cuts.append(breaks[-1] if breaks else start)
            owners.append(following)
    cuts.append(len(sentence))
    return [(owner, sentence[a:b]) for owner, (a, b) in zip(owners, pairwise(cuts), strict=True)]


def _draft(trial: str, contexts: list[_Context]) -> TrialDraft:
    # The body's sentences first: the reference list only fills in what they leave out.
    ordered = sorted(contexts, key=lambda context: context.references)
    texts = [context.text for context in ordered]
    status, enrollment = _first(_status, texts), _first(_enrollment, texts)
    phase, year = _first(_phase, texts), _first(_completion_year, texts)
    read: dict[ClaimField, object] = {
        ClaimField.STATUS: status,
        ClaimField.ENROLLMENT: enrollment,
        ClaimField.PHASE: phase,
        ClaimField.COMPLETION_YEAR: year,
    }
    return TrialDraft(
        nct_id=trial,
        status=status,
        enrollment=enrollment,
        phase=phase,
        completion_year=year,
        design=tuple(name for name, word in _DESIGNS if any(word.search(t) for t in texts)),
        passage=_passage(ordered[0]),
        unread=tuple(field.value.replace("_", " ") for field, v in read.items() if v is None),
        outcome=_first(_outcome, [c.text for c in ordered if not c.references])
        or StatedOutcome.NOT_STATED,
        passages=_more_passages(ordered),
    )


def _outcome(text: str) -> StatedOutcome | None:
    """What a sentence about a trial says it found, when it says it plainly."""
    return next((outcome for outcome, words in _OUTCOMES if words.search(text)), None)


def _more_passages(ordered: Sequence[_Context]) -> tuple[str, ...]:
    """The places besides the first that discuss the trial: one per other section of the
    body (a reference entry is not a passage to re-check)."""
    first = ordered[0].section if ordered else None
    sections: dict[str | None, _Context] = {}
    for context in ordered:
        if not context.references and context.section != first:
            sections.setdefault(context.section, context)
    return tuple(_passage(c) for c in sections.values())[:_PASSAGES_MORE]


def _first(read: Callable[[str], _T | None], texts: Sequence[str]) -> _T | None:
    return next((value for value in map(read, texts) if value is not None), None)


def _status(text: str) -> str | None:
    for match in _COMPLETED.finditer(text):
        negated = _NOT_YET.search(text, max(0, match.start() - 40), match.start())
        if not negated and not _NOT_THE_TRIAL.match(text, match.end()):
            return "COMPLETED"
    return None


def _enrollment(text: str) -> int | None:
    match = _ENROLLMENT.search(text)
    return int(next(g for g in match.groups() if g).replace(",", "")) if match else None


def _phase(text: str) -> str | None:
    match = _PHASE.search(text)
    if match is None:
        return None
    return "|".join(_unique(_PHASE_NAMES[g] for g in match.groups() if g))


def _completion_year(text: str) -> int | None:
    match = _COMPLETION_YEAR.search(text)
    return int(match[1]) if match else None


def _passage(context: _Context) -> str:
    sentence = context.sentence
    if len(sentence) > _PASSAGE_WIDTH:
        sentence = sentence[: _PASSAGE_WIDTH + 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    quoted = f"“{sentence}”"
    return f"{context.section}: {quoted}" if context.section else quoted


# The TOML


def _claims_table(trial: TrialDraft) -> list[str]:
    lines = ["[[articles.claims]]", f"trial = {_string(trial.nct_id)}"]
    if trial.status is not None:
        lines.append(f"{ClaimField.STATUS} = {_string(trial.status)}")
    if trial.enrollment is not None:
        lines.append(f"{ClaimField.ENROLLMENT} = {trial.enrollment}")
    if trial.phase is not None:
        lines.append(f"{ClaimField.PHASE} = {_phase_value(trial.phase)}")
    if trial.completion_year is not None:
        lines.append(f"{ClaimField.COMPLETION_YEAR} = {trial.completion_year}")
    if trial.passage is not None:
        lines.append(f"passage = {_string(trial.passage)}")
    if trial.passages:
        lines.append(f"passages = {_array(trial.passages)}")
    said = (
        "" if trial.outcome is not StatedOutcome.NOT_STATED else "  # the text says nothing of it"
    )
    lines.append(f"outcome = {_string(trial.outcome.value)}{said}")
    if trial.design:  # the config has no key for it, but it is what an editor checks first
        lines.append(f"# design: {', '.join(trial.design)}")
    if trial.unread:
        lines.append(f"# could not read: {', '.join(trial.unread)}")
    return lines


def _phase_value(phase: str) -> str:
    # The config takes one phase as a string and several as a list, not "PHASE2|PHASE3".
    phases = phase.split("|")
    return _string(phases[0]) if len(phases) == 1 else _array(phases)


def _ids_line(key: str, ids: Sequence[str], none_found: str) -> str:
    return f"{key} = {_array(ids)}" if ids else f"{key} = []  # {none_found}"


def _array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_string(value) for value in values) + "]"


def _string(value: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's, but TOML also forbids a raw DEL."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
