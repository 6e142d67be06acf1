"""Trust, second round: what a probe of the whole command found getting through, one story each,
end to end through `trial-monitor check` (a real SMTP server, SQLite and PostgreSQL, the
stand-in registry with the faults it was seen to have)."""

from __future__ import annotations

import time
from typing import Any

from conftest import DANISH, FINAL, World, body
from standin import Fault, StandinRegistry, ldn_studies, set_piece, study

from monitor.core.models import ChangeKind

OPS = 'security = "none"\nops_recipients = ["ops@example.org"]\n'
NEW = "NCT06000001"


def baseline(world: World) -> None:
    world.baseline()


def content(world: World) -> list[Any]:
    """The accepted digests (not operator notices), each with who got it."""
    return [a for a in world.accepted if "ops@example.org" not in a.recipients]


# -- mail -------------------------------------------------------------------------------------


def test_a_recipient_refused_for_now_gets_the_changes_next_cycle(world: World) -> None:
    baseline(world)
    world.smtp.recorder.refuse_rcpt["desk@example.org"] = "452 4.2.2 Mailbox full"
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert run.code == 1, run
    assert "refused desk@example.org: 452 4.2.2 Mailbox full for now" in run.out
    assert [a.recipients for a in content(world)] == [["editor@example.org"]]
    assert "Unsent changes (1)" in world.command("status").out
    del world.smtp.recorder.refuse_rcpt["desk@example.org"]
    assert world.check().code == 0
    assert [a.recipients for a in content(world)] == [["editor@example.org"], ["desk@example.org"]]
    assert "Completed → Terminated" in body(content(world)[1].message)
    assert world.check().code == 0 and len(content(world)) == 2  # nobody gets it twice


