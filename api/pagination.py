"""Keyset pagination `{items, next_cursor}` and `updated_since`, the same for every list."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from api.schemas import UtcInput
from services.errors import BadRequest

MAX_LIMIT = 500


@dataclass(frozen=True)
class PageQuery:
    """`?limit=&cursor=&updated_since=` of one list request."""

    limit: int = 50
    cursor: str | None = None
    updated_since: datetime | None = None


async def page_query(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (max 500)")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="From `next_cursor`")] = None,
    updated_since: Annotated[
        UtcInput | None, Query(description="Only records changed at or after this time")
    ] = None,
) -> PageQuery:
    """The page parameters as one dependency.

    A coroutine on purpose: FastAPI runs a plain function or a class dependency in a worker
    thread on every request, and these lists are polled.
    """
    return PageQuery(limit=limit, cursor=cursor, updated_since=updated_since)


PageParams = Annotated[PageQuery, Depends(page_query)]


def _encode(value: Any, object_id: Any) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, str(object_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, object_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return value, uuid.UUID(object_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest("invalid_cursor") from exc


async def paginate(
    qs: QuerySet[Any],
    page: PageQuery,
    *,
    order_field: str = "created_at",
    descending: bool = True,
    updated_field: str | None = "updated_at",
) -> tuple[list[Any], str | None]:
    """One page of `qs` ordered by (order_field, id); returns the rows and the next cursor."""
    if page.updated_since is not None and updated_field:
        qs = qs.filter(**{f"{updated_field}__gte": page.updated_since})
    if page.cursor:
        value, last_id = _decode(page.cursor)
        if isinstance(value, str) and order_field.endswith("_at"):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise BadRequest("invalid_cursor") from exc
        op = "lt" if descending else "gt"
        qs = qs.filter(
            Q(**{f"{order_field}__{op}": value})
            | (Q(**{order_field: value}) & Q(**{f"id__{op}": last_id}))
        )
    prefix = "-" if descending else ""
    rows = await qs.order_by(f"{prefix}{order_field}", f"{prefix}id").limit(page.limit + 1)
    if len(rows) <= page.limit:
        return list(rows), None
    rows = rows[: page.limit]
    last = rows[-1]
    return list(rows), _encode(getattr(last, order_field), last.id)
