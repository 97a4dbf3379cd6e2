"""Shared model pieces: UUID keys and timestamps."""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


class TimestampedModel(Model):
    """A UUID primary key, with creation and update times in UTC."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True
