"""Checkpoints of a zone and patrol shifts (assignments), the manager's and the member's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser
from api.pagination import PageParams, paginate
from api.routers.patrol.dependencies import ManagedZone, ReadableZone
from api.routers.patrol.schemas import (
    AssignmentCreate,
    CheckpointCreate,
    CheckpointPublic,
    MyAssignment,
    PatrolAssignmentPublic,
    ZonePublic,
    checkpoint_public,
)
from api.schemas import Page, UtcInput
from services.patrol import shifts

router = APIRouter()


@router.post(
    "/zones/{id}/checkpoints",
    operation_id="create_checkpoint",
    status_code=status.HTTP_201_CREATED,
)
async def create_checkpoint(body: CheckpointCreate, zone: ManagedZone) -> CheckpointPublic:
    """A checkpoint in a zone I manage, with the secret code for its tag."""
    checkpoint = await shifts.create_checkpoint(
        zone=zone,
        name=body.name,
        lon=body.lon,
        lat=body.lat,
        radius_m=body.radius_m,
        required=body.required,
    )
    return checkpoint_public(checkpoint, with_code=True)


@router.get("/zones/{id}/checkpoints", operation_id="list_checkpoints")
async def list_checkpoints(user: CurrentUser, zone: ReadableZone) -> list[CheckpointPublic]:
    """Checkpoints of a zone I may see (codes only for its managers)."""
    rows = await shifts.checkpoints_for(user=user, zone=zone)
    return [checkpoint_public(c, with_code=with_code) for c, with_code in rows]


@router.post(
    "/zones/{id}/assignments",
    operation_id="create_assignment",
    status_code=status.HTTP_201_CREATED,
)
async def create_assignment(
    body: AssignmentCreate, user: CurrentUser, zone: ManagedZone
) -> PatrolAssignmentPublic:
    """A patrol shift for a member of my subtree in a zone I manage."""
    assignment = await shifts.create_assignment(
        actor=user, zone=zone, user_id=body.user_id, starts_at=body.starts_at, ends_at=body.ends_at
    )
    return PatrolAssignmentPublic.model_validate(assignment)


@router.get("/zones/{id}/assignments", operation_id="list_zone_assignments")
async def list_zone_assignments(
    zone: ManagedZone, page: PageParams
) -> Page[PatrolAssignmentPublic]:
    """Shifts in a zone I manage, latest first."""
    rows, cursor = await paginate(shifts.zone_assignments(zone=zone), page, order_field="starts_at")
    return Page(items=[PatrolAssignmentPublic.model_validate(a) for a in rows], next_cursor=cursor)


@router.get("/me/assignments", operation_id="list_my_assignments")
async def list_my_assignments(
    user: CurrentUser,
    start: Annotated[UtcInput | None, Query(alias="from", description="Default: a day ago")] = None,
    end: Annotated[UtcInput | None, Query(alias="to", description="Default: a week ahead")] = None,
) -> list[MyAssignment]:
    """My shifts overlapping [from, to), with their zones' geometry and checkpoints (no codes)."""
    rows = await shifts.my_shifts(user=user, start=start, end=end)
    return [
        MyAssignment(
            id=a.id,
            zone_id=a.zone.id,
            user_id=user.id,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            zone=ZonePublic.model_validate(a.zone),
            checkpoints=[checkpoint_public(c, with_code=False) for c in checkpoints],
        )
        for a, checkpoints in rows
    ]
