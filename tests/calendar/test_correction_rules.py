"""Correction intervals: which interval and which compliance month a local instant falls in,
and the UTC bounds of intervals on month, quarter, half-year and year ends and DST days."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from services.correction.dates import month_bounds_utc
from services.correction.rules import (
    DEFAULT_RULES,
    IntervalKind,
    ObligationKind,
    ObligationRule,
    SupervisionLevel,
    Unit,
    interval_bounds_utc,
    interval_contains,
    intervals_for_month,
)
from services.correction.rules import Interval as Span
from tests.calendar.conftest import SECOND, ZONES, local, utc

D = date.fromisoformat


def _rule(interval: IntervalKind) -> ObligationRule:
    return ObligationRule(
        kind=ObligationKind.REPORT, interval=interval, required=1, unit=Unit.COUNT
    )


def _spans(interval: IntervalKind, month: str) -> list[tuple[date, date]]:
    found = intervals_for_month(
        rule=_rule(interval),
        month=D(month),
        supervision_starts_on=D("2027-01-01"),  # a Friday
        supervision_ends_on=D("2029-12-31"),
    )
    return [(i.starts_on, i.ends_on) for i in found]


@pytest.mark.parametrize(
    ("interval", "month", "spans"),
    [
        (IntervalKind.MONTH, "2028-02-01", [("2028-02-01", "2028-02-29")]),
        (IntervalKind.TWO_MONTHS, "2028-02-01", [("2028-01-01", "2028-02-29")]),
        (IntervalKind.TWO_MONTHS, "2028-03-01", []),
        (IntervalKind.QUARTER, "2027-03-01", [("2027-01-01", "2027-03-31")]),
        (IntervalKind.QUARTER, "2027-04-01", []),
        (IntervalKind.HALF_YEAR, "2027-06-01", [("2027-01-01", "2027-06-30")]),
        (IntervalKind.HALF_YEAR, "2027-12-01", [("2027-07-01", "2027-12-31")]),
        (IntervalKind.HALF_YEAR, "2028-01-01", []),
        # A week is judged in the month of its Sunday: 29 Mar-4 Apr 2027 belongs to April.
        (
            IntervalKind.WEEK,
            "2027-04-01",
            [
                ("2027-03-29", "2027-04-04"),
                ("2027-04-05", "2027-04-11"),
                ("2027-04-12", "2027-04-18"),
                ("2027-04-19", "2027-04-25"),
            ],
        ),
        # 27 Dec 2027-2 Jan 2028 belongs to January 2028.
        (
            IntervalKind.WEEK,
            "2027-12-01",
            [
                ("2027-11-29", "2027-12-05"),
                ("2027-12-06", "2027-12-12"),
                ("2027-12-13", "2027-12-19"),
                ("2027-12-20", "2027-12-26"),
            ],
        ),
        # Two-week spans count from the supervision's first day, 1 January 2027.
        (
            IntervalKind.TWO_WEEKS,
            "2028-02-01",
            [("2028-01-28", "2028-02-10"), ("2028-02-11", "2028-02-24")],
        ),
        (
            IntervalKind.TWO_WEEKS,
            "2028-03-01",
            [("2028-02-25", "2028-03-09"), ("2028-03-10", "2028-03-23")],
        ),
    ],
)
def test_intervals_judged_in_a_month(
    interval: IntervalKind, month: str, spans: list[tuple[str, str]]
) -> None:
    assert _spans(interval, month) == [(D(a), D(b)) for a, b in spans]


def test_daily_intervals_of_29_february() -> None:
    days = _spans(IntervalKind.DAY, "2028-02-01")
    assert (len(days), days[-1]) == (29, (D("2028-02-29"), D("2028-02-29")))


@pytest.mark.parametrize(
    ("zone", "starts_on", "ends_on", "start_at", "end_at"),
    [
        # one day: 24 hours in Shanghai, 23 and 25 hours on New York's DST days
        ("Asia/Shanghai", "2028-02-29", "2028-02-29", "2028-02-28T16:00:00", "2028-02-29T16:00:00"),
        (
            "America/New_York",
            "2028-02-29",
            "2028-02-29",
            "2028-02-29T05:00:00",
            "2028-03-01T05:00:00",
        ),
        (
            "America/New_York",
            "2027-03-14",
            "2027-03-14",
            "2027-03-14T05:00:00",
            "2027-03-15T04:00:00",
        ),
        (
            "America/New_York",
            "2027-11-07",
            "2027-11-07",
            "2027-11-07T04:00:00",
            "2027-11-08T05:00:00",
        ),
        ("Asia/Shanghai", "2027-11-07", "2027-11-07", "2027-11-06T16:00:00", "2027-11-07T16:00:00"),
        # a week over the autumn change, a month over the spring one
        (
            "America/New_York",
            "2027-11-01",
            "2027-11-07",
            "2027-11-01T04:00:00",
            "2027-11-08T05:00:00",
        ),
        (
            "America/New_York",
            "2027-03-01",
            "2027-03-31",
            "2027-03-01T05:00:00",
            "2027-04-01T04:00:00",
        ),
        # quarter, half-year and year
        ("Asia/Shanghai", "2027-10-01", "2027-12-31", "2027-09-30T16:00:00", "2027-12-31T16:00:00"),
        (
            "America/New_York",
            "2027-01-01",
            "2027-06-30",
            "2027-01-01T05:00:00",
            "2027-07-01T04:00:00",
        ),
        (
            "America/New_York",
            "2027-01-01",
            "2027-12-31",
            "2027-01-01T05:00:00",
            "2028-01-01T05:00:00",
        ),
        ("Asia/Shanghai", "2028-01-01", "2028-02-29", "2027-12-31T16:00:00", "2028-02-29T16:00:00"),
    ],
)
def test_interval_bounds_in_utc(
    zone: str, starts_on: str, ends_on: str, start_at: str, end_at: str
) -> None:
    span = Span(starts_on=D(starts_on), ends_on=D(ends_on))
    assert interval_bounds_utc(interval=span, tz=ZoneInfo(zone)) == (utc(start_at), utc(end_at))


@pytest.mark.parametrize(
    ("zone", "month", "start_at", "end_at"),
    [
        ("Asia/Shanghai", "2028-02-01", "2028-01-31T16:00:00", "2028-02-29T16:00:00"),
        ("America/New_York", "2028-02-01", "2028-02-01T05:00:00", "2028-03-01T05:00:00"),
        ("America/New_York", "2027-11-01", "2027-11-01T04:00:00", "2027-12-01T05:00:00"),
        ("Asia/Shanghai", "2027-12-01", "2027-11-30T16:00:00", "2027-12-31T16:00:00"),
    ],
)
def test_compliance_month_bounds(zone: str, month: str, start_at: str, end_at: str) -> None:
    assert month_bounds_utc(D(month), ZoneInfo(zone)) == (utc(start_at), utc(end_at))


# The last day of an interval and the first day of the next.
ENDS = [
    ("2027-03-31", "2027-04-01", IntervalKind.QUARTER, ("2027-01-01", "2027-03-31")),
    ("2027-06-30", "2027-07-01", IntervalKind.HALF_YEAR, ("2027-01-01", "2027-06-30")),
    ("2027-12-31", "2028-01-01", IntervalKind.HALF_YEAR, ("2027-07-01", "2027-12-31")),
    ("2028-02-29", "2028-03-01", IntervalKind.MONTH, ("2028-02-01", "2028-02-29")),
    ("2027-04-30", "2027-05-01", IntervalKind.MONTH, ("2027-04-01", "2027-04-30")),
    ("2027-03-14", "2027-03-15", IntervalKind.DAY, ("2027-03-14", "2027-03-14")),
    ("2027-11-07", "2027-11-08", IntervalKind.WEEK, ("2027-11-01", "2027-11-07")),
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("last", "first", "kind", "span"), ENDS)
def test_a_check_in_at_23_59_59_is_in_the_interval_and_at_midnight_in_the_next(
    zone: str, last: str, first: str, kind: IntervalKind, span: tuple[str, str]
) -> None:
    tz = ZoneInfo(zone)
    interval = Span(starts_on=D(span[0]), ends_on=D(span[1]))
    assert interval in intervals_for_month(
        rule=_rule(kind),
        month=D(span[1]).replace(day=1),
        supervision_starts_on=D("2027-01-01"),
        supervision_ends_on=D("2029-12-31"),
    )
    assert interval_contains(interval=interval, at=local(zone, f"{span[0]} 00:00:00"), tz=tz)
    assert interval_contains(interval=interval, at=local(zone, f"{last} 23:59:59"), tz=tz)
    assert not interval_contains(interval=interval, at=local(zone, f"{first} 00:00:00"), tz=tz)
    before = local(zone, f"{span[0]} 00:00:00") - SECOND
    assert not interval_contains(interval=interval, at=before, tz=tz)


def test_default_rules_still_the_design_table() -> None:
    """The boundaries above assume the design's intervals (a drift here changes them all)."""
    intervals = {
        level: {r.kind: r.interval for r in rules} for level, rules in DEFAULT_RULES.items()
    }
    assert intervals[SupervisionLevel.STRICT][ObligationKind.LOCATION] is IntervalKind.DAY
    assert intervals[SupervisionLevel.NORMAL][ObligationKind.LOCATION] is IntervalKind.WEEK
    assert intervals[SupervisionLevel.LENIENT][ObligationKind.LOCATION] is IntervalKind.TWO_WEEKS
    assert intervals[SupervisionLevel.NORMAL][ObligationKind.HOME_VISIT] is IntervalKind.QUARTER
    assert intervals[SupervisionLevel.LENIENT][ObligationKind.HOME_VISIT] is IntervalKind.HALF_YEAR
