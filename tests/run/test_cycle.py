"""Whole cycles: `trial-monitor check` against the stand-in registry, a real SMTP server and a
SQLite file. Each test is one story an editor or an operator would tell."""

from __future__ import annotations

from datetime import timedelta

from conftest import DANISH, FINAL, World, body
from sqlalchemy import select
from standin import Fault, add_reference, load_fixture, set_piece, study

from monitor.store.schema import cycles

NEW_LDN = "NCT06000001"


def baseline(world: World) -> None:
    world.baseline()


def test_the_first_cycle_sets_the_baseline_and_sends_nothing(world: World) -> None:
    run = world.check()
    assert run.code == 0
    assert world.messages == []
    assert "0 new changes" in run.out
    assert world.snapshot_count(FINAL) == 1
    assert world.snapshot_count(DANISH) == 1


def test_a_cycle_with_no_change_sends_nothing(world: World) -> None:
    baseline(world)
    run = world.check()
    assert run.code == 0
    assert "nothing to send" in run.out
    assert world.messages == []
    assert world.snapshot_count(FINAL) == 1


def test_an_update_to_untracked_fields_is_stored_but_not_reported(world: World) -> None:
    baseline(world)

    # A new summary; the registry stamps the record with today's last-update date.
    world.registry.update(FINAL, lambda r: set_piece(r, "BriefSummary", "Reworded summary."))
    assert world.check().code == 0
    assert world.messages == []
    assert world.snapshot_count(FINAL) == 2
    assert world.changes() == []


def test_a_status_change_is_reported_once_in_plain_words(world: World) -> None:
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "ACTIVE_NOT_RECRUITING"))
    run = world.check()
    assert run.code == 0
    assert "1 new change" in run.out
    [message] = world.messages
    assert (
        message["Subject"]
        == "[LDN monitor] 1 trial changed — NCT04270877 now Active, not recruiting"
    )
    text = body(message)
    assert "Status: Completed → Active, not recruiting" in text
    assert "https://clinicaltrials.gov/study/NCT04270877?tab=history" in text
    assert message["To"] == "editor@example.org, desk@example.org"
    assert world.check().code == 0
    assert len(world.messages) == 1


LANCET = (
    "Bruun KD, Christensen R, Amris K, et al. Naltrexone 6 mg once daily versus placebo in women"
    " with fibromyalgia: a randomised, double-blind, placebo-controlled trial. Lancet Rheumatol."
    " 2024;6(1):e31-e39."
)


def test_every_kind_of_change_reaches_the_digest(world: World) -> None:
    baseline(world)

    def move(record: dict[str, object]) -> None:
        set_piece(record, "EnrollmentCount", 101)
        set_piece(record, "PrimaryCompletionDate", "2022-06")
        set_piece(record, "HasResults", True)
        set_piece(record, "ResultsFirstPostDate", "2026-11-20")
        add_reference(record, "38258677", "RESULT", LANCET)

    world.registry.update(FINAL, move)
    world.registry.update(DANISH, lambda r: set_piece(r, "OverallStatus", "WITHDRAWN"))
    world.registry.put(study(NEW_LDN, OverallStatus="RECRUITING", BriefTitle="LDN for Long COVID"))
    assert world.check().code == 0
    [message] = world.messages
    # The subject names the article and what is newly wrong with it, the worst first.
    assert message["Subject"] == "[LDN monitor] The article: LDN-in-FM was withdrawn (and 1 more)"
    text = body(message)
    assert text.startswith(
        "The article: LDN-in-FM (NCT02806440), a trial the article cites, was withdrawn"
    )
    for words in (
        # A change of a trial the article cites says what the article says; it is high when it
        # can make the article wrong, and medium for a field the article makes no claim about.
        "[medium] Enrollment: 99 (actual) → 101 (actual)",
        "[medium] Primary completion: March 2022 (actual) → June 2022 (actual)",
        "[high] Results posted on ClinicalTrials.gov: first posted 20 November 2026",
        "The article does not say that results are posted; the registry now has them."
        " Re-check what the article says about NCT04270877.",
        "[high] Results of this cited trial have been published: PMID 38258677",
        LANCET,
        "https://pubmed.ncbi.nlm.nih.gov/38258677/",
        "The article does not cite this trial's results paper, PMID 38258677.",
        "[high] Status: Completed → Withdrawn",
        "The article does not state its status; the registry now says Withdrawn.",
        # A search's find close to the article: what it is, and why it is shown there.
        "NCT06000001 — LDN for Long COVID",
        "Close to the article: it too studies fibromyalgia and naltrexone.",
        "Phase 2 · 99 participants (actual) · Sponsor: Odense University Hospital",
        "[medium] New trial: found by the search “Low-dose naltrexone”",
    ):
        assert words in text
    # The top is an index of what matters most; each change is written out once, below it.
    top = text[: text.index("NCT04270877 —")]
    assert "WHAT MATTERS MOST" in top
    assert "NCT04270877: results posted, results published" in top
    assert "NCT02806440: stopped" in top
    assert text.count("38258677/") == 1 and text.count("Withdrawn") == 2  # the change, the note
    # The cited trials first, then the searches' finds (below the verdict).
    entries = text[text.index("== TRIALS THE ARTICLE CITES ==") :]
    assert entries.index(FINAL) < entries.index(DANISH) < entries.index("TRIALS YOUR SEARCHES")
    assert text.index("TRIALS YOUR SEARCHES FOUND") < text.index(NEW_LDN + " —")


