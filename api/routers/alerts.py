"""Alerts for officers, supervisors and the people they concern."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from api.deps import CurrentUser, loader
from api.pagination import PageParams, paginate
from api.schemas import Output, Page, UtcOutput
from models.alerts import Alert, AlertStatus
from services import alerts

router = APIRouter(tags=["alerts"])

ALERT_ACCESS = alerts.ALERT_ACCESS


class AlertPublic(Output):
    id: uuid.UUID
    kind: str
    status: AlertStatus
    title: str
    subject_type: str
    subject_id: uuid.UUID
    org_unit_id: uuid.UUID
    detail: dict[str, Any]
    urgent: bool
    occurred_at: UtcOutput
    created_at: UtcOutput
    acked_at: UtcOutput | None
    acked_by_id: uuid.UUID | None
    read_at: UtcOutput | None = Field(
        default=None, description="When I read it (mine alone; resolving is `status`)"
    )


def alert_public(alert: Alert, *, read_at: datetime | None = None) -> AlertPublic:
    """The public view of an alert, with the caller's own read time."""
    return AlertPublic.model_validate(alert).model_copy(update={"read_at": read_at})


@router.get("/alerts", operation_id="list_alerts")
async def list_alerts(
    user: CurrentUser,
    page: PageParams,
    status: Annotated[AlertStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AlertPublic]:
    """Alerts addressed to me or, for supervisors and officers, raised in my subtree."""
    qs = ALERT_ACCESS.queryset(user)
    if status is not None:
        qs = qs.filter(status=status)
    if kind is not None:
        qs = qs.filter(kind=kind)
    rows, cursor = await paginate(qs, page)
    reads = await alerts.read_at_of(alert_ids=[a.id for a in rows], user=user)
    return Page(items=[alert_public(a, read_at=reads.get(a.id)) for a in rows], next_cursor=cursor)


VisibleAlert = Annotated[Alert, Depends(loader(ALERT_ACCESS))]


@router.post("/alerts/{id}/read", operation_id="read_alert")
async def read_alert(user: CurrentUser, alert: VisibleAlert) -> AlertPublic:
    """Mark an alert I can see as read by me; it stays open for everyone else."""
    return alert_public(alert, read_at=await alerts.mark_read(alert=alert, user=user))


@router.post("/alerts/{id}/ack", operation_id="ack_alert")
async def ack_alert(user: CurrentUser, alert: VisibleAlert) -> AlertPublic:
    """Resolve an open alert for everyone: admins, supervisors of its unit, officers for
    correction alerts; anyone else it is addressed to gets 403 and may mark it read instead."""
    resolved = await alerts.acknowledge(alert=alert, user=user)
    return alert_public(
        resolved,
        read_at=(await alerts.read_at_of(alert_ids=[resolved.id], user=user)).get(resolved.id),
    )
