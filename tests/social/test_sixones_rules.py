"""Tests for the six-ones schedule rules."""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.social.sixones_rules import (
    KIND_NAMES_ZH,
    TaskKind,
    TaskPeriod,
    label_to_period,
    period_containing,
    periods_between,
    reminder_dates,
    task_status,
)

JANUARY_2026 = date(2026, 1, 1)
KIND_ORDER = list(TaskKind)


def month_end(year: int, month: int) -> date:
    """Last day of a month, computed independently of the module under test."""
    return date(year, month, calendar.monthrange(year, month)[1])


def year_of(anchor: date, year: int) -> list[TaskPeriod]:
    """All tasks due in a calendar year."""
    return periods_between(anchor_month=anchor, from_on=date(year, 1, 1), to_on=date(year, 12, 31))


def of_kind(tasks: list[TaskPeriod], kind: TaskKind) -> list[TaskPeriod]:
    """The tasks of one kind, in order."""
    return [task for task in tasks if task.kind is kind]


months_2000s = st.builds(
    date, st.integers(min_value=2000, max_value=2100), st.integers(1, 12), st.just(1)
)
days_2000s = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


# --- full years -----------------------------------------------------------------------------


@pytest.mark.parametrize("year", range(2023, 2030))
def test_january_anchored_year_has_29_tasks_in_table_proportions(year: int) -> None:
    tasks = year_of(date(2020, 1, 1), year)
    assert len(tasks) == 29
    assert Counter(task.kind for task in tasks) == {
        TaskKind.MONTHLY_MEETING: 12,
        TaskKind.BIMONTHLY_TRAINING: 6,
        TaskKind.EXCHANGE: 4,
        TaskKind.QUARTERLY_DISCUSSION: 4,
        TaskKind.SEMIANNUAL_ASSESSMENT: 2,
        TaskKind.ANNUAL_REVIEW: 1,
    }


@pytest.mark.parametrize("anchor_month", range(1, 13))
@pytest.mark.parametrize("year", [2024, 2026, 2027])
def test_any_anchor_still_gives_four_exchanges_and_29_tasks_a_year(
    anchor_month: int, year: int
) -> None:
    tasks = year_of(date(2020, anchor_month, 1), year)
    assert len(tasks) == 29
    assert len(of_kind(tasks, TaskKind.EXCHANGE)) == 4


def test_first_year_of_a_team_anchored_in_may_has_fewer_exchanges() -> None:
    tasks = year_of(date(2026, 5, 1), 2026)
    exchanges = of_kind(tasks, TaskKind.EXCHANGE)
    assert [task.period for task in exchanges] == ["2026-05/2026-07", "2026-08/2026-10"]
    assert len(tasks) == 27


@pytest.mark.parametrize("year", range(2023, 2030))
def test_every_kind_has_its_calendar_due_dates(year: int) -> None:
    tasks = year_of(JANUARY_2026, year)
    assert [t.due_on for t in of_kind(tasks, TaskKind.MONTHLY_MEETING)] == [
        month_end(year, month) for month in range(1, 13)
    ]
    assert [t.due_on for t in of_kind(tasks, TaskKind.BIMONTHLY_TRAINING)] == [
        month_end(year, month) for month in (2, 4, 6, 8, 10, 12)
    ]
    assert [t.due_on for t in of_kind(tasks, TaskKind.QUARTERLY_DISCUSSION)] == [
        month_end(year, month) for month in (3, 6, 9, 12)
    ]
    assert [t.due_on for t in of_kind(tasks, TaskKind.SEMIANNUAL_ASSESSMENT)] == [
        date(year, 6, 30),
        date(year, 12, 31),
    ]
    assert [t.due_on for t in of_kind(tasks, TaskKind.ANNUAL_REVIEW)] == [date(year, 12, 31)]


@pytest.mark.parametrize("year", range(2023, 2030))
def test_labels_of_a_year(year: int) -> None:
    tasks = year_of(JANUARY_2026, year)
    assert [t.period for t in of_kind(tasks, TaskKind.MONTHLY_MEETING)] == [
        f"{year}-{month:02d}" for month in range(1, 13)
    ]
    assert [t.period for t in of_kind(tasks, TaskKind.BIMONTHLY_TRAINING)] == [
        f"{year}-{month:02d}/{year}-{month + 1:02d}" for month in (1, 3, 5, 7, 9, 11)
    ]
    assert [t.period for t in of_kind(tasks, TaskKind.QUARTERLY_DISCUSSION)] == [
        f"{year}-Q{quarter}" for quarter in (1, 2, 3, 4)
    ]
    assert [t.period for t in of_kind(tasks, TaskKind.SEMIANNUAL_ASSESSMENT)] == [
        f"{year}-H1",
        f"{year}-H2",
    ]
    assert [t.period for t in of_kind(tasks, TaskKind.ANNUAL_REVIEW)] == [str(year)]


