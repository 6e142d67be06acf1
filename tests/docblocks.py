"""The parts of the README and docs/ that are made, not written: each sits between two markers
naming the file it comes from,

    <!-- begin: docs/samples/article-check.txt -->
    ...
    <!-- end: docs/samples/article-check.txt -->

and is that file's text: a Markdown file (a benchmark's table) as it is, any other (a message,
a command's output) in a fenced block. `scripts/docs` fills them in; tests/test_docs.py fails
when one differs from its file, so no sample or figure in the documentation can drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"(?P<begin><!-- begin: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(?P<end><!-- end: (?P=path) -->)",
    re.S,
)


def documents() -> list[Path]:
    """The README and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def included(path: str) -> str:
    """What a block naming `path` holds."""
    text = (ROOT / path).read_text(encoding="utf-8")
    if path.endswith(".md"):
        return text.rstrip("\n") + "\n"
    return f"```text\n{text.rstrip()}\n```\n"


def blocks(text: str) -> list[tuple[str, str]]:
    """Each block in a document: the file it names and what it holds now."""
    return [(m["path"], m["body"]) for m in BLOCK.finditer(text)]


def filled(text: str) -> str:
    """The document with every block made from its file as it is now."""
    return BLOCK.sub(lambda m: m["begin"] + included(m["path"]) + m["end"], text)


if __name__ == "__main__":
    for document in documents():
        text = document.read_text(encoding="utf-8")
        if filled(text) != text:
            document.write_text(filled(text), encoding="utf-8")
            print(f"filled {document.relative_to(ROOT)}", file=sys.stderr)
