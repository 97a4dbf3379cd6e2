"""Password hashing (argon2id) and signed access tokens (JWT, HS256, rotatable keys)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from grassroots import clock
from grassroots.settings import Settings

ACCESS_TOKEN_TYPE = "access"


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost_kib: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost_kib),))


def _hasher_for(settings: Settings) -> PasswordHash:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_cost_kib)


async def hash_password(*, password: str, settings: Settings) -> str:
    """argon2id hash, computed off the event loop."""
    return await asyncio.to_thread(_hasher_for(settings).hash, password)


async def verify_password(*, password: str, password_hash: str, settings: Settings) -> bool:
    """Constant-cost check, off the event loop; a malformed hash is simply a mismatch."""

    def check() -> bool:
        try:
            return _hasher_for(settings).verify(password, password_hash)
        except Exception:  # noqa: BLE001 - an unreadable hash never matches
            return False

    return await asyncio.to_thread(check)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost_kib: int) -> str:
    return _hasher(time_cost, memory_cost_kib).hash(secrets.token_urlsafe(16))


async def burn_password_check(*, password: str, settings: Settings) -> None:
    """Spend the same time as a real check, for usernames that do not exist."""
    dummy = await asyncio.to_thread(
        _dummy_hash, settings.argon2_time_cost, settings.argon2_memory_cost_kib
    )
    await verify_password(password=password, password_hash=dummy, settings=settings)


def issue_access_token(
    *, user_id: uuid.UUID, settings: Settings, now: datetime | None = None
) -> str:
    """A short-lived JWT signed with the current key."""
    issued_at = now or clock.now()
    claims = {
        "sub": str(user_id),
        "typ": ACCESS_TOKEN_TYPE,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + timedelta(seconds=settings.access_token_ttl_s)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.signing_keys()[0], algorithm="HS256")


# Verified tokens, so a phone's repeated requests skip the signature check: token and the
# accepted keys -> (user id, expiry). Bounded; expiry is checked on every use.
_VERIFIED: dict[tuple[str, tuple[str, ...]], tuple[uuid.UUID, int]] = {}
_VERIFIED_MAX = 20_000


def read_access_token(*, token: str, settings: Settings) -> uuid.UUID | None:
    """The user id of a valid, unexpired access token signed by any accepted key, else None."""
    keys = tuple(settings.signing_keys())
    cached = _VERIFIED.get((token, keys))
    if cached is not None:
        return cached[0] if cached[1] > clock.now().timestamp() else None
    for key in keys:
        try:
            claims = jwt.decode(
                token, key, algorithms=["HS256"], options={"require": ["exp", "sub", "typ"]}
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            return None
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError:
            return None
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[(token, keys)] = (user_id, int(claims["exp"]))
        return user_id
    return None


def new_refresh_token() -> tuple[str, str]:
    """A random refresh token and the SHA-256 that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()