def test_year_end_order_follows_the_table() -> None:
    tasks = periods_between(
        anchor_month=date(2026, 10, 1), from_on=date(2026, 12, 31), to_on=date(2026, 12, 31)
    )
    assert [(t.kind, t.period) for t in tasks] == [
        (TaskKind.MONTHLY_MEETING, "2026-12"),
        (TaskKind.BIMONTHLY_TRAINING, "2026-11/2026-12"),
        (TaskKind.EXCHANGE, "2026-10/2026-12"),
        (TaskKind.QUARTERLY_DISCUSSION, "2026-Q4"),
        (TaskKind.SEMIANNUAL_ASSESSMENT, "2026-H2"),
        (TaskKind.ANNUAL_REVIEW, "2026"),
    ]
    assert all(t.due_on == date(2026, 12, 31) for t in tasks)
    assert tasks[3].starts_on == date(2026, 10, 1)
    assert tasks[4].starts_on == date(2026, 7, 1)
    assert tasks[5].starts_on == date(2026, 1, 1)


# --- exchanges --------------------------------------------------------------------------------


def test_november_anchor_exchanges_cross_the_year() -> None:
    tasks = periods_between(
        anchor_month=date(2026, 11, 1), from_on=date(2026, 1, 1), to_on=date(2028, 1, 31)
    )
    exchanges = of_kind(tasks, TaskKind.EXCHANGE)
    assert [(t.period, t.starts_on, t.due_on) for t in exchanges] == [
        ("2026-11/2027-01", date(2026, 11, 1), date(2027, 1, 31)),
        ("2027-02/2027-04", date(2027, 2, 1), date(2027, 4, 30)),
        ("2027-05/2027-07", date(2027, 5, 1), date(2027, 7, 31)),
        ("2027-08/2027-10", date(2027, 8, 1), date(2027, 10, 31)),
        ("2027-11/2028-01", date(2027, 11, 1), date(2028, 1, 31)),
    ]


def test_no_exchange_before_the_anchor_month() -> None:
    tasks = periods_between(
        anchor_month=date(2026, 5, 1), from_on=date(2025, 1, 1), to_on=date(2026, 7, 30)
    )
    assert of_kind(tasks, TaskKind.EXCHANGE) == []
    assert of_kind(tasks, TaskKind.MONTHLY_MEETING)[0].period == "2025-01"


def test_may_anchor_exchange_periods() -> None:
    tasks = year_of(date(2025, 5, 1), 2026)
    assert [t.period for t in of_kind(tasks, TaskKind.EXCHANGE)] == [
        "2025-11/2026-01",
        "2026-02/2026-04",
        "2026-05/2026-07",
        "2026-08/2026-10",
    ]


def test_anchor_must_be_first_of_month() -> None:
    with pytest.raises(ValueError, match="first day"):
        periods_between(anchor_month=date(2026, 5, 2), from_on=JANUARY_2026, to_on=JANUARY_2026)


# --- month ends and leap years ------------------------------------------------------------


@pytest.mark.parametrize("year", [2024, 2028])
def test_leap_year_february_due_on_29th(year: int) -> None:
    tasks = periods_between(
        anchor_month=date(year - 1, 12, 1), from_on=date(year, 2, 1), to_on=date(year, 2, 29)
    )
    assert [(t.kind, t.due_on) for t in tasks] == [
        (TaskKind.MONTHLY_MEETING, date(year, 2, 29)),
        (TaskKind.BIMONTHLY_TRAINING, date(year, 2, 29)),
        (TaskKind.EXCHANGE, date(year, 2, 29)),
    ]


@pytest.mark.parametrize("year", [2023, 2025, 2026, 2027])
def test_common_year_february_due_on_28th(year: int) -> None:
    tasks = periods_between(
        anchor_month=JANUARY_2026, from_on=date(year, 2, 28), to_on=date(year, 2, 28)
    )
    assert [t.period for t in tasks] == [f"{year}-02", f"{year}-01/{year}-02"]


