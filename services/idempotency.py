"""Client-made ids: the same id with the same body replays, with another body it is a 409."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from grassroots.errors import Conflict

M = TypeVar("M", bound=Model)


# Values returned as they are, matched by exact type: a body is mostly these, and an exact-type
# test is far cheaper than the ABC checks below (a check-in's fingerprint was 8 % of its request).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(body: BaseModel | Mapping[str, Any], *, owner: object | None = None) -> str:
    """SHA-256 of the request body in canonical form (times in UTC, keys sorted), with its owner."""
    data = body.model_dump() if isinstance(body, BaseModel) else dict(body)
    blob = json.dumps(
        {"body": _canonical(data), "owner": str(owner)},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


async def create_once(
    model: type[M],
    *,
    object_id: uuid.UUID,
    request_hash: str,
    create: Callable[[], Awaitable[M]],
) -> tuple[M, bool]:
    """Create through `create` unless the id exists; answer (object, created).

    `model` must have a `request_hash` field that `create` fills with `request_hash`.
    """
    existing = await model.get_or_none(id=object_id)
    if existing is None:
        try:
            return await create(), True
        except IntegrityError:
            existing = await model.get_or_none(id=object_id)
            if existing is None:
                raise
    if getattr(existing, "request_hash", None) != request_hash:
        raise Conflict("id_conflict")
    return existing, False
