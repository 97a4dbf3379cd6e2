"""Zone daily reports: a round (or incident) at 23:59:59 local belongs to that day, one at
00:00:00 to the next; in Shanghai and New York, on period ends and DST days."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from geo.measure import area_m2
from geo.validation import parse_area
from models.org import Role
from models.patrol import Incident, Round, RoundStatus, Zone
from services.patrol import reports
from tests.calendar.conftest import deployed_in, local, utc
from tests.patrol.world import ZONE_GEOJSON


@pytest.mark.parametrize(
    ("zone_name", "day", "start_at", "end_at"),
    [
        ("America/New_York", "2027-03-14", "2027-03-14T05:00:00", "2027-03-15T04:00:00"),
        ("America/New_York", "2027-11-07", "2027-11-07T04:00:00", "2027-11-08T05:00:00"),
        ("America/New_York", "2027-12-31", "2027-12-31T05:00:00", "2028-01-01T05:00:00"),
        ("Asia/Shanghai", "2027-12-31", "2027-12-30T16:00:00", "2027-12-31T16:00:00"),
        ("Asia/Shanghai", "2028-02-29", "2028-02-28T16:00:00", "2028-02-29T16:00:00"),
    ],
)
def test_local_day_bounds_in_utc(
    zone_name: str, day: str, start_at: str, end_at: str, settings: Any
) -> None:
    with deployed_in(zone_name):
        bounds = reports.local_day_bounds(date.fromisoformat(day))
    assert bounds == (utc(start_at), utc(end_at))


@pytest.mark.parametrize(
    ("last", "first"),
    [
        ("2027-04-30", "2027-05-01"),  # month end
        ("2027-09-30", "2027-10-01"),  # quarter end
        ("2027-06-30", "2027-07-01"),  # half-year end
        ("2027-12-31", "2028-01-01"),  # year end
        ("2028-02-29", "2028-03-01"),  # leap day
        ("2027-03-14", "2027-03-15"),  # New York's 23-hour day
        ("2027-11-07", "2027-11-08"),  # New York's 25-hour day
    ],
)
async def test_rounds_and_incidents_belong_to_their_local_day(
    zone: str, last: str, first: str, make_unit: Any, make_user: Any
) -> None:
    unit = await make_unit("和平桥街道")
    member = await make_user(Role.patrol, unit=unit)
    geometry = parse_area(geojson=ZONE_GEOJSON)
    area = await Zone.create(
        name="濠河东责任区",
        kind="patrol",
        org_unit=unit,
        org_path=unit.path,
        geometry=ZONE_GEOJSON,
        area_m2=area_m2(geom=geometry),
    )
    # minutes on patrol per round, so the day's patrol time names the rounds it holds
    starts = {
        f"{last} 00:00:00": 1,
        f"{last} 23:59:59": 2,
        f"{first} 00:00:00": 4,
        f"{first} 23:59:59": 8,
    }
    before = datetime.fromisoformat(f"{last} 00:00:00") - timedelta(seconds=1)
    starts[before.isoformat(sep=" ")] = 16  # the last second of the day before
    for wall, minutes in starts.items():
        started_at = local(zone, wall)
        run = await Round.create(
            id=uuid.uuid4(),
            user=member,
            zone=area,
            org_path=unit.path,
            status=RoundStatus.ended,
            started_at=started_at,
            ended_at=started_at + timedelta(minutes=minutes),
            request_hash="h",
        )
        await Incident.create(
            round=run,
            zone=area,
            org_path=unit.path,
            ts=started_at,
            lon=120.865,
            lat=32.004,
            category="other",
            description=f"{minutes}",
            request_hash="h",
        )
    day_one = await reports.zone_report(zone=area, day=date.fromisoformat(last))
    day_two = await reports.zone_report(zone=area, day=date.fromisoformat(first))
    assert (day_one.rounds, day_one.patrol_seconds) == (2, 3 * 60)
    assert (day_two.rounds, day_two.patrol_seconds) == (2, 12 * 60)
    assert [i.description for i in day_one.incidents] == ["1", "2"]
    assert [i.description for i in day_two.incidents] == ["4", "8"]
