"""The schedule: crontab semantics on APScheduler, the due-time rule behind `health`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.core.errors import ConfigError
from monitor.settings.schedule import ScheduleConfig, last_due, make_trigger

NEW_YORK = ZoneInfo("America/New_York")


def fires(config: ScheduleConfig, start: datetime, count: int) -> list[datetime]:
    trigger = make_trigger(config, jitter=False)
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and len(found) < count:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return found


def test_the_default_runs_on_weekdays_after_the_registry_refresh() -> None:
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=NEW_YORK)
    times = fires(ScheduleConfig(), saturday, 6)
    assert [t.strftime("%a %H:%M") for t in times] == [
        "Mon 10:30", "Tue 10:30", "Wed 10:30", "Thu 10:30", "Fri 10:30", "Mon 10:30",
    ]  # fmt: skip
    assert times[0].tzinfo is not None and times[0].utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("1,3", ["Mon", "Wed"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("sat", ["Sat"]),
    ],
)
def test_weekdays_count_as_in_crontab(weekday: str, expected: list[str]) -> None:
    config = ScheduleConfig(cron=f"0 8 * * {weekday}", timezone="UTC")
    times = fires(config, datetime(2026, 11, 23, tzinfo=UTC), len(expected))
    assert [t.strftime("%a") for t in times] == expected


def test_six_fields_add_seconds() -> None:
    times = fires(
        ScheduleConfig(cron="*/10 * * * * *", timezone="UTC"), datetime(2026, 1, 1, tzinfo=UTC), 3
    )
    assert [t.second for t in times] == [0, 10, 20]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ScheduleConfig(cron="61 * * * *"), "schedule.cron = '61 * * * *' is not valid"),
        (ScheduleConfig(cron="* * *"), "schedule.cron = '* * *' needs 5 fields"),
        (ScheduleConfig(cron="0 8 * * 9"), "schedule.cron = '0 8 * * 9' is not valid"),
        (
            ScheduleConfig(timezone="Mars/Olympus"),
            "schedule.timezone = 'Mars/Olympus' is not a time zone",
        ),
    ],
)
def test_a_bad_schedule_is_a_config_error(config: ScheduleConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        make_trigger(config)


def test_the_latest_due_cycle_leaves_time_to_finish() -> None:
    trigger = make_trigger(ScheduleConfig(), jitter=False)
    monday_noon = datetime(2026, 11, 30, 12, 0, tzinfo=NEW_YORK)
    # Monday's 10:30 run is not yet overdue with two hours of grace: Friday's is the one due.
    assert last_due(trigger, monday_noon, timedelta(hours=2)) == datetime(
        2026, 11, 27, 10, 30, tzinfo=NEW_YORK
    )
    assert last_due(trigger, monday_noon, timedelta(hours=1)) == datetime(
        2026, 11, 30, 10, 30, tzinfo=NEW_YORK
    )
