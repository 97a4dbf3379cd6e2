"""The service's one source of calendar time.

Every domain function takes "now" from here (or from a caller that did), so a test can move the
whole service through time in one place and no module mixes UTC's date with the deployment's.
`now()` is an aware UTC instant; `today()` is the calendar date in the deployment's time zone
(GRASSROOTS_TIMEZONE), never UTC's: at 02:30 in Nantong it is already tomorrow in Beijing while
UTC still says yesterday. Durations and timeouts use `time.monotonic()`, not this clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from grassroots.settings import get_settings


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def local_date(moment: datetime, tz: tzinfo | None = None) -> date:
    """The calendar date of `moment` in the deployment's time zone (or `tz`)."""
    return moment.astimezone(tz or get_settings().tz).date()


def today(tz: tzinfo | None = None) -> date:
    """The deployment's local calendar date now (or in `tz`)."""
    return local_date(now(), tz)
