"""`trial-monitor cite`: an article's text → a draft `[[articles]]` block for config.toml. Pure.

The article comes as plain text, Markdown or HTML. This finds the trials (NCT ids) and papers
(PubMed ids) it cites and, in the sentences that mention each trial, what it says of it: status,
enrollment, phase, completion year and design words. It is a draft for an editor to check, so it
reads only what is plainly written next to a trial's id, says where the trial is discussed, and
names what it could not read rather than guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from itertools import pairwise
from typing import TypeVar

from monitor.core.claims import ClaimField

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


@dataclass(frozen=True)
class ArticleDraft:
    title: str | None
    trials: tuple[TrialDraft, ...]  # in order of first mention
    pmids: tuple[str, ...]  # in order of first mention


@dataclass(frozen=True)
class _Line:
    """One line (paragraph, heading or list item) of the article, as plain text."""

    text: str
    level: int = 0  # a heading's level (1-6); 0 for body text
    listed: bool = False  # a list item
    section: str | None = None  # the heading above it
    references: bool = False  # in the reference list (or a citation line by its own look)


@dataclass(frozen=True)
class _Context:
    """What one sentence (or reference line) says about one trial it names."""

    trial: str
    text: str  # the part of the sentence about this trial
    sentence: str
    section: str | None
    references: bool


_NCT = re.compile(r"(?<![A-Za-z0-9])NCT\d{8}(?!\d)", re.IGNORECASE)
# Only labelled numbers are PubMed ids: a bare number is as likely a count or a page.
_PMID = re.compile(
    r"\b(?:PMID|PubMed(?:\s+ID)?)\s*[:#]?\s*([1-9]\d{0,8})\b"
    r"|pubmed\.ncbi\.nlm\.nih\.gov/(?:\?term=)?([1-9]\d{0,8})\b"
    r"|ncbi\.nlm\.nih\.gov/pubmed/([1-9]\d{0,8})\b",
    re.IGNORECASE,
)

_HTML = re.compile(
    r"<(?:!doctype|html|body|p|div|h[1-6]|li|ul|ol|table|section|article)\b[^>]*>", re.IGNORECASE
)
_HEADING_TAG = re.compile(r"h([1-6])")
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "blockquote"}
    | {"ul", "ol", "dl", "dt", "dd", "table", "figure", "figcaption", "pre", "title"}
)
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template"})

_MD_HEADING = re.compile(r"\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*")
_MD_LIST_ITEM = re.compile(r"\s*(?:>\s*)*(?:[-*+•‣◦▪]|\d{1,3}[.)])\s+")
_MD_QUOTE = re.compile(r"\s*(?:>\s*)+")
# Bounded, and stopping at the next bracket: an unclosed `[` or `*` in a long line must not make
# every later one scan to its end.
_MD_LINK = re.compile(
    r"!?\[([^\[\]]{0,500})\]\(\s*<?([^()\s<>\[\]]*)>?(?:\s+[\"'][^()]{0,300}[\"'])?\s*\)"
)
_MD_AUTOLINK = re.compile(r"<((?:https?://|www\.)[^>\s]+)>")
_MD_EMPHASIS = re.compile(
    r"(\*\*|__|~~)(?=\S)(.{1,300}?)(?<=\S)\1"
    r"|(?<![\w*])\*(?=\S)(.{1,300}?)(?<=\S)\*(?![\w*])"
    r"|(?<!\w)_(?=\S)(.{1,300}?)(?<=\S)_(?!\w)"
)
_MD_CODE = re.compile(r"`([^`]*)`")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|])")

# Headings that open a page's sections, not its title: the LDN article starts with one.
_GENERIC_HEADINGS = frozenset(
    {"key takeaways", "takeaways", "key points", "summary", "overview", "highlights"}
    | {"contents", "table of contents", "in this article", "introduction", "abstract"}
)
_REFERENCE_HEADING = re.compile(
    r"(?:the\s+|selected\s+|further\s+)?"
    r"(?:evidence|references?|sources?|bibliography|citations?|reading|literature|works cited)",
    re.IGNORECASE,
)
_CITATION_LINE = re.compile(
    r"(?:ClinicalTrials\.gov|PubMed|PMID)\W{0,3}(?:NCT\d{8}|\d{1,9})(\W*)$", re.IGNORECASE
)

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


def read_article(text: str) -> ArticleDraft:
    """The trials and papers an article cites, and what it says of each trial."""
    lines = _lines(text)
    by_trial: dict[str, list[_Context]] = {}  # in order of first mention
    for context in (context for line in lines for context in _contexts(line)):
        by_trial.setdefault(context.trial, []).append(context)
    return ArticleDraft(
        title=_title(lines),
        trials=tuple(_draft(trial, contexts) for trial, contexts in by_trial.items()),
        pmids=_unique(pmid for line in lines for pmid in _pmids(line.text)),
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


# The article as lines of plain text


def _lines(text: str) -> list[_Line]:
    is_html = _HTML.search(text) is not None
    lines = [_line(raw) for raw in (_html_text(text) if is_html else text).splitlines()]
    if not is_html:  # HTML marks its headings; plain text only sets them apart
        lines = _guess_headings(lines)
    return _place(lines)


def _line(raw: str) -> _Line:
    heading = _MD_HEADING.fullmatch(raw)
    if heading:
        return _Line(_inline_text(heading[2]), level=len(heading[1]))
    item = _MD_LIST_ITEM.match(raw)
    if item:
        return _Line(_inline_text(raw[item.end() :]), listed=True)
    quote = _MD_QUOTE.match(raw)
    return _Line(_inline_text(raw[quote.end() :] if quote else raw))


def _inline_text(text: str) -> str:
    """Markdown's inline marks dropped, and whitespace made single spaces."""
    text = _MD_LINK.sub(lambda m: _link_text(m[1], m[2]), text)
    text = _MD_AUTOLINK.sub(lambda m: m[1], text)
    for _ in range(2):  # twice, for emphasis inside emphasis: ***both***
        text = _MD_EMPHASIS.sub(lambda m: next(g for g in m.groups()[1:] if g is not None), text)
    text = _MD_ESCAPE.sub(lambda m: m[1], _MD_CODE.sub(lambda m: m[1], text))
    return " ".join(text.split())


