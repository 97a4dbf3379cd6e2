"""Refresh tokens and sign-in throttles."""

from __future__ import annotations

from tortoise import fields

from models.base import TimestampedModel
from models.org import User


class RefreshToken(TimestampedModel):
    """A refresh token, stored only as its SHA-256, one family per login, rotated on each use."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    family_id = fields.UUIDField(db_index=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_token"


class LoginThrottle(TimestampedModel):
    """Failed sign-ins of one username (`user:<name>`) or one client address (`addr:<ip>`).

    One row per key, changed only by conditional updates, so concurrent attempts are counted
    before any password is checked (services.auth).
    """

    key = fields.CharField(max_length=100, unique=True)
    failures = fields.IntField(default=0)
    last_failure_at = fields.DatetimeField(null=True)
    # No attempt for this key is checked before this time (a 429 with Retry-After).
    next_allowed_at = fields.DatetimeField(null=True)
    # When this episode of failures began, and when the account's owner was told about it.
    episode_started_at = fields.DatetimeField(null=True)
    notified_at = fields.DatetimeField(null=True)

    class Meta:
        table = "login_throttle"