def test_a_recipient_refused_for_good_is_named_to_the_operators(world: World) -> None:
    world.email_extra = OPS
    baseline(world)
    world.smtp.recorder.refuse_rcpt["desk@example.org"] = "550 5.1.1 No such user"
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    assert world.check().code == 1
    [notice] = [a for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert "refused 1 recipient for good" in str(notice.message["Subject"])
    assert "desk@example.org: 550 5.1.1 No such user" in body(notice.message)
    status = world.command("status").out
    assert "Recipients the mail server refused for good (1)" in status
    assert "desk@example.org: 1 change not delivered" in status
    assert "Unsent changes (0)" in status
    world.smtp.recorder.refuse_rcpt.clear()
    assert world.check().code == 0
    assert [a.recipients for a in content(world)] == [["editor@example.org"]]  # not re-sent


# -- one bad record must not stop the monitor -------------------------------------------------


def hostile(nct_id: str, **pieces: object) -> dict[str, Any]:
    record = study(nct_id, BriefTitle="Low dose naltrexone, hostile record")
    for piece, value in pieces.items():
        set_piece(record, piece, value)
    return record


def test_hostile_records_are_cleaned_or_turned_away_and_real_news_goes_out(world: World) -> None:
    baseline(world)
    records = [
        hostile("NCT06000002", BriefTitle="Low dose naltrexone \x00 with a NUL"),
        hostile("NCT06000003", OverallStatus="RECRUITING_" + "X" * 60),
        hostile("NCT06000004", EnrollmentType="ESTIMATED_" + "X" * 40),
        hostile("NCT06000005", Phase=["PHASE2"] * 40 + ["PHASE" + "9" * 80]),
        hostile("NCT06000006" + "9" * 10),  # an id over 16 characters
    ]
    for record in records:
        world.registry.put(record)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert run.code == 0, run
    [digest] = content(world)
    text = body(digest.message)
    assert "Completed → Terminated" in text  # the real news
    assert "with a NUL" in text and "\x00" not in text  # cleaned, then stored and reported
    assert "NCT06000003" not in text and "NCT06000006" not in text  # turned away
    assert "(2 rejected)" in run.err  # the status and the id that are no status and no id


def test_an_id_that_is_no_nct_id_never_reaches_a_header_nor_the_watch_list(
    world: World,
) -> None:
    baseline(world)
    forged = "NCT06000009 FREE MONEY http://evil.example"
    world.registry.put(hostile(forged))
    run = world.check()
    assert run.code == 0, run
    assert content(world) == []  # nothing new but the forged record, turned away
    assert "is not an NCT id" in run.err
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    assert world.check().code == 0  # no 400 for a forged id in a later batch
    [digest] = content(world)
    assert "FREE MONEY" not in str(digest.message)
    assert "58 (actual) → 60 (actual)" in body(digest.message)


def test_nul_bidi_and_escape_characters_never_reach_the_digest(world: World) -> None:
    baseline(world)
    title = "Low dose naltrexone\x00 trial \u202egnidaeR\u202c \x1b[31mred\x1b[0m end"
    world.registry.put(study(NEW, BriefTitle=title))
    assert world.check().code == 0
    [digest] = content(world)
    subject, text, html = (
        str(digest.message["Subject"]),
        body(digest.message),
        body(digest.message, "html"),
    )
    for part in (subject, text, html):
        for char in ("\x00", "\u202e", "\u202c", "\x1b"):
            assert char not in part
    assert "Low dose naltrexone trial gnidaeR [31mred[0m end" in text


def test_a_server_that_answers_after_the_timeout_gets_one_more_copy_at_most(world: World) -> None:
    """It queued the digest but answered after the monitor stopped waiting (5 s): the outcome
    is unknown, so no retry in that cycle (max_attempts is 2); the next cycle sends the same
    message once more, under the same Message-ID, and then nothing."""
    baseline(world)
    world.smtp.recorder.late, world.smtp.recorder.late_seconds = 1, 6.0
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert run.code == 1, run
    assert "after the message was sent: the server may have taken it" in run.out
    assert len(content(world)) == 1  # queued once, not tried again in the same cycle
    assert world.check().code == 0
    assert world.check().code == 0
    copies = content(world)
    assert len(copies) == 2
    assert copies[0].message["Message-ID"] == copies[1].message["Message-ID"]


def test_a_recipient_refused_for_good_is_said_as_dropped_not_kept(world: World) -> None:
    baseline(world)
    world.smtp.recorder.refuse_rcpt["desk@example.org"] = "550 5.1.1 No such user"
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    world.smtp.recorder.refuse_rcpt.clear()
    assert run.code == 1, run
    assert (
        "the mail server refused desk@example.org: 550 5.1.1 No such user for good:"
        " desk@example.org does not get this digest (the other recipients did)"
    ) in run.out
    assert "kept" not in run.out


def test_a_mail_error_names_the_setting_to_change(world: World) -> None:
    world.email_extra = 'security = "starttls"\n'  # the test server speaks plain SMTP only
    world.searches = []
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    run = world.check()
    assert run.code == 1, run
    assert 'it does not offer STARTTLS: set email.security to what it speaks ("tls"' in run.out
    assert "Traceback" not in run.out + run.err


# -- the registry is not always right ---------------------------------------------------------


def test_a_redirect_to_another_host_is_not_followed(world: World) -> None:
    baseline(world)
    with StandinRegistry() as forged:
        forged.put_all(ldn_studies())
        forged.update(FINAL, lambda r: set_piece(r, "OverallStatus", "WITHDRAWN"))
        elsewhere = forged.url.replace("127.0.0.1", "localhost") + "/version"
        world.registry.fail_next(Fault.status(302, "", headers={"Location": elsewhere}))
        world.registry.data_timestamp = "2030-01-01T09:00:00"
        run = world.check()
        assert run.code == 1
        assert "another host, not followed" in run.out
        assert forged.requests == []
    assert content(world) == []


def test_a_registry_that_trickles_is_bounded_by_the_timeout(world: World) -> None:
    # Each byte comes well within the timeout, so no single read times out: only a deadline
    # for the whole answer stops it.
    world.registry_settings = "timeout_seconds = 2"
    world.registry.fail_always(Fault.trickle(0.4))
    started = time.monotonic()
    run = world.check()
    took = time.monotonic() - started
    world.registry.fail_always(None)
    assert run.code == 1
    assert "no whole answer within 2 s" in run.out
    assert took < 15  # three attempts of two seconds each, not a minute an attempt


def test_data_that_goes_backwards_is_not_news(world: World) -> None:
    world.email_extra = OPS
    world.registry.data_timestamp = "2026-11-24T09:00:06"
    baseline(world)
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.data_timestamp = "2026-11-25T09:00:06"
    assert world.check().code == 0
    assert len(content(world)) == 1
    # A stale copy answers: yesterday's data, FINAL still completed.
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "COMPLETED"))
    world.registry.data_timestamp = "2026-11-24T09:00:06"
    for _ in range(2):
        run = world.check()
        assert run.code == 0, run
        assert "is older than data already read" in run.out
    assert len(content(world)) == 1  # no revert mailed
    notices = [a for a in world.accepted if a.recipients == ["ops@example.org"]]
    assert len(notices) == 1 and "older data" in str(notices[0].message["Subject"])
    # The current data is back: nothing is news twice.
    world.registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "TERMINATED"))
    world.registry.data_timestamp = "2026-11-26T09:00:06"
    assert world.check().code == 0
    assert len(content(world)) == 1


def test_a_batch_that_comes_back_empty_once_is_asked_again(world: World) -> None:
    world.searches = []
    baseline(world)
    world.registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    # /version answers normally; then the cited trials' batch comes back with no studies at all.
    empty = Fault.status(200, '{"studies":[]}', content_type="application/json")
    world.registry.fail_next(Fault.slow(0), empty)
    run = world.check()
    assert run.code == 0, run
    kinds = [c.kind for c in world.changes()]
    assert ChangeKind.RECORD_MISSING not in kinds
    assert kinds == [ChangeKind.ENROLLMENT]


def test_a_record_whose_tracked_fields_all_vanish_is_not_news(world: World) -> None:
    world.searches = []
    baseline(world)

    def hollow(record: dict[str, Any]) -> None:
        section = record["protocolSection"]
        status = section["statusModule"]["overallStatus"]
        record.clear()
        record["protocolSection"] = {
            "identificationModule": {"nctId": FINAL},
            "statusModule": {"overallStatus": status},
        }

    world.registry.update(FINAL, hollow)
    run = world.check()
    assert run.code == 0, run
    assert world.changes() == []
    assert content(world) == []
    assert "every tracked field but its status came back empty" in run.err
