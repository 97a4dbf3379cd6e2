"""Tests for reminder recurrences."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.recurrence import (
    InvalidRecurrence,
    next_occurrence,
    occurrences_between,
    skipped_periods,
    validate_rrule,
    validate_series,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
FAR_AHEAD = datetime(2040, 1, 1, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """An aware Asia/Shanghai wall time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def series(
    first_at: datetime,
    rrule: str | None,
    *,
    tz: ZoneInfo = SHANGHAI,
    until: datetime | None = None,
    limit: int = 1000,
    end: datetime = FAR_AHEAD,
) -> list[datetime]:
    """Occurrences from first_at on, as wall times in tz."""
    found = occurrences_between(
        first_at=first_at, rrule=rrule, until=until, start=first_at, end=end, tz=tz, limit=limit
    )
    assert all(o.tzinfo is UTC for o in found)
    return [o.astimezone(tz) for o in found]


def is_month_end(moment: datetime) -> bool:
    """Whether a datetime falls on its month's last day."""
    return moment.day == calendar.monthrange(moment.year, moment.month)[1]


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "normalised"),
    [
        ("FREQ=MONTHLY;INTERVAL=2", "FREQ=MONTHLY;INTERVAL=2"),
        ("RRULE:FREQ=MONTHLY;INTERVAL=2", "FREQ=MONTHLY;INTERVAL=2"),
        (" rrule:freq=weekly;byday=mo,fr ", "FREQ=WEEKLY;BYDAY=MO,FR"),
        ("FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1", "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("FREQ=DAILY;COUNT=1000", "FREQ=DAILY;COUNT=1000"),
        ("FREQ=YEARLY;UNTIL=20301231T160000Z", "FREQ=YEARLY;UNTIL=20301231T160000Z"),
        ("FREQ=DAILY;BYHOUR=9;BYMINUTE=30", "FREQ=DAILY;BYHOUR=9;BYMINUTE=30"),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        ),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
    ],
)
def test_valid_rules_are_normalised(rule: str, normalised: str) -> None:
    assert validate_rrule(rule) == normalised


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "empty"),
        ("RRULE:", "empty"),
        ("garbage", "NAME=VALUE"),
        ("FREQ=", "NAME=VALUE"),
        ("FREQ=DAILY;", "NAME=VALUE"),
        ("INTERVAL=2", "FREQ is required"),
        ("FREQ=SECONDLY", "at most one reminder a day"),
        ("FREQ=MINUTELY", "at most one reminder a day"),
        ("FREQ=HOURLY;INTERVAL=24", "at most one reminder a day"),
        ("FREQ=FORTNIGHTLY", "unknown FREQ"),
        ("FREQ=DAILY;FREQ=WEEKLY", "twice"),
        ("FREQ=DAILY;FOO=1", "unknown rule part"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a weekday"),
        ("FREQ=WEEKLY;BYDAY=2MO", "MONTHLY or FREQ=YEARLY"),
        ("FREQ=MONTHLY;BYDAY=6MO", "out of range"),
        ("FREQ=MONTHLY;BYDAY=0MO", "out of range"),
        ("FREQ=DAILY;COUNT=1001", "COUNT"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;COUNT=-1", "COUNT"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1.5", "INTERVAL"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20301231T000000Z", "cannot both"),
        ("FREQ=DAILY;UNTIL=2030-12-31", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20301331T000000Z", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20301231T160000", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20301331", "UNTIL"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=x", "not a number"),
        ("FREQ=DAILY;BYHOUR=9,21", "one value"),
        ("FREQ=DAILY;BYMINUTE=0,30", "one value"),
        ("FREQ=DAILY;BYHOUR=24", "out of range"),
        ("FREQ=YEARLY;BYMONTH=13", "out of range"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "WEEKLY"),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO"),
        ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY"),
        ("FREQ=MONTHLY;BYSETPOS=1", "another BYxxx"),
        ("FREQ=WEEKLY;WKST=XX", "WKST"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never occurs"),
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", "never occurs"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6", "never occurs"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "unknown rule part"),
        ("FREQ=DAILY\nRRULE:FREQ=DAILY", "unknown FREQ"),
        ("FREQ=DAILY;" + "BYMONTH=1," * 60, "longer than"),
    ],
)
def test_invalid_rules(rule: str, message: str) -> None:
    with pytest.raises(InvalidRecurrence, match=message):
        validate_rrule(rule)
    with pytest.raises(ValueError):
        next_occurrence(
            first_at=local(2026, 1, 1), rrule=rule, until=None, after=local(2026, 1, 1), tz=SHANGHAI
        )


