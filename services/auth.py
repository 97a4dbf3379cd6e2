"""Signing in, refresh-token rotation and login throttling."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q

from grassroots import clock
from grassroots.settings import Settings
from models.auth import LoginAttempt, RefreshToken
from models.org import User
from services import audit
from services.errors import RateLimited, Unauthorized
from services.security import (
    burn_password_check,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)


@dataclass(frozen=True)
class TokenPair:
    """What a successful sign-in or refresh answers."""

    access_token: str
    refresh_token: str
    expires_in: int


async def _check_throttle(*, username: str, address: str, settings: Settings) -> None:
    since = clock.now() - timedelta(seconds=settings.login_window_s)
    by_user = await LoginAttempt.filter(username=username, created_at__gte=since).count()
    by_address = await LoginAttempt.filter(address=address, created_at__gte=since).count()
    if max(by_user, by_address) >= settings.login_max_failures:
        raise RateLimited(headers={"Retry-After": str(settings.login_window_s)})


async def sign_in(*, username: str, password: str, address: str, settings: Settings) -> TokenPair:
    """Check the password (same cost whether or not the user exists) and issue tokens."""
    username = username.strip()
    await _check_throttle(username=username, address=address, settings=settings)
    user = await User.get_or_none(username=username, deleted_at=None)
    if user is None:
        await burn_password_check(password=password, settings=settings)
        ok = False
    else:
        ok = await verify_password(
            password=password, password_hash=user.password_hash, settings=settings
        )
        ok = ok and user.is_active
    if not ok or user is None:
        await LoginAttempt.create(username=username[:64], address=address[:64])
        raise Unauthorized("invalid_credentials", headers={"WWW-Authenticate": "Bearer"})
    await audit.record(action="login", resource_type="user", resource_id=user.id)
    return await _issue_pair(user=user, family_id=uuid.uuid4(), settings=settings)


async def _issue_pair(*, user: User, family_id: uuid.UUID, settings: Settings) -> TokenPair:
    token, token_hash = new_refresh_token()
    await RefreshToken.create(
        user=user,
        token_hash=token_hash,
        family_id=family_id,
        expires_at=clock.now() + timedelta(seconds=settings.refresh_token_ttl_s),
    )
    return TokenPair(
        access_token=issue_access_token(user_id=user.id, settings=settings),
        refresh_token=token,
        expires_in=settings.access_token_ttl_s,
    )


async def refresh(*, refresh_token: str, settings: Settings) -> TokenPair:
    """Rotate: the presented token is spent; a spent token presented again revokes its family."""
    now = clock.now()
    stored = await RefreshToken.get_or_none(token_hash=hash_refresh_token(refresh_token))
    if stored is None:
        raise Unauthorized("invalid_refresh_token")
    # One conditional update decides the race between two uses of the same token.
    spent = await RefreshToken.filter(
        id=stored.id, used_at=None, revoked_at=None, expires_at__gt=now
    ).update(used_at=now)
    if spent != 1:
        # Reuse of a spent token means it leaked: end the whole login.
        await RefreshToken.filter(family_id=stored.family_id, revoked_at=None).update(
            revoked_at=now
        )
        raise Unauthorized("invalid_refresh_token")
    user = await User.get_or_none(id=stored.user_id, is_active=True, deleted_at=None)  # type: ignore[attr-defined]
    if user is None:
        raise Unauthorized("invalid_refresh_token")
    return await _issue_pair(user=user, family_id=stored.family_id, settings=settings)


async def revoke_all_for(*, user_id: uuid.UUID) -> None:
    """Revoke every refresh token of a user (disabled or deleted)."""
    await RefreshToken.filter(Q(user_id=user_id) & Q(revoked_at=None)).update(
        revoked_at=clock.now()
    )
