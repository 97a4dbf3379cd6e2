"""A round judged from its time-sorted track: distance, presence, exits, checkpoints, the track."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from geo.track import PointFlag, TrackAnalysis, analyse_track
from models.patrol import CheckpointVisit, Round, TrackPoint, Zone
from services import audit
from services.patrol import geometry, shifts

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
    good_lons: list[float] = field(repr=False)
    good_lats: list[float] = field(repr=False)

    @property
    def missed(self) -> list[CheckpointResult]:
        """Required checkpoints never visited."""
        return [c for c in self.checkpoints if c.required and c.visited_at is None]


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


async def round_summary(*, round: Round) -> RoundSummary:
    """Distance, presence, exits, coverage and checkpoints from the round's time-sorted track."""
    zone = await Zone.get(id=round.zone_id)  # type: ignore[attr-defined]
    rows = (
        await TrackPoint.filter(round_id=round.id)
        .order_by("ts", "id")
        .values_list("ts", "lon", "lat", "accuracy_m", "is_mock")
    )
    checkpoints = (await shifts.zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    ts = np.array([r[0].timestamp() for r in rows], dtype=np.float64)
    lons = np.array([r[1] for r in rows], dtype=np.float64)
    lats = np.array([r[2] for r in rows], dtype=np.float64)
    acc = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
    mock = np.array([bool(r[4]) for r in rows], dtype=np.bool_)
    geom = geometry.zone_shape(zone)
    analysis: TrackAnalysis = await asyncio.to_thread(
        analyse_track,
        ts=ts,
        lons=lons,
        lats=lats,
        accuracy_m=acc,
        is_mock=mock,
        zone=geom,
        checkpoints=[(c.id, c.lon, c.lat, c.radius_m) for c in checkpoints],
    )
    good = analysis.good
    explicit = await CheckpointVisit.filter(round_id=round.id, accepted=True).values_list(
        "checkpoint_id", "ts"
    )
    visited: dict[Hashable, datetime] = {}
    for key, at in analysis.checkpoint_visits.items():
        if at is not None:
            visited[key] = _utc(at)
    for checkpoint_id, at in explicit:
        if checkpoint_id not in visited or at < visited[checkpoint_id]:
            visited[checkpoint_id] = at
    if round.ended_at is not None:
        duration_s = max(0.0, (round.ended_at - round.started_at).total_seconds())
    elif good.any():
        duration_s = max(0.0, float(ts[good][-1]) - round.started_at.timestamp())
    else:
        duration_s = 0.0
    return RoundSummary(
        round=round,
        distance_m=analysis.distance_m,
        duration_s=duration_s,
        in_zone_ratio=analysis.in_zone_ratio,
        coverage_ratio=analysis.coverage_ratio,
        exits=[
            ExitResult(
                exited_at=_utc(e.exited_at),
                returned_at=None if e.returned_at is None else _utc(e.returned_at),
            )
            for e in analysis.zone_exits
        ],
        checkpoints=[
            CheckpointResult(
                id=c.id, name=c.name, required=c.required, visited_at=visited.get(c.id)
            )
            for c in checkpoints
        ],
        points=len(rows),
        good_points=int(good.sum()),
        good_lons=lons[good].tolist(),
        good_lats=lats[good].tolist(),
    )


async def round_track(*, round: Round) -> dict[str, Any]:
    """The stored points as a GeoJSON Feature (LineString, time order), with times and flags."""
    rows = (
        await TrackPoint.filter(round_id=round.id)
        .order_by("ts", "id")
        .values_list("ts", "lon", "lat", "accuracy_m", "is_mock", "id")
    )
    await audit.record(action="read", resource_type="track", resource_id=round.id)
    coordinates = [[lon, lat] for _, lon, lat, _, _, _ in rows]
    flags: list[str] = []
    if rows:
        zone = await Zone.get(id=round.zone_id)  # type: ignore[attr-defined]
        analysis = analyse_track(
            ts=[r[0].timestamp() for r in rows],
            lons=[r[1] for r in rows],
            lats=[r[2] for r in rows],
            accuracy_m=[np.nan if r[3] is None else r[3] for r in rows],
            is_mock=[bool(r[4]) for r in rows],
            zone=geometry.zone_shape(zone),
        )
        flags = [PointFlag(int(f)).label for f in analysis.flags]
    return {
        "type": "Feature",
        # A LineString needs two positions: a shorter track has no geometry yet.
        "geometry": {"type": "LineString", "coordinates": coordinates} if len(rows) >= 2 else None,
        "properties": {
            "round_id": str(round.id),
            "times": [r[0].astimezone(UTC).isoformat().replace("+00:00", "Z") for r in rows],
            "flags": flags,
            # Which points the server holds, so a phone can drop them from its offline buffer.
            "point_ids": [str(r[5]) for r in rows],
        },
    }