@pytest.mark.parametrize(
    ("rule", "first_at"),
    [
        ("FREQ=DAILY;INTERVAL=7;BYDAY=MO", local(2026, 12, 1)),  # a Tuesday, every 7 days
        ("FREQ=WEEKLY;INTERVAL=52;BYMONTH=6", local(2026, 1, 1)),  # June only in ~160 years
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=6", local(2026, 1, 31)),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31", local(2026, 2, 28)),
        ("FREQ=MONTHLY;INTERVAL=2;BYMONTH=2,4,6,8,10,12", local(2026, 1, 15)),
        ("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", local(2026, 2, 1)),
    ],
)
def test_a_rule_that_never_meets_its_start_is_refused(rule: str, first_at: datetime) -> None:
    validate_rrule(rule)  # it occurs in the calendar, just never from this first_at
    with pytest.raises(InvalidRecurrence, match="does not occur for decades from first_at"):
        validate_series(first_at=first_at, rrule=rule, tz=SHANGHAI)


@pytest.mark.parametrize(
    ("rule", "first_at"),
    [
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", local(2026, 12, 1)),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=1", local(2026, 1, 31)),
        ("FREQ=MONTHLY", local(2026, 1, 31)),
        ("FREQ=MONTHLY;INTERVAL=12", local(2026, 1, 31)),
        ("FREQ=YEARLY", local(2024, 2, 29)),
        ("FREQ=YEARLY;INTERVAL=3", local(2024, 2, 29)),  # 2036 is a leap year
        ("FREQ=WEEKLY;INTERVAL=500", local(2026, 1, 1)),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29", local(2026, 1, 1)),
    ],
)
def test_a_rule_that_meets_its_start_is_accepted(rule: str, first_at: datetime) -> None:
    assert validate_series(first_at=first_at, rrule=rule, tz=SHANGHAI) == rule
    assert len(series(first_at, rule, limit=2)) == 2


# --- month ends ---------------------------------------------------------------------------------


def test_every_second_month_on_its_last_day() -> None:
    found = series(local(2026, 1, 31), "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1", limit=12)
    assert [(o.year, o.month, o.day) for o in found[:6]] == [
        (2026, 1, 31),
        (2026, 3, 31),
        (2026, 5, 31),
        (2026, 7, 31),
        (2026, 9, 30),
        (2026, 11, 30),
    ]
    assert all(is_month_end(o) for o in found)
    assert [o.month for o in found[6:]] == [1, 3, 5, 7, 9, 11]


def test_monthly_from_the_31st_skips_the_short_months() -> None:
    found = series(local(2026, 1, 31), "FREQ=MONTHLY", limit=7)
    assert [(o.year, o.month, o.day) for o in found] == [
        (2026, 1, 31),
        (2026, 3, 31),
        (2026, 5, 31),
        (2026, 7, 31),
        (2026, 8, 31),
        (2026, 10, 31),
        (2026, 12, 31),
    ]
    assert all(o.hour == 9 and o.minute == 0 for o in found)
    skipped = skipped_periods(
        first_at=local(2026, 1, 31), rrule="FREQ=MONTHLY", occurrences=found, tz=SHANGHAI
    )
    assert skipped == ["2026-02", "2026-04", "2026-06", "2026-09", "2026-11"]


@pytest.mark.parametrize(
    ("day", "months"),
    [(28, [1, 2, 3, 4, 5]), (29, [1, 3, 4, 5, 6]), (30, [1, 3, 4, 5, 6]), (31, [1, 3, 5, 7, 8])],
)
def test_monthly_from_a_late_day_is_only_that_day(day: int, months: list[int]) -> None:
    found = series(local(2026, 1, day), "FREQ=MONTHLY", limit=5)
    assert [o.month for o in found] == months
    assert {o.day for o in found} == {day}


