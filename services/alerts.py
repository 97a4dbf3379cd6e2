"""Alerts: one function that every capability calls, and the scoped views of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Conflict, Forbidden
from models.alerts import Alert, AlertRead, AlertRecipient, AlertStatus
from models.org import OrgUnit, Role, User
from services import audit
from services.scope import Access, in_subtree, is_admin

ALERT_KINDS = (
    "missed_checkin",
    "outside_permitted_area",
    "overdue_visit",
    "missed_checkpoint",
    "zone_exit",
    "overdue_task",
)


async def raise_alert(
    *,
    kind: str,
    subject_type: str,
    subject_id: uuid.UUID,
    org_unit: OrgUnit,
    recipients: Iterable[User | uuid.UUID],
    title: str,
    dedup_key: str,
    detail: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    urgent: bool = False,
    once: bool = False,
    never_raised: bool = False,
) -> Alert | None:
    """Store an alert for its recipients; an identical open alert (same key) is not raised twice.

    With `once`, a cause that was ever alerted (even acknowledged since) is not raised again.
    `never_raised` says the caller has just read (`raised_keys`, for a bulk job) that the key
    was never raised: neither is read again (an open alert's open_key is its dedup_key, so none
    is open either; one raised meanwhile still stands, by the unique open_key). Returns the new
    alert, or None when an identical one is already open (or, with `once`, was ever raised).
    """
    key = f"{kind}:{dedup_key}"
    if not never_raised:
        if once and await was_raised(kind=kind, dedup_key=dedup_key):
            return None
        if await Alert.filter(open_key=key).exists():
            return None
    recipient_ids = {r.id if isinstance(r, User) else r for r in recipients}
    try:
        async with in_transaction():
            alert = await Alert.create(
                kind=kind,
                subject_type=subject_type,
                subject_id=subject_id,
                org_unit=org_unit,
                org_path=org_unit.path,
                open_key=key,
                dedup_key=key,
                title=title,
                detail=detail or {},
                urgent=urgent,
                occurred_at=occurred_at or clock.now(),
            )
            await AlertRecipient.bulk_create(
                [AlertRecipient(alert=alert, user_id=uid) for uid in sorted(recipient_ids)]
            )
    except IntegrityError:
        return None  # raised concurrently by another worker: the other one stands
    return alert


async def was_raised(*, kind: str, dedup_key: str) -> bool:
    """True when an alert with this key was ever raised, open or acknowledged."""
    return await Alert.filter(dedup_key=f"{kind}:{dedup_key}").exists()


async def raised_keys(*, kind: str, dedup_keys: Sequence[str]) -> set[str]:
    """Which of many dedup keys were ever alerted (one query per 500 keys), for bulk jobs."""
    found: set[str] = set()
    for i in range(0, len(dedup_keys), 500):
        chunk = [f"{kind}:{k}" for k in dedup_keys[i : i + 500]]
        found.update(await Alert.filter(dedup_key__in=chunk).values_list("dedup_key", flat=True))  # type: ignore[arg-type]
    return {k.split(":", 1)[1] for k in found}


# Kinds a correction officer answers for; the others (social work, patrol) are not theirs to
# read in the subtree, only when addressed to them.
CORRECTION_KINDS = ("missed_checkin", "outside_permitted_area")


def visible_alerts(user: User) -> QuerySet[Alert]:
    """Alerts addressed to the user, plus those in the subtree of a supervisor (any kind) or an
    officer (correction kinds only)."""
    qs = Alert.all()
    if is_admin(user):
        return qs
    mine = Q(recipients__user_id=user.id)
    if user.has_role(Role.supervisor):
        mine = mine | Q(org_path__startswith=user.org_path)
    elif user.has_role(Role.officer):
        mine = mine | (Q(org_path__startswith=user.org_path) & Q(kind__in=CORRECTION_KINDS))
    return qs.filter(mine).distinct()


# Everyone may read alerts: the ones addressed to them, and a supervisor's or officer's subtree.
ALERT_ACCESS = Access(
    Alert, roles=[r.value for r in Role], scope=lambda _qs, user: visible_alerts(user)
)


def may_resolve(*, alert: Alert, user: User) -> bool:
    """Whether the user answers for the alert's cause in its unit and so may resolve it for all.

    A recipient who is what the alert is about (the social worker of an overdue visit, the patrol
    member who left a zone) reads it but cannot close it for the supervisor who watches them.
    """
    if is_admin(user):
        return True
    in_unit = in_subtree(user=user, org_path=alert.org_path)
    if user.has_role(Role.supervisor) and in_unit:
        return True
    return user.has_role(Role.officer) and in_unit and alert.kind in CORRECTION_KINDS


async def mark_read(*, alert: Alert, user: User) -> datetime:
    """Record that the user read the alert (once; the first time stands) and return when."""
    now = clock.now()
    read, _ = await AlertRead.get_or_create(
        alert_id=alert.id, user_id=user.id, defaults={"read_at": now}
    )
    return read.read_at


async def read_at_of(*, alert_ids: Sequence[uuid.UUID], user: User) -> dict[uuid.UUID, datetime]:
    """When the user read each of these alerts (absent: unread)."""
    rows = await AlertRead.filter(alert_id__in=list(alert_ids), user_id=user.id).values_list(
        "alert_id", "read_at"
    )
    return dict(rows)


async def acknowledge(*, alert: Alert, user: User) -> Alert:
    """Resolve an open alert for everyone (403 unless the user answers for it; again: 409)."""
    if not may_resolve(alert=alert, user=user):
        raise Forbidden("alert_not_yours_to_resolve")
    if alert.status != AlertStatus.open:
        raise Conflict("alert_already_acked")
    now = clock.now()
    updated = await Alert.filter(id=alert.id, status=AlertStatus.open).update(
        status=AlertStatus.acked, open_key=None, acked_at=now, acked_by_id=user.id
    )
    if updated != 1:
        raise Conflict("alert_already_acked")
    await mark_read(alert=alert, user=user)
    await audit.record(action="ack", resource_type="alert", resource_id=alert.id)
    await alert.refresh_from_db()
    return alert


async def resolve_cause(*, kind: str, subject_id: uuid.UUID, dedup_key: str | None = None) -> int:
    """Close the open alerts of a kind about a subject whose cause was just fixed; with
    `dedup_key`, only the one raised under that key (one missed interval among several)."""
    query = Alert.filter(kind=kind, subject_id=subject_id, status=AlertStatus.open)
    if dedup_key is not None:
        query = query.filter(dedup_key=f"{kind}:{dedup_key}")
    return await query.update(
        status=AlertStatus.acked, open_key=None, acked_at=clock.now(), acked_by_id=None
    )


async def recipient_ids(alert_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The recipients of each alert."""
    rows = await AlertRecipient.filter(alert_id__in=list(alert_ids)).values_list(
        "alert_id", "user_id"
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for alert_id, user_id in rows:
        out.setdefault(alert_id, []).append(user_id)
    return out
