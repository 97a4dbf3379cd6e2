"""The audit log: one call per write and per read of a person's record."""

from __future__ import annotations

from typing import Any

from models.audit import AuditEntry
from services.context import current_actor


async def record(
    *,
    action: str,
    resource_type: str,
    resource_id: object | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry for the current actor; detail never holds secrets or identity numbers."""
    actor = current_actor.get()
    await AuditEntry.create(
        user_id=actor.user_id,
        address=actor.address,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        detail=detail or {},
    )
