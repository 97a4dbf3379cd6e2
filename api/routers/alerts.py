"""Alerts for officers, supervisors and the people they concern."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import CurrentUser, loader
from api.pagination import PageParams, paginate
from api.schemas import Output, Page, UtcOutput
from models.alerts import Alert, AlertStatus
from models.org import Role
from services import alerts
from services.scope import Access

router = APIRouter(tags=["alerts"])

ALERT_ACCESS = Access(
    Alert, roles=[r.value for r in Role], scope=lambda _qs, user: alerts.visible_alerts(user)
)


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


def alert_public(alert: Alert) -> AlertPublic:
    """The public view of an alert."""
    return AlertPublic.model_validate(alert)


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
    return Page(items=[alert_public(a) for a in rows], next_cursor=cursor)


@router.post("/alerts/{id}/ack", operation_id="ack_alert")
async def ack_alert(
    user: CurrentUser, alert: Annotated[Alert, Depends(loader(ALERT_ACCESS))]
) -> AlertPublic:
    """Acknowledge an open alert I can see."""
    return alert_public(await alerts.acknowledge(alert=alert, user=user))