def test_a_cited_record_that_disappears_is_reported_in_the_next_cycle(world: World) -> None:
    world.searches = []
    baseline(world)
    world.registry.remove(DANISH)
    # A deletion moves no date: the cited trials are read in full whenever the data changed.
    run = world.check()
    assert run.code == 0
    [message] = world.messages
    assert message["Subject"] == (
        "[LDN monitor] The article: NCT02806440 is no longer in the registry"
    )
    assert "Record not found" in body(message)
    assert world.check().code == 0
    assert len(world.messages) == 1


def test_a_new_trial_is_watched_from_then_on(world: World) -> None:
    baseline(world)
    world.registry.put(study(NEW_LDN, OverallStatus="NOT_YET_RECRUITING"))
    world.check()
    assert len(world.messages) == 1
    # Reworded so the search no longer finds it, it stays watched: fetched by id, reported.
    unrelated = "biomcp_get_nct02576665_full_20260903.json"
    world.registry.put(study(NEW_LDN, template=unrelated, OverallStatus="RECRUITING"))
    assert world.check().code == 0
    assert len(world.messages) == 2
    assert "Status: Not yet recruiting → Recruiting" in body(world.messages[1])
    ids_requested = world.registry.requests[-1].params.get("filter.ids", "")
    assert NEW_LDN in ids_requested


def test_a_watched_trial_that_a_search_also_finds_is_reported_once(world: World) -> None:
    baseline(world)
    world.searches = [("LDN", "low dose naltrexone"), ("Fibromyalgia", "fibromyalgia naltrexone")]
    baseline(world)  # the new search's own baseline
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    [message] = world.messages
    assert body(message).count("Status: Completed → Terminated") == 1
    assert len(world.changes()) == 1


def test_a_trial_found_by_a_new_search_is_not_news(world: World) -> None:
    world.searches = []
    world.registry.put(study(NEW_LDN))
    baseline(world)
    from conftest import LDN_SEARCH

    world.searches = [LDN_SEARCH]
    assert world.check().code == 0
    assert world.messages == []


def test_a_registry_that_stays_down_loses_nothing(world: World) -> None:
    baseline(world)
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    world.registry.fail_always(Fault.status(503))
    run = world.check()
    assert run.code == 1
    assert "failed after 3 attempts: HTTP 503" in run.out
    assert "Traceback" not in run.err
    assert world.messages == []
    world.registry.fail_always(None)
    assert world.check().code == 0
    [message] = world.messages
    assert "Enrollment: 58 (actual) → 60 (actual)" in body(message)


def test_a_registry_failing_midway_keeps_and_delivers_what_was_recorded(world: World) -> None:
    other = "NCT00791778"  # watched, but not found by the LDN search: fetched by id
    world.registry.put(load_fixture("biomcp_get_nct00791778_20260902_raw.json"))
    world.trials.append(other)
    baseline(world)
    for nct_id in (FINAL, DANISH):
        world.registry.update(nct_id, lambda r: set_piece(r, "OverallStatus", "SUSPENDED"))
    # /version and the search answer; the id batch then fails on every attempt.
    world.registry.fail_next(Fault.slow(0), Fault.slow(0), *[Fault.status(500)] * 3)
    run = world.check()
    assert run.code == 1
    assert "HTTP 500" in run.out
    [message] = world.messages
    assert body(message).count("Completed → Suspended") == 2
    assert world.check().code == 0
    assert len(world.messages) == 1


def test_a_mail_server_that_is_down_then_recovers_gets_exactly_one_digest(world: World) -> None:
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.smtp.stop()
    run = world.check()
    assert run.code == 1
    assert "mail server 127.0.0.1:" in run.out
    assert "its changes are kept and sent next cycle" in run.out
    assert len(world.pending()) == 1  # kept, unsent
    world.smtp.start()
    assert world.check().code == 0
    assert world.check().code == 0
    [message] = world.messages
    assert "Completed → Terminated" in body(message)


