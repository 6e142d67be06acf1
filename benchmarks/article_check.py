"""The size of an article check for an article that cites 2 to 10,000 trials.

For each size, one article cites every watched trial with a claim of its status and enrollment;
one trial in ten disagrees on enrollment. `trial-monitor check` runs as its own process against
the loopback stand-in registry, with the outbox (no mail server), and the article check it writes
is measured: the lines and bytes of its plain text, its HTML and the whole message, with the
process's wall time and peak memory. Goal: under 1 MB and 200 lines of text at 10,000 cited
trials (it was 48 MB before the check counted what agrees and cut the lists).

    .venv/bin/python benchmarks/article_check.py                  # 2, 300, 10,000
    .venv/bin/python benchmarks/article_check.py --sizes 2,300    # a quick look

Not part of the tests' pass/fail (tests/editorial/test_standing.py pins 300 trials); it prints
figures; its output, saved as
benchmarks/results/article_check.md, is what docs/costs.md shows (scripts/docs).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import sys
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import ROOT, _size, config_head, measured, synthetic_studies
from standin import StandinRegistry, set_piece

GOAL_BYTES, GOAL_LINES = 1_000_000, 200


@dataclass
class Size:
    cited: int
    text_lines: int
    text_bytes: int
    html_bytes: int
    message_bytes: int
    seconds: float
    peak_mb: float


def write_config(folder: Path, registry: StandinRegistry, ids: list[str]) -> Path:
    trials = ",\n".join(f'  "{i}"' for i in ids)
    claims = "".join(
        f'\n[[articles.claims]]\ntrial = "{i}"\nstatus = "COMPLETED"\nenrollment = 99\n'
        for i in ids
    )
    config = folder / "config.toml"
    config.write_text(
        config_head(folder, registry)
        + f"""
[outbox]
path = "{folder / "outbox"}"

[[articles]]
title = "Everything about low-dose naltrexone"
url = "https://example.org/articles/everything"
trials = [
{trials}
]
{claims}"""
    )
    return config


def measure(size: int) -> Size:
    with StandinRegistry() as registry, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        records = synthetic_studies(size)
        for n, record in enumerate(records):
            # Its own status module, so that one in ten can disagree without touching the rest.
            section: Any = record["protocolSection"]
            section["statusModule"] = {**section["statusModule"], "overallStatus": "COMPLETED"}
            design = section["designModule"]
            section["designModule"] = {**design, "enrollmentInfo": {**design["enrollmentInfo"]}}
            set_piece(record, "EnrollmentCount", 99 if n % 10 else 120)
        registry.adopt(records)
        ids = sorted(registry.studies)
        config = write_config(folder, registry, ids)
        figures, _ = measured(
            [sys.executable, "-m", "monitor", "--config", str(config), "check"],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TRIAL_MONITOR_LOG_LEVEL": "WARNING"},
        )
        [written] = sorted((folder / "outbox").glob("*.eml"))
        raw = written.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text = _part(message, "plain")
        html = _part(message, "html")
        return Size(
            size,
            len(text.splitlines()),
            len(text.encode()),
            len(html.encode()),
            len(raw),
            figures["seconds"],
            figures["peak_mb"],
        )


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None and isinstance(part, EmailMessage), subtype
    return str(part.get_content())


def table(sizes: list[Size]) -> str:
    lines = [
        "| cited trials | text lines | text | HTML | whole message | wall time | peak memory |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        lines.append(
            f"| {s.cited:,} | {s.text_lines:,} | {_size(s.text_bytes)} | {_size(s.html_bytes)}"
            f" | {_size(s.message_bytes)} | {s.seconds:,.2f} s | {s.peak_mb:,.0f} MB |"
        )
    largest = max(sizes, key=lambda s: s.cited)
    met = largest.message_bytes < GOAL_BYTES and largest.text_lines < GOAL_LINES
    lines.append("")
    lines.append(
        f"goal at {largest.cited:,} cited trials: under 1 MB and {GOAL_LINES} lines of text:"
        f" {'met' if met else 'NOT met'}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="2,300,10000")
    args = parser.parse_args()
    sizes = []
    for size in (int(s) for s in args.sizes.split(",")):
        sizes.append(measure(size))
        print(f"measured {size:,} cited trials", file=sys.stderr)
    print(table(sizes))


if __name__ == "__main__":
    main()
