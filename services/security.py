"""Password hashing (argon2id) and signed access tokens (JWT, HS256, rotatable keys)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from grassroots import clock
from grassroots.settings import DEVELOPMENT_SECRET, Settings, derive_identity_secret

ACCESS_TOKEN_TYPE = "access"
log = logging.getLogger("grassroots.security")


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


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says: whose it is and which token version it carries."""

    user_id: uuid.UUID
    token_version: int


def issue_access_token(
    *,
    user_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
    token_version: int = 0,
) -> str:
    """A short-lived JWT signed with the current key, carrying the user's token version."""
    issued_at = now or clock.now()
    claims = {
        "sub": str(user_id),
        "typ": ACCESS_TOKEN_TYPE,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + timedelta(seconds=settings.access_token_ttl_s)).timestamp()),
        "jti": uuid.uuid4().hex,
        # A password change or a deactivation raises the user's version: older tokens die.
        "ver": token_version,
    }
    return jwt.encode(claims, settings.signing_keys()[0], algorithm="HS256")


# Verified tokens, so a phone's repeated requests skip the signature check: token and the
# accepted keys -> (claims, expiry). Bounded; expiry is checked on every use.
_VERIFIED: dict[tuple[str, tuple[str, ...]], tuple[AccessClaims, int]] = {}
_VERIFIED_MAX = 20_000


def read_access_token(*, token: str, settings: Settings) -> AccessClaims | None:
    """The claims of a valid, unexpired access token signed by any accepted key, else None."""
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
        version = claims.get("ver", 0)
        # bool is an int to Python, but no token of ours carries one.
        if not isinstance(version, int) or isinstance(version, bool):
            return None
        read = AccessClaims(user_id=user_id, token_version=version)
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[(token, keys)] = (read, int(claims["exp"]))
        return read
    return None


def new_refresh_token() -> tuple[str, str]:
    """A random refresh token and the SHA-256 that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def rekey_development_identity_numbers(*, settings: Settings) -> int:
    """Re-encrypt identity numbers stored under the published development key; how many.

    Earlier releases derived the identity-number key from the development secret when neither
    key was set. Such numbers are re-encrypted (and re-hashed for search) under the key in use
    now, so a quick-start database keeps its numbers and the public key opens none of them.
    """
    if not settings.is_sqlite or settings.identity_key is not None:
        return 0
    from models.social import Client
    from services.identity import IdentityCipher, InvalidCiphertext
    from services.social.clients import identity_cipher

    legacy = IdentityCipher(derive_identity_secret(DEVELOPMENT_SECRET))
    current = identity_cipher(settings)
    rekeyed = 0
    rows = await Client.filter(id_number_cipher__isnull=False).values_list("id", "id_number_cipher")
    for client_id, stored in rows:
        try:
            current.decrypt(str(stored))
            continue
        except InvalidCiphertext:
            pass
        try:
            number = legacy.decrypt(str(stored))
        except InvalidCiphertext:
            continue  # under some other key: not ours to touch
        await Client.filter(id=client_id).update(
            id_number_cipher=current.encrypt(number), id_number_hash=current.search_hash(number)
        )
        rekeyed += 1
    if rekeyed:
        log.warning("re-encrypted %d identity numbers stored under the development key", rekeyed)
    return rekeyed
