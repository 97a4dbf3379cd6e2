"""The audit log: who did or read what, and when."""

from __future__ import annotations

import uuid
from typing import Any

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """One audited action, never updated, shown only to admins."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    user_id = fields.UUIDField(null=True, db_index=True)
    address = fields.CharField(max_length=64, null=True)
    action = fields.CharField(max_length=32)
    resource_type = fields.CharField(max_length=64, db_index=True)
    resource_id = fields.CharField(max_length=64, null=True, db_index=True)
    detail: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_entry"
