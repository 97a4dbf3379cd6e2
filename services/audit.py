"""The audit log: one call per write and per read of a person's record."""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet

from models.audit import AuditEntry
from models.base import new_row
from services.context import Actor, current_actor


def entry(
    *,
    action: str,
    resource_type: str,
    resource_id: object | None,
    detail: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditEntry:
    """An unsaved entry for the current (or given) actor, for writers that insert in bulk."""
    who = actor or current_actor.get()
    return new_row(
        AuditEntry,
        user_id=who.user_id,
        address=who.address,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        detail=detail or {},
    )


async def record(
    *,
    action: str,
    resource_type: str,
    resource_id: object | None,
    detail: dict[str, Any] | None = None,
    actor: Actor | None = None,
    using_db: BaseDBAsyncClient | None = None,
) -> None:
    """Append one entry; detail never holds secrets or identity numbers.

    `actor` defaults to the current request's; pass it when writing from another task (a group
    commit), and `using_db` to write inside that task's transaction.
    """
    await entry(
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        detail=detail,
        actor=actor,
    ).save(using_db=using_db, force_create=True)


def entries(
    *, resource_type: str | None, resource_id: str | None, user_id: uuid.UUID | None
) -> QuerySet[AuditEntry]:
    """The audit log filtered by resource and by who acted (for admins; the caller checks)."""
    qs = AuditEntry.all()
    if resource_type:
        qs = qs.filter(resource_type=resource_type)
    if resource_id:
        qs = qs.filter(resource_id=resource_id)
    if user_id:
        qs = qs.filter(user_id=user_id)
    return qs