def _link_text(text: str, url: str) -> str:
    """A link's words, with the id its address cites when the words do not give it: a link to a
    record or a paper is a citation even when its words are only a title."""
    nct = _NCT.search(url)
    if nct and nct[0].upper() not in _ncts(text):
        return f"{text} ({nct[0].upper()})".strip()
    pmids = _pmids(url)
    if pmids and pmids[0] not in _pmids(text):
        return f"{text} (PMID {pmids[0]})".strip()
    return text


def _guess_headings(lines: list[_Line]) -> list[_Line]:
    """A short line standing alone, with no full stop, reads as a heading."""
    guessed = []
    for index, line in enumerate(lines):
        alone = all(not lines[i].text for i in (index - 1, index + 1) if 0 <= i < len(lines))
        if alone and not line.level and not line.listed and _heading_like(line.text):
            line = replace(line, level=2)
        guessed.append(line)
    return guessed


def _heading_like(text: str) -> bool:
    return (
        0 < len(text.split()) <= 12
        and len(text) <= 90
        and text[0].isupper()
        and text[-1] not in ".,;:"
        and not _NCT.search(text)
    )


def _place(lines: list[_Line]) -> list[_Line]:
    """Each line with the heading it stands under, and whether that is the reference list."""
    placed, section, in_references = [], None, False
    for line in lines:
        if not line.text:
            continue
        references = in_references or _citation(line)
        placed.append(replace(line, section=section, references=references))
        if line.level:
            section = line.text
            in_references = _REFERENCE_HEADING.fullmatch(line.text.rstrip(":. ")) is not None
    return placed


def _citation(line: _Line) -> bool:
    """A line ending in its registry's or PubMed's id is a reference entry wherever it stands,
    unless the id is in brackets after the paragraph's last sentence, as a sentence cites."""
    match = _CITATION_LINE.search(line.text)
    return match is not None and (line.listed or ")" not in match[1])


def _title(lines: list[_Line]) -> str | None:
    top = next((line.text for line in lines if line.level == 1), None)
    if top is not None:
        return top
    first = lines[0] if lines else None
    if first and first.level and first.text.lower().rstrip(":") not in _GENERIC_HEADINGS:
        return first.text
    return None


class _HtmlText(HTMLParser):
    """An HTML page's text: a block a line, headings and list items marked as in Markdown, and
    each link's id kept (see _link_text). Entities are decoded by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[tuple[int, str]] = []  # each open <a>: where its words start, its href
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag == "a":
            self._links.append((len(self.parts), dict(attrs).get("href") or ""))
        else:
            self.parts.append(_tag_break(tag))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "a" and self._links:
            start, href = self._links.pop()
            self.parts[start:] = [_link_text("".join(self.parts[start:]), href)]
        elif tag in _BLOCK_TAGS or tag == "li" or _HEADING_TAG.fullmatch(tag):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:  # in HTML a line break in the source is only a space
            self.parts.append(re.sub(r"\s+", " ", data))


def _tag_break(tag: str) -> str:
    heading = _HEADING_TAG.fullmatch(tag)
    if heading:
        return "\n\n" + "#" * int(heading[1]) + " "
    if tag == "title":
        return "\n\n# "
    if tag == "li":
        return "\n- "
    if tag in ("br", "tr"):
        return "\n"
    return "\n\n" if tag in _BLOCK_TAGS else " " if tag in ("td", "th") else ""


def _html_text(text: str) -> str:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


# Ids, sentences and the claims in them


def _ncts(text: str) -> list[str]:
    return [match[0].upper() for match in _NCT.finditer(text)]


def _pmids(text: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in _PMID.finditer(text)]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _contexts(line: _Line) -> Iterator[_Context]:
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
    mentions = [(m.start(), m.end(), m[0].upper()) for m in _NCT.finditer(sentence)]
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
    )


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