@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_end_is_a_due_date_and_the_day_before_is_not(month: int) -> None:
    end = month_end(2027, month)
    on_end = periods_between(anchor_month=JANUARY_2026, from_on=end, to_on=end)
    before = periods_between(
        anchor_month=JANUARY_2026, from_on=end.replace(day=1), to_on=end - timedelta(days=1)
    )
    assert on_end[0] == TaskPeriod(
        kind=TaskKind.MONTHLY_MEETING,
        period=f"2027-{month:02d}",
        starts_on=end.replace(day=1),
        due_on=end,
    )
    assert before == []


# --- partial ranges ---------------------------------------------------------------------------


def test_range_starting_mid_period_selects_by_due_date() -> None:
    tasks = periods_between(
        anchor_month=JANUARY_2026, from_on=date(2026, 3, 15), to_on=date(2026, 5, 10)
    )
    assert [(t.kind, t.period) for t in tasks] == [
        (TaskKind.MONTHLY_MEETING, "2026-03"),
        (TaskKind.EXCHANGE, "2026-01/2026-03"),
        (TaskKind.QUARTERLY_DISCUSSION, "2026-Q1"),
        (TaskKind.MONTHLY_MEETING, "2026-04"),
        (TaskKind.BIMONTHLY_TRAINING, "2026-03/2026-04"),
    ]


def test_range_ending_the_day_before_a_due_date_excludes_it() -> None:
    tasks = periods_between(
        anchor_month=JANUARY_2026, from_on=date(2026, 6, 1), to_on=date(2026, 6, 29)
    )
    assert tasks == []


def test_empty_and_single_day_ranges() -> None:
    assert (
        periods_between(anchor_month=JANUARY_2026, from_on=date(2026, 7, 1), to_on=date(2026, 6, 1))
        == []
    )
    assert (
        len(
            periods_between(
                anchor_month=JANUARY_2026, from_on=date(2026, 6, 30), to_on=date(2026, 6, 30)
            )
        )
        == 5
    )


# --- period_containing -------------------------------------------------------------------------


def test_period_containing() -> None:
    anchor = date(2026, 11, 1)
    day = date(2027, 1, 15)
    assert period_containing(kind=TaskKind.EXCHANGE, day=day, anchor_month=anchor) == (
        label_to_period(kind=TaskKind.EXCHANGE, period="2026-11/2027-01")
    )
    assert (
        period_containing(kind=TaskKind.EXCHANGE, day=date(2026, 10, 31), anchor_month=anchor)
        is None
    )
    semiannual = period_containing(
        kind=TaskKind.SEMIANNUAL_ASSESSMENT, day=date(2026, 7, 1), anchor_month=anchor
    )
    assert semiannual is not None
    assert semiannual.period == "2026-H2"


