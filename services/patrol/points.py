"""Track points: a round's batches of fixes, checked as columns and stored in one statement."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

import asyncpg
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
class PointBatch:
    """A batch as columns: the i-th point's fields at index i of every list (times in UTC).

    The upload's hot path holds no object per point: 500 points are screened with a few array
    operations and inserted from these lists (issue 15, B2).
    """

    ids: list[uuid.UUID]
    ts: list[datetime]
    lon: list[float]
    lat: list[float]
    accuracy_m: list[float | None]
    speed_mps: list[float | None]
    is_mock: list[bool]

    @classmethod
    def of(cls, points: Iterable[PointInput]) -> PointBatch:
        """The columns of points built one by one (the demo, benchmarks, tests)."""
        rows = list(points)
        return cls(
            ids=[p.id for p in rows],
            ts=[p.ts for p in rows],
            lon=[p.lon for p in rows],
            lat=[p.lat for p in rows],
            accuracy_m=[p.accuracy_m for p in rows],
            speed_mps=[p.speed_mps for p in rows],
            is_mock=[p.is_mock for p in rows],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def point(self, i: int) -> PointInput:
        """The i-th point on its own."""
        return PointInput(
            id=self.ids[i],
            ts=self.ts[i],
            lon=self.lon[i],
            lat=self.lat[i],
            accuracy_m=self.accuracy_m[i],
            speed_mps=self.speed_mps[i],
            is_mock=self.is_mock[i],
        )

    def take(self, indices: Sequence[int]) -> PointBatch:
        """The points at `indices`, in that order."""
        return PointBatch(
            ids=[self.ids[i] for i in indices],
            ts=[self.ts[i] for i in indices],
            lon=[self.lon[i] for i in indices],
            lat=[self.lat[i] for i in indices],
            accuracy_m=[self.accuracy_m[i] for i in indices],
            speed_mps=[self.speed_mps[i] for i in indices],
            is_mock=[self.is_mock[i] for i in indices],
        )


@dataclass(frozen=True)
class PointsResult:
    """What happened to a batch."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, str]]
    in_zone: int


@dataclass(frozen=True)
class _Window:
    """The times a round's point may carry (`ended_by` None while the round is active)."""

    earliest: datetime
    latest: datetime
    ended_by: datetime | None
    kept_from: datetime

    def holds(self, first: datetime, last: datetime) -> bool:
        """Whether every time from `first` to `last` passes the time checks."""
        return (
            first >= self.earliest
            and first >= self.kept_from
            and last <= self.latest
            and (self.ended_by is None or last <= self.ended_by)
        )


def _point_problem(point: PointInput, window: _Window) -> str | None:
    """Why one point is refused, or None."""
    lon, lat = point.lon, point.lat
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        return "invalid_coordinates"
    for value in (point.accuracy_m, point.speed_mps):
        if value is not None and not (math.isfinite(value) and value >= 0):
            return "invalid_measurement"
    if point.ts > window.latest:
        return "in_future"
    if point.ts < window.earliest:
        return "before_round_start"
    if point.ts < window.kept_from:
        return "past_retention"
    if window.ended_by is not None and point.ts > window.ended_by:
        return "after_round_end"
    return None


def _problems(
    batch: PointBatch, window: _Window, lon: np.ndarray[Any, Any], lat: np.ndarray[Any, Any]
) -> dict[int, str]:
    """Why points are refused, by index: arrays screen the batch, `_point_problem` judges.

    The screen flags every point that may fail a check (all of them when the batch's times
    leave the window), so the reasons and their order of precedence stay `_point_problem`'s.
    """
    suspect = ~(
        np.isfinite(lon)
        & np.isfinite(lat)
        & (lon >= -180)
        & (lon <= 180)
        & (lat >= -90)
        & (lat <= 90)
    )
    for column in (batch.accuracy_m, batch.speed_mps):
        given = np.fromiter((v is not None for v in column), dtype=bool, count=len(column))
        if given.any():
            values = np.array(column, dtype=np.float64)  # None becomes NaN, masked by `given`
            suspect |= given & ~(np.isfinite(values) & (values >= 0))
    if len(batch) and not window.holds(min(batch.ts), max(batch.ts)):
        suspect[:] = True
    found = {}
    for i in np.flatnonzero(suspect).tolist():
        problem = _point_problem(batch.point(i), window)
        if problem is not None:
            found[i] = problem
    return found


