"""Alerts raised by the domain (missed check-ins, zone exits, overdue visits...)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields

from models.base import TimestampedModel
from models.org import OrgUnit, User


class AlertStatus(StrEnum):
    """An alert is open until someone acknowledges it."""

    open = "open"
    acked = "acked"


class Alert(TimestampedModel):
    """One alert, `open_key` set while open so an identical open alert is stored once."""

    kind = fields.CharField(max_length=64, db_index=True)
    subject_type = fields.CharField(max_length=64)
    subject_id = fields.UUIDField()
    org_unit: fields.ForeignKeyRelation[OrgUnit] = fields.ForeignKeyField(
        "models.OrgUnit", related_name="alerts", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    status = fields.CharEnumField(AlertStatus, default=AlertStatus.open, db_index=True)
    open_key = fields.CharField(max_length=255, null=True, unique=True)
    dedup_key = fields.CharField(max_length=255, db_index=True)
    title = fields.CharField(max_length=200)
    detail: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    urgent = fields.BooleanField(default=False)
    occurred_at = fields.DatetimeField()
    acked_at = fields.DatetimeField(null=True)
    acked_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="acked_alerts", null=True, on_delete=fields.SET_NULL
    )
    # False until the notification fan-out has put it in every recipient's inbox.
    notified = fields.BooleanField(default=False, db_index=True)

    class Meta:
        table = "alert"


class AlertRecipient(TimestampedModel):
    """A user to whom an alert is addressed."""

    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="recipients", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="alert_receipts", on_delete=fields.CASCADE
    )

    class Meta:
        table = "alert_recipient"
        unique_together = (("alert", "user"),)


class AlertRead(TimestampedModel):
    """When one user read an alert: reading is personal, resolving (`Alert.status`) is shared."""

    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="reads", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="alert_reads", on_delete=fields.CASCADE
    )
    read_at = fields.DatetimeField()

    class Meta:
        table = "alert_read"
        unique_together = (("alert", "user"),)
