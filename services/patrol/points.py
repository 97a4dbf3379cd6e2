"""Track points: a round's batches of fixes, checked one by one and stored in one statement."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Case, F, Q, Value, When

from grassroots.db import dialect
from grassroots.errors import TooLarge
from grassroots.settings import get_settings
from models.patrol import Round, TrackPoint
from services import audit
from services.context import current_actor
from services.group_commit import GroupCommit
from services.patrol import geometry, rules


@dataclass(frozen=True)
class PointInput:
    """One point as the phone sent it (coordinates unchecked: they are judged one by one)."""

    id: uuid.UUID
    ts: datetime
    lon: float
    lat: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    is_mock: bool = False


@dataclass(frozen=True)
class PointsResult:
    """What happened to a batch."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, str]]
    in_zone: int


def _point_problem(
    point: PointInput,
    *,
    earliest: datetime,
    latest: datetime,
    ended_by: datetime | None,
    kept_from: datetime,
) -> str | None:
    """Why one point is refused, or None."""
    lon, lat = point.lon, point.lat
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        return "invalid_coordinates"
    for value in (point.accuracy_m, point.speed_mps):
        if value is not None and not (math.isfinite(value) and value >= 0):
            return "invalid_measurement"
    if point.ts > latest:
        return "in_future"
    if point.ts < earliest:
        return "before_round_start"
    if point.ts < kept_from:
        return "past_retention"
    if ended_by is not None and point.ts > ended_by:
        return "after_round_end"
    return None


# Raw SQL on the one hot path: Tortoise builds a model object per row in bulk_create, which
# costs more than the database. One INSERT per batch, one SELECT for the ids already known.
_POINT_COLUMNS = (
    "id",
    "round_id",
    "ts",
    "lon",
    "lat",
    "accuracy_m",
    "speed_mps",
    "is_mock",
    "in_zone",
    "received_at",
)
_TABLE = TrackPoint._meta.db_table
# PostgreSQL takes the batch as ten arrays (unnest): ten parameters instead of 5,000.
_PG_INSERT = (
    f'INSERT INTO "{_TABLE}" ({",".join(_POINT_COLUMNS)}) '
    "SELECT u.id, $2, u.ts, u.lon, u.lat, u.accuracy_m, u.speed_mps, u.is_mock, u.in_zone, $3 "
    "FROM unnest($1::uuid[], $4::timestamptz[], $5::float8[], $6::float8[], $7::float8[], "
    "$8::float8[], $9::bool[], $10::bool[]) "
    "AS u(id, ts, lon, lat, accuracy_m, speed_mps, is_mock, in_zone)"
)
_PG_STORED = f'SELECT id, round_id, ts, lon, lat FROM "{_TABLE}" WHERE id = ANY($1::uuid[])'


@dataclass(frozen=True)
class _NewPoints:
    """A checked batch ready to insert."""

    round_id: uuid.UUID
    points: list[PointInput]
    in_zone: list[bool]
    received_at: datetime


async def _insert_points(conn: BaseDBAsyncClient, batch: _NewPoints) -> None:
    """One statement for the whole batch, in the dialect's fastest form."""
    points = batch.points
    if dialect() == "postgres":
        await conn.execute_query(
            _PG_INSERT,
            [
                [p.id for p in points],
                batch.round_id,
                batch.received_at,
                [p.ts for p in points],
                [p.lon for p in points],
                [p.lat for p in points],
                [p.accuracy_m for p in points],
                [p.speed_mps for p in points],
                [p.is_mock for p in points],
                batch.in_zone,
            ],
        )
        return
    round_key = str(batch.round_id)
    values: list[Any] = []
    for p, inside in zip(points, batch.in_zone, strict=True):
        values += [
            str(p.id),
            round_key,
            p.ts,
            p.lon,
            p.lat,
            p.accuracy_m,
            p.speed_mps,
            p.is_mock,
            inside,
            batch.received_at,
        ]
    group = "(" + ",".join("?" * len(_POINT_COLUMNS)) + ")"
    await conn.execute_query(
        f'INSERT INTO "{_TABLE}" ({",".join(_POINT_COLUMNS)}) VALUES '
        + ",".join([group] * len(points)),
        values,
    )


