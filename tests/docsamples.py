"""The documentation's sample messages, made by the monitor itself: the shipped `config.toml`, run
through the real `trial-monitor` commands against the registry's and PubMed's stand-ins, at a
fixed moment, with what it writes to the outbox and prints kept as docs/samples/*.

    scripts/samples            # writes docs/samples/; tests/test_docs.py fails when they differ

The story: on the first day, the registry holds both cited trials as recorded (completed) and
PubMed holds both trials' (negative) results papers, FINAL's protocol and the three papers the
article cites: the article check. Then, on the next weekday's refresh, the registry links FINAL's
results paper (already told: no news), NCT02806440 posts its results, a new low-dose naltrexone
trial is registered, and PubMed links an erratum to a paper the article cites: the digest.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in ("tests", "tests/sources/ctgov", "tests/sources/pubmed"):
    if str(ROOT / _path) not in sys.path:
        sys.path.insert(0, str(ROOT / _path))

from pubmed_standin import (  # noqa: E402
    DOSE_RESPONSE,
    FINAL_RESULTS,
    StandinPubmed,
    add_comment,
    ldn_world,
)
from standin import StandinRegistry, add_reference, ldn_studies, set_piece, study  # noqa: E402

from monitor.cli import main  # noqa: E402

SAMPLES = ROOT / "docs" / "samples"
FIRST_DAY, NEXT_DAY = date(2026, 9, 4), date(2026, 9, 7)  # a Friday, then the Monday after
FIRST_RUN = datetime(2026, 9, 4, 14, 30, tzinfo=UTC)  # 10:30 in New York, as scheduled
NEXT_RUN = datetime(2026, 9, 7, 14, 30, tzinfo=UTC)
NEW_TRIAL = "NCT07012345"  # constructed: a trial registered after the article
ERRATUM = "40150000"  # constructed: the erratum's PMID
LANCET = (
    "Bruun KD, Christensen R, Amris K, et al. Naltrexone 6 mg once daily versus placebo in women"
    " with fibromyalgia: a randomised, double-blind, placebo-controlled trial. Lancet Rheumatol."
    " 2024;6(1):e31-e39. doi:10.1016/S2665-9913(23)00278-3"
)


def shipped_config(registry: StandinRegistry, pubmed: StandinPubmed, folder: Path) -> Path:
    """config.toml as shipped, its addresses pointed at the stand-ins and its database into
    `folder`; nothing else changed (no [email]: the messages go to the outbox)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace(
        'base_url = "https://clinicaltrials.gov/api/v2"',
        f'base_url = "{registry.url}"\nmin_interval_seconds = 0',
    )
    text = re.sub(
        r'^url = "sqlite:///data/monitor.db"$',
        f'url = "sqlite:///{folder / "monitor.db"}"',
        text,
        flags=re.M,
    )
    path = folder / "config.toml"
    path.write_text(text + f'\n[pubmed]\nbase_url = "{pubmed.url}"\n', encoding="utf-8")
    return path


class Monitor:
    """`trial-monitor --config …` run in this process, at a moment the story sets."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.now = FIRST_RUN
        self.log, self.code = "", 0

    def __call__(self, *args: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--config", str(self.config), *args], clock=lambda: self.now)
        if code not in (0, 1):
            raise SystemExit(f"{' '.join(args)} exited {code}: {err.getvalue()}")
        self.log, self.code = err.getvalue(), code
        return out.getvalue()

    def cycle_line(self) -> str:
        """The log line of the last cycle, without the wall clock's moment in front, nor its
        duration, which differ from run to run."""
        [line] = [line for line in self.log.splitlines() if " monitor: cycle " in line]
        line = line.split(" monitor: ", 1)[1]
        return re.sub(r", \d+\.\d s$", ", … s", line) + "\n"

    def outbox(self) -> list[EmailMessage]:
        """Every message written so far, oldest first (the file names sort by time and id)."""
        folder = self.config.parent / "outbox"
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))
        ]


def as_read(message: EmailMessage) -> str:
    """A message as a terminal mail reader shows it: its subject, then its plain text."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return f"Subject: {message['Subject'].strip()}\n\n{part.get_content().rstrip()}\n"


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


@contextlib.contextmanager
def world() -> Iterator[tuple[StandinRegistry, StandinPubmed, Path]]:
    with (
        StandinRegistry() as registry,
        StandinPubmed() as pubmed,
        tempfile.TemporaryDirectory() as tmp,
    ):
        registry.today, pubmed.today = FIRST_DAY, FIRST_DAY
        registry.put_all(ldn_studies())
        pubmed.put(*ldn_world())
        yield registry, pubmed, Path(tmp)


