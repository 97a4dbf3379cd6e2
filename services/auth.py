"""Signing in, refresh-token rotation, sign-out, password changes and login throttling.

Throttling (docs/SECURITY.md, OWASP Authentication Cheat Sheet): every attempt first claims a
turn on two counters, its username's and its client address's, with one conditional UPDATE each,
and only then is the password checked. The claim counts the attempt as a failure in advance, so
thirty concurrent guesses are thirty counted failures, not thirty free checks; a correct
password gives the username's claim back. After a free allowance each further failure doubles
the wait before the key's next attempt (a 429 with Retry-After), up to a ceiling; a quiet
window ends the episode. The owner of a guessed account is told once per episode, in the inbox.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Invalid, RateLimited, Unauthorized
from grassroots.messages import register_messages
from grassroots.settings import Settings
from models.auth import LoginThrottle, RefreshToken
from models.org import User
from services import audit, user_cache
from services.security import (
    burn_password_check,
    hash_password,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)

log = logging.getLogger("grassroots.auth")

register_messages(
    {
        "wrong_current_password": ("当前密码不正确", "The current password is wrong"),
        "password_unchanged": (
            "新密码不能与当前密码相同",
            "The new password equals the current one",
        ),
    }
)

# Rounds of compare-and-set beyond the free allowance before a hammered key refuses outright.
# Each round one concurrent claim wins, so the allowance is used up (and the wait set) within
# `free` rounds; the margin only bounds a pathological run.
_EXTRA_CLAIM_ROUNDS = 64


@dataclass(frozen=True)
class TokenPair:
    """What a successful sign-in or refresh answers."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class _Claim:
    """A turn taken on one throttle key: its failure count including this attempt."""

    key: str
    failures: int
    episode_started_at: datetime


def throttle_delay_s(*, failures: int, free: int, settings: Settings) -> float:
    """Seconds a key must wait after its `failures`-th failure: none within the free allowance,
    then the base delay doubled for each further failure, up to the ceiling."""
    if failures < free:
        return 0.0
    exponent = min(failures - free, 30)  # 2**30 s is far past any ceiling
    return float(min(settings.login_delay_base_s * 2**exponent, settings.login_delay_max_s))


async def _claim(*, key: str, free: int, now: datetime, settings: Settings) -> _Claim:
    """Count one attempt on `key` before its password is checked, or raise a 429 with the
    seconds to wait. Conditional on the count read, so concurrent claims are all counted."""
    window = timedelta(seconds=settings.login_window_s)
    for _ in range(free + _EXTRA_CLAIM_ROUNDS):
        row = await LoginThrottle.get_or_none(key=key)
        if row is None:
            try:
                await LoginThrottle.create(
                    key=key,
                    failures=1,
                    last_failure_at=now,
                    episode_started_at=now,
                    next_allowed_at=_next_allowed(
                        failures=1, free=free, now=now, settings=settings
                    ),
                )
            except IntegrityError:
                continue  # a concurrent attempt made the row first: count on it
            return _Claim(key=key, failures=1, episode_started_at=now)
        quiet = row.last_failure_at is None or row.last_failure_at <= now - window
        if not quiet and row.next_allowed_at is not None and row.next_allowed_at > now:
            wait_s = (row.next_allowed_at - now).total_seconds()
            raise RateLimited(headers={"Retry-After": str(max(1, math.ceil(wait_s)))})
        failures = 1 if quiet else row.failures + 1
        episode = now if quiet or row.episode_started_at is None else row.episode_started_at
        changes = {
            "failures": failures,
            "last_failure_at": now,
            "next_allowed_at": _next_allowed(
                failures=failures, free=free, now=now, settings=settings
            ),
            "episode_started_at": episode,
        }
        if quiet:
            changes["notified_at"] = None
        # Compare-and-set on the count read: of concurrent claims on one key one wins per round;
        # the others read again and see the higher count and, past the allowance, the wait
        # the winner set. So the gate and the count move in one statement.
        won = await LoginThrottle.filter(id=row.id, failures=row.failures).update(**changes)
        if won == 1:
            return _Claim(key=key, failures=failures, episode_started_at=episode)
    # Still losing after all those rounds: the key is being hammered; refuse this one.
    raise RateLimited(headers={"Retry-After": "1"})


def _next_allowed(
    *, failures: int, free: int, now: datetime, settings: Settings
) -> datetime | None:
    """When the key's next attempt may be checked; None within the free allowance (a time
    there would refuse a concurrent attempt whose clock reading came a moment earlier)."""
    delay_s = throttle_delay_s(failures=failures, free=free, settings=settings)
    return now + timedelta(seconds=delay_s) if delay_s > 0 else None


async def _give_back(claim: _Claim) -> None:
    """A correct password ends the username's episode: its failures are forgotten."""
    await LoginThrottle.filter(key=claim.key).delete()


def _user_key(username: str) -> str:
    return f"user:{username[:64]}"


def _address_key(address: str) -> str:
    return f"addr:{address[:64]}"