async def _stored_points(
    ids: Sequence[uuid.UUID],
) -> list[tuple[uuid.UUID, uuid.UUID, datetime, float, float]]:
    """(id, round_id, ts, lon, lat) of the points among `ids` already stored."""
    conn = connections.get("default")
    if dialect() == "postgres":
        _, rows = await conn.execute_query(_PG_STORED, [list(ids)])
    else:
        marks = ",".join("?" * len(ids))
        _, rows = await conn.execute_query(
            f'SELECT id, round_id, ts, lon, lat FROM "{_TABLE}" WHERE id IN ({marks})',
            [str(i) for i in ids],
        )
    out = []
    for row in rows:
        ts = row[2] if isinstance(row[2], datetime) else datetime.fromisoformat(str(row[2]))
        out.append(
            (uuid.UUID(str(row[0])), uuid.UUID(str(row[1])), ts, float(row[3]), float(row[4]))
        )
    return out


_POINT_WRITER = GroupCommit()


async def add_points(
    *, round: Round, points: Sequence[PointInput], now: datetime, _retry: bool = True
) -> PointsResult:
    """Store a batch: duplicates by id are skipped, bad points refused one by one, the rest kept.

    One SELECT finds ids already stored and one INSERT stores the batch, committed together with
    the round's change mark and the audit entry (grouped with concurrent batches), so a 2xx
    answer means every accepted point is on disk.
    """
    if len(points) > rules.MAX_BATCH:
        raise TooLarge("batch_too_large", params={"limit": rules.MAX_BATCH})
    earliest = round.started_at - rules.SLACK
    latest = now + rules.SLACK
    ended_by = round.ended_at + rules.SLACK if round.ended_at is not None else None
    # A point older than the retention period would be removed at once, and on PostgreSQL its
    # day's partition is already dropped (the database would refuse the whole batch).
    kept_from = now - timedelta(days=get_settings().retention_days)
    rejected: list[dict[str, str]] = []
    fresh: dict[uuid.UUID, PointInput] = {}
    duplicates = 0
    for point in points:
        problem = _point_problem(
            point, earliest=earliest, latest=latest, ended_by=ended_by, kept_from=kept_from
        )
        if problem is not None:
            rejected.append({"id": str(point.id), "reason": problem})
            continue
        seen = fresh.get(point.id)
        if seen is None:
            fresh[point.id] = point
        elif seen == point:
            duplicates += 1
        else:
            rejected.append({"id": str(point.id), "reason": "id_conflict"})
    if fresh:
        for point_id, round_id, ts, lon, lat in await _stored_points(list(fresh)):
            point = fresh.pop(point_id)
            if round_id == round.id and ts == point.ts and lon == point.lon and lat == point.lat:
                duplicates += 1
            else:
                rejected.append({"id": str(point_id), "reason": "id_conflict"})
    batch = list(fresh.values())
    if not batch:
        return PointsResult(accepted=0, duplicates=duplicates, rejected=rejected, in_zone=0)
    zone = geometry.zone_shape(round.zone)
    lons = np.fromiter((p.lon for p in batch), dtype=np.float64, count=len(batch))
    lats = np.fromiter((p.lat for p in batch), dtype=np.float64, count=len(batch))
    inside: list[bool] = shapely.intersects_xy(zone, lons, lats).tolist()
    new = _NewPoints(round_id=round.id, points=batch, in_zone=inside, received_at=now)
    actor = current_actor.get()
    earliest = min(p.ts for p in batch)

    async def write(conn: BaseDBAsyncClient) -> None:
        await _insert_points(conn, new)
        await (
            Round.filter(id=round.id)
            .using_db(conn)
            .update(
                points_count=F("points_count") + len(batch),
                track_changed_at=now,
                # The earliest point since last judged: one before the watermark is late.
                track_dirty_from=Case(
                    When(
                        Q(track_dirty_from__isnull=True) | Q(track_dirty_from__gt=earliest),
                        then=Value(earliest),  # type: ignore[arg-type]  # stubs omit Value
                    ),
                    default=F("track_dirty_from"),
                ),
            )
        )
        # The group's task runs in another request's context: name the actor explicitly.
        await audit.record(
            action="create",
            resource_type="track",
            resource_id=round.id,
            detail={"points": len(batch)},
            actor=actor,
            using_db=conn,
        )

    try:
        await _POINT_WRITER.run(write)
    except IntegrityError:
        if not _retry:
            raise
        # A concurrent retry of the same batch won the insert: judge the batch again.
        return await add_points(round=round, points=points, now=now, _retry=False)
    return PointsResult(
        accepted=len(batch),
        duplicates=duplicates,
        rejected=rejected,
        in_zone=sum(1 for p, flag in zip(batch, inside, strict=True) if flag and not p.is_mock),
    )
