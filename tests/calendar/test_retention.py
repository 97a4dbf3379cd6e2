"""Retention cut-off: positions of check-ins and visits older than 180 days are erased; one
exactly at the cut-off, and one a second after, are kept. The cut-off is 180 x 24 hours before
the run, an instant, whatever the zone's DST changes in between (not a local midnight)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from grassroots.settings import get_settings
from models.correction import CheckIn, CheckInKind, CheckInStatus, Level
from models.social import Visit, VisitKind
from services.correction import supervisions
from services.retention import erase_old_locations
from tests.calendar.conftest import SECOND, local, utc
from tests.correction.conftest import INSIDE, World

# (local wall time of the run, the cut-off in UTC worked out by hand)
RUNS = [
    (
        "2028-01-01 00:00:00",
        {"Asia/Shanghai": "2027-07-04T16:00:00", "America/New_York": "2027-07-05T05:00:00"},
    ),
    (
        "2028-03-01 00:00:00",
        {"Asia/Shanghai": "2027-09-02T16:00:00", "America/New_York": "2027-09-03T05:00:00"},
    ),
    # New York: the run is in EST, the cut-off falls in EDT (01:00 local, not midnight)
    (
        "2027-11-08 00:00:00",
        {"Asia/Shanghai": "2027-05-11T16:00:00", "America/New_York": "2027-05-12T05:00:00"},
    ),
]


@pytest.mark.parametrize(("wall", "cutoffs"), RUNS)
async def test_positions_erased_strictly_before_the_cutoff(
    zone: str, wall: str, cutoffs: dict[str, str], world: World
) -> None:
    assert get_settings().retention_days == 180
    now, cutoff = local(zone, wall), utc(cutoffs[zone])
    supervision = await supervisions.create_supervision(
        actor=world.officer,
        client_id=world.client_id,
        subject_user_id=world.subject.id,
        officer_id=world.officer.id,
        permitted_zone_id=world.zone_id,
        level=Level.normal,
        starts_on=date(2027, 1, 1),
        ends_on=date(2028, 12, 31),
        now=datetime.fromisoformat("2026-12-01T00:00:00+00:00"),
    )
    instants = {"before": cutoff - SECOND, "at": cutoff, "after": cutoff + SECOND}
    for label, at in instants.items():
        await CheckIn.create(
            supervision_id=supervision.id,
            subject_id=world.subject.id,
            recorded_by_id=world.subject.id,
            kind=CheckInKind.location,
            occurred_at=at,
            lon=INSIDE[0],
            lat=INSIDE[1],
            accuracy_m=10.0,
            text=label,
            status=CheckInStatus.ok,
            org_path=supervision.org_path,
            request_hash="h",
        )
        await Visit.create(
            id=uuid.uuid4(),
            client_id=world.client_id,
            recorded_by_id=world.officer.id,
            kind=VisitKind.home,
            occurred_at=at,
            lon=INSIDE[0],
            lat=INSIDE[1],
            accuracy_m=10.0,
            notes=label,
            request_hash="h",
        )
    summary = await erase_old_locations(now)
    assert str(summary).startswith("erased positions of 1 check-ins and 1 visits")
    kept_checkins = {c.text: c.lon is not None for c in await CheckIn.all()}
    kept_visits = {v.notes: v.lon is not None for v in await Visit.all()}
    expected = {"before": False, "at": True, "after": True}
    assert kept_checkins == expected
    assert kept_visits == expected
    assert now - cutoff == timedelta(days=180)
