"""A short-lived, per-process cache of signed-in users: one query saved on every request.

An entry lives `ttl_s` seconds (GRASSROOTS_USER_CACHE_S, default 2 s; 0 turns it off). A change
made through this process (disable, role change) drops the entry at once; another process sees
it within the TTL. That bound is the price of not reading the user table on every request.
"""

from __future__ import annotations

import time
import uuid

from models.org import User

_ENTRIES: dict[uuid.UUID, tuple[float, User]] = {}
MAX_ENTRIES = 50_000


async def active_user(user_id: uuid.UUID, *, ttl_s: float) -> User | None:
    """The active, undeleted user with this id, from the cache when fresh."""
    now = time.monotonic()
    if ttl_s > 0:
        hit = _ENTRIES.get(user_id)
        if hit is not None and hit[0] > now:
            return hit[1]
    user = await User.get_or_none(id=user_id, is_active=True, deleted_at=None)
    if ttl_s > 0:
        if user is None:
            _ENTRIES.pop(user_id, None)
        else:
            if len(_ENTRIES) >= MAX_ENTRIES:
                _ENTRIES.clear()
            _ENTRIES[user_id] = (now + ttl_s, user)
    return user


def forget(user_id: uuid.UUID) -> None:
    """Drop one user (after a change to it)."""
    _ENTRIES.pop(user_id, None)


def clear() -> None:
    """Drop everything (tests)."""
    _ENTRIES.clear()
