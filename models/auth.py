"""Refresh tokens and login attempts."""

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


class LoginAttempt(TimestampedModel):
    """One failed sign-in, counted per username and per client address."""

    username = fields.CharField(max_length=64, db_index=True)
    address = fields.CharField(max_length=64, db_index=True)

    class Meta:
        table = "login_attempt"
