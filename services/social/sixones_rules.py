"""The six-ones (六个一) schedule of a social-work team: which tasks fall due when.

Pure calendar rules on local calendar dates (the deployment's time zone); no I/O. A task period
always runs from the first day of a month to the last day of a month, and is due on its last day.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal


class TaskKind(StrEnum):
    """The six kinds of team task, in the order of the design table."""

    MONTHLY_MEETING = "monthly_meeting"
    BIMONTHLY_TRAINING = "bimonthly_training"
    EXCHANGE = "exchange"
    QUARTERLY_DISCUSSION = "quarterly_discussion"
    SEMIANNUAL_ASSESSMENT = "semiannual_assessment"
    ANNUAL_REVIEW = "annual_review"


KIND_NAMES_ZH: Final[Mapping[TaskKind, str]] = MappingProxyType(
    {
        TaskKind.MONTHLY_MEETING: "一月一议事",
        TaskKind.BIMONTHLY_TRAINING: "二月一培训",
        TaskKind.EXCHANGE: "三月一交流",
        TaskKind.QUARTERLY_DISCUSSION: "一季一讨论",
        TaskKind.SEMIANNUAL_ASSESSMENT: "半年一考核",
        TaskKind.ANNUAL_REVIEW: "一年一总评",
    }
)

TaskStatus = Literal["open", "done", "overdue"]

# Reminders go to the team this many days before the due date.
REMINDER_DAYS_BEFORE: Final[tuple[int, int]] = (7, 1)

# Months per period for the kinds aligned to the calendar year; the exchange is aligned to the
# team's anchor month instead.
_CALENDAR_MONTHS: Final[Mapping[TaskKind, int]] = MappingProxyType(
    {
        TaskKind.MONTHLY_MEETING: 1,
        TaskKind.BIMONTHLY_TRAINING: 2,
        TaskKind.QUARTERLY_DISCUSSION: 3,
        TaskKind.SEMIANNUAL_ASSESSMENT: 6,
        TaskKind.ANNUAL_REVIEW: 12,
    }
)
_EXCHANGE_MONTHS: Final = 3

_MONTH_LABEL = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_SPAN_LABEL = re.compile(r"(\d{4})-(\d{2})/(\d{4})-(\d{2})", re.ASCII)
_QUARTER_LABEL = re.compile(r"(\d{4})-Q([1-4])", re.ASCII)
_HALF_LABEL = re.compile(r"(\d{4})-H([12])", re.ASCII)
_YEAR_LABEL = re.compile(r"\d{4}", re.ASCII)


@dataclass(frozen=True)
class TaskPeriod:
    """One task of a team: its kind, period label, first day and due day (inclusive)."""

    kind: TaskKind
    period: str
    starts_on: date
    due_on: date


def _month_index(day: date) -> int:
    """Months since year 0 of the month that holds `day`."""
    return day.year * 12 + day.month - 1


def _first_of(month_index: int) -> date:
    """First day of the month with the given month index."""
    return date(month_index // 12, month_index % 12 + 1, 1)


def _last_of(month_index: int) -> date:
    """Last day of the month with the given month index."""
    year, month = month_index // 12, month_index % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def _month_label(first: date) -> str:
    """The YYYY-MM label of a month."""
    return f"{first.year:04d}-{first.month:02d}"


def _label(kind: TaskKind, first_index: int, last_index: int) -> str:
    """The period label of a task that runs over the given months."""
    first, last = _first_of(first_index), _first_of(last_index)
    if kind is TaskKind.MONTHLY_MEETING:
        return _month_label(first)
    if kind in (TaskKind.BIMONTHLY_TRAINING, TaskKind.EXCHANGE):
        return f"{_month_label(first)}/{_month_label(last)}"
    if kind is TaskKind.QUARTERLY_DISCUSSION:
        return f"{first.year:04d}-Q{(first.month - 1) // 3 + 1}"
    if kind is TaskKind.SEMIANNUAL_ASSESSMENT:
        return f"{first.year:04d}-H{(first.month - 1) // 6 + 1}"
    return f"{first.year:04d}"


def _period(kind: TaskKind, first_index: int, months: int) -> TaskPeriod:
    """The task of `kind` that runs for `months` months from the month `first_index`."""
    last_index = first_index + months - 1
    return TaskPeriod(
        kind=kind,
        period=_label(kind, first_index, last_index),
        starts_on=_first_of(first_index),
        due_on=_last_of(last_index),
    )


def _check_anchor(anchor_month: date) -> None:
    """Reject an anchor that is not the first day of a month."""
    if anchor_month.day != 1:
        raise ValueError(f"anchor_month must be the first day of a month, got {anchor_month}")


def _periods_ending_in(month_index: int, anchor_index: int) -> Iterator[TaskPeriod]:
    """The tasks, in table order, whose last month is the month `month_index`."""
    for kind in TaskKind:
        if kind is TaskKind.EXCHANGE:
            since_anchor = month_index - anchor_index
            if since_anchor >= _EXCHANGE_MONTHS - 1 and (since_anchor + 1) % _EXCHANGE_MONTHS == 0:
                yield _period(kind, month_index - _EXCHANGE_MONTHS + 1, _EXCHANGE_MONTHS)
            continue
        months = _CALENDAR_MONTHS[kind]
        if (month_index + 1) % months == 0:
            yield _period(kind, month_index - months + 1, months)


def periods_between(*, anchor_month: date, from_on: date, to_on: date) -> list[TaskPeriod]:
    """Every task due within [from_on, to_on] (selection by due date), by due date then kind.

    A task that started before `from_on` is included when its due date is in the range; a task that
    started inside the range but falls due after `to_on` is not. Exchanges run in rolling
    three-month periods from `anchor_month` (the first day of a month); none exists before it.
    An empty range (from_on > to_on) gives an empty list.
    """
    _check_anchor(anchor_month)
    anchor_index = _month_index(anchor_month)
    tasks: list[TaskPeriod] = []
    for month_index in range(_month_index(from_on), _month_index(to_on) + 1):
        if from_on <= _last_of(month_index) <= to_on:
            tasks.extend(_periods_ending_in(month_index, anchor_index))
    return tasks


def period_containing(*, kind: TaskKind, day: date, anchor_month: date) -> TaskPeriod | None:
    """The task of `kind` whose period holds `day`; None for an exchange before the anchor month."""
    _check_anchor(anchor_month)
    kind = TaskKind(kind)
    day_index = _month_index(day)
    if kind is TaskKind.EXCHANGE:
        since_anchor = day_index - _month_index(anchor_month)
        if since_anchor < 0:
            return None
        first_index = day_index - since_anchor % _EXCHANGE_MONTHS
        return _period(kind, first_index, _EXCHANGE_MONTHS)
    months = _CALENDAR_MONTHS[kind]
    return _period(kind, day_index - day_index % months, months)


def _parse_month(year_text: str, month_text: str) -> int:
    """Month index of a YYYY and MM pair; ValueError when it is no real month."""
    year, month = int(year_text), int(month_text)
    if not 1 <= year <= 9999 or not 1 <= month <= 12:
        raise ValueError(f"no such month: {year_text}-{month_text}")
    return year * 12 + month - 1


def label_to_period(
    *, kind: TaskKind | str, period: str, anchor_month: date | None = None
) -> TaskPeriod:
    """Parse a period label back into its task; ValueError for an unknown kind or a bad label.

    With `anchor_month`, an exchange label must also be aligned to the team's anchor month and not
    lie before it; without it any span of three consecutive months is accepted.
    """
    task_kind = TaskKind(kind)
    if task_kind is TaskKind.MONTHLY_MEETING:
        match = _MONTH_LABEL.fullmatch(period)
        if match is None:
            raise ValueError(f"bad {task_kind} period {period!r}, expected YYYY-MM")
        return _period(task_kind, _parse_month(*match.groups()), 1)
    if task_kind in (TaskKind.BIMONTHLY_TRAINING, TaskKind.EXCHANGE):
        match = _SPAN_LABEL.fullmatch(period)
        if match is None:
            raise ValueError(f"bad {task_kind} period {period!r}, expected YYYY-MM/YYYY-MM")
        first_index = _parse_month(*match.group(1, 2))
        last_index = _parse_month(*match.group(3, 4))
        months = 2 if task_kind is TaskKind.BIMONTHLY_TRAINING else _EXCHANGE_MONTHS
        if last_index - first_index != months - 1:
            raise ValueError(f"{task_kind} period {period!r} must span {months} months")
        if task_kind is TaskKind.BIMONTHLY_TRAINING and first_index % 2 != 0:
            raise ValueError(f"training period {period!r} must start in an odd month")
        if task_kind is TaskKind.EXCHANGE and anchor_month is not None:
            _check_anchor(anchor_month)
            since_anchor = first_index - _month_index(anchor_month)
            if since_anchor < 0 or since_anchor % _EXCHANGE_MONTHS != 0:
                raise ValueError(f"exchange period {period!r} is not aligned to {anchor_month}")
        return _period(task_kind, first_index, months)
    if task_kind is TaskKind.QUARTERLY_DISCUSSION:
        match = _QUARTER_LABEL.fullmatch(period)
        if match is None:
            raise ValueError(f"bad {task_kind} period {period!r}, expected YYYY-Qn")
        first_month = (int(match.group(2)) - 1) * 3 + 1
        return _period(task_kind, _parse_month(match.group(1), str(first_month)), 3)
    if task_kind is TaskKind.SEMIANNUAL_ASSESSMENT:
        match = _HALF_LABEL.fullmatch(period)
        if match is None:
            raise ValueError(f"bad {task_kind} period {period!r}, expected YYYY-H1 or YYYY-H2")
        first_month = (int(match.group(2)) - 1) * 6 + 1
        return _period(task_kind, _parse_month(match.group(1), str(first_month)), 6)
    if _YEAR_LABEL.fullmatch(period) is None:
        raise ValueError(f"bad {task_kind} period {period!r}, expected YYYY")
    return _period(task_kind, _parse_month(period, "1"), 12)


def task_status(*, due_on: date, completed_on_or_none: date | None, today: date) -> TaskStatus:
    """Status of a task: done once completed (even late), overdue after the due day, else open."""
    if completed_on_or_none is not None:
        return "done"
    if today > due_on:
        return "overdue"
    return "open"


def reminder_dates(*, due_on: date) -> tuple[date, date]:
    """The local dates on which the team is reminded: 7 days and 1 day before the due date."""
    early, late = REMINDER_DAYS_BEFORE
    return due_on - timedelta(days=early), due_on - timedelta(days=late)
