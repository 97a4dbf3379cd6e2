"""Keyset pagination `{items, next_cursor}` and `updated_since`, the same for every list."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from api.schemas import UtcInput
from grassroots.errors import Invalid
from grassroots.settings import get_settings

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


# Cursors are opaque to clients: base64url of a JSON pair [order value, row id] and an HMAC of
# it, keyed from the signing key and bound to the list's ordering. A cursor this server did not
# make is refused before its content is read; its content is then checked for type and range
# anyway, so even a leaked key cannot turn a cursor into a 500.
_MAC_BYTES = 16
_MAC_LABEL = b"grassroots/pagination-cursor/v1"


def _mac(key: str, order_field: str, payload: bytes) -> bytes:
    cursor_key = hmac.new(key.encode(), _MAC_LABEL, hashlib.sha256).digest()
    message = order_field.encode() + b"\0" + payload
    return hmac.new(cursor_key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(*, value: datetime, object_id: uuid.UUID, order_field: str) -> str:
    """The signed cursor that resumes a list after (value, object_id)."""
    if not isinstance(value, datetime):
        raise TypeError(f"cursor ordering must be a datetime, not {type(value).__name__}")
    payload = json.dumps([value.isoformat(), str(object_id)], separators=(",", ":")).encode()
    key = get_settings().signing_keys()[0]
    return f"{_b64(payload)}.{_b64(_mac(key, order_field, payload))}"


def _invalid() -> Invalid:
    return Invalid(
        "invalid_cursor",
        errors=[{"loc": ["query", "cursor"], "msg": "not a cursor this server handed out"}],
    )


def decode_cursor(cursor: str, *, order_field: str) -> tuple[datetime, uuid.UUID]:
    """(value, id) of a cursor this server made for this ordering, else a 422 invalid_cursor."""
    payload_text, dot, mac_text = cursor.partition(".")
    if not dot or not payload_text or not mac_text:
        raise _invalid()
    try:
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        raise _invalid() from None
    keys = get_settings().signing_keys()
    if not any(hmac.compare_digest(mac, _mac(key, order_field, payload)) for key in keys):
        raise _invalid()
    try:
        decoded = json.loads(payload)
    except (ValueError, RecursionError):
        raise _invalid() from None
    if not (isinstance(decoded, list) and len(decoded) == 2):
        raise _invalid()
    value_text, id_text = decoded
    if not isinstance(value_text, str) or not isinstance(id_text, str) or len(value_text) > 40:
        raise _invalid()
    try:
        value = datetime.fromisoformat(value_text)
        object_id = uuid.UUID(id_text)
    except ValueError:
        raise _invalid() from None
    if value.tzinfo is None:
        raise _invalid()
    return value, object_id


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
        value, last_id = decode_cursor(page.cursor, order_field=order_field)
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
    return list(rows), encode_cursor(
        value=getattr(last, order_field), object_id=last.id, order_field=order_field
    )