def the_evidence_moves(registry: StandinRegistry, pubmed: StandinPubmed) -> None:
    registry.today, pubmed.today = NEXT_DAY, NEXT_DAY
    registry.update("NCT04270877", lambda r: add_reference(r, FINAL_RESULTS, "RESULT", LANCET))

    def results_posted(record: dict[str, object]) -> None:
        set_piece(record, "HasResults", True)
        set_piece(record, "ResultsFirstPostDate", NEXT_DAY.isoformat())

    registry.update("NCT02806440", results_posted)
    registry.put(
        study(
            NEW_TRIAL,
            BriefTitle="Low-Dose Naltrexone for Pain in Adults With Fibromyalgia: a Multicentre,"
            " Randomised, Placebo-Controlled Trial",
            OfficialTitle=None,
            Acronym=None,
            OverallStatus="RECRUITING",
            Phase=["PHASE3"],
            EnrollmentCount=240,
            EnrollmentType="ESTIMATED",
            LeadSponsorName="Oslo University Hospital",
            StartDate="2026-08",
            LastUpdatePostDate=NEXT_DAY.isoformat(),
        )
    )
    pubmed.update(
        DOSE_RESPONSE,
        lambda root: add_comment(root, "ErratumIn", ERRATUM, "Pain Med. 2026 Sep;27(9):612"),
    )
    registry.refresh()


# What each request asked, in a few words: the parameters that say which records and papers.
_SAID = ("query.term", "filter.ids", "filter.advanced", "pageToken", "term", "id", "db")


def asked(requests: list[Any]) -> list[str]:
    """Each request to a stand-in, one line: its method, path and the parameters that say what
    it asked for (ids sorted, a long list counted)."""
    lines = []
    for request in requests:
        said = []
        for name in _SAID:
            value = request.params.get(name)
            if value is None:
                continue
            ids = value.split(",")
            if name in ("filter.ids", "id") and len(ids) > 3:
                value = f"{len(ids)} ids"
            said.append(f"{name}={value}")
        lines.append(f"{request.method} {request.path} {' '.join(said)}".rstrip())
    return lines


def generate() -> dict[str, str]:
    """Each sample's file name under docs/samples/ and its text, as the monitor makes them now."""
    with world() as (registry, pubmed, folder):
        monitor = Monitor(shipped_config(registry, pubmed, folder))
        samples = {"check-first.txt": monitor("check")}
        first = (asked(registry.requests), asked(pubmed.requests))
        [check] = monitor.outbox()
        samples["article-check.txt"] = as_read(check)
        samples["article-check.html"] = html_of(check)
        samples["verify.txt"] = monitor("verify") + f"(exit {monitor.code})\n"
        the_evidence_moves(registry, pubmed)
        monitor.now = NEXT_RUN
        # Days pass in the story, a moment on the wall: let NCBI's one-second window that
        # `verify`'s requests fell in close, as it would have, so the next check meets no 429.
        time.sleep(1.0)
        before = len(registry.requests), len(pubmed.requests)
        samples["check-next.txt"] = monitor("check")
        samples["log-next.txt"] = monitor.cycle_line()
        samples["requests.txt"] = "".join(
            f"{cycle}\n  the registry ({len(r)} requests):\n"
            + "".join(f"    {line}\n" for line in r)
            + f"  PubMed ({len(p)} requests):\n"
            + "".join(f"    {line}\n" for line in p)
            for cycle, (r, p) in (
                ("the first check, on an empty database", first),
                (
                    "the next check, after the registry's refresh",
                    (
                        asked(registry.requests[before[0] :]),
                        asked(pubmed.requests[before[1] :]),
                    ),
                ),
            )
        )
        [_, digest] = monitor.outbox()
        samples["digest.txt"] = as_read(digest)
        samples["digest.html"] = html_of(digest)
        samples["findings-next.txt"] = monitor("findings")
        # An editor re-checks the first and marks it handled; the list shows it as such.
        found = json.loads(monitor("findings", "--json"))["articles"][0]["findings"]
        samples["handle.txt"] = monitor(
            "handle", found[0]["id"], "--note", "The article now cites it", "--by", "A. Editor"
        )
        samples["findings-all.txt"] = monitor("findings", "--state", "all")
        return {name: _as_shipped(text, folder) for name, text in samples.items()}


def _as_shipped(text: str, folder: Path) -> str:
    """The outbox as the shipped config puts it (data/outbox), its files' names without the
    wall clock's moment and the random part that make each unique."""
    text = text.replace(str(folder), "data")
    return re.sub(r"(digest|article-check)-\d{8}-\d{6}-[0-9a-f]+\.eml", r"\1-….eml", text)


if __name__ == "__main__":
    SAMPLES.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (SAMPLES / name).write_text(text, encoding="utf-8")
        print(f"wrote docs/samples/{name}")