def test_the_last_day_of_each_month_is_bymonthday_minus_1() -> None:
    found = series(local(2026, 1, 31), "FREQ=MONTHLY;BYMONTHDAY=-1", limit=14)
    assert [o.month for o in found] == [*range(1, 13), 1, 2]
    assert all(is_month_end(o) for o in found)
    assert {o.year: o.day for o in found if o.month == 2} == {2026: 28, 2027: 28}
    assert (
        skipped_periods(
            first_at=local(2026, 1, 31),
            rrule="FREQ=MONTHLY;BYMONTHDAY=-1",
            occurrences=found,
            tz=SHANGHAI,
        )
        == []
    )


def test_explicit_bymonthday_31_is_the_same_as_the_day_from_first_at() -> None:
    found = series(local(2026, 1, 31), "FREQ=MONTHLY;BYMONTHDAY=31", limit=4)
    assert [o.month for o in found] == [1, 3, 5, 7]
    assert found == series(local(2026, 1, 31), "FREQ=MONTHLY", limit=4)


def test_yearly_from_a_leap_day_only_in_leap_years() -> None:
    found = series(local(2024, 2, 29), "FREQ=YEARLY", limit=3)
    assert [(o.year, o.month, o.day) for o in found] == [
        (2024, 2, 29),
        (2028, 2, 29),
        (2032, 2, 29),
    ]
    skipped = skipped_periods(
        first_at=local(2024, 2, 29), rrule="FREQ=YEARLY", occurrences=found, tz=SHANGHAI
    )
    assert skipped == ["2025", "2026", "2027", "2029", "2030", "2031"]


def test_monthly_with_count_from_the_30th_skips_february_and_counts_only_real_dates() -> None:
    found = series(local(2026, 1, 30), "FREQ=MONTHLY;COUNT=3")
    assert [(o.month, o.day) for o in found] == [(1, 30), (3, 30), (4, 30)]


@pytest.mark.parametrize(
    ("rule", "first_at", "skipped"),
    [
        (
            "FREQ=MONTHLY;BYDAY=5MO",  # months without a fifth Monday
            local(2026, 3, 30),
            [
                "2026-04",
                "2026-05",
                "2026-07",
                "2026-09",
                "2026-10",
                "2026-12",
                "2027-01",
                "2027-02",
            ],
        ),
        ("FREQ=MONTHLY;INTERVAL=2", local(2026, 1, 31), ["2026-09", "2026-11"]),
        (
            "FREQ=YEARLY;BYMONTH=1,2;BYMONTHDAY=30",
            local(2026, 1, 30),
            ["2026-02", "2027-02", "2028-02", "2029-02"],
        ),
        ("FREQ=MONTHLY;BYMONTH=1,3,5;BYMONTHDAY=31", local(2026, 1, 31), []),
        ("FREQ=WEEKLY", local(2026, 1, 31), []),
        (None, local(2026, 1, 31), []),
    ],
)
def test_skipped_periods(rule: str | None, first_at: datetime, skipped: list[str]) -> None:
    found = series(first_at, rule, limit=5)
    assert skipped_periods(first_at=first_at, rrule=rule, occurrences=found, tz=SHANGHAI) == (
        skipped
    )


# --- local wall time ----------------------------------------------------------------------------


def test_shanghai_wall_time_in_utc() -> None:
    first_at = local(2026, 3, 1, 9, 0)
    assert next_occurrence(
        first_at=first_at, rrule="FREQ=MONTHLY", until=None, after=first_at, tz=SHANGHAI
    ) == datetime(2026, 4, 1, 1, 0, tzinfo=UTC)


def test_berlin_keeps_local_wall_time_across_dst() -> None:
    first_at = datetime(2026, 3, 1, 9, 0, tzinfo=BERLIN)
    found = occurrences_between(
        first_at=first_at,
        rrule="FREQ=MONTHLY",
        until=None,
        start=first_at,
        end=datetime(2026, 12, 1, tzinfo=UTC),
        tz=BERLIN,
    )
    assert [o.hour for o in found] == [8, 7, 7, 7, 7, 7, 7, 7, 8]  # UTC: CET then CEST then CET
    assert all(o.astimezone(BERLIN).hour == 9 for o in found)
    weekly = series(datetime(2026, 3, 23, 9, 0, tzinfo=BERLIN), "FREQ=WEEKLY", tz=BERLIN, limit=2)
    assert [o.hour for o in weekly] == [9, 9]
    assert weekly[1].astimezone(UTC) - weekly[0].astimezone(UTC) == timedelta(days=7, hours=-1)


