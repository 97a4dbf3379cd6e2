"""The audit log, for admins."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import roles
from api.pagination import PageParams, paginate
from api.schemas import Output, Page, UtcOutput
from models.org import Role, User
from services import audit

router = APIRouter(tags=["audit"])


class AuditPublic(Output):
    id: uuid.UUID
    at: UtcOutput
    user_id: uuid.UUID | None
    address: str | None
    action: str
    resource_type: str
    resource_id: str | None
    detail: dict[str, Any]


@router.get("/audit", operation_id="list_audit")
async def list_audit(
    _admin: Annotated[User, Depends(roles(Role.admin))],
    page: PageParams,
    resource_type: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[AuditPublic]:
    """Who read or changed what, newest first."""
    qs = audit.entries(resource_type=resource_type, resource_id=resource_id, user_id=user_id)
    rows, cursor = await paginate(qs, page, order_field="at", updated_field="at")
    return Page(items=[AuditPublic.model_validate(r) for r in rows], next_cursor=cursor)
