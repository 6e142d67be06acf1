"""Each guarantee's guard removed, one at a time: the test that stands for it must go red.

A hand-written mutation report over the guarded modules (a tool such as mutmut mutates every
line; this removes exactly the code each promise rests on). For each guard it edits the source
in place, runs the guarantee's tests, and restores the file, whatever happens.

    .venv/bin/python benchmarks/guards.py [--only WORDS]

Not part of the tests' pass/fail; it prints a table; its output, saved as
benchmarks/results/guards.md, is what docs/guarantees.md shows (scripts/docs). A guard counts
as caught only when its tests were collected, passed with the guard, ran and failed without it
(read from pytest's JUnit report, not its exit code); it exits 1 unless every guard was.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # seconds; a test that hangs without its guard (a trickling server) is caught


@dataclass(frozen=True)
class Guard:
    promise: str
    edits: tuple[tuple[str, str, str], ...]  # (file, the guard as written, what replaces it)
    tests: tuple[str, ...]  # pytest arguments


GUARDS = [
    Guard(
        "a change is claimed by one sender only (PostgreSQL)",
        (
            (
                "monitor/delivery/deliveries.py",
                "                dispatches.c.delivery_id.is_(None),\n"
                "                dispatches.c.change_id.in_(ids),",
                "                dispatches.c.change_id.in_(ids),",
            ),
            (
                "monitor/delivery/deliveries.py",
                "        if claimed.rowcount != len(ids) * len(recipients):\n"
                "            raise _Conflict(delivery_id)\n",
                "",
            ),
        ),
        ("tests/store/test_store.py", "-k", "claimed_by_one and postgresql"),
    ),
    Guard(
        "a change is claimed by one sender only (SQLite: the guard and the write lock at BEGIN)",
        (
            (
                "monitor/delivery/deliveries.py",
                "                dispatches.c.delivery_id.is_(None),\n"
                "                dispatches.c.change_id.in_(ids),",
                "                dispatches.c.change_id.in_(ids),",
            ),
            (
                "monitor/delivery/deliveries.py",
                "        if claimed.rowcount != len(ids) * len(recipients):\n"
                "            raise _Conflict(delivery_id)\n",
                "",
            ),
            ("monitor/store/db.py", 'connection.exec_driver_sql("BEGIN IMMEDIATE")', "pass"),
        ),
        ("tests/store/test_store.py", "-k", "claimed_by_one and sqlite"),
    ),
    Guard(
        "a change seen by many processes is recorded once",
        (
            (
                "monitor/sources/ctgov/records.py",
                ".where(trials.c.nct_id == nct_id, current)",
                ".where(trials.c.nct_id == nct_id)",
            ),
        ),
        ("tests/store/test_store.py", "-k", "recorded_once and postgresql"),
    ),
    Guard(
        "a digest is marked sent only after the server accepted it",
        (
            (
                "monitor/delivery/sending.py",
                "        accepted = await channel.send(letter, sending.recipients)\n",
                "        out.deliveries.mark_sent(sending.delivery_id, out.clock(), SentDigest('', '', ''))\n"
                "        accepted = await channel.send(letter, sending.recipients)\n",
            ),
        ),
        # A kill point's id has spaces, which `-k` cannot take: the test's node id.
        (
            "tests/run/test_crash.py::test_a_kill_anywhere_loses_and_repeats_nothing[sqlite-with the message at the mail server, before it accepts]",
        ),
    ),
    Guard(
        "a failed send gives its changes back",
        (
            (
                "monitor/delivery/sending.py",
                "        out.deliveries.release(sending.delivery_id, out.clock(), str(exc) or"
                " type(exc).__name__)\n",
                "",
            ),
        ),
        ("tests/run/test_cycle.py", "-k", "down_then_recovers and sqlite"),
    ),
    Guard(
        "a digest re-sent in the window carries the same Message-ID",
        (
            (
                "monitor/delivery/email/message.py",
                'changes = ",".join(str(i) for i in sorted(change_ids))',
                'changes = __import__("uuid").uuid4().hex',
            ),
        ),
        (
            "tests/run/test_crash.py::test_a_kill_anywhere_loses_and_repeats_nothing[sqlite-after the mail server accepted, before the monitor records it]",
        ),
    ),
    Guard(
        "the sanity gate holds an implausible digest",
        (
            (
                "monitor/run/cycle.py",
                "    if held is not None:\n        deps.deliveries.hold(",
                "    if False:\n        deps.deliveries.hold(",
            ),
        ),
        ("tests/core/test_sanity.py", "-k", "sqlite"),
    ),
    Guard(
        "registry text is escaped in the HTML",
        (
            (
                "monitor/editorial/render.py",
                'autoescape=select_autoescape(["html"], default_for_string=False)',
                "autoescape=False",
            ),
        ),
        ("tests/run/test_cycle.py", "-k", "hostile and sqlite"),
    ),
    Guard(
        "registry text cannot reach a header",
        (
            (
                "monitor/editorial/render.py",
                'flat = re.sub(r"\\s+", " ", text).strip()',
                "flat = text",
            ),
        ),
        ("tests/run/test_cycle.py", "-k", "hostile and sqlite"),
    ),
    Guard(
        "STARTTLS is required, never silently skipped",
        (
            (
                "monitor/delivery/email/transport.py",
                "return False, True",
                "return False, None  # type: ignore",
            ),
        ),
        ("tests/delivery/test_deliver.py", "-k", "starttls_required"),
    ),
    Guard(
        "a password never reaches a log line, tracebacks included",
        (
            (
                "monitor/operator/logs.py",
                "        return self.redact(self.inner.format(record))",
                "        record.msg, record.args = self.redact(record.getMessage()), None\n"
                "        return self.inner.format(record)",
            ),
        ),
        ("tests/operator/test_commands.py", "-k", "traceback and sqlite"),
    ),
    Guard(
        "`history` of a change one desk got and another waits for",
        (
            (
                "monitor/delivery/deliveries.py",
                "                if state != DeliveryState.SENT.value or finished is None:\n"
                "                    waiting.add(change_id)\n"
                "                    last.setdefault(change_id, None)\n"
                "                    continue\n",
                "                if state != DeliveryState.SENT.value:\n"
                "                    waiting.add(change_id)\n",
            ),
        ),
        ("tests/core/test_routing.py", "-k", "history and sqlite"),
    ),
    Guard(
        "a kind of change the words forget is a type error",
        (
            # A default in place of the exhaustive end: a kind without words falls through.
            (
                "monitor/editorial/words/changes.py",
                '                short="new paper",\n            )\n'
                "        case _:\n            assert_never(change.kind)\n",
                '                short="new paper",\n            )\n'
                '        case _:\n            return ChangeWords("", None, None)\n',
            ),
        ),
        ("tests/core/test_exhaustive.py",),
    ),
    Guard(
        "a response past registry.max_response_bytes stops the read",
        (("monitor/sources/http.py", "if len(content) > limit:", "if False:"),),
        ("tests/sources/ctgov/test_registry.py", "-k", "size_limit"),
    ),
    Guard(
        "a set a sender that died had claimed is sent again as it was, before newer news",
        (
            (
                "monitor/delivery/deliveries.py",
                ".where(dispatches.c.delivery_id == old).values(delivery_id=new)",
                ".where(dispatches.c.delivery_id == old).values(delivery_id=None)",
            ),
            (
                "monitor/delivery/deliveries.py",
                "            taken.append(Sending(new, audience.channel, recipients, self._changes(conn, ids)))",
                "            pass",
            ),
        ),
        ("tests/run/test_crash.py", "-k", "resent and sqlite"),
    ),
    Guard(
        "a recipient the mail server refused keeps their copy (or is named, if for good)",
        (
            (
                "monitor/delivery/deliveries.py",
                "            for refusal in refused:",
                "            for refusal in ():",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "refused_for_now and sqlite"),
    ),
    Guard(
        "NUL, bidi and escape characters are cleaned from registry text",
        (
            (
                "monitor/sources/ctgov/normalize.py",
                'flat = _WHITESPACE.sub(" ", _INVISIBLE.sub("", value)).strip()',
                'flat = _WHITESPACE.sub(" ", value).strip()',
            ),
        ),
        ("tests/run/test_trust.py", "-k", "nul_bidi and sqlite"),
    ),
    Guard(
        "a record's id that is no NCT id is turned away",
        (
            (
                "monitor/sources/ctgov/normalize.py",
                "return cleaned if _NCT_ID.fullmatch(cleaned) else None",
                "return cleaned",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "no_nct_id and sqlite"),
    ),
    Guard(
        "one record the database refuses is turned away alone",
        (
            (
                "monitor/sources/ctgov/reading.py",
                "        except Unstorable:\n",
                "        except ZeroDivisionError:\n",
            ),
        ),
        ("tests/store/test_store.py", "-k", "refuses"),
    ),
    Guard(
        "a record whose tracked fields all vanish is not news",
        (
            (
                "monitor/sources/ctgov/records.py",
                "hollow = [o.snapshot.nct_id for o in unique if _hollow(have, o.snapshot)]",
                "hollow: list[str] = []",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "vanish and sqlite"),
    ),
    Guard(
        "a disappearance is confirmed before it is news",
        (("monitor/sources/ctgov/reading.py", "        if lacking:", "        if False:"),),
        ("tests/run/test_trust.py", "-k", "empty_once and sqlite"),
    ),
    Guard(
        "data older than data already read is not news",
        (
            (
                "monitor/sources/ctgov/plan.py",
                "if now is not None and before is not None and now < before:",
                "if False:",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "backwards and sqlite"),
    ),
    Guard(
        "redirects are followed only within the registry's origin",
        (
            (
                "monitor/sources/ctgov/client.py",
                "        if (target.scheme, target.host, target.port) != (",
                "        if False and (target.scheme, target.host, target.port) != (",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "redirect and sqlite"),
    ),
    Guard(
        "one deadline bounds a whole request, body included",
        (
            (
                "monitor/sources/ctgov/client.py",
                "async with asyncio.timeout(self._config.timeout_seconds):",
                "async with asyncio.timeout(None):",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "trickles and sqlite"),
    ),
    Guard(
        "SIGHUP stops the service gracefully",
        (
            (
                "monitor/commands.py",
                "(signal.SIGTERM, signal.SIGINT, signal.SIGHUP)",
                "(signal.SIGTERM, signal.SIGINT)",
            ),
        ),
        ("tests/run/test_service.py", "-k", "SIGHUP and sqlite"),
    ),
    Guard(
        "a send cancelled at shutdown is one line, not a traceback",
        (
            (
                "monitor/run/service.py",
                "        except asyncio.CancelledError:\n",
                "        except ZeroDivisionError:\n",
            ),
        ),
        ("tests/run/test_service.py", "-k", "cancelled_at and sqlite"),
    ),
    Guard(
        "a claim the registry contradicts is written once, beside the change that moved it",
        (
            (
                "monitor/editorial/digest.py",
                "            if moved_by is not None and moved_by in kinds:",
                "            if False:",
            ),
        ),
        ("tests/editorial/test_articles.py", "-k", "names_both and sqlite"),
    ),
    Guard(
        "an off-topic find is summarised at the end, not beside the cited trials",
        (
            (
                "monitor/core/importance.py",
                "            return Nearness(Relation.OFF_TOPIC)",
                "            return Nearness(Relation.RELATED)",
            ),
        ),
        ("tests/editorial/test_articles.py", "-k", "closeness and sqlite"),
    ),
    Guard(
        "two monitors never share a Message-ID",
        (
            (
                "monitor/delivery/email/message.py",
                'seed = "|".join([self.installation, kind, *map(str, key)])',
                'seed = "|".join([kind, *map(str, key)])',
            ),
        ),
        ("tests/editorial/test_articles.py", "-k", "two_monitors and sqlite"),
    ),
    Guard(
        "the List-Id label is quoted",
        (
            (
                "monitor/delivery/email/message.py",
                "return f'\"{label}\" <{digest.list_id}>'",
                'return f"{label} <{digest.list_id}>"',
            ),
        ),
        ("tests/editorial/test_articles.py", "-k", "list_id"),
    ),
    Guard(
        "an article gets its first look once",
        (
            (
                "monitor/store/journal.py",
                "        return {key for key in keys if key not in done}",
                "        return set(keys)",
            ),
        ),
        ("tests/editorial/test_articles.py", "-k", "first_check_says_first and sqlite"),
    ),
    Guard(
        "a password written in the config file is refused, never echoed",
        (
            (
                "monitor/settings/tomltable.py",
                "            if _SECRET.search(name):",
                "            if False:",
            ),
            ("monitor/delivery/email/settings.py", '    if "password" in table:', "    if False:"),
            (
                "monitor/settings/configfile.py",
                '    if key == "database.url" and given_password is not None:',
                "    if False:",
            ),
        ),
        ("tests/operator/test_operator.py", "-k", "password_in_the_config"),
    ),
    Guard(
        "each cycle pings the dead-man's switch",
        (("monitor/commands.py", "    if alerts.ping_url:", "    if False:"),),
        ("tests/operator/test_operator.py", "-k", "pings_the_url and sqlite"),
    ),
    Guard(
        "an unreachable registry is said in seconds, naming the URL",
        (
            (
                "monitor/sources/http.py",
                "min(2, max_attempts) if retry.persistent else max_attempts",
                "max_attempts",
            ),
        ),
        ("tests/operator/test_operator.py", "-k", "unreachable_registry"),
    ),
    Guard(
        "a no-op check loads no templates (start-up)",
        (
            (
                "monitor/editorial/render.py",
                "if TYPE_CHECKING:\n    from jinja2 import Environment",
                "if True:\n    from jinja2 import Environment",
            ),
        ),
        ("tests/operator/test_operator.py", "-k", "imports_only"),
    ),
    Guard(
        "a usage error is one line",
        (
            (
                "monitor/cli.py",
                "    def error(self, message: str) -> NoReturn:",
                "    def _unused(self, message: str) -> NoReturn:",
            ),
        ),
        ("tests/operator/test_operator.py", "-k", "bad_arguments"),
    ),
    Guard(
        "no mail connection outlives its cycle",
        (
            (
                "monitor/sources/http.py",
                "    if isinstance(connection, asyncio.Transport):\n        connection.abort()\n",
                "",
            ),
        ),
        ("tests/delivery/test_deliver.py", "-k", "outlives"),
    ),
    Guard(
        "PubMed is asked no faster than NCBI allows",
        (
            (
                "monitor/sources/pubmed/client.py",
                "        await self._pacer.turn()\n        self.stats.requests += 1",
                "        self.stats.requests += 1",
            ),
        ),
        ("tests/sources/pubmed/test_pubmed_client.py", "-k", "rate_limit"),
    ),
    Guard(
        "an NCBI API key never reaches an error line",
        (
            (
                "monitor/sources/pubmed/client.py",
                '    return text.replace(key, "***") if key else text',
                "    return text",
            ),
        ),
        ("tests/sources/pubmed/test_pubmed_client.py", "-k", "never_shows_it"),
    ),
    Guard(
        "a PubMed outage holds back nothing of the registry",
        (
            (
                "monitor/run/cycle.py",
                "        except SourceError as exc:\n            log.error",
                "        except ZeroDivisionError as exc:\n            log.error",
            ),
        ),
        ("tests/sources/pubmed/test_literature.py", "-k", "outage and sqlite"),
    ),
    Guard(
        "a cited paper's retraction is news",
        (("monitor/core/diff.py", "        if n.key not in known\n", "        if False\n"),),
        ("tests/sources/pubmed/test_literature.py", "-k", "retraction and sqlite"),
    ),
    Guard(
        "the first look names the results papers the article does not cite",
        (
            (
                "monitor/core/standing.py",
                "        if not results.cited:\n"
                "            found.append(finding(FindingKind.RESULTS_UNCITED, key, paper=results))\n"
                "        elif",
                "        if False:\n            pass\n        elif",
            ),
        ),
        ("tests/sources/pubmed/test_literature.py", "-k", "first_look and sqlite"),
    ),
    Guard(
        "PubMed's XML cannot declare entities",
        (
            (
                "monitor/sources/pubmed/normalize.py",
                "        return SafeET.fromstring(document)",
                "        return ET.fromstring(document)  # noqa: S314",
            ),
        ),
        ("tests/sources/pubmed/test_pubmed_normalize.py", "-k", "entity"),
    ),
    Guard(
        "a notice already on a cited paper on the first day is in the first look and verify",
        (
            (
                "monitor/core/standing.py",
                "    for pmid in cited:\n        paper = evidence.papers.get(pmid)\n",
                "    for pmid in ():\n        paper = evidence.papers.get(pmid)\n",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "retracted_before_the_first_cycle and sqlite"),
    ),
    Guard(
        "a paper told once is not news again when the other source finds it",
        (
            (
                "monitor/sources/ctgov/records.py",
                "            or (write.nct_id, change.pmid) in new_links\n",
                "            or True\n",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "later_linked_by_the_registry and sqlite"),
    ),
    Guard(
        "a second trial report (a secondary analysis) is not the results again",
        (
            (
                "monitor/core/diff.py",
                "    if role is PaperRole.RESULTS and results_known:\n"
                "        role = PaperRole.FURTHER_REPORT\n",
                "",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "secondary_analysis and sqlite"),
    ),
    Guard(
        "a paper has one label whoever found it: a later trial report is another report",
        (
            (
                "monitor/core/standing.py",
                "    later = {id(p) for p in results[1:]}\n",
                "    later: set[int] = set()\n",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "secondary_analysis and sqlite"),
    ),
    Guard(
        "a results paper the article cites without saying what the trial found is a finding",
        (
            (
                "monitor/core/standing.py",
                "        elif trial.stated is StatedOutcome.NOT_STATED:\n"
                "            found.append(finding(FindingKind.OUTCOME_UNSTATED, key, paper=results))\n",
                "",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "does_not_state and sqlite"),
    ),
    Guard(
        "a change to a field no claim covers is not high",
        (
            (
                "monitor/core/importance.py",
                "            return Importance.HIGH if claimed else default_importance(kind)",
                "            return Importance.HIGH",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "no_claim_covers and sqlite"),
    ),
    Guard(
        "a long watch list keeps the article check short and says where the rest is",
        (
            (
                "monitor/editorial/checkview.py",
                "    shown_findings = findings if everything else findings[:FINDINGS_SHOWN]\n"
                "    shown_trials = trials if everything else trials[:TRIALS_SHOWN]\n",
                "    shown_findings, shown_trials = findings, trials\n",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "long_watch_list and sqlite"),
    ),
    Guard(
        "a cycle that could not read the registry finds nothing wrong with an article",
        (
            (
                "monitor/run/cycle.py",
                "    if not read.failed and stale is None and moved:\n",
                "    if moved:\n",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "never_reached and sqlite"),
    ),
    Guard(
        "an article's first look waits for every source",
        (
            (
                "monitor/run/cycle.py",
                "    if not read.failed and not read.unread and stale is None:",
                "    if not read.failed and stale is None:",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "waits_for_pubmed and sqlite"),
    ),
    Guard(
        "verify without PubMed still says what the registry contradicts",
        (
            (
                "monitor/run/verify.py",
                "            if source.required:\n                raise\n",
                "            raise\n",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "verify_without_pubmed and sqlite"),
    ),
    # Issue 21: no answer stops the monitor, every partial failure is visible.
    Guard(
        "a registry answer nested past the parser's depth is asked again, not a crash",
        (
            (
                "monitor/sources/ctgov/client.py",
                "        except UNREADABLE as exc:\n            # Whatever the parser",
                "        except ValueError as exc:\n            # Whatever the parser",
            ),
        ),
        ("tests/run/test_bad_answers.py", "-k", "registry and nested and sqlite"),
    ),
    Guard(
        "a PubMed answer that is not XML is asked again",
        (
            (
                "monitor/sources/pubmed/client.py",
                "            return document_root(content)\n",
                "            return content\n",
            ),
        ),
        ("tests/run/test_bad_answers.py", "-k", "EFetch and sqlite"),
    ),
    Guard(
        "a source unread makes check exit 4",
        (
            (
                "monitor/commands.py",
                "        case Outcome.SOURCE_UNREAD:\n            return EXIT_UNREAD\n",
                "        case Outcome.SOURCE_UNREAD:\n            return EXIT_OK\n",
            ),
        ),
        ("tests/run/test_partial.py", "-k", "sqlite"),
    ),
    Guard(
        "health fails once a source has gone unread for the configured cycles in a row",
        (
            (
                "monitor/operator/reports.py",
                "    if names and count >= config.alerts.after_consecutive_failures:",
                "    if False:",
            ),
        ),
        ("tests/run/test_partial.py", "-k", "sqlite"),
    ),
    Guard(
        "a send whose outcome is unknown is not tried again in the same cycle",
        (
            (
                "monitor/delivery/email/transport.py",
                "if exc.permanent or exc.unknown or attempt == config.max_attempts:",
                "if exc.permanent or attempt == config.max_attempts:",
            ),
        ),
        ("tests/run/test_trust.py", "-k", "after_the_timeout and sqlite"),
    ),
    Guard(
        "a read-only command never makes a database",
        (
            (
                "monitor/commands.py",
                "engine = open_existing(url) if existing else make_engine(url)",
                "engine = make_engine(url)",
            ),
        ),
        ("tests/operator/test_operator.py", "-k", "never_makes and sqlite"),
    ),
    Guard(
        "a closed pipe ends a command quietly",
        (
            (
                "monitor/cli.py",
                "    except BrokenPipeError:\n        # The reader",
                "    except ZeroDivisionError:\n        # The reader",
            ),
        ),
        ("tests/operator/test_operator.py", "-k", "goes_away and sqlite"),
    ),
    Guard(
        "a merged record is named as the article cites it",
        (
            (
                "monitor/editorial/render.py",
                "    return f\"{trial.nct_id}, cited as {' and '.join(cited)}\" if cited else trial.nct_id",
                "    return trial.nct_id",
            ),
        ),
        ("tests/sources/ctgov/test_real_registry.py", "-k", "alias and sqlite"),
    ),
    Guard(
        "a study published late with a day already read is found (the margin days' count)",
        (
            (
                "monitor/sources/ctgov/reading.py",
                "        if counted != expected:",
                "        if False:",
            ),
        ),
        ("tests/sources/ctgov/test_incremental.py", "-k", "count_the_margin_days and sqlite"),
    ),
    Guard(
        "a study updated again is not taken for one gone (the count leaves it out)",
        (
            (
                "monitor/sources/ctgov/listing.py",
                "            for part in id_slices(moved):",
                "            for part in id_slices(()):",
            ),
        ),
        ("tests/sources/ctgov/test_incremental.py", "-k", "count_the_margin_days and sqlite"),
    ),
    Guard(
        "a middling watch list reads in full what its batch holds",
        (
            (
                "monitor/sources/ctgov/reading.py",
                "rolling = _rolling_slice(reading, others, [], fill=len(always))",
                "rolling = _rolling_slice(reading, others, [])",
            ),
        ),
        ("tests/sources/ctgov/test_incremental.py", "-k", "middling and sqlite"),
    ),
    Guard(
        "no step of a cycle holds the evidence of every trial of a long watch list",
        (
            (
                "monitor/delivery/sending.py",
                "            Wanted(list(dict.fromkeys(trials)), list(",
                "            Wanted(list(dict.fromkeys([*trials, *config.cited_trials])), list(",
            ),
            (
                "monitor/delivery/sending.py",
                "        letter = CheckLetter(_check_standing(out, article), out.clock(), data_timestamp)",
                "        letter = CheckLetter(stand(article, out.evidence(Wanted(article.trials, "
                "cited_papers(article)))), out.clock(), data_timestamp)",
            ),
        ),
        ("tests/editorial/test_standing.py", "-k", "long_watch_list"),
    ),
    Guard(
        "editors changing one finding at once lose no change (PostgreSQL: the row lock)",
        (
            (
                "monitor/store/findings.py",
                "                    .with_for_update()\n",
                "",
            ),
        ),
        ("tests/store/test_worklist_race.py", "-k", "postgresql"),
    ),
    Guard(
        "a handled or dismissed finding is never mailed again",
        (
            (
                "monitor/store/findings.py",
                "        query = select(findings).where(findings.c.state.in_(wanted), standing)",
                "        query = select(findings).where(standing)",
            ),
        ),
        ("tests/editorial/test_worklist.py", "-k", "kept and sqlite"),
    ),
    Guard(
        "a finding still open after a week is said again at most weekly",
        (
            (
                "monitor/store/findings.py",
                "            findings.c.article.not_in(reminded),\n",
                "",
            ),
        ),
        ("tests/editorial/test_worklist.py", "-k", "week and sqlite"),
    ),
]


class Verdict(StrEnum):
    CAUGHT = "red (caught)"
    MISSED = "**green: the test misses it**"
    NOT_RUN = "**could not run**"


@dataclass(frozen=True)
class Trial:
    verdict: Verdict
    seconds: float
    detail: str = ""  # for a run that could not start: why

    @property
    def shown(self) -> str:
        return f"{self.verdict.value}: {self.detail}" if self.detail else self.verdict.value


def try_guard(guard: Guard) -> Trial:
    """Run the guard's tests as written (they must be collected and pass), then with the
    guard removed (they must fail), and put the file back whatever happens. Only a run whose
    tests were collected, ran and failed counts as caught: pytest missing, no test selected,
    a collection error (the edit breaking an import) is a run that could not start."""
    started = time.monotonic()
    before = _run(guard.tests)
    if before.failures or before.problem:
        why = before.problem or f"{before.failures} of {before.tests} fail with the guard in place"
        return Trial(Verdict.NOT_RUN, time.monotonic() - started, why)
    originals: dict[Path, str] = {}
    try:
        for name, written, replacement in guard.edits:
            path = ROOT / name
            originals.setdefault(path, path.read_text())
            current = path.read_text()
            if written not in current:
                raise SystemExit(
                    f"{name}: the guard for {guard.promise!r} is not written as listed"
                )
            path.write_text(current.replace(written, replacement, 1))
        after = _run(guard.tests)
    finally:
        for path, text in originals.items():
            path.write_text(text)
    seconds = time.monotonic() - started
    if after.hung:
        return Trial(Verdict.CAUGHT, seconds)  # without its guard the test hangs: red
    if after.problem:
        return Trial(Verdict.NOT_RUN, seconds, after.problem)
    return Trial(Verdict.CAUGHT if after.failures else Verdict.MISSED, seconds)


@dataclass(frozen=True)
class Run:
    tests: int = 0  # collected and run
    failures: int = 0  # of those, the ones that failed
    problem: str | None = None  # why no test could run, when none could
    hung: bool = False


def _run(tests: tuple[str, ...]) -> Run:
    """pytest on these arguments, read from its JUnit report rather than its exit code alone:
    exit 1 also means "No module named pytest", and 2 to 5 mean no test ran to its end."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
        try:
            result = subprocess.run(
                [*command, f"--junitxml={report}", *tests],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return Run(hung=True)
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        last = said[-1][:160] if said else "no output"
        if result.returncode not in (0, 1) or not report.exists():
            return Run(problem=f"pytest exit {result.returncode} ({last})")
        root = ET.parse(report).getroot()  # <testsuites><testsuite …> or a bare <testsuite>
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        if suite is None:
            return Run(problem=f"pytest wrote no test suite ({last})")
        count = int(suite.get("tests", 0)) - int(suite.get("skipped", 0))
        errors, failures = int(suite.get("errors", 0)), int(suite.get("failures", 0))
        if count == 0:
            return Run(problem=f"no test ran ({last})")
        if errors and not failures:
            return Run(count, problem=f"{errors} error(s) before a test could run ({last})")
        return Run(count, failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="try only the guards whose promise contains these words")
    args = parser.parse_args()
    guards = [g for g in GUARDS if not args.only or args.only in g.promise]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(f"Run on commit {commit or 'unknown'}.\n")
    print("| guarantee | guard removed: its test | seconds |")
    print("|---|---|---:|")
    trials = []
    for guard in guards:
        trial = try_guard(guard)
        trials.append(trial)
        print(f"| {guard.promise} | {trial.shown} | {trial.seconds:.0f} |", flush=True)
    caught = sum(t.verdict is Verdict.CAUGHT for t in trials)
    unrun = sum(t.verdict is Verdict.NOT_RUN for t in trials)
    print(f"\n{caught} of {len(guards)} guards removed were caught by their tests", end="")
    print(f"; {unrun} could not be tried" if unrun else "")
    return 0 if caught == len(guards) else 1


if __name__ == "__main__":
    raise SystemExit(main())
