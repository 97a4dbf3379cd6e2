"""Supervisors' views of a zone: a local day's report (JSON or CSV) and live positions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.measure import LocalProjection, to_local
from grassroots.settings import get_settings
from models.patrol import Incident, Round, RoundStatus, TrackPoint, Zone
from services import audit
from services.patrol import analysis, geometry, judging, shifts
from services.spreadsheet import excel_csv

# --- supervisors' views --------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointTally:
    """A checkpoint's visits and misses over a day's rounds."""

    id: uuid.UUID
    name: str
    required: bool
    visits: int
    missed: int


@dataclass(frozen=True)
class ZoneReport:
    """One zone's local day."""

    zone: Zone
    day: date
    rounds: int
    patrol_seconds: float
    coverage_ratio: float
    checkpoints: list[CheckpointTally]
    incidents: list[Incident]


def union_coverage_ratio(
    *, zone: Polygon | MultiPolygon, covered: Sequence[shapely.Geometry | None]
) -> float:
    """Share of the zone covered by any of several rounds, 0..1.

    Each round's covered part (`RoundSummary.covered`: the zone within 50 m of its good track,
    in the zone's local projection) comes from its judged marks, so a day's report reads no
    track again; united here, the same area as the buffer of the day's tracks together.
    """
    zone_local = to_local(geom=zone, projection=LocalProjection.around(geom=zone))
    parts = [c for c in covered if c is not None and not c.is_empty]
    if zone_local.area <= 0 or not parts:
        return 0.0
    return min(1.0, float(shapely.union_all(parts).area) / float(zone_local.area))


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants starting and ending a day in the deployment's time zone."""
    tz = get_settings().tz
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def zone_report(*, zone: Zone, day: date) -> ZoneReport:
    """Rounds started that local day: time on patrol, union coverage, checkpoints, incidents."""
    start, end = local_day_bounds(day)
    rounds = await Round.filter(
        zone_id=zone.id, started_at__gte=start, started_at__lt=end
    ).order_by("started_at")
    summaries = [await analysis.round_summary(round=r) for r in rounds]
    checkpoints = (await shifts.zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])
    tallies = []
    for checkpoint in checkpoints:
        outcomes = [
            next((c for c in s.checkpoints if c.id == checkpoint.id), None) for s in summaries
        ]
        visits = sum(1 for o in outcomes if o is not None and o.visited_at is not None)
        missed = 0
        if checkpoint.required:
            missed = sum(
                1
                for s, o in zip(summaries, outcomes, strict=True)
                if s.round.status == RoundStatus.ended and (o is None or o.visited_at is None)
            )
        tallies.append(
            CheckpointTally(
                id=checkpoint.id,
                name=checkpoint.name,
                required=checkpoint.required,
                visits=visits,
                missed=missed,
            )
        )
    geom = geometry.zone_shape(zone)
    coverage = await asyncio.to_thread(
        union_coverage_ratio, zone=geom, covered=[s.covered for s in summaries]
    )
    incidents = (
        await Incident.filter(zone_id=zone.id, ts__gte=start, ts__lt=end).order_by("ts").limit(1000)
    )
    return ZoneReport(
        zone=zone,
        day=day,
        rounds=len(rounds),
        patrol_seconds=sum(s.duration_s for s in summaries),
        coverage_ratio=coverage,
        checkpoints=tallies,
        incidents=list(incidents),
    )


def report_csv(report: ZoneReport) -> bytes:
    """The report as CSV that Excel opens as UTF-8: BOM, CRLF, bilingual headers."""
    tz = get_settings().tz
    rows: list[Sequence[object]] = [
        ["区域 zone", report.zone.name],
        ["日期 date", report.day.isoformat()],
        ["巡逻次数 rounds", report.rounds],
        ["巡逻时长(秒) patrol_seconds", round(report.patrol_seconds)],
        ["覆盖率 coverage_ratio", f"{report.coverage_ratio:.4f}"],
        [],
        ["检查点 checkpoint", "必到 required", "到访 visits", "漏检 missed"],
        *([t.name, "是" if t.required else "否", t.visits, t.missed] for t in report.checkpoints),
        [],
        ["事件时间 time", "类别 category", "描述 description", "经度 lon", "纬度 lat"],
        *(
            [
                incident.ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                incident.category,
                incident.description,
                incident.lon,
                incident.lat,
            ]
            for incident in report.incidents
        ),
    ]
    return excel_csv(rows=rows)


@dataclass(frozen=True)
class Position:
    """Where an active round's member was last seen."""

    round_id: uuid.UUID
    user_id: uuid.UUID
    full_name: str
    ts: datetime
    lon: float
    lat: float
    accuracy_m: float | None
    in_zone: bool


async def zone_positions(*, zone: Zone) -> list[Position]:
    """The latest stored (non-mock) point of each active round in the zone."""
    rounds = (
        await Round.filter(zone_id=zone.id, status=RoundStatus.active)
        .select_related("user")
        .limit(500)
    )
    out: list[Position] = []
    for round in rounds:
        # From the round's start on: PostgreSQL then reads only its days' partitions.
        last = (
            await TrackPoint.filter(
                round_id=round.id, is_mock=False, ts__gte=judging.earliest_point(round)
            )
            .order_by("-ts")
            .first()
        )
        if last is not None:
            out.append(
                Position(
                    round_id=round.id,
                    user_id=round.user.id,
                    full_name=round.user.full_name,
                    ts=last.ts,
                    lon=last.lon,
                    lat=last.lat,
                    accuracy_m=last.accuracy_m,
                    in_zone=last.in_zone,
                )
            )
    await audit.record(
        action="read",
        resource_type="zone_positions",
        resource_id=zone.id,
        detail={"rounds": len(out)},
    )
    return out
