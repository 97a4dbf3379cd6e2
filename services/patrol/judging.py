"""A round's track judged incrementally: from its newest mark on, only the points since.

Each run of the zone-exit job reads the points after the round's watermark (the last judged
point in track order, ts then id) in pages, judges each page off the event loop
(`geo.track.advance_track` in a thread) and stores the result as a mark (`TrackJudgement`).
A late point (its time at or before the watermark, seen through `Round.track_dirty_from`)
rewinds the judgement to the newest mark before it and judges again from there: the cost of a
run depends on the points since that mark, never on the length of the round. A change of the
zone or of its checkpoints judges the track afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from tortoise import connections

from geo.track import TrackState, TrackSummary, advance_track, summarise_track
from grassroots.db import dialect
from models.patrol import Checkpoint, Round, TrackJudgement, TrackPoint, Zone
from services.patrol import rules

# Points read and judged at a time: a page's rows cost the event loop a few milliseconds.
PAGE = 2_000
# A mark at least every this many points judged in one run, so a late point in a long upload
# rewinds only a stretch of it.
MARK_EVERY = 20_000
# Marks kept per round, newest first; a point later than all of them judges the track afresh.
MARKS_KEPT = 12

PointRow = tuple[datetime, uuid.UUID, float, float, float | None, bool]
CheckpointKey = tuple[uuid.UUID, float, float, float]


@dataclass(frozen=True)
class Judgement:
    """A track judged up to its watermark, and what the run did."""

    summary: TrackSummary
    judged: int
    rewound: bool
    watermark: tuple[datetime, uuid.UUID] | None
    # The zone's covered part (local meters), None before a good point.
    covered: shapely.Geometry | None


def _basis(*, zone: Zone, checkpoints: Sequence[Checkpoint]) -> str:
    """A digest of what the judgement depends on besides the points: the zone and checkpoints."""
    parts = [f"{zone.id}|{zone.updated_at.isoformat() if zone.updated_at else ''}"]
    parts += sorted(f"{c.id}|{c.lon!r}|{c.lat!r}|{c.radius_m!r}" for c in checkpoints)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


_TABLE = TrackPoint._meta.db_table
_COLUMNS = "ts, id, lon, lat, accuracy_m, is_mock"
# `ts >= ?` keeps the (round_id, ts) index's range; only equal times are sorted by id. On
# PostgreSQL it also prunes the partitions (a day each) before the round's first page, which
# the first page gets from the round's start: no stored point is older (points.add_points).
_SQLITE_PAGE = (
    f'SELECT {_COLUMNS} FROM "{_TABLE}" WHERE round_id = ? AND ts >= ? AND (ts > ? OR id > ?) '
    "ORDER BY ts, id LIMIT ?"
)
_SQLITE_FIRST = f'SELECT {_COLUMNS} FROM "{_TABLE}" WHERE round_id = ? ORDER BY ts, id LIMIT ?'
_PG_PAGE = (
    f'SELECT {_COLUMNS} FROM "{_TABLE}" WHERE round_id = $1 AND ts >= $2 AND (ts > $2 OR id > $3) '
    "ORDER BY ts, id LIMIT $4"
)
_PG_FIRST = (
    f'SELECT {_COLUMNS} FROM "{_TABLE}" WHERE round_id = $1 AND ts >= $2 ORDER BY ts, id LIMIT $3'
)


async def read_points(
    *,
    round_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    earliest: datetime,
) -> list[PointRow]:
    """The next `limit` points of a round in track order (ts, id) after `after`.

    `earliest` (the round's start less the upload slack) bounds the first page's times, so
    PostgreSQL reads only the partitions from the round's start on.

    Raw SQL, and the rows parsed in a worker thread: Tortoise parses a datetime in ~25 us on
    the event loop, 50 ms for a page of 2,000 rows, which would stall every request meanwhile.
    """
    conn = connections.get("default")
    if dialect() == "postgres":
        if after is None:
            _, raw = await conn.execute_query(_PG_FIRST, [round_id, earliest, limit])
        else:
            _, raw = await conn.execute_query(_PG_PAGE, [round_id, after[0], after[1], limit])
    elif after is None:
        _, raw = await conn.execute_query(_SQLITE_FIRST, [str(round_id), limit])
    else:
        # Stored as sqlite3 writes a datetime (isoformat, a space): text order is time order.
        at = after[0].astimezone(UTC).isoformat(" ")
        params = [str(round_id), at, at, str(after[1]), limit]
        _, raw = await conn.execute_query(_SQLITE_PAGE, params)
    return await asyncio.to_thread(_parse_rows, list(raw))


def earliest_point(round: Round) -> datetime:
    """No point of the round is older: uploads refuse points before its start less the slack."""
    return round.started_at - rules.SLACK


def _parse_rows(raw: list[Any]) -> list[PointRow]:
    """Rows of either backend as (ts, id, lon, lat, accuracy_m, is_mock) in Python types."""
    rows: list[PointRow] = []
    for ts, point_id, lon, lat, accuracy_m, is_mock in raw:
        if not isinstance(ts, datetime):
            ts = datetime.fromisoformat(ts)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        if not isinstance(point_id, uuid.UUID):
            point_id = uuid.UUID(str(point_id))
        rows.append((ts, point_id, float(lon), float(lat), accuracy_m, bool(is_mock)))
    return rows


def _advance_rows(
    state: TrackState,
    rows: Sequence[PointRow],
    zone: Polygon | MultiPolygon,
    checkpoints: Sequence[CheckpointKey],
) -> TrackState:
    """One page judged (in a worker thread: it is the CPU-heavy part)."""
    return advance_track(
        state=state,
        ts=np.array([r[0].timestamp() for r in rows], dtype=np.float64),
        lons=np.array([r[2] for r in rows], dtype=np.float64),
        lats=np.array([r[3] for r in rows], dtype=np.float64),
        accuracy_m=np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
        is_mock=np.array([bool(r[5]) for r in rows], dtype=np.bool_),
        zone=zone,
        checkpoints=checkpoints,
    )


def _load_state(mark: TrackJudgement | None) -> TrackState:
    if mark is None:
        return TrackState()
    covered = None if mark.covered is None else shapely.from_wkb(mark.covered)
    return TrackState.from_json(dict(mark.state), covered=covered)


async def _save_mark(
    *,
    round_id: uuid.UUID,
    seq: int,
    state: TrackState,
    watermark: tuple[datetime, uuid.UUID],
    basis: str,
) -> None:
    covered = state.covered
    wkb = None if covered is None else await asyncio.to_thread(shapely.to_wkb, covered)
    await TrackJudgement.create(
        round_id=round_id,
        seq=seq,
        watermark_ts=watermark[0],
        watermark_id=watermark[1],
        basis=basis,
        state=state.to_json(),
        covered=wkb,
    )


async def judge_track(
    *,
    round: Round,
    zone: Zone,
    zone_geom: Polygon | MultiPolygon,
    checkpoints: Sequence[Checkpoint],
    persist: bool,
) -> Judgement:
    """Judge the points since the round's newest valid mark; `persist` stores the new marks."""
    basis = _basis(zone=zone, checkpoints=checkpoints)
    keys: list[CheckpointKey] = [(c.id, c.lon, c.lat, c.radius_m) for c in checkpoints]
    dirty_from, points_count = (
        await Round.filter(id=round.id).values_list("track_dirty_from", "points_count")
    )[0]
    latest = await TrackJudgement.filter(round_id=round.id).order_by("-seq").first()
    seq = 0 if latest is None else latest.seq
    base = latest if latest is not None and latest.basis == basis else None
    rewound = latest is not None and base is None
    if base is not None and dirty_from is not None and dirty_from <= base.watermark_ts:
        # Late points: go back to the newest mark wholly before them.
        base = (
            await TrackJudgement.filter(round_id=round.id, basis=basis, watermark_ts__lt=dirty_from)
            .order_by("-seq")
            .first()
        )
        rewound = True
    if persist and rewound:
        stale = TrackJudgement.filter(round_id=round.id)
        if base is not None:
            stale = stale.filter(seq__gt=base.seq)
        await stale.delete()
    state = await asyncio.to_thread(_load_state, base)
    after = None if base is None else (base.watermark_ts, base.watermark_id)
    judged = since_mark = 0
    while True:
        rows = await read_points(
            round_id=round.id, after=after, limit=PAGE, earliest=earliest_point(round)
        )
        if not rows:
            break
        state = await asyncio.to_thread(_advance_rows, state, rows, zone_geom, keys)
        after = (rows[-1][0], rows[-1][1])
        judged += len(rows)
        since_mark += len(rows)
        if persist and since_mark >= MARK_EVERY:
            seq += 1
            await _save_mark(round_id=round.id, seq=seq, state=state, watermark=after, basis=basis)
            since_mark = 0
        if len(rows) < PAGE:
            break
    if persist:
        if since_mark and after is not None:
            seq += 1
            await _save_mark(round_id=round.id, seq=seq, state=state, watermark=after, basis=basis)
        await TrackJudgement.filter(round_id=round.id, seq__lte=seq - MARKS_KEPT).delete()
        # Judged: unless more points came meanwhile (they are judged, or rewound to, next run).
        await Round.filter(id=round.id, points_count=points_count).update(track_dirty_from=None)
    summary = await asyncio.to_thread(
        summarise_track, state=state, zone=zone_geom, checkpoints=keys
    )
    return Judgement(
        summary=summary, judged=judged, rewound=rewound, watermark=after, covered=state.covered
    )
