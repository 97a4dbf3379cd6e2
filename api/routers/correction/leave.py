"""Leave: a subject's requests and withdrawals, the officer's decisions."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.pagination import PageParams, paginate
from api.routers.correction.dependencies import (
    DecidableLeave,
    LoadedSupervision,
    OfficerUser,
    OwnLeave,
    SubjectUser,
)
from api.routers.correction.schemas import LeaveCreate, LeaveDecision, LeavePublic
from api.schemas import Page
from grassroots import clock
from services.correction import leave as leave_requests
from services.idempotency import fingerprint

router = APIRouter()


@router.post(
    "/me/leave-requests",
    operation_id="create_my_leave_request",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": LeavePublic, "description": "Replay of a stored request"}},
)
async def create_my_leave_request(
    body: LeaveCreate, user: SubjectUser, response: Response
) -> LeavePublic:
    """Ask for leave to be outside the permitted area; pending until the officer decides."""
    leave, created = await leave_requests.request_leave(
        user=user,
        leave_id=body.id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        destination=body.destination,
        reason=body.reason,
        request_hash=fingerprint(body, owner=user.id),
        now=clock.now(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return LeavePublic.model_validate(leave)


@router.get("/me/leave-requests", operation_id="list_my_leave_requests")
async def list_my_leave_requests(user: SubjectUser, page: PageParams) -> Page[LeavePublic]:
    """My leave requests, newest first."""
    rows, cursor = await paginate(leave_requests.my_leave_requests(user=user), page)
    return Page(items=[LeavePublic.model_validate(x) for x in rows], next_cursor=cursor)


@router.post("/me/leave-requests/{id}/cancel", operation_id="cancel_my_leave_request")
async def cancel_my_leave_request(leave: OwnLeave) -> LeavePublic:
    """Withdraw my pending or approved leave before it starts."""
    cancelled = await leave_requests.cancel_leave(leave=leave, now=clock.now())
    return LeavePublic.model_validate(cancelled)


@router.post("/leave-requests/{id}/decision", operation_id="decide_leave_request")
async def decide_leave_request(
    body: LeaveDecision, user: OfficerUser, leave: DecidableLeave
) -> LeavePublic:
    """Approve or reject a pending leave of a subject I supervise."""
    decided = await leave_requests.decide_leave(
        user=user, leave=leave, approved=body.approved, note=body.note, now=clock.now()
    )
    return LeavePublic.model_validate(decided)


@router.get("/supervisions/{id}/leave-requests", operation_id="list_supervision_leave_requests")
async def list_supervision_leave_requests(
    supervision: LoadedSupervision, page: PageParams
) -> Page[LeavePublic]:
    """Leave requests of one supervision, newest first."""
    qs = await leave_requests.supervision_leave_requests(supervision=supervision)
    rows, cursor = await paginate(qs, page)
    return Page(items=[LeavePublic.model_validate(x) for x in rows], next_cursor=cursor)