def test_first_at_given_in_another_zone_is_converted_first() -> None:
    first_at = datetime(2026, 1, 31, 1, 0, tzinfo=UTC)  # 09:00 on 31 January in Shanghai
    found = series(first_at, "FREQ=MONTHLY", limit=2)
    assert [(o.month, o.day, o.hour) for o in found] == [(1, 31, 9), (3, 31, 9)]


def test_wall_time_in_a_dst_gap_is_read_with_the_offset_before_the_gap() -> None:
    first_at = datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN)
    following = next_occurrence(
        first_at=first_at, rrule="FREQ=DAILY", until=None, after=first_at, tz=BERLIN
    )
    # 02:30 on 29 March does not exist in Berlin. RFC 5545 3.3.10 reads a recurrence instance's
    # nonexistent local time as 3.3.5 reads a DATE-TIME: with the offset before the gap, so the
    # reminder goes at 03:30 CEST (01:30 UTC), as dateutil with a zoneinfo DTSTART has it.
    assert following == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    found = series(first_at, "FREQ=DAILY;COUNT=3", tz=BERLIN)
    assert [(o.day, o.hour) for o in found] == [(28, 2), (29, 3), (30, 2)]


# --- next_occurrence ----------------------------------------------------------------------------


def test_next_occurrence_is_strictly_after() -> None:
    first_at = local(2026, 1, 31)
    rule = "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1"

    def following(after: datetime) -> datetime | None:
        return next_occurrence(first_at=first_at, rrule=rule, until=None, after=after, tz=SHANGHAI)

    assert following(first_at - timedelta(seconds=1)) == first_at
    assert following(first_at) == local(2026, 3, 31)
    assert following(local(2026, 3, 31) - timedelta(microseconds=1)) == local(2026, 3, 31)
    assert following(local(2026, 7, 31, 12)) == local(2026, 9, 30)
    assert following(local(2029, 12, 31, 10)) == local(2030, 1, 31)


def test_one_off() -> None:
    first_at = local(2026, 5, 1)
    assert (
        next_occurrence(
            first_at=first_at, rrule=None, until=None, after=local(2026, 4, 30), tz=SHANGHAI
        )
        == first_at
    )
    assert (
        next_occurrence(first_at=first_at, rrule=None, until=None, after=first_at, tz=SHANGHAI)
        is None
    )
    assert (
        next_occurrence(
            first_at=first_at,
            rrule=None,
            until=local(2026, 4, 30),
            after=local(2026, 4, 1),
            tz=SHANGHAI,
        )
        is None
    )


def test_until_is_inclusive_and_ends_the_series() -> None:
    first_at = local(2026, 1, 1)
    found = series(first_at, "FREQ=WEEKLY", until=local(2026, 1, 29))
    assert [o.day for o in found] == [1, 8, 15, 22, 29]
    assert (
        next_occurrence(
            first_at=first_at,
            rrule="FREQ=WEEKLY",
            until=local(2026, 1, 29),
            after=local(2026, 1, 29),
            tz=SHANGHAI,
        )
        is None
    )


def test_until_in_the_rule() -> None:
    first_at = local(2026, 1, 1)
    # UNTIL is a UTC instant, inclusive (a DATE UNTIL is refused: first_at is a date-time).
    assert len(series(first_at, "FREQ=DAILY;UNTIL=20260110T010000Z")) == 10
    assert len(series(first_at, "FREQ=DAILY;UNTIL=20260110T005959Z")) == 9
    both = series(first_at, "FREQ=DAILY;UNTIL=20260110T010000Z", until=local(2026, 1, 5))
    assert len(both) == 5


def test_a_date_until_is_refused_but_a_stored_one_keeps_its_meaning() -> None:
    # RFC 5545 3.3.10: with a DATE-TIME DTSTART, UNTIL "MUST be specified as a date with UTC time".
    with pytest.raises(InvalidRecurrence, match="UTC date-time"):
        validate_rrule("FREQ=DAILY;UNTIL=20260110")
    with pytest.raises(InvalidRecurrence, match="UTC date-time"):
        validate_series(first_at=local(2026, 1, 1), rrule="FREQ=DAILY;UNTIL=20260110", tz=SHANGHAI)
    # Reminders stored before the refusal still fire: the date is an inclusive local date.
    stored = series(local(2026, 1, 1, 23, 30), "FREQ=DAILY;UNTIL=20260110")
    assert len(stored) == 10 and stored[-1] == local(2026, 1, 10, 23, 30)


