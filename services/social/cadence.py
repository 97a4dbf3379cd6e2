"""Local dates and the visit cadence: when a client's next visit falls due."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from models.social import (
    RiskLevel,
)

# Days between visits by risk level (the design's defaults).
VISIT_CADENCE_DAYS: Final[dict[RiskLevel, int]] = {
    RiskLevel.high: 7,
    RiskLevel.medium: 14,
    RiskLevel.low: 30,
}


FUTURE_SLACK: Final = timedelta(minutes=5)


def local_today(*, now: datetime, tz: ZoneInfo) -> date:
    """The calendar date of `now` in the deployment's time zone."""
    return now.astimezone(tz).date()


def visit_due_on(
    *,
    risk_level: RiskLevel | str,
    last_visit_at: datetime | None,
    assigned_at: datetime | None,
    tz: ZoneInfo,
    reopened_at: datetime | None = None,
) -> date | None:
    """The local date the next visit is due: cadence days after the last visit or the assignment."""
    # A reopened case starts afresh: a visit from before it was closed does not make it overdue.
    if last_visit_at is not None and reopened_at is not None and last_visit_at < reopened_at:
        last_visit_at = None
    base = last_visit_at or assigned_at
    if base is None:
        return None
    return local_today(now=base, tz=tz) + timedelta(days=VISIT_CADENCE_DAYS[RiskLevel(risk_level)])


def is_overdue(*, due_on: date | None, today: date) -> bool:
    """A visit is overdue once the local day after its due date has begun."""
    return due_on is not None and today > due_on
