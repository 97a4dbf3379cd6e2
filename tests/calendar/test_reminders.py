"""Reminders' next_at around local midnight for plain DAILY, WEEKLY and MONTHLY rules (days that
exist in every month), in Shanghai and New York, and firing at the exact occurrence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from models.org import Role, User
from services import reminders
from tests.calendar.conftest import SECOND, local, utc

# (rule, first occurrence, now, the next occurrence expected), all local wall times
NEXT = [
    ("FREQ=DAILY", "2027-12-01 00:00:00", "2027-12-31 23:59:59", "2028-01-01 00:00:00"),
    ("FREQ=DAILY", "2027-12-01 00:00:00", "2028-01-01 00:00:01", "2028-01-02 00:00:00"),
    ("FREQ=DAILY", "2027-12-01 00:00:00", "2028-02-28 23:59:59", "2028-02-29 00:00:00"),
    ("FREQ=DAILY", "2027-12-01 00:00:00", "2028-02-29 00:00:01", "2028-03-01 00:00:00"),
    ("FREQ=DAILY", "2027-03-01 00:00:00", "2027-03-13 23:59:59", "2027-03-14 00:00:00"),
    ("FREQ=DAILY", "2027-03-01 00:00:00", "2027-03-14 23:59:59", "2027-03-15 00:00:00"),
    ("FREQ=DAILY", "2027-11-01 00:00:00", "2027-11-07 23:59:59", "2027-11-08 00:00:00"),
    # Mondays at midnight
    ("FREQ=WEEKLY", "2027-11-01 00:00:00", "2027-11-07 23:59:59", "2027-11-08 00:00:00"),
    ("FREQ=WEEKLY", "2027-11-01 00:00:00", "2027-11-08 00:00:01", "2027-11-15 00:00:00"),
    ("FREQ=WEEKLY", "2027-12-27 00:00:00", "2028-01-02 23:59:59", "2028-01-03 00:00:00"),
    # the first of every month
    (
        "FREQ=MONTHLY;BYMONTHDAY=1",
        "2027-01-01 00:00:00",
        "2027-03-31 23:59:59",
        "2027-04-01 00:00:00",
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=1",
        "2027-01-01 00:00:00",
        "2027-06-30 23:59:59",
        "2027-07-01 00:00:00",
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=1",
        "2027-01-01 00:00:00",
        "2027-07-01 00:00:01",
        "2027-08-01 00:00:00",
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=1",
        "2027-01-01 00:00:00",
        "2027-12-31 23:59:59",
        "2028-01-01 00:00:00",
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=1",
        "2027-01-01 00:00:00",
        "2028-02-29 23:59:59",
        "2028-03-01 00:00:00",
    ),
    # the 15th
    (
        "FREQ=MONTHLY;BYMONTHDAY=15",
        "2027-01-15 00:00:00",
        "2028-02-14 23:59:59",
        "2028-02-15 00:00:00",
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=15",
        "2027-01-15 00:00:00",
        "2028-02-15 00:00:01",
        "2028-03-15 00:00:00",
    ),
]


async def _people(make_unit: Any, make_user: Any) -> tuple[User, User]:
    unit = await make_unit("和平桥街道")
    return await make_user(Role.scheduler, unit=unit), await make_user(Role.patrol, unit=unit)


async def _create(
    scheduler: User, recipient: User, *, rule: str, first_at: datetime, now: datetime
) -> Any:
    return await reminders.create_reminder(
        user=scheduler,
        title="例会提醒",
        body="今天开会",
        audience=reminders.Audience(user_ids=(recipient.id,)),
        first_at=first_at,
        rrule=rule,
        until=None,
        now=now,
    )


@pytest.mark.parametrize(("rule", "first", "now", "expected"), NEXT)
async def test_next_at_of_a_series_created_around_local_midnight(
    zone: str, rule: str, first: str, now: str, expected: str, make_unit: Any, make_user: Any
) -> None:
    scheduler, recipient = await _people(make_unit, make_user)
    reminder = await _create(
        scheduler, recipient, rule=rule, first_at=local(zone, first), now=local(zone, now)
    )
    assert reminder.next_at == local(zone, expected)


@pytest.mark.parametrize(
    ("rule", "first_at", "now", "expected"),
    [
        # midnight before and after New York springs forward (EST -05:00, then EDT -04:00)
        ("FREQ=DAILY", "2027-03-01T05:00:00", "2027-03-14T04:59:59", "2027-03-14T05:00:00"),
        ("FREQ=DAILY", "2027-03-01T05:00:00", "2027-03-14T05:00:01", "2027-03-15T04:00:00"),
        # and after it falls back: the week's midnights move from 04:00 to 05:00 UTC
        ("FREQ=WEEKLY", "2027-11-01T04:00:00", "2027-11-08T04:59:59", "2027-11-08T05:00:00"),
    ],
)
async def test_new_york_midnights_keep_their_wall_time_over_dst(
    new_york: str,
    rule: str,
    first_at: str,
    now: str,
    expected: str,
    make_unit: Any,
    make_user: Any,
) -> None:
    scheduler, recipient = await _people(make_unit, make_user)
    reminder = await _create(scheduler, recipient, rule=rule, first_at=utc(first_at), now=utc(now))
    assert reminder.next_at == utc(expected)


@pytest.mark.parametrize(
    ("rule", "occurrence", "following"),
    [
        ("FREQ=DAILY", "2028-02-29 00:00:00", "2028-03-01 00:00:00"),
        ("FREQ=WEEKLY", "2027-11-08 00:00:00", "2027-11-15 00:00:00"),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "2028-01-01 00:00:00", "2028-02-01 00:00:00"),
    ],
)
async def test_a_reminder_fires_at_its_midnight_not_a_second_before(
    zone: str, rule: str, occurrence: str, following: str, make_unit: Any, make_user: Any
) -> None:
    scheduler, recipient = await _people(make_unit, make_user)
    at = local(zone, occurrence)
    reminder = await _create(
        scheduler, recipient, rule=rule, first_at=at, now=at - timedelta(days=1)
    )
    assert reminder.next_at == at
    assert await reminders.fire_reminder(reminder=reminder, now=at - SECOND) == 0
    await reminder.refresh_from_db()
    assert (reminder.next_at, reminder.fired) == (at, 0)
    assert await reminders.fire_reminder(reminder=reminder, now=at) == 1
    await reminder.refresh_from_db()
    assert (reminder.next_at, reminder.fired) == (local(zone, following), 1)