async def sign_in(*, username: str, password: str, address: str, settings: Settings) -> TokenPair:
    """Check the password (same cost whether or not the user exists) and issue tokens."""
    username = username.strip()
    now = clock.now()
    # The address first: one address guessing many usernames is stopped without touching
    # the counters (and the owners' inboxes) of the usernames it tries.
    await _claim(
        key=_address_key(address),
        free=settings.login_address_free_failures,
        now=now,
        settings=settings,
    )
    user_claim = await _claim(
        key=_user_key(username), free=settings.login_free_failures, now=now, settings=settings
    )
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
        if user is not None and user_claim.failures >= settings.login_free_failures:
            await _tell_owner(user=user, claim=user_claim, now=now, settings=settings)
        raise Unauthorized("invalid_credentials", headers={"WWW-Authenticate": "Bearer"})
    await _give_back(user_claim)
    # The address keeps its count: a success must not let one address reset its own limit.
    await LoginThrottle.filter(key=_address_key(address), failures__gt=0).update(
        failures=F("failures") - 1
    )
    await audit.record(action="login", resource_type="user", resource_id=user.id)
    return await _issue_pair(user=user, family_id=uuid.uuid4(), settings=settings)


async def _tell_owner(*, user: User, claim: _Claim, now: datetime, settings: Settings) -> None:
    """Put one notice per episode in the inbox of a user whose password is being guessed."""
    told = await LoginThrottle.filter(key=claim.key, notified_at=None).update(notified_at=now)
    if told != 1:
        return  # this episode was already announced
    from models.notifications import NotificationKind
    from notifications.inbox import Message, dedup_key, fan_out
    from notifications.worker import push_enabled, quiet_hours

    episode = claim.episode_started_at.isoformat()
    message = Message(
        kind=NotificationKind.notice,
        title="有人正在尝试登录您的账号",
        body=(
            f"您的账号出现 {claim.failures} 次密码错误的登录尝试，登录已被放慢。"
            "如果不是您本人，请修改密码并告知管理员。"
        ),
        data={"type": "login_guessing", "failures": str(claim.failures)},
        urgent=True,
        collapse_key="login-guessing",
    )
    async with in_transaction():
        await fan_out(
            message=message,
            user_ids=[user.id],
            dedup=dedup_key("login_guessing", f"{user.id}:{episode}"),
            now=now,
            push=push_enabled(settings),
            quiet=quiet_hours(settings),
        )
    log.warning(
        "repeated failed sign-ins for one account",
        extra={"user_id": str(user.id), "failures": claim.failures},
    )


async def _issue_pair(*, user: User, family_id: uuid.UUID, settings: Settings) -> TokenPair:
    token, token_hash = new_refresh_token()
    await RefreshToken.create(
        user=user,
        token_hash=token_hash,
        family_id=family_id,
        expires_at=clock.now() + timedelta(seconds=settings.refresh_token_ttl_s),
    )
    return TokenPair(
        access_token=issue_access_token(
            user_id=user.id, settings=settings, token_version=user.token_version
        ),
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


async def sign_out(*, refresh_token: str) -> None:
    """Revoke the refresh family of `refresh_token`; an unknown token changes nothing."""
    stored = await RefreshToken.get_or_none(token_hash=hash_refresh_token(refresh_token))
    if stored is None:
        return
    await RefreshToken.filter(family_id=stored.family_id, revoked_at=None).update(
        revoked_at=clock.now()
    )
    await audit.record(action="logout", resource_type="user", resource_id=stored.user_id)  # type: ignore[attr-defined]


async def change_password(
    *, user: User, current_password: str, new_password: str, settings: Settings
) -> None:
    """Replace the caller's password after checking the current one; every token dies."""
    fresh = await User.get(id=user.id)
    # The same counter as sign-in: a stolen access token is no licence to guess the password.
    claim = await _claim(
        key=_user_key(fresh.username),
        free=settings.login_free_failures,
        now=clock.now(),
        settings=settings,
    )
    ok = await verify_password(
        password=current_password, password_hash=fresh.password_hash, settings=settings
    )
    if ok:
        await _give_back(claim)
    else:
        # A 422, not a 401: the caller is signed in; only the field is wrong.
        raise Invalid(
            "wrong_current_password",
            errors=[{"loc": ["body", "current_password"], "msg": "wrong_current_password"}],
        )
    if new_password == current_password:
        raise Invalid(
            "password_unchanged",
            errors=[{"loc": ["body", "new_password"], "msg": "password_unchanged"}],
        )
    password_hash = await hash_password(password=new_password, settings=settings)
    await User.filter(id=user.id).update(
        password_hash=password_hash, token_version=F("token_version") + 1
    )
    await revoke_all_for(user_id=user.id)
    user_cache.forget(user.id)
    await audit.record(action="password_change", resource_type="user", resource_id=user.id)


async def end_sessions(*, user_id: uuid.UUID) -> None:
    """Invalidate every token of a user: access tokens by version, refresh tokens revoked."""
    await User.filter(id=user_id).update(token_version=F("token_version") + 1)
    await revoke_all_for(user_id=user_id)
    user_cache.forget(user_id)


async def revoke_all_for(*, user_id: uuid.UUID) -> None:
    """Revoke every refresh token of a user (disabled or deleted)."""
    await RefreshToken.filter(Q(user_id=user_id) & Q(revoked_at=None)).update(
        revoked_at=clock.now()
    )