# --- labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "period", "starts_on", "due_on"),
    [
        ("monthly_meeting", "2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("bimonthly_training", "2026-11/2026-12", date(2026, 11, 1), date(2026, 12, 31)),
        ("exchange", "2026-11/2027-01", date(2026, 11, 1), date(2027, 1, 31)),
        ("quarterly_discussion", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("semiannual_assessment", "2026-H1", date(2026, 1, 1), date(2026, 6, 30)),
        ("annual_review", "2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("bimonthly_training", "2028-01/2028-02", date(2028, 1, 1), date(2028, 2, 29)),
    ],
)
def test_label_to_period(kind: str, period: str, starts_on: date, due_on: date) -> None:
    assert label_to_period(kind=kind, period=period) == TaskPeriod(
        kind=TaskKind(kind), period=period, starts_on=starts_on, due_on=due_on
    )


@pytest.mark.parametrize(
    ("kind", "period"),
    [
        ("monthly_meeting", "2026-13"),
        ("monthly_meeting", "2026-00"),
        ("monthly_meeting", "2026-1"),
        ("monthly_meeting", "0000-01"),
        ("monthly_meeting", " 2026-11"),
        ("monthly_meeting", "2026-11/2026-12"),
        ("bimonthly_training", "2026-12/2027-01"),
        ("bimonthly_training", "2026-11/2027-01"),
        ("bimonthly_training", "2026-11"),
        ("exchange", "2026-11/2026-12"),
        ("exchange", "2026-11/2027-02"),
        ("exchange", "2027-01/2026-11"),
        ("quarterly_discussion", "2026-Q5"),
        ("quarterly_discussion", "2026-Q0"),
        ("semiannual_assessment", "2026-H3"),
        ("semiannual_assessment", "2026-h1"),
        ("annual_review", "26"),
        ("annual_review", "2026-"),
        ("annual_review", "２０２６"),
        ("weekly_party", "2026"),
        ("monthly_meeting", ""),
    ],
)
def test_label_to_period_rejects_junk(kind: str, period: str) -> None:
    with pytest.raises(ValueError):
        label_to_period(kind=kind, period=period)


def test_exchange_label_checked_against_anchor() -> None:
    anchor = date(2026, 11, 1)
    assert label_to_period(kind="exchange", period="2027-02/2027-04", anchor_month=anchor)
    with pytest.raises(ValueError, match="aligned"):
        label_to_period(kind="exchange", period="2027-01/2027-03", anchor_month=anchor)
    with pytest.raises(ValueError, match="aligned"):
        label_to_period(kind="exchange", period="2026-08/2026-10", anchor_month=anchor)


# --- status, reminders, names -------------------------------------------------------------------


def test_task_status() -> None:
    due = date(2026, 11, 30)
    assert task_status(due_on=due, completed_on_or_none=None, today=due) == "open"
    assert task_status(due_on=due, completed_on_or_none=None, today=date(2026, 12, 1)) == "overdue"
    assert task_status(
        due_on=due, completed_on_or_none=date(2026, 12, 5), today=date(2027, 1, 1)
    ) == ("done")
    assert task_status(
        due_on=due, completed_on_or_none=date(2026, 11, 3), today=date(2026, 11, 4)
    ) == ("done")


def test_reminder_dates() -> None:
    assert reminder_dates(due_on=date(2026, 3, 1)) == (date(2026, 2, 22), date(2026, 2, 28))
    assert reminder_dates(due_on=date(2026, 12, 31)) == (date(2026, 12, 24), date(2026, 12, 30))


def test_every_kind_has_a_chinese_name() -> None:
    assert set(KIND_NAMES_ZH) == set(TaskKind)
    assert KIND_NAMES_ZH[TaskKind.EXCHANGE] == "三月一交流"


# --- properties -------------------------------------------------------------------------------


@given(anchor=months_2000s, start=days_2000s, length_days=st.integers(0, 1200))
def test_properties_of_a_range(anchor: date, start: date, length_days: int) -> None:
    end = start + timedelta(days=length_days)
    tasks = periods_between(anchor_month=anchor, from_on=start, to_on=end)
    for task in tasks:
        assert start <= task.due_on <= end
        assert (task.due_on + timedelta(days=1)).day == 1
        assert task.starts_on.day == 1
        assert task.starts_on < task.due_on
        assert label_to_period(kind=task.kind, period=task.period, anchor_month=anchor) == task
        assert period_containing(kind=task.kind, day=task.due_on, anchor_month=anchor) == task
        assert period_containing(kind=task.kind, day=task.starts_on, anchor_month=anchor) == task
    assert tasks == sorted(tasks, key=lambda t: (t.due_on, KIND_ORDER.index(t.kind)))
    for kind in TaskKind:
        same_kind = of_kind(tasks, kind)
        # Periods of one kind tile the calendar: each starts the day after the previous is due.
        for previous, following in zip(same_kind, same_kind[1:], strict=False):
            assert following.starts_on == previous.due_on + timedelta(days=1)
    for task in of_kind(tasks, TaskKind.EXCHANGE):
        assert task.starts_on >= anchor


@given(anchor=months_2000s, split=days_2000s, before=st.integers(0, 400), after=st.integers(0, 400))
def test_adjacent_ranges_split_the_tasks(
    anchor: date, split: date, before: int, after: int
) -> None:
    start, end = split - timedelta(days=before), split + timedelta(days=after)
    whole = periods_between(anchor_month=anchor, from_on=start, to_on=end)
    left = periods_between(anchor_month=anchor, from_on=start, to_on=split)
    right = periods_between(anchor_month=anchor, from_on=split + timedelta(days=1), to_on=end)
    assert whole == left + right


@given(anchor=months_2000s, day=days_2000s)
def test_every_day_lies_in_exactly_one_period_per_kind(anchor: date, day: date) -> None:
    for kind in TaskKind:
        period = period_containing(kind=kind, day=day, anchor_month=anchor)
        if period is None:
            assert kind is TaskKind.EXCHANGE
            assert day < anchor
            continue
        assert period.starts_on <= day <= period.due_on
