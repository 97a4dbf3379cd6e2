"""Quiet hours 22:00-07:00 local: the first attempt of a non-urgent push, one second either side
of each edge, across midnight, month and year ends, 29 February and New York's DST nights."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from notifications.outbox import first_attempt_at, parse_quiet_hours
from tests.calendar.conftest import ZONES, local, utc

# (local now, local first attempt; None: at once)
EDGES = [
    ("2027-06-30 21:59:59", None),
    ("2027-06-30 22:00:00", "2027-07-01 07:00:00"),
    ("2027-06-30 23:59:59", "2027-07-01 07:00:00"),
    ("2027-07-01 00:00:00", "2027-07-01 07:00:00"),
    ("2027-07-01 06:59:59", "2027-07-01 07:00:00"),
    ("2027-07-01 07:00:00", None),
    ("2027-12-31 22:00:00", "2028-01-01 07:00:00"),
    ("2027-12-31 23:59:59", "2028-01-01 07:00:00"),
    ("2028-01-01 00:00:00", "2028-01-01 07:00:00"),
    ("2028-02-28 23:59:59", "2028-02-29 07:00:00"),
    ("2028-02-29 00:00:00", "2028-02-29 07:00:00"),
    ("2028-02-29 22:00:00", "2028-03-01 07:00:00"),
    ("2028-03-01 06:59:59", "2028-03-01 07:00:00"),
    ("2027-03-31 23:59:59", "2027-04-01 07:00:00"),
    ("2027-03-13 22:00:00", "2027-03-14 07:00:00"),  # the night New York springs forward
    ("2027-11-06 22:00:00", "2027-11-07 07:00:00"),  # the night New York falls back
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("now", "expected"), EDGES)
def test_non_urgent_push_waits_for_seven_local(zone: str, now: str, expected: str | None) -> None:
    quiet = parse_quiet_hours("22:00-07:00", tz=ZoneInfo(zone))
    at = local(zone, now)
    assert first_attempt_at(now=at, urgent=False, quiet=quiet) == (
        local(zone, expected) if expected else at
    )
    assert first_attempt_at(now=at, urgent=True, quiet=quiet) == at


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # 22:00 EST on 13 March to 07:00 EDT on 14 March: 8 hours, not 9
        ("America/New_York", "2027-03-14T03:00:00", "2027-03-14T11:00:00"),
        # 03:30 EDT, just after the skipped hour
        ("America/New_York", "2027-03-14T07:30:00", "2027-03-14T11:00:00"),
        # 22:00 EDT on 6 November to 07:00 EST on 7 November: 10 hours
        ("America/New_York", "2027-11-07T02:00:00", "2027-11-07T12:00:00"),
        # 01:30 EST, the second time the clock shows 01:30 that night
        ("America/New_York", "2027-11-07T06:30:00", "2027-11-07T12:00:00"),
        # 12:00 UTC on 7 November is 07:00 EST: over
        ("America/New_York", "2027-11-07T12:00:00", None),
        # 00:30 on 1 January in Shanghai is still 31 December in UTC
        ("Asia/Shanghai", "2027-12-31T16:30:00", "2027-12-31T23:00:00"),
        ("Asia/Shanghai", "2027-12-31T13:59:59", None),
        ("Asia/Shanghai", "2027-12-31T14:00:00", "2027-12-31T23:00:00"),
        ("Asia/Shanghai", "2028-02-28T22:59:59", "2028-02-28T23:00:00"),
    ],
)
def test_quiet_hours_in_utc(zone: str, now: str, expected: str | None) -> None:
    quiet = parse_quiet_hours("22:00-07:00", tz=ZoneInfo(zone))
    assert first_attempt_at(now=utc(now), urgent=False, quiet=quiet) == (
        utc(expected) if expected else utc(now)
    )


def test_a_window_within_one_day() -> None:
    """A window that does not cross midnight (12:00-14:00) ends the same day."""
    quiet = parse_quiet_hours("12:00-14:00", tz=ZoneInfo("Asia/Shanghai"))
    tz = "Asia/Shanghai"
    assert first_attempt_at(now=local(tz, "2028-02-29 11:59:59"), urgent=False, quiet=quiet) == (
        local(tz, "2028-02-29 11:59:59")
    )
    assert first_attempt_at(now=local(tz, "2028-02-29 12:00:00"), urgent=False, quiet=quiet) == (
        local(tz, "2028-02-29 14:00:00")
    )
    assert first_attempt_at(now=local(tz, "2028-02-29 14:00:00"), urgent=False, quiet=quiet) == (
        local(tz, "2028-02-29 14:00:00")
    )