# Raw SQL on the one hot path: Tortoise builds a model object per row in bulk_create, which
# costs more than the database. One COPY (PostgreSQL) or INSERT (SQLite) per batch, one SELECT
# for the ids already known.
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
_PG_STORED = f'SELECT id, round_id, ts, lon, lat FROM "{_TABLE}" WHERE id = ANY($1::uuid[])'
_SQLITE_INSERT = (
    f'INSERT INTO "{_TABLE}" ({",".join(_POINT_COLUMNS)}) '
    f"VALUES ({','.join('?' * len(_POINT_COLUMNS))})"
)


async def _insert_points(
    conn: BaseDBAsyncClient,
    batch: PointBatch,
    *,
    round_id: uuid.UUID,
    in_zone: list[bool],
    received_at: datetime,
) -> None:
    """One statement for the whole batch, rows zipped from the columns, in the fastest form.

    PostgreSQL: binary COPY (it routes rows to the day's partition as INSERT does); asyncpg
    encodes rows there for half the CPU of the arrays an INSERT ... unnest takes.
    """
    postgres = dialect() == "postgres"
    # SQLite stores the ids as text; asyncpg's COPY takes the UUIDs themselves.
    rows = zip(
        batch.ids if postgres else map(str, batch.ids),
        repeat(round_id if postgres else str(round_id)),
        batch.ts,
        batch.lon,
        batch.lat,
        batch.accuracy_m,
        batch.speed_mps,
        batch.is_mock,
        in_zone,
        repeat(received_at),
    )
    if postgres:
        async with conn.acquire_connection() as connection:
            try:
                await connection.copy_records_to_table(
                    _TABLE, records=list(rows), columns=_POINT_COLUMNS
                )
            except asyncpg.IntegrityConstraintViolationError as exc:
                # As Tortoise translates it for every other statement: a replayed id's race.
                raise IntegrityError(exc) from exc
        return
    await conn.execute_many(_SQLITE_INSERT, list(map(list, rows)))


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
    *, round: Round, points: PointBatch, now: datetime, _retry: bool = True
) -> PointsResult:
    """Store a batch: duplicates by id are skipped, bad points refused one by one, the rest kept.

    One SELECT finds ids already stored and one statement stores the batch, committed together
    with the round's change mark and the audit entry (grouped with concurrent batches), so a 2xx
    answer means every accepted point is on disk.
    """
    if len(points) > rules.MAX_BATCH:
        raise TooLarge("batch_too_large", params={"limit": rules.MAX_BATCH})
    window = _Window(
        earliest=round.started_at - rules.SLACK,
        latest=now + rules.SLACK,
        ended_by=round.ended_at + rules.SLACK if round.ended_at is not None else None,
        # A point older than the retention period would be removed at once, and on PostgreSQL
        # its day's partition is already dropped (the database would refuse the whole batch).
        kept_from=now - timedelta(days=get_settings().retention_days),
    )
    lon = np.array(points.lon, dtype=np.float64)
    lat = np.array(points.lat, dtype=np.float64)
    problems = _problems(points, window, lon, lat)
    rejected: list[dict[str, str]] = []
    fresh: dict[uuid.UUID, int] = {}  # id -> index of its first good point
    duplicates = 0
    for i, point_id in enumerate(points.ids):
        problem = problems.get(i)
        if problem is not None:
            rejected.append({"id": str(point_id), "reason": problem})
            continue
        first = fresh.setdefault(point_id, i)
        if first == i:
            continue
        if points.point(first) == points.point(i):
            duplicates += 1
        else:
            rejected.append({"id": str(point_id), "reason": "id_conflict"})
    if fresh:
        for point_id, round_id, ts, stored_lon, stored_lat in await _stored_points(list(fresh)):
            i = fresh.pop(point_id)
            same = (ts, stored_lon, stored_lat) == (points.ts[i], points.lon[i], points.lat[i])
            if round_id == round.id and same:
                duplicates += 1
            else:
                rejected.append({"id": str(point_id), "reason": "id_conflict"})
    kept = list(fresh.values())
    if not kept:
        return PointsResult(accepted=0, duplicates=duplicates, rejected=rejected, in_zone=0)
    batch = points
    if len(kept) < len(points):
        batch, lon, lat = points.take(kept), lon[kept], lat[kept]
    inside = shapely.intersects_xy(geometry.zone_shape(round.zone), lon, lat)
    in_zone = int(np.count_nonzero(inside & ~np.array(batch.is_mock, dtype=bool)))
    flags: list[bool] = inside.tolist()
    actor = current_actor.get()
    earliest = min(batch.ts)

    async def write(conn: BaseDBAsyncClient) -> None:
        await _insert_points(conn, batch, round_id=round.id, in_zone=flags, received_at=now)
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
        accepted=len(batch), duplicates=duplicates, rejected=rejected, in_zone=in_zone
    )
