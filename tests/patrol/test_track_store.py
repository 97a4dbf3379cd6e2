"""Track points at city scale: monthly partitions on PostgreSQL, bounded retention on both
databases, and coarse positions for old checkpoint visits and incidents."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from grassroots.settings import get_settings
from models.audit import AuditEntry
from models.org import Role
from models.patrol import (
    TRACK_DAYS_AHEAD,
    Checkpoint,
    CheckpointVisit,
    Incident,
    Round,
    TrackPoint,
    VisitMethod,
    Zone,
    day_start,
    month_start,
    next_month,
    track_day_partition_name,
    track_day_partition_sql,
    track_partition_name,
)
from services.patrol import jobs as patrol_jobs
from services.patrol import track_store
from services.retention import erase_old_locations
from tests.patrol.world import ZONE_GEOJSON

PG_URL = os.environ.get("GRASSROOTS_TEST_DATABASE_URL")
pg_only = pytest.mark.skipif(not PG_URL, reason="PostgreSQL run only")


async def _recreate_partitions() -> None:
    from tortoise import connections

    from models.patrol import track_partition_sql

    month = month_start(datetime.now(UTC).replace(year=datetime.now(UTC).year - 1))
    while month <= month_start(datetime.now(UTC)):
        await connections.get("default").execute_script(track_partition_sql(month))
        month = next_month(month)


@pytest.fixture(autouse=True)
async def restore_partitions(request):
    """The past year's months exist before and after each test: any retention run in the
    session (these tests, the patrol job tests) drops the expired ones from the shared database."""
    if PG_URL and "db" in request.fixturenames:
        await _recreate_partitions()
    yield
    if PG_URL and "db" in request.fixturenames:
        await _recreate_partitions()


@pytest.fixture
async def patrol_round(make_unit, make_user) -> Round:
    unit = await make_unit()
    member = await make_user(Role.patrol, unit=unit)
    zone = await Zone.create(
        name="濠河",
        kind="patrol",
        org_unit=unit,
        org_path=unit.path,
        geometry=ZONE_GEOJSON,
        area_m2=1.0,
    )
    return await Round.create(
        user=member,
        zone=zone,
        org_path=unit.path,
        request_hash="h",
        started_at=datetime.now(UTC) - timedelta(days=300),
    )


async def _points(round: Round, times: list[datetime]) -> None:
    await TrackPoint.bulk_create(
        [
            TrackPoint(
                id=uuid.uuid4(),
                round_id=round.id,
                ts=at,
                lon=120.865,
                lat=32.004,
                in_zone=True,
                received_at=at,
            )
            for at in times
        ]
    )


async def test_retention_deletes_in_bounded_batches_and_finishes_next_run(
    patrol_round, monkeypatch
):
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=get_settings().retention_days)
    # PostgreSQL removes whole UTC days past the cutoff (the cutoff's own day goes once past).
    bound = day_start(cutoff) if PG_URL else cutoff
    old = [bound - timedelta(minutes=m) for m in range(1, 8)]
    kept = [cutoff + timedelta(minutes=m) for m in range(1, 4)]
    await _points(patrol_round, old + kept)
    monkeypatch.setattr(track_store, "DELETE_BATCH", 3)
    monkeypatch.setattr(track_store, "MAX_DELETE_BATCHES", 2)

    first = await track_store.delete_expired_points(cutoff=cutoff)
    assert (first.deleted_rows, first.more_left) == (6, True)
    assert await TrackPoint.all().count() == 4
    summary = await patrol_jobs.retention_job(now)

    assert summary.startswith("deleted 1 track points")
    assert sorted(await TrackPoint.all().values_list("ts", flat=True)) == kept
    entry = await AuditEntry.get(resource_type="track_point", action="delete")
    assert entry.detail["deleted"] == 1 and entry.detail["more_left"] is False


async def test_old_checkpoint_visits_and_incidents_keep_only_a_coarse_position(patrol_round):
    now = datetime.now(UTC)
    old_at = now - timedelta(days=get_settings().retention_days + 1)
    zone = await Zone.get(id=patrol_round.zone_id)
    checkpoint = await Checkpoint.create(
        zone=zone, org_path=zone.org_path, name="北门", lon=120.86512, lat=32.00437, code="c"
    )

    async def visit(at: datetime) -> CheckpointVisit:
        return await CheckpointVisit.create(
            round=patrol_round,
            checkpoint=checkpoint,
            ts=at,
            lon=120.86512,
            lat=32.00437,
            accuracy_m=6.0,
            method=VisitMethod.gps,
            accepted=True,
            distance_m=3.0,
            request_hash="h",
        )

    async def incident(at: datetime) -> Incident:
        return await Incident.create(
            round=patrol_round,
            zone=zone,
            org_path=zone.org_path,
            ts=at,
            lon=120.86512,
            lat=32.00437,
            category="fire",
            description="烟",
            request_hash="h",
        )

    old_visit, new_visit = await visit(old_at), await visit(now)
    old_incident, new_incident = await incident(old_at), await incident(now)

    summary = await erase_old_locations(now)

    assert "coarsened 1 checkpoint visits and 1 incidents" in summary
    coarse = await CheckpointVisit.get(id=old_visit.id)
    assert (coarse.lon, coarse.lat, coarse.accuracy_m) == (120.87, 32.0, None)
    assert coarse.accepted and coarse.distance_m == 3.0  # the record of the visit stays
    assert (await CheckpointVisit.get(id=new_visit.id)).lon == 120.86512
    rounded = await Incident.get(id=old_incident.id)
    assert (rounded.lon, rounded.lat) == (120.87, 32.0)
    assert (await Incident.get(id=new_incident.id)).lat == 32.00437
    # The next run starts at this run's cutoff and finds nothing more.
    assert "coarsened 0 checkpoint visits and 0 incidents" in await erase_old_locations(
        now + timedelta(hours=1)
    )
    # A row that crosses the cutoff later is coarsened by the run after it crossed.
    later = now + timedelta(days=1)
    assert "coarsened 1 checkpoint visits and 1 incidents" in await erase_old_locations(
        later + timedelta(days=get_settings().retention_days)
    )


async def test_sqlite_keeps_one_table(patrol_round):
    if PG_URL:
        pytest.skip("SQLite run only")
    assert not await track_store.is_partitioned()
    assert await track_store.ensure_partitions(now=datetime.now(UTC)) == []
    assert await patrol_jobs.track_partitions_job(datetime.now(UTC)) == "partitions ready"


@pg_only
async def test_partitions_are_created_ahead_by_the_job_one_a_day(db):
    later = month_start(datetime.now(UTC))
    for _ in range(20):  # beyond what the test database was built with
        later = next_month(later)
    later += timedelta(days=3, hours=5)
    names = {p.name for p in await track_store.list_partitions()}
    assert track_day_partition_name(day_start(later)) not in names

    summary = await patrol_jobs.track_partitions_job(later)

    days = [day_start(later) + timedelta(days=n) for n in range(TRACK_DAYS_AHEAD + 1)]
    created = [track_day_partition_name(day) for day in days]
    assert summary == "created partitions " + ", ".join(created)
    parts = {p.name: p for p in await track_store.list_partitions()}
    assert set(created) <= set(parts)
    assert parts[created[0]].start == day_start(later)
    assert parts[created[0]].end == day_start(later) + timedelta(days=1)
    assert await patrol_jobs.track_partitions_job(later) == "partitions ready"
    await _drop_partitions(created)


async def _drop_partitions(names: list[str]) -> None:
    from tortoise import connections

    for name in names:
        await connections.get("default").execute_script(f'DROP TABLE IF EXISTS "{name}"')


@pg_only
async def test_days_inside_a_monthly_partition_get_none_of_their_own(db):
    now = datetime.now(UTC)
    month = next_month(month_start(now))  # made by the test database, as by migration 0009
    assert await track_store.ensure_partitions(now=month, ahead=5) == []


@pg_only
async def test_retention_drops_whole_expired_months_and_trims_the_boundary(patrol_round):
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=get_settings().retention_days)
    boundary = month_start(cutoff)
    expired = month_start(boundary - timedelta(days=1))
    await _points(patrol_round, [expired + timedelta(days=2), expired + timedelta(days=3)])
    # By whole UTC days: the day before the cutoff's goes, the cutoff's own day stays whole.
    day_before = day_start(cutoff) - timedelta(hours=1)
    same_day = day_start(cutoff) + (cutoff - day_start(cutoff)) / 2
    await _points(patrol_round, [day_before, same_day, cutoff + timedelta(hours=1)])

    summary = await patrol_jobs.retention_job(now)

    names = {p.name for p in await track_store.list_partitions()}
    assert track_partition_name(expired) not in names  # dropped whole, older ones too
    assert not any(p.start < boundary for p in await track_store.list_partitions())
    assert track_partition_name(boundary) in names  # only trimmed
    left = await TrackPoint.all().order_by("ts").values_list("ts", flat=True)
    assert left == [same_day, cutoff + timedelta(hours=1)]
    # The hour before the cutoff's day was trimmed from the boundary month (or, when the
    # cutoff's day is the month's first, went with the month before, dropped whole).
    trimmed = 1 if day_before >= boundary else 0
    assert summary.startswith(f"deleted {trimmed} track points")
    assert track_partition_name(expired) in summary
    entry = await AuditEntry.get(resource_type="track_point", action="delete")
    assert track_partition_name(expired) in entry.detail["dropped_partitions"]
    # New points still land in the remaining months, reads still find them.
    await _points(patrol_round, [now])
    assert await TrackPoint.filter(round_id=patrol_round.id).count() == 3


@pg_only
async def test_retention_drops_whole_expired_days_and_keeps_the_cutoffs_day_whole(patrol_round):
    """With daily partitions (the job's), a day wholly past the cutoff goes whole, and the
    cutoff's own day at the first run after it is past: nothing is deleted row by row."""
    from tortoise import connections

    now = datetime.now(UTC)
    cutoff = now - timedelta(days=get_settings().retention_days)
    month = month_start(cutoff)
    conn = connections.get("default")
    # The cutoff's month in days instead of the test database's monthly partition.
    await conn.execute_script(f'DROP TABLE "{track_partition_name(month)}"')
    days = []
    day = month
    while day < next_month(month):
        await conn.execute_script(track_day_partition_sql(day))
        days.append(day)
        day += timedelta(days=1)
    try:
        boundary = day_start(cutoff)
        older = [cutoff - timedelta(hours=30), cutoff - timedelta(hours=1)]
        await _points(patrol_round, [*older, cutoff + timedelta(hours=1)])

        summary = await patrol_jobs.retention_job(now)

        names = {p.name for p in await track_store.list_partitions()}
        assert track_day_partition_name(boundary) in names  # kept whole until its day is past
        assert not any(p.end <= cutoff for p in await track_store.list_partitions())
        dropped = [track_day_partition_name(d) for d in days if d < boundary]
        assert set(dropped).isdisjoint(names)
        # Nothing deleted row by row: the day before went whole (when the cutoff's day is the
        # month's first, it lay in the month before, dropped too), the cutoff's day waits.
        assert summary.startswith("deleted 0 track points")
        left = await TrackPoint.all().order_by("ts").values_list("ts", flat=True)
        assert left == [p for p in [*older, cutoff + timedelta(hours=1)] if p >= boundary]
        for name in dropped:
            assert name in summary
        # The run after the cutoff's day is wholly past drops it, points and all.
        later = now + (boundary + timedelta(days=1) - cutoff)
        assert track_day_partition_name(boundary) in await patrol_jobs.retention_job(later)
        assert await TrackPoint.filter(ts__lt=boundary + timedelta(days=1)).count() == 0
    finally:
        await _drop_partitions([track_day_partition_name(d) for d in days])


@pg_only
async def test_a_point_id_repeated_within_its_month_is_refused_by_the_key(patrol_round):
    from tortoise.exceptions import IntegrityError

    at = datetime.now(UTC)
    point_id = uuid.uuid4()
    row = {"round_id": patrol_round.id, "lon": 1.0, "lat": 1.0, "in_zone": True}
    await TrackPoint.create(id=point_id, ts=at, received_at=at, **row)
    with pytest.raises(IntegrityError):
        await TrackPoint.create(id=point_id, ts=at, received_at=at, **row)