def test_count_counts_from_first_at() -> None:
    first_at = local(2026, 1, 1)
    rule = "FREQ=DAILY;COUNT=3"
    assert [o.day for o in series(first_at, rule)] == [1, 2, 3]
    assert next_occurrence(
        first_at=first_at, rrule=rule, until=None, after=local(2026, 1, 2), tz=SHANGHAI
    ) == local(2026, 1, 3)
    assert (
        next_occurrence(
            first_at=first_at, rrule=rule, until=None, after=local(2026, 1, 3), tz=SHANGHAI
        )
        is None
    )
    assert series(first_at, "FREQ=DAILY;COUNT=1") == [first_at]


def test_first_at_off_the_rule_counts_as_the_first_occurrence() -> None:
    wednesday = local(2026, 1, 7)
    found = series(wednesday, "FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    assert [(o.day, o.weekday()) for o in found] == [(7, 2), (12, 0), (19, 0)]


def test_naive_datetimes_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_occurrence(
            first_at=datetime(2026, 1, 1),
            rrule=None,
            until=None,
            after=local(2026, 1, 1),
            tz=SHANGHAI,
        )
    with pytest.raises(ValueError, match="aware"):
        next_occurrence(
            first_at=local(2026, 1, 1),
            rrule=None,
            until=None,
            after=datetime(2026, 1, 1),
            tz=SHANGHAI,
        )


# --- occurrences_between ------------------------------------------------------------------------


def test_occurrences_between_is_half_open_and_limited() -> None:
    first_at = local(2026, 1, 1)
    found = occurrences_between(
        first_at=first_at,
        rrule="FREQ=DAILY",
        until=None,
        start=local(2026, 1, 5),
        end=local(2026, 1, 10),
        tz=SHANGHAI,
    )
    assert [o.astimezone(SHANGHAI).day for o in found] == [5, 6, 7, 8, 9]
    assert len(series(first_at, "FREQ=DAILY", limit=7)) == 7
    assert series(first_at, "FREQ=DAILY", limit=0) == []
    daily_for_years = occurrences_between(
        first_at=first_at,
        rrule="FREQ=DAILY",
        until=None,
        start=first_at,
        end=FAR_AHEAD,
        tz=SHANGHAI,
    )
    assert len(daily_for_years) == 1000


@given(
    year=st.integers(2020, 2030),
    month=st.integers(1, 12),
    day=st.integers(1, 31),
    interval=st.integers(1, 4),
    tz_name=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]),
)
def test_monthly_keeps_the_day_skips_months_without_it_and_next_matches_between(
    year: int, month: int, day: int, interval: int, tz_name: str
) -> None:
    tz = ZoneInfo(tz_name)
    day = min(day, calendar.monthrange(year, month)[1])
    first_at = datetime(year, month, day, 9, 0, tzinfo=tz)
    rule = f"FREQ=MONTHLY;INTERVAL={interval}"
    found = occurrences_between(
        first_at=first_at,
        rrule=rule,
        until=None,
        start=first_at,
        end=first_at + timedelta(days=800),
        tz=tz,
    )
    assert found[0] == first_at
    walls = [o.astimezone(tz) for o in found]
    for earlier, later in zip(found, found[1:], strict=False):
        assert next_occurrence(first_at=first_at, rrule=rule, until=None, after=earlier, tz=tz) == (
            later
        )
    assert all((w.day, w.hour, w.minute) == (day, 9, 0) for w in walls)
    months = {w.year * 12 + w.month - 1 for w in walls}
    origin = year * 12 + month - 1
    skipped = skipped_periods(first_at=first_at, rrule=rule, occurrences=found, tz=tz)
    # Every INTERVAL-th month in the span either has the day (and an occurrence) or is skipped.
    for k in range(origin, max(months) + 1, interval):
        has_day = day <= calendar.monthrange(k // 12, k % 12 + 1)[1]
        assert (k in months) == has_day
        assert (f"{k // 12:04d}-{k % 12 + 1:02d}" in skipped) == (not has_day)
