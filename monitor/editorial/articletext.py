"""An article's text as `cite` reads it: plain text, Markdown or HTML made lines of plain text,
each a paragraph, a heading or a list item, with the heading it stands under and whether it is in
the reference list; and the NCT and PubMed ids a text names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser


@dataclass(frozen=True)
class Line:
    """One line (paragraph, heading or list item) of the article, as plain text."""

    text: str
    level: int = 0  # a heading's level (1-6); 0 for body text
    listed: bool = False  # a list item
    section: str | None = None  # the heading above it
    references: bool = False  # in the reference list (or a citation line by its own look)


NCT_MENTION = re.compile(r"(?<![A-Za-z0-9])NCT\d{8}(?!\d)", re.IGNORECASE)


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


def article_lines(text: str) -> list[Line]:
    is_html = _HTML.search(text) is not None
    lines = [_line(raw) for raw in (_html_text(text) if is_html else text).splitlines()]
    if not is_html:  # HTML marks its headings; plain text only sets them apart
        lines = _guess_headings(lines)
    return _place(lines)


def _line(raw: str) -> Line:
    heading = _MD_HEADING.fullmatch(raw)
    if heading:
        return Line(_inline_text(heading[2]), level=len(heading[1]))
    item = _MD_LIST_ITEM.match(raw)
    if item:
        return Line(_inline_text(raw[item.end() :]), listed=True)
    quote = _MD_QUOTE.match(raw)
    return Line(_inline_text(raw[quote.end() :] if quote else raw))


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
    nct = NCT_MENTION.search(url)
    if nct and nct[0].upper() not in ncts(text):
        return f"{text} ({nct[0].upper()})".strip()
    cited = pmids(url)
    if cited and cited[0] not in pmids(text):
        return f"{text} (PMID {cited[0]})".strip()
    return text


def _guess_headings(lines: list[Line]) -> list[Line]:
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
        and not NCT_MENTION.search(text)
    )


def _place(lines: list[Line]) -> list[Line]:
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


def _citation(line: Line) -> bool:
    """A line ending in its registry's or PubMed's id is a reference entry wherever it stands,
    unless the id is in brackets after the paragraph's last sentence, as a sentence cites."""
    match = _CITATION_LINE.search(line.text)
    return match is not None and (line.listed or ")" not in match[1])


def title_of(lines: list[Line]) -> str | None:
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


def ncts(text: str) -> list[str]:
    return [match[0].upper() for match in NCT_MENTION.finditer(text)]


def pmids(text: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in _PMID.finditer(text)]
