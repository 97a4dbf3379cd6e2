"""The supervisor's views (report, CSV, positions) and the patrol worker jobs."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from grassroots.settings import get_settings
from models.alerts import Alert
from models.audit import AuditEntry
from models.org import Role
from models.patrol import Assignment, TrackPoint
from services import jobs
from services.patrol import jobs as patrol_jobs
from tests.patrol.world import build_world, iso, make_track, reference, start_round


@pytest.fixture
def local_noon():
    """Today's local noon, so a round that began 40 minutes ago lies inside one local day
    (what happens at midnight itself is pinned in tests/calendar/test_zone_report.py)."""
    today = datetime.now(get_settings().tz).date()
    noon = datetime.combine(today, time(12), tzinfo=get_settings().tz)
    with time_machine.travel(noon, tick=True):
        yield noon


@pytest.fixture
async def world(client, make_unit, make_user, auth):
    return await build_world(client, make_unit, make_user, auth)


async def finished_round(client, auth, world, started_at, member=None):
    member = member or world.patrol
    rnd = await start_round(client, auth, world, started_at, member=member)
    track = make_track(started_at)
    r = await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(member), json={"points": track.points}
    )
    assert r.status_code == 200 and r.json()["accepted"] == 181
    r = await client.post(
        f"/rounds/{rnd['id']}/end",
        headers=auth(member),
        json={"ended_at": iso(started_at + timedelta(minutes=31))},
    )
    assert r.status_code == 200
    return rnd, track


async def test_daily_report_json_and_csv(local_noon, client, auth, world):
    started_at = datetime.now(UTC) - timedelta(minutes=40)
    rnd, track = await finished_round(client, auth, world, started_at)
    r = await client.post(
        f"/rounds/{rnd['id']}/incidents",
        headers=auth(world.patrol),
        json={
            "id": str(uuid.uuid4()),
            "ts": iso(started_at + timedelta(minutes=5)),
            "lon": 120.865,
            "lat": 32.004,
            "category": "可疑人员",
            "description": '=HYPERLINK("x") 桥下有人逗留',
        },
    )
    assert r.status_code == 201
    day = started_at.astimezone(get_settings().tz).date().isoformat()
    h = auth(world.supervisor)
    r = await client.get(f"/zones/{world.zone['id']}/report", headers=h, params={"date": day})
    assert r.status_code == 200, r.text
    report = r.json()
    ref = reference(track, {})
    assert report["rounds"] == 1
    assert report["patrol_seconds"] == 31 * 60
    assert report["coverage_ratio"] == pytest.approx(ref["coverage_ratio"], rel=0.005)
    tallies = {c["name"]: (c["visits"], c["missed"]) for c in report["checkpoints"]}
    assert tallies == {"A 岗亭": (1, 0), "B 查报站": (0, 1)}
    assert [i["category"] for i in report["incidents"]] == ["可疑人员"]

    # Another day is empty.
    other_day = (started_at.astimezone(get_settings().tz).date() + timedelta(days=2)).isoformat()
    empty = (
        await client.get(f"/zones/{world.zone['id']}/report", headers=h, params={"date": other_day})
    ).json()
    assert empty["rounds"] == 0 and empty["coverage_ratio"] == 0 and empty["incidents"] == []

    r = await client.get(
        f"/zones/{world.zone['id']}/report", headers=h, params={"date": day, "format": "csv"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["区域 zone", "濠河东责任区"]
    assert ["巡逻次数 rounds", "1"] in rows
    assert ["B 查报站", "是", "0", "1"] in rows
    incident_row = rows[-1]
    assert incident_row[2].startswith("'=HYPERLINK")  # no formula reaches Excel
    assert b"\r\n" in r.content

    # Patrol members and other streets may not read it.
    assert (
        await client.get(
            f"/zones/{world.zone['id']}/report", headers=auth(world.patrol), params={"date": day}
        )
    ).status_code == 403
    r = await client.get(
        f"/zones/{world.zone['id']}/report", headers=h, params={"date": "2026-13-01"}
    )
    assert r.status_code == 422


async def test_positions_of_active_rounds(client, auth, world, make_user):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=10))
    points = [
        {
            "id": str(uuid.uuid4()),
            "ts": iso(now - timedelta(minutes=2)),
            "lon": 120.865,
            "lat": 32.004,
        },
        {
            "id": str(uuid.uuid4()),
            "ts": iso(now - timedelta(minutes=1)),
            "lon": 120.866,
            "lat": 32.005,
            "accuracy_m": 6,
        },
        {"id": str(uuid.uuid4()), "ts": iso(now), "lon": 120.95, "lat": 32.1, "is_mock": True},
    ]
    await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(world.patrol), json={"points": points}
    )
    r = await client.get(f"/zones/{world.zone['id']}/positions", headers=auth(world.supervisor))
    assert r.status_code == 200
    [position] = r.json()
    assert position["round_id"] == rnd["id"] and position["full_name"] == "李强"
    assert (position["lon"], position["lat"], position["in_zone"]) == (120.866, 32.005, True)
    assert await AuditEntry.filter(action="read", resource_type="zone_positions").exists()
    assert (
        await client.get(f"/zones/{world.zone['id']}/positions", headers=auth(world.patrol))
    ).status_code == 403
    far = await make_user(Role.supervisor, unit=world.other)
    assert (
        await client.get(f"/zones/{world.zone['id']}/positions", headers=auth(far))
    ).status_code == 404


async def test_missed_checkpoints_job_alerts_each_shift_once(client, auth, world):
    now = datetime.now(UTC)
    await Assignment.all().delete()
    h = auth(world.supervisor)
    url = f"/zones/{world.zone['id']}/assignments"
    idle = (
        await client.post(
            url,
            headers=h,
            json={
                "user_id": str(world.other_patrol.id),
                "starts_at": iso(now - timedelta(hours=3)),
                "ends_at": iso(now - timedelta(hours=1)),
            },
        )
    ).json()
    busy = (
        await client.post(
            url,
            headers=h,
            json={
                "user_id": str(world.patrol.id),
                "starts_at": iso(now - timedelta(hours=1, minutes=30)),
                "ends_at": iso(now - timedelta(minutes=15)),
            },
        )
    ).json()
    # The busy member walked the loop (passing A) and ended: the round alerted B already.
    await finished_round(client, auth, world, now - timedelta(minutes=55))
    assert await Alert.filter(kind="missed_checkpoint").count() == 1
    # A shift that has not ended (10 min grace for late uploads) is not judged.
    summary = await patrol_jobs.missed_checkpoints_job(now)
    assert summary == "judged 2 shifts, raised 2 alerts"
    shift_alerts = await Alert.filter(kind="missed_checkpoint", subject_type="patrol_assignment")
    assert {a.subject_id for a in shift_alerts} == {uuid.UUID(idle["id"])}
    assert busy["id"] not in {str(a.subject_id) for a in shift_alerts}
    assert await patrol_jobs.missed_checkpoints_job(now) == "judged 0 shifts, raised 0 alerts"
    # Through the worker's registry as well.
    assert "patrol.missed_checkpoints" in jobs.load_jobs()


async def test_retention_deletes_old_points_and_audits(client, auth, world):
    now = datetime.now(UTC)
    rnd = await start_round(client, auth, world, now - timedelta(minutes=10))
    points = [
        {
            "id": str(uuid.uuid4()),
            "ts": iso(now - timedelta(minutes=i)),
            "lon": 120.865,
            "lat": 32.004,
        }
        for i in range(5)
    ]
    await client.post(
        f"/rounds/{rnd['id']}/points", headers=auth(world.patrol), json={"points": points}
    )
    later = now + timedelta(days=get_settings().retention_days) - timedelta(minutes=2, seconds=30)
    summary = await patrol_jobs.retention_job(later)
    assert summary.startswith("deleted 2 track points")
    assert await TrackPoint.all().count() == 3
    entry = await AuditEntry.get(resource_type="track_point", action="delete")
    assert entry.detail["deleted"] == 2
    assert (await patrol_jobs.retention_job(later)).startswith("deleted 0")


def test_a_days_coverage_unites_the_rounds_judged_parts_as_one_buffer_of_their_tracks():
    """A day's coverage unites each round's covered part, judged stretch by stretch from its
    marks: the same share as buffering all the day's tracks at once (to the buffers' chords)."""
    import math

    import numpy as np
    import shapely
    from shapely.geometry import shape

    from geo.measure import LocalProjection, to_local
    from geo.track import TrackState, advance_track
    from services.patrol.reports import union_coverage_ratio
    from tests.patrol.world import ZONE_GEOJSON

    zone = shape(ZONE_GEOJSON)
    centre = zone.centroid
    projection = LocalProjection.around(geom=zone)
    zone_local = to_local(geom=zone, projection=projection)
    covered, lines = [], []
    for phase in (0.0, 1.3, 2.9):  # three rounds of laps whose reach swings: they cross often
        i = np.arange(600)
        reach = 0.0015 + 0.0008 * np.sin(i / 37.0 + phase)
        angle = i / 40.0 * 2 * math.pi
        lons = centre.x + reach * np.cos(angle)
        lats = centre.y + 0.8 * reach * np.sin(angle)
        ts = i * 5.0
        state = TrackState()
        for first in range(0, 600, 150):  # judged in four runs
            part = slice(first, first + 150)
            state = advance_track(
                state=state,
                ts=ts[part],
                lons=lons[part],
                lats=lats[part],
                accuracy_m=np.full(150, 8.0),
                is_mock=np.zeros(150, dtype=bool),
                zone=zone,
            )
        covered.append(state.covered)
        x_m, y_m = projection.forward(lons=lons, lats=lats)
        lines.append(shapely.linestrings(x_m, y_m))
    swath = shapely.buffer(shapely.union_all(lines), 50.0, quad_segs=16)
    expected = float(shapely.intersection(zone_local, swath).area) / float(zone_local.area)

    got = union_coverage_ratio(zone=zone, covered=[*covered, None])
    assert 0.05 < got < 1.0
    assert got > max(union_coverage_ratio(zone=zone, covered=[c]) for c in covered)
    assert got == pytest.approx(expected, abs=1e-4)
    assert union_coverage_ratio(zone=zone, covered=[None]) == 0.0
