"""Leave: a subject asks to be outside the permitted area, the officer decides, the subject may
withdraw it before it starts. Approved windows are cached on the supervision for check-ins.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

import services.correction.messages  # noqa: F401  (registers the codes raised here)
from grassroots.errors import Conflict, Invalid
from models.correction import CheckIn, CheckInStatus, LeaveRequest, LeaveStatus, Supervision
from models.org import User
from services import audit
from services.correction.dates import local_date
from services.correction.supervisions import forget_supervisions, read_supervision
from services.idempotency import create_once

MAX_LEAVE = timedelta(days=90)


def leave_covers(supervision: Supervision, at: datetime) -> bool:
    """Whether an approved leave window (cached on the supervision) holds `at`."""
    return any(
        datetime.fromisoformat(window[0]) <= at < datetime.fromisoformat(window[1])
        for window in supervision.approved_leave
    )


async def request_leave(
    *,
    user: User,
    leave_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    destination: str,
    reason: str,
    request_hash: str,
    now: datetime,
) -> tuple[LeaveRequest, bool]:
    """A subject's leave request, pending until the officer decides (a retried id replays)."""

    async def create() -> LeaveRequest:
        if ends_at <= starts_at or ends_at <= now:
            raise Invalid(
                "leave_times_invalid",
                errors=[{"loc": ["body", "ends_at"], "msg": "leave_times_invalid"}],
            )
        if ends_at - starts_at > MAX_LEAVE:
            raise Invalid("leave_too_long")
        day = local_date(starts_at)
        # The end is exclusive: a leave ending at local midnight ends on the day before it.
        last_day = local_date(ends_at - timedelta(microseconds=1))
        supervision = (
            await Supervision.filter(subject_id=user.id, starts_on__lte=last_day, ends_on__gte=day)
            .order_by("starts_on")
            .first()
        )
        if supervision is None:
            raise Invalid("not_under_supervision")
        async with in_transaction():
            await Supervision.select_for_update().get(id=supervision.id)  # serialise overlap checks
            overlapping = await LeaveRequest.filter(
                supervision_id=supervision.id,
                status__in=[LeaveStatus.pending, LeaveStatus.approved],
                starts_at__lt=ends_at,
                ends_at__gt=starts_at,
            ).exists()
            if overlapping:
                raise Conflict("leave_overlaps")
            leave = await LeaveRequest.create(
                id=leave_id,
                supervision_id=supervision.id,
                subject_id=user.id,
                starts_at=starts_at,
                ends_at=ends_at,
                destination=destination,
                reason=reason,
                org_path=supervision.org_path,
                request_hash=request_hash,
            )
            await audit.record(action="create", resource_type="leave_request", resource_id=leave.id)
        return leave

    return await create_once(
        LeaveRequest, object_id=leave_id, request_hash=request_hash, create=create
    )


async def _refresh_leave_cache(supervision_id: uuid.UUID) -> Supervision:
    """Rewrite the approved-leave windows cached on a supervision (inside a transaction)."""
    supervision = await Supervision.select_for_update().get(id=supervision_id)
    rows = (
        await LeaveRequest.filter(supervision_id=supervision_id, status=LeaveStatus.approved)
        .order_by("starts_at")
        .values_list("starts_at", "ends_at", "id")
    )
    supervision.approved_leave = [
        [s.astimezone(UTC).isoformat(), e.astimezone(UTC).isoformat(), str(i)] for s, e, i in rows
    ]
    await supervision.save(update_fields=["approved_leave", "updated_at"])
    forget_supervisions(supervision.subject_id)  # type: ignore[attr-defined]
    return supervision


async def decide_leave(
    *, user: User, leave: LeaveRequest, approved: bool, note: str | None, now: datetime
) -> LeaveRequest:
    """Approve or reject a pending leave; approval makes outside check-ins in it compliant."""
    async with in_transaction():
        updated = await LeaveRequest.filter(id=leave.id, status=LeaveStatus.pending).update(
            status=LeaveStatus.approved if approved else LeaveStatus.rejected,
            decided_by_id=user.id,
            decided_at=now,
            decision_note=note,
        )
        if updated != 1:
            raise Conflict("leave_not_pending")
        if approved:
            await _refresh_leave_cache(leave.supervision_id)  # type: ignore[attr-defined]
            # Check-ins already made in the window were outside without leave when judged.
            await CheckIn.filter(
                supervision_id=leave.supervision_id,  # type: ignore[attr-defined]
                occurred_at__gte=leave.starts_at,
                occurred_at__lt=leave.ends_at,
                recorded_by_id=leave.subject_id,
            ).update(on_approved_leave=True)
            await CheckIn.filter(
                supervision_id=leave.supervision_id,  # type: ignore[attr-defined]
                occurred_at__gte=leave.starts_at,
                occurred_at__lt=leave.ends_at,
                status=CheckInStatus.violation,
            ).update(status=CheckInStatus.ok)
    await audit.record(
        action="decide",
        resource_type="leave_request",
        resource_id=leave.id,
        detail={"approved": approved},
    )
    await leave.refresh_from_db()
    return leave


async def cancel_leave(*, leave: LeaveRequest, now: datetime) -> LeaveRequest:
    """The subject withdraws a pending or approved leave that has not started."""
    if leave.starts_at <= now:
        raise Conflict("leave_already_started")
    async with in_transaction():
        updated = await LeaveRequest.filter(
            id=leave.id, status__in=[LeaveStatus.pending, LeaveStatus.approved]
        ).update(status=LeaveStatus.cancelled, cancelled_at=now)
        if updated != 1:
            raise Conflict("leave_not_pending")
        await _refresh_leave_cache(leave.supervision_id)  # type: ignore[attr-defined]
    await audit.record(action="cancel", resource_type="leave_request", resource_id=leave.id)
    await leave.refresh_from_db()
    return leave


def my_leave_requests(*, user: User) -> QuerySet[LeaveRequest]:
    """A subject's own leave requests."""
    return LeaveRequest.filter(subject_id=user.id)


async def supervision_leave_requests(*, supervision: Supervision) -> QuerySet[LeaveRequest]:
    """The leave requests of one supervision; reading them is audited as a read of it."""
    await read_supervision(supervision=supervision)
    return LeaveRequest.filter(supervision_id=supervision.id)
