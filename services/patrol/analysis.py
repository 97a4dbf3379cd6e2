"""A round judged from its time-sorted track: distance, presence, exits, checkpoints, the track."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.track import PointFlag, TrackSummary, analyse_track
from models.patrol import Checkpoint, CheckpointVisit, Round, Zone
from services import audit
from services.patrol import geometry, judging, shifts

# --- analysis ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointResult:
    """One checkpoint's outcome in a round."""

    id: uuid.UUID
    name: str
    required: bool
    visited_at: datetime | None


@dataclass(frozen=True)
class ExitResult:
    """One zone exit after hysteresis."""

    exited_at: datetime
    returned_at: datetime | None


@dataclass(frozen=True)
class RoundSummary:
    """A round judged from its sorted track."""

    round: Round
    distance_m: float
    duration_s: float
    in_zone_ratio: float | None
    coverage_ratio: float
    exits: list[ExitResult]
    checkpoints: list[CheckpointResult]
    points: int
    good_points: int
    # The zone's part within 50 m of the good track, in the zone's local projection (meters):
    # a day report unites its rounds' parts instead of reading their tracks again.
    covered: shapely.Geometry | None = field(repr=False, compare=False)

    @property
    def missed(self) -> list[CheckpointResult]:
        """Required checkpoints never visited."""
        return [c for c in self.checkpoints if c.required and c.visited_at is None]


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


async def _all_points(round: Round) -> list[judging.PointRow]:
    """Every point of a round in track order, read in pages so the event loop is never held."""
    rows: list[judging.PointRow] = []
    after: tuple[datetime, uuid.UUID] | None = None
    earliest = judging.earliest_point(round)
    while True:
        page = await judging.read_points(
            round_id=round.id, after=after, limit=judging.PAGE, earliest=earliest
        )
        rows += page
        if len(page) < judging.PAGE:
            return rows
        after = (page[-1][0], page[-1][1])


def _arrays(rows: list[judging.PointRow]) -> tuple[np.ndarray, ...]:
    ts = np.array([r[0].timestamp() for r in rows], dtype=np.float64)
    lons = np.array([r[2] for r in rows], dtype=np.float64)
    lats = np.array([r[3] for r in rows], dtype=np.float64)
    acc = np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64)
    mock = np.array([bool(r[5]) for r in rows], dtype=np.bool_)
    return ts, lons, lats, acc, mock


async def _summary(
    *,
    round: Round,
    checkpoints: list[Checkpoint],
    track: TrackSummary,
    covered: shapely.Geometry | None,
) -> RoundSummary:
    """A round's summary from its judged track and its explicit checkpoint visits."""
    explicit = await CheckpointVisit.filter(round_id=round.id, accepted=True).values_list(
        "checkpoint_id", "ts"
    )
    visited: dict[Hashable, datetime] = {}
    for key, at in track.checkpoint_visits.items():
        if at is not None:
            visited[key] = _utc(at)
    for checkpoint_id, at in explicit:
        if checkpoint_id not in visited or at < visited[checkpoint_id]:
            visited[checkpoint_id] = at
    if round.ended_at is not None:
        duration_s = max(0.0, (round.ended_at - round.started_at).total_seconds())
    elif track.last_good_ts is not None:
        duration_s = max(0.0, track.last_good_ts - round.started_at.timestamp())
    else:
        duration_s = 0.0
    return RoundSummary(
        round=round,
        distance_m=track.distance_m,
        duration_s=duration_s,
        in_zone_ratio=track.in_zone_ratio,
        coverage_ratio=track.coverage_ratio,
        exits=[
            ExitResult(
                exited_at=_utc(e.exited_at),
                returned_at=None if e.returned_at is None else _utc(e.returned_at),
            )
            for e in track.zone_exits
        ],
        checkpoints=[
            CheckpointResult(
                id=c.id, name=c.name, required=c.required, visited_at=visited.get(c.id)
            )
            for c in checkpoints
        ],
        points=track.points,
        good_points=track.good_points,
        covered=covered,
    )


async def round_summary(*, round: Round) -> RoundSummary:
    """Distance, presence, exits, coverage and checkpoints of the round's track as stored.

    From the round's newest judged mark and the points after it (`judged_summary`), not from
    the whole track: what the zone-exit job judged is not read again. The figures are a full
    recomputation's (tests/patrol/test_judging.py holds them to one on random tracks with late
    points): the same points, exits, checkpoint visits and duration; distance and in-zone share
    to floating-point summation order (1e-9); coverage to 1e-4, because the covered area is
    kept as the union of each judged stretch's buffer, whose round joins at the stretches' ends
    are polygons of other chords than the whole line's buffer (bit-equal coverage would need the
    whole track read again, the cost this avoids).
    """
    return await judged_summary(round=round, persist=False)


async def judged_summary(*, round: Round, persist: bool) -> RoundSummary:
    """The summary from the round's judged marks and the points since (incremental).

    `persist` stores how far the track was judged (the zone-exit job alone, so two writers never
    race for a mark); a reader, ending a round included, leaves the marks as they are.
    """
    zone = await Zone.get(id=round.zone_id)  # type: ignore[attr-defined]
    checkpoints = (await shifts.zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    judgement = await judging.judge_track(
        round=round,
        zone=zone,
        zone_geom=geometry.zone_shape(zone),
        checkpoints=checkpoints,
        persist=persist,
    )
    return await _summary(
        round=round,
        checkpoints=checkpoints,
        track=judgement.summary,
        covered=judgement.covered,
    )


async def round_track(*, round: Round) -> dict[str, Any]:
    """The stored points as a GeoJSON Feature (LineString, time order), with times and flags."""
    rows = await _all_points(round)
    await audit.record(action="read", resource_type="track", resource_id=round.id)
    coordinates = [[r[2], r[3]] for r in rows]
    flags: list[str] = []
    if rows:
        zone = await Zone.get(id=round.zone_id)  # type: ignore[attr-defined]
        flags = await asyncio.to_thread(_track_flags, rows, geometry.zone_shape(zone))
    return {
        "type": "Feature",
        # A LineString needs two positions: a shorter track has no geometry yet.
        "geometry": {"type": "LineString", "coordinates": coordinates} if len(rows) >= 2 else None,
        "properties": {
            "round_id": str(round.id),
            "times": [r[0].astimezone(UTC).isoformat().replace("+00:00", "Z") for r in rows],
            "flags": flags,
            # Which points the server holds, so a phone can drop them from its offline buffer.
            "point_ids": [str(r[1]) for r in rows],
        },
    }


def _track_flags(rows: list[judging.PointRow], zone: Polygon | MultiPolygon) -> list[str]:
    """Each point's flag label (in a worker thread)."""
    ts, lons, lats, acc, mock = _arrays(rows)
    analysis = analyse_track(ts=ts, lons=lons, lats=lats, accuracy_m=acc, is_mock=mock, zone=zone)
    return [PointFlag(int(f)).label for f in analysis.flags]
