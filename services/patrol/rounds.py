"""Rounds: start one on a shift, record checkpoint visits and incidents, end it."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from geo.measure import haversine_m
from geo.track import checkpoint_visit_counts
from grassroots.errors import Conflict, Invalid, NotFound
from models.org import User
from models.patrol import (
    Assignment,
    Checkpoint,
    CheckpointVisit,
    Incident,
    Round,
    RoundStatus,
    VisitMethod,
    Zone,
    ZoneKind,
)
from services import audit
from services.idempotency import create_once
from services.patrol import access, alerting, analysis, rules

# --- rounds --------------------------------------------------------------------------------------


async def start_round(
    *,
    user: User,
    round_id: uuid.UUID,
    zone_id: uuid.UUID,
    started_at: datetime,
    request_hash: str,
    now: datetime,
) -> tuple[Round, bool]:
    """Start (or replay) a round in a zone where the member has a shift at `started_at`."""

    async def create() -> Round:
        zone = await access.zone_scope(Zone.all(), user).get_or_none(id=zone_id)
        if zone is None:
            raise NotFound()
        if zone.kind != ZoneKind.patrol:
            raise Invalid("zone_not_patrol")
        if started_at > now + rules.SLACK:
            raise Invalid("time_in_future")
        on_shift = await Assignment.filter(
            user_id=user.id,
            zone_id=zone.id,
            starts_at__lte=started_at + rules.ROUND_EARLY_START,
            ends_at__gte=started_at,
        ).exists()
        if not on_shift:
            raise Invalid("not_assigned")
        # Its own transaction, so a retry's racing insert fails alone and replays (create_once).
        async with in_transaction():
            created = await Round.create(
                id=round_id,
                user=user,
                zone=zone,
                org_path=zone.org_path,
                started_at=started_at,
                request_hash=request_hash,
            )
        await audit.record(action="create", resource_type="round", resource_id=created.id)
        return created

    return await create_once(Round, object_id=round_id, request_hash=request_hash, create=create)


@dataclass(frozen=True)
class VisitResult:
    """A checkpoint visit as stored, and whether it was a replay."""

    visit: CheckpointVisit
    created: bool


async def record_visit(
    *,
    round: Round,
    visit_id: uuid.UUID,
    checkpoint_id: uuid.UUID,
    ts: datetime,
    lon: float,
    lat: float,
    accuracy_m: float | None,
    method: VisitMethod,
    code: str | None,
    is_mock: bool,
    request_hash: str,
    now: datetime,
) -> VisitResult:
    """Judge and store a visit: GPS within radius + min(accuracy, 50 m), or the tag's code."""

    async def create() -> CheckpointVisit:
        checkpoint = await Checkpoint.get_or_none(
            id=checkpoint_id,
            zone_id=round.zone_id,  # type: ignore[attr-defined]
            deleted_at=None,
        )
        if checkpoint is None:
            raise Invalid(
                "checkpoint_not_in_zone",
                errors=[{"loc": ["body", "checkpoint_id"], "msg": "checkpoint_not_in_zone"}],
            )
        _check_round_time(round=round, ts=ts, now=now)
        distance_m = float(
            haversine_m(lon1=lon, lat1=lat, lon2=checkpoint.lon, lat2=checkpoint.lat)
        )
        if method == VisitMethod.gps:
            accepted = not is_mock and checkpoint_visit_counts(
                distance_m=distance_m, radius_m=checkpoint.radius_m, accuracy_m=accuracy_m
            )
        else:
            accepted = code is not None and secrets.compare_digest(
                code.encode(), checkpoint.code.encode()
            )
        visit = await CheckpointVisit.create(
            id=visit_id,
            round=round,
            checkpoint=checkpoint,
            ts=ts,
            lon=lon,
            lat=lat,
            accuracy_m=accuracy_m,
            method=method,
            accepted=accepted,
            distance_m=distance_m,
            request_hash=request_hash,
        )
        await audit.record(
            action="create",
            resource_type="checkpoint_visit",
            resource_id=visit.id,
            detail={"accepted": accepted, "method": method.value},
        )
        return visit

    visit, created = await create_once(
        CheckpointVisit, object_id=visit_id, request_hash=request_hash, create=create
    )
    return VisitResult(visit, created)


def _check_round_time(*, round: Round, ts: datetime, now: datetime) -> None:
    """A 422 unless `ts` lies in the round (5 min slack) and not in the future."""
    if ts > now + rules.SLACK:
        raise Invalid("time_in_future")
    if ts < round.started_at - rules.SLACK or (
        round.ended_at is not None and ts > round.ended_at + rules.SLACK
    ):
        raise Invalid("time_outside_round")


async def report_incident(
    *,
    round: Round,
    incident_id: uuid.UUID,
    ts: datetime,
    lon: float,
    lat: float,
    category: str,
    description: str,
    request_hash: str,
    now: datetime,
) -> tuple[Incident, bool]:
    """Store (or replay) an incident reported during a round."""

    async def create() -> Incident:
        _check_round_time(round=round, ts=ts, now=now)
        incident = await Incident.create(
            id=incident_id,
            round=round,
            zone_id=round.zone_id,  # type: ignore[attr-defined]
            org_path=round.org_path,
            ts=ts,
            lon=lon,
            lat=lat,
            category=category,
            description=description,
            request_hash=request_hash,
        )
        await audit.record(action="create", resource_type="incident", resource_id=incident.id)
        return incident

    return await create_once(
        Incident, object_id=incident_id, request_hash=request_hash, create=create
    )


async def end_round(
    *, round: Round, ended_at: datetime, now: datetime
) -> tuple[analysis.RoundSummary, bool]:
    """End a round (a replay with the same time is a no-op) and raise its alerts."""
    if round.status == RoundStatus.ended:
        if round.ended_at != ended_at:
            raise Conflict("round_already_ended")
        return await analysis.round_summary(round=round), False
    if ended_at < round.started_at:
        raise Invalid("invalid_time_range")
    if ended_at > now + rules.SLACK:
        raise Invalid("time_in_future")
    updated = await Round.filter(id=round.id, status=RoundStatus.active).update(
        status=RoundStatus.ended, ended_at=ended_at
    )
    await round.refresh_from_db()
    if updated != 1:  # ended concurrently: judge as a replay
        return await end_round(round=round, ended_at=ended_at, now=now)
    await audit.record(action="end", resource_type="round", resource_id=round.id)
    summary = await analysis.round_summary(round=round)
    await alerting.raise_round_alerts(summary=summary, now=now, ended=True)
    return summary, True


def readable_rounds(
    *,
    user: User,
    zone_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
) -> QuerySet[Round]:
    """The rounds a user may see, by zone, member and a window of start times."""
    qs = access.ROUND_READ.queryset(user)
    if zone_id is not None:
        qs = qs.filter(zone_id=zone_id)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if start is not None:
        qs = qs.filter(started_at__gte=start)
    if end is not None:
        qs = qs.filter(started_at__lt=end)
    return qs
