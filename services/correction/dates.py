"""Local calendar helpers of community correction: days and months in the deployment's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from grassroots.errors import Invalid
from grassroots.settings import get_settings


def local_zone() -> ZoneInfo:
    """The deployment's time zone (calendar periods are local)."""
    return get_settings().tz


def local_date(at: datetime, tz: ZoneInfo | None = None) -> date:
    """The local calendar date of an instant."""
    return at.astimezone(tz or local_zone()).date()


def month_bounds_utc(month: date, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """[first local midnight of the month, first local midnight of the next) in UTC."""
    zone = tz or local_zone()
    nxt = next_month(month)
    start = datetime.combine(month, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(nxt, time.min, tzinfo=zone).astimezone(UTC)
    return start, end


def next_month(month: date) -> date:
    """The first day of the month after `month`."""
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


# Months are of this century or the next: outside them a month's first instant may not exist in
# every zone (0001-01 at +08:00 is before the first UTC instant), and no supervision runs there.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def parse_month(text: str) -> date:
    """'2026-03' -> date(2026, 3, 1); anything else (or outside 1900..2200) is a 422
    `month_invalid`."""
    try:
        year_text, month_text = text.split("-")
        if len(year_text) != 4 or len(month_text) != 2:
            raise ValueError(text)
        if not FIRST_YEAR <= int(year_text) <= LAST_YEAR:
            raise ValueError(text)
        return date(int(year_text), int(month_text), 1)
    except ValueError:
        raise Invalid("month_invalid") from None
