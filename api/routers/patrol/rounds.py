"""Rounds: start, list and read them; upload points, visits and incidents; end them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentUser
from api.pagination import PageParams, paginate
from api.routers.patrol.dependencies import OwnRound, PatrolMember, ReadableRound
from api.routers.patrol.schemas import (
    CheckpointVisitCreate,
    CheckpointVisitPublic,
    IncidentCreate,
    IncidentPublic,
    PointRejection,
    PointsResultPublic,
    PointsUpload,
    RoundCreate,
    RoundEnd,
    RoundPublic,
    RoundSummaryPublic,
    TrackFeature,
    summary_public,
)
from api.schemas import Page, UtcInput
from grassroots import clock
from services.idempotency import fingerprint
from services.patrol import analysis, points, rounds

router = APIRouter()


@router.post("/rounds", operation_id="start_round", status_code=status.HTTP_201_CREATED)
async def start_round(body: RoundCreate, response: Response, user: PatrolMember) -> RoundPublic:
    """Start a round in a zone where I have a shift (a replay of the same id answers 200)."""
    round_, created = await rounds.start_round(
        user=user,
        round_id=body.id,
        zone_id=body.zone_id,
        started_at=body.started_at,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return RoundPublic.model_validate(round_)


@router.get("/rounds", operation_id="list_rounds")
async def list_rounds(
    user: CurrentUser,
    page: PageParams,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
    start: Annotated[UtcInput | None, Query(alias="from")] = None,
    end: Annotated[UtcInput | None, Query(alias="to")] = None,
) -> Page[RoundPublic]:
    """Rounds I may see (mine; a supervisor's subtree), newest first."""
    qs = rounds.readable_rounds(user=user, zone_id=zone_id, user_id=user_id, start=start, end=end)
    rows, cursor = await paginate(qs, page, order_field="started_at")
    return Page(items=[RoundPublic.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/rounds/{id}", operation_id="get_round")
async def get_round(round_: ReadableRound) -> RoundSummaryPublic:
    """A round's summary, computed from its whole time-sorted track (late points count)."""
    return summary_public(await analysis.round_summary(round=round_))


@router.get("/rounds/{id}/track", operation_id="get_round_track")
async def get_round_track(round_: ReadableRound) -> TrackFeature:
    """The stored points as a GeoJSON LineString Feature in time order (audited read)."""
    return TrackFeature.model_validate(await analysis.round_track(round=round_))


@router.post("/rounds/{id}/points", operation_id="add_round_points")
async def add_round_points(body: PointsUpload, round_: OwnRound) -> PointsResultPublic:
    """Store a batch of 1..1000 points (late, out of order, replayed: each id is stored once)."""
    result = await points.add_points(round=round_, points=body, now=clock.now())
    return PointsResultPublic(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[PointRejection(**r) for r in result.rejected],
        in_zone=result.in_zone,
    )


@router.post(
    "/rounds/{id}/checkpoint-visits",
    operation_id="add_checkpoint_visit",
    status_code=status.HTTP_201_CREATED,
)
async def add_checkpoint_visit(
    body: CheckpointVisitCreate, response: Response, user: CurrentUser, round_: OwnRound
) -> CheckpointVisitPublic:
    """A checkpoint visit by GPS (within radius + min(accuracy, 50 m)) or by the tag's code."""
    result = await rounds.record_visit(
        round=round_,
        visit_id=body.id,
        checkpoint_id=body.checkpoint_id,
        ts=body.ts,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        method=body.method,
        code=body.code,
        is_mock=body.is_mock,
        request_hash=fingerprint(body, owner=(user.id, round_.id)),
        now=clock.now(),
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return CheckpointVisitPublic.model_validate(result.visit)


@router.post(
    "/rounds/{id}/incidents", operation_id="add_incident", status_code=status.HTTP_201_CREATED
)
async def add_incident(
    body: IncidentCreate, response: Response, user: CurrentUser, round_: OwnRound
) -> IncidentPublic:
    """Report an incident during my round."""
    incident, created = await rounds.report_incident(
        round=round_,
        incident_id=body.id,
        ts=body.ts,
        lon=body.lon,
        lat=body.lat,
        category=body.category,
        description=body.description,
        request_hash=fingerprint(body, owner=(user.id, round_.id)),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return IncidentPublic.model_validate(incident)


@router.post("/rounds/{id}/end", operation_id="end_round")
async def end_round(body: RoundEnd, round_: OwnRound) -> RoundSummaryPublic:
    """End my round and get its summary (the same `ended_at` again is a no-op)."""
    summary, _created = await rounds.end_round(
        round=round_, ended_at=body.ended_at, now=clock.now()
    )
    return summary_public(summary)