def test_a_mail_server_answering_451_then_recovering_gets_exactly_one_digest(world: World) -> None:
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.smtp.refuse_next("451 4.3.0 Try again later", "451 4.3.0 Try again later")
    run = world.check()
    assert run.code == 1
    assert "answered 451 4.3.0 Try again later" in run.out
    assert world.messages == []
    world.registry.update(DANISH, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 0
    assert world.check().code == 0
    [message] = world.messages
    assert body(message).count("Completed → Terminated") == 2  # the kept change and the new one


def test_a_permanent_refusal_is_not_retried_and_keeps_the_changes(world: World) -> None:
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.smtp.refuse_next("554 5.7.1 Message rejected")
    run = world.check()
    assert run.code == 1
    assert "554 5.7.1 Message rejected" in run.out
    assert world.smtp.recorder.refusals == []
    assert world.check().code == 0
    assert len(world.messages) == 1


def test_two_overlapping_checks_send_one_digest(world: World) -> None:
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 61))
    world.registry.delay = 0.3
    first, second = world.spawn("check"), world.spawn("check")
    outputs = [p.communicate(timeout=60)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    # The cycle lock lets one run; the other says so and leaves.
    assert sum("skipped, another cycle is running" in out for out in outputs) == 1, outputs
    [message] = world.messages
    text = body(message)
    assert text.count("Completed → Terminated") == 1 and text.count("→ 61 (actual)") == 1
    assert len(world.changes()) == 2


def test_without_an_email_section_digests_go_to_the_outbox(world: World) -> None:
    world.email = False
    outbox = world.tmp / "data" / "outbox"  # beside the SQLite file, by default
    if not world.database_url.startswith("sqlite"):
        outbox = world.tmp / "elsewhere"
        world.extra = f'\n[outbox]\npath = "{outbox}"\n'
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert run.code == 0
    assert len(list(outbox.glob("article-check-*.eml"))) == 1  # the first look, at baseline
    [eml] = list(outbox.glob("digest-*.eml"))
    assert f"digest written to {eml}" in run.out
    from email import message_from_bytes, policy

    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("[LDN monitor] 1 trial changed")
    assert world.messages == []


def test_hostile_registry_text_is_escaped_and_cannot_inject_headers(world: World) -> None:
    baseline(world)
    world.registry.put(
        study(
            NEW_LDN,
            BriefTitle='Bcc: victim@example.org\r\n<script>alert("x")</script> LDN & co',
            OverallStatus="RECRUITING",
        )
    )
    assert world.check().code == 0
    [message] = world.messages
    assert message["Bcc"] is None
    html = body(message, "html")
    assert "<script>" not in html
    assert (
        "Bcc: victim@example.org &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; LDN &amp; co"
        in html
    )
    assert world.accepted[0].recipients == ["editor@example.org", "desk@example.org"]


def test_a_digest_carries_a_list_id_for_mail_filters(world: World) -> None:
    world.extra = '\n[digest.importance]\nstatus = "high"\n'
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "ACTIVE_NOT_RECRUITING"))
    world.check()
    [message] = world.messages
    assert message["List-Id"] == '"LDN monitor" <digest.trial-monitor.localhost>'
    assert "[high] Status: Completed → Active, not recruiting" in body(message)  # configured level


def age_history(world: World, days: int) -> None:
    """Pretend every cycle so far ran `days` earlier."""
    with world.engine() as engine, engine.begin() as conn:
        for cycle_id, started in conn.execute(select(cycles.c.id, cycles.c.started_at)).all():
            moved = started - timedelta(days=days)
            conn.execute(cycles.update().where(cycles.c.id == cycle_id).values(started_at=moved))


def test_a_quiet_week_is_said_once_when_the_note_is_on(world: World) -> None:
    baseline(world)
    age_history(world, 8)
    assert world.check().code == 0
    assert world.messages == []  # off by default
    world.digest_settings = "weekly_quiet_note = true\n"
    assert world.check().code == 0
    [note] = world.messages
    assert note["Subject"] == "[LDN monitor] no changes this week — 2 trials watched"
    assert "found nothing to report since" in body(note)
    assert world.check().code == 0
    assert len(world.messages) == 1  # once a week, not once a cycle


def test_a_cycle_past_its_record_limit_stops_with_a_clear_error(world: World) -> None:
    world.registry_settings = "max_records_per_cycle = 1"
    run = world.check()
    assert run.code == 1
    assert "this cycle passed 1 records (registry.max_records_per_cycle); stopped there" in run.out
