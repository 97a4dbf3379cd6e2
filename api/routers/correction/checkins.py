"""Check-ins: a subject's own, and the officer's in-person reports and home visits."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.pagination import PageParams, paginate
from api.routers.correction.dependencies import (
    LoadedSupervision,
    ManagedCheckIn,
    OfficerUser,
    SubjectUser,
)
from api.routers.correction.schemas import (
    CheckInCreate,
    CheckInPublic,
    OfficerCheckInCreate,
    checkin_public,
)
from api.schemas import Page
from grassroots import clock
from models.correction import CheckInKind
from services.correction import checkins
from services.idempotency import fingerprint

router = APIRouter()


@router.post(
    "/me/checkins",
    operation_id="create_my_checkin",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CheckInPublic, "description": "Replay of a stored check-in"}},
)
async def create_my_checkin(
    body: CheckInCreate, user: SubjectUser, response: Response
) -> CheckInPublic:
    """Check in; a position is judged against the permitted area (with its accuracy) and leave.

    A position less precise than GRASSROOTS_CHECKIN_MAX_ACCURACY_M is stored `unverified` with
    `retry: true` (take another fix, send a new check-in); one taken more than
    GRASSROOTS_CHECKIN_LATE_AFTER_H before it arrives is stored `late` and counts once the
    assigned officer confirms it. Hours are capped at 24 per local day across entries (422
    `hours_over_daily_cap`, nothing stored).
    """
    checkin, created = await checkins.record_checkin(
        user=user,
        checkin_id=body.id,
        kind=CheckInKind(body.kind),
        occurred_at=body.occurred_at,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        hours=body.hours,
        text=body.text,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return checkin_public(checkin)


@router.get("/me/checkins", operation_id="list_my_checkins")
async def list_my_checkins(user: SubjectUser, page: PageParams) -> Page[CheckInPublic]:
    """My check-ins, newest first."""
    rows, cursor = await paginate(checkins.my_checkins(user=user), page)
    return Page(items=[checkin_public(c) for c in rows], next_cursor=cursor)


@router.post(
    "/supervisions/{id}/checkins",
    operation_id="create_officer_checkin",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CheckInPublic, "description": "Replay of a stored record"}},
)
async def create_officer_checkin(
    body: OfficerCheckInCreate,
    user: OfficerUser,
    supervision: LoadedSupervision,
    response: Response,
) -> CheckInPublic:
    """Record an in-person report (报到) or a home visit for a subject I supervise."""
    checkin, created = await checkins.record_officer_checkin(
        user=user,
        supervision=supervision,
        checkin_id=body.id,
        kind=CheckInKind(body.kind),
        occurred_at=body.occurred_at,
        lon=body.lon,
        lat=body.lat,
        accuracy_m=body.accuracy_m,
        text=body.text,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return checkin_public(checkin)


@router.get("/supervisions/{id}/checkins", operation_id="list_supervision_checkins")
async def list_supervision_checkins(
    supervision: LoadedSupervision, page: PageParams
) -> Page[CheckInPublic]:
    """Check-ins of one supervision, newest first."""
    qs = await checkins.supervision_checkins(supervision=supervision)
    rows, cursor = await paginate(qs, page)
    return Page(items=[checkin_public(c) for c in rows], next_cursor=cursor)


@router.post("/checkins/{id}/confirm", operation_id="confirm_checkin")
async def confirm_checkin(user: OfficerUser, checkin: ManagedCheckIn) -> CheckInPublic:
    """Confirm a late check-in of a subject I supervise, so that it counts (idempotent).

    Only the assigned officer, a supervisor of the subtree or an admin (others: 404). A check-in
    that is not late is a 409 `checkin_not_late`.
    """
    confirmed = await checkins.confirm_checkin(actor=user, checkin=checkin, now=clock.now())
    return checkin_public(confirmed)
