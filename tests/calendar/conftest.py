"""Calendar boundary tests: the deployment's time zone as a fixture, and instants built from
local wall times (so each test reads as "23:59:59 on 31 March in New York")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from grassroots.settings import Settings, get_settings

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"  # daylight saving: 2027-03-14 has 23 hours, 2027-11-07 has 25
ZONES = (SHANGHAI, NEW_YORK)
SECOND = timedelta(seconds=1)


def local(zone: str, text: str) -> datetime:
    """The aware UTC instant of a local wall time such as '2027-03-31 23:59:59' in `zone`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(text: str) -> datetime:
    """An aware UTC instant written out by hand, e.g. '2027-03-14T05:00:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@contextmanager
def deployed_in(zone_name: str) -> Iterator[str]:
    """The deployment's time zone set to `zone_name`, restored afterwards.

    Set on the one cached Settings object, not by clearing the cache: other fixtures patch that
    object (FCM endpoint, credentials) and the app holds it, so it must stay the same object.
    """
    settings = get_settings()
    before = settings.timezone
    settings.timezone = Settings(timezone=zone_name).timezone  # validated like the variable
    try:
        assert get_settings().tz == ZoneInfo(zone_name)
        yield zone_name
    finally:
        settings.timezone = before


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    """Run the test once with the deployment in each zone."""
    with deployed_in(request.param) as name:
        yield name


@pytest.fixture
def new_york(settings: Settings) -> Iterator[str]:
    """The deployment in New York, for its DST days."""
    with deployed_in(NEW_YORK) as name:
        yield name


# The correction world (offices, a subject, a permitted area) for the compliance and leave tests.
from tests.correction.conftest import world  # noqa: E402, F401
