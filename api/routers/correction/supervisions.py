"""Supervisions: create, list, read, change the level, end; a subject's own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser
from api.pagination import PageParams, paginate
from api.routers.correction.dependencies import (
    LoadedSupervision,
    ManagedSupervision,
    OfficerUser,
    SubjectUser,
)
from api.routers.correction.schemas import (
    LevelUpdate,
    SupervisionCreate,
    SupervisionEnd,
    SupervisionPublic,
    supervision_public,
)
from api.schemas import DateInput, Page
from grassroots import clock
from services.correction import supervisions

router = APIRouter()


@router.post(
    "/supervisions",
    operation_id="create_supervision",
    status_code=status.HTTP_201_CREATED,
)
async def create_supervision(body: SupervisionCreate, user: OfficerUser) -> SupervisionPublic:
    """Place a subject under supervision; the answer lists the obligations the level implies."""
    now = clock.now()
    created = await supervisions.create_supervision(
        actor=user,
        client_id=body.client_id,
        subject_user_id=body.subject_user_id,
        officer_id=body.officer_id,
        permitted_zone_id=body.permitted_zone_id,
        level=body.level,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        now=now,
    )
    return supervision_public(created, now=now)


@router.get("/supervisions", operation_id="list_supervisions")
async def list_supervisions(
    user: CurrentUser,
    page: PageParams,
    officer_id: Annotated[uuid.UUID | None, Query()] = None,
    subject_user_id: Annotated[uuid.UUID | None, Query()] = None,
    active_on: Annotated[
        DateInput | None, Query(description="Only supervisions running that day")
    ] = None,
) -> Page[SupervisionPublic]:
    """Supervisions in my org subtree (officers, supervisors, admins)."""
    qs = supervisions.supervisions_visible(
        user=user, officer_id=officer_id, subject_user_id=subject_user_id, active_on=active_on
    )
    rows, cursor = await paginate(qs, page)
    await supervisions.record_list(count=len(rows))
    return Page(items=[supervision_public(s) for s in rows], next_cursor=cursor)


@router.get("/supervisions/{id}", operation_id="get_supervision")
async def get_supervision(supervision: LoadedSupervision) -> SupervisionPublic:
    """One supervision in my subtree."""
    return supervision_public(await supervisions.read_supervision(supervision=supervision))


@router.patch("/supervisions/{id}/level", operation_id="change_supervision_level")
async def change_supervision_level(
    body: LevelUpdate, user: OfficerUser, supervision: ManagedSupervision
) -> SupervisionPublic:
    """Change the level; each obligation follows it from its next interval, history is kept."""
    now = clock.now()
    updated = await supervisions.change_level(
        actor=user, supervision=supervision, level=body.level, now=now
    )
    return supervision_public(updated, now=now)


@router.post("/supervisions/{id}/end", operation_id="end_supervision")
async def end_supervision(
    body: SupervisionEnd, user: OfficerUser, supervision: ManagedSupervision
) -> SupervisionPublic:
    """End a supervision early or at its planned end (解除/终止社区矫正).

    `ended_on` is the last day under supervision: no obligation, check-in or leave after it.
    The answer's `ends_on` is the effective end (`ended_on`) and `planned_ends_on` keeps the end
    planned at creation. `ended_on` may not precede `starts_on` (422 `ended_on_before_start`),
    follow the planned end (422 `ended_on_after_planned_end`) or today's local date (422
    `ended_on_in_future`). Pending leave starting after the end is rejected. The identical end
    again answers 200 with the stored supervision, another end of an ended one is a 409
    `supervision_ended`.
    """
    now = clock.now()
    ended = await supervisions.end_supervision(
        actor=user,
        supervision=supervision,
        ended_on=body.ended_on,
        reason=body.reason,
        note=body.note,
        now=now,
    )
    return supervision_public(ended, now=now)


@router.get("/me/supervision", operation_id="get_my_supervision")
async def get_my_supervision(user: SubjectUser) -> SupervisionPublic:
    """My current supervision (else my latest)."""
    now = clock.now()
    return supervision_public(await supervisions.my_supervision(user=user, now=now), now=now)
