"""Closing and reopening a case (结案 / 重新开案) and the case's history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Conflict, Forbidden, Invalid
from grassroots.settings import Settings
from models.correction import Supervision
from models.org import User
from models.social import (
    CaseAssignment,
    CaseClosure,
    CaseStatus,
    Client,
    CloseReason,
    Delegation,
)
from services import audit
from services.social import messages  # noqa: F401  (registers the codes raised here)
from services.social.access import can_coordinate, can_manage
from services.social.cadence import local_today


async def _under_supervision_after(*, client_id: uuid.UUID, closed_on: date) -> bool:
    """True when a community-correction supervision of the client runs past `closed_on`."""
    return await Supervision.filter(client_id=client_id, ends_on__gt=closed_on).exists()


def _earliest_close_on(*, client: Client, tz: ZoneInfo) -> date:
    """A case cannot close before it was registered, last assigned or last reopened."""
    moments = [client.created_at, client.assigned_at, client.reopened_at]
    return max(local_today(now=m, tz=tz) for m in moments if m is not None)


async def _replayed_close(
    *, client: Client, closed_on: date, reason: CloseReason, note: str
) -> Client:
    """The identical close again answers the stored case (200); any other close is a 409."""
    closure = await CaseClosure.filter(client_id=client.id, reopened_at__isnull=True).first()
    if (
        closure is None
        or closure.closed_on != closed_on
        or closure.reason != reason
        or closure.note != note
    ):
        raise Conflict("case_closed")
    return client


class _CloseLost(Exception):
    """Another request closed the case between loading it and closing it."""


async def close_case(
    *,
    actor: User,
    client: Client,
    closed_on: date,
    reason: CloseReason,
    note: str,
    settings: Settings,
    now: datetime | None = None,
) -> Client:
    """Close a case (结案): off the caseload, no visits due, records kept.

    The client's social worker and the managers of its unit may close it. `closed_on` is a local
    date, not in the future and not before the case was registered, last assigned or reopened.
    Closing ends the current assignment (the history keeps who held the case when), ends every
    delegation still running after `closed_on` and drops those that would only start after it.
    A case whose community-correction supervision runs past `closed_on` cannot close (409
    `client_under_supervision`). The identical close again is a no-op answered with the stored
    case (a phone's retry); another close of a closed case is a 409 `case_closed`.
    """
    if not can_coordinate(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        return await _replayed_close(client=client, closed_on=closed_on, reason=reason, note=note)
    now = now or clock.now()
    if closed_on > local_today(now=now, tz=settings.tz):
        raise Invalid(
            "closed_on_in_future",
            errors=[{"loc": ["body", "closed_on"], "msg": "closed_on_in_future"}],
        )
    earliest = _earliest_close_on(client=client, tz=settings.tz)
    if closed_on < earliest:
        raise Invalid(
            "closed_on_too_early",
            params={"earliest": earliest.isoformat()},
            errors=[{"loc": ["body", "closed_on"], "msg": "closed_on_too_early"}],
        )
    if await _under_supervision_after(client_id=client.id, closed_on=closed_on):
        raise Conflict("client_under_supervision")
    try:
        async with in_transaction():
            # Conditional on the case still being open: of two concurrent closes one stores.
            closed = await Client.filter(id=client.id, status=CaseStatus.open).update(
                status=CaseStatus.closed,
                closed_on=closed_on,
                close_reason=reason,
                visit_due_on=None,
                updated_at=now,
            )
            if not closed:
                raise _CloseLost()
            closure = await CaseClosure.create(
                client_id=client.id,
                closed_on=closed_on,
                reason=reason,
                note=note,
                closed_by_id=actor.id,
                closed_at=now,
            )
            await CaseAssignment.filter(client_id=client.id, ends_at__isnull=True).update(
                ends_at=now
            )
            running = await Delegation.filter(
                Q(client_id=client.id) & (Q(ends_on__isnull=True) | Q(ends_on__gt=closed_on))
            )
            ended = [d.id for d in running if d.starts_on <= closed_on]
            dropped = [d.id for d in running if d.starts_on > closed_on]
            if ended:
                await Delegation.filter(id__in=ended).update(ends_on=closed_on)
            if dropped:
                await Delegation.filter(id__in=dropped).delete()
            await audit.record(
                action="close",
                resource_type="client",
                resource_id=client.id,
                detail={
                    "closure_id": str(closure.id),
                    "closed_on": closed_on.isoformat(),
                    "reason": reason.value,
                    "social_worker_id": _id_or_none(client.social_worker_id),
                    "ended_delegation_ids": [str(i) for i in ended],
                    "dropped_delegation_ids": [str(i) for i in dropped],
                },
            )
    except _CloseLost:
        await client.refresh_from_db()
        return await _replayed_close(client=client, closed_on=closed_on, reason=reason, note=note)
    await client.refresh_from_db()
    return client


async def reopen_case(
    *, actor: User, client: Client, note: str, now: datetime | None = None
) -> Client:
    """Reopen a closed case (重新开案); it has no worker until a manager assigns one.

    Only the managers of the client's unit reopen a case, as only they assign one: the case comes
    back unassigned (the worker who held it may have moved on or be at the cap), and the assignment
    that follows goes through the usual cap check. The next visit then falls due a cadence after
    that assignment, not after a visit from before the case was closed. Reopening an open case is
    a 409 `case_not_closed`.
    """
    if not can_manage(actor, client):
        raise Forbidden()
    if client.status != CaseStatus.closed:
        raise Conflict("case_not_closed")
    now = now or clock.now()
    async with in_transaction():
        reopened = await Client.filter(id=client.id, status=CaseStatus.closed).update(
            status=CaseStatus.open,
            closed_on=None,
            close_reason=None,
            reopened_at=now,
            social_worker_id=None,
            assigned_at=None,
            visit_due_on=None,
            updated_at=now,
        )
        if not reopened:
            raise Conflict("case_not_closed")
        closure = await CaseClosure.filter(client_id=client.id, reopened_at__isnull=True).first()
        if closure is not None:
            await CaseClosure.filter(id=closure.id).update(
                reopened_at=now, reopened_by_id=actor.id, reopen_note=note, updated_at=now
            )
        await audit.record(
            action="reopen",
            resource_type="client",
            resource_id=client.id,
            detail={"closure_id": None if closure is None else str(closure.id)},
        )
    await client.refresh_from_db()
    return client


def _id_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class AssignmentView:
    """One stretch of a case with one worker."""

    user_id: uuid.UUID
    full_name: str
    starts_at: datetime
    ends_at: datetime | None
    assigned_by_id: uuid.UUID | None


@dataclass(frozen=True)
class ClientHistory:
    """Who held the case, which units it was delegated to, and when it was closed and reopened."""

    assignments: list[AssignmentView]
    delegations: list[Delegation]
    closures: list[CaseClosure]


async def client_history(*, client: Client) -> ClientHistory:
    """The assignment, delegation and closing history of a client, oldest first."""
    rows = await CaseAssignment.filter(client_id=client.id).order_by("starts_at", "created_at")
    names = dict(
        await User.filter(id__in=list({r.worker_id for r in rows})).values_list("id", "full_name")
    )
    delegations = await Delegation.filter(client_id=client.id).order_by("starts_on", "created_at")
    return ClientHistory(
        assignments=[
            AssignmentView(
                user_id=r.worker_id,
                full_name=str(names.get(r.worker_id, "")),
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                assigned_by_id=r.assigned_by_id,
            )
            for r in rows
        ],
        delegations=list(delegations),
        closures=list(
            await CaseClosure.filter(client_id=client.id).order_by("closed_at", "created_at")
        ),
    )
