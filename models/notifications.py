"""Devices, the inbox, the push outbox and reminder campaigns."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields

from models.base import TimestampedModel
from models.org import User


class Platform(StrEnum):
    """The kind of app a device token belongs to."""

    android = "android"
    ios = "ios"
    web = "web"


class Device(TimestampedModel):
    """A phone or browser that registered an FCM token, owned by one user at a time."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="devices", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=512, unique=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    app_version = fields.CharField(max_length=64, null=True)
    locale = fields.CharField(max_length=35, null=True)
    last_seen_at = fields.DatetimeField()

    class Meta:
        table = "device"


class NotificationKind(StrEnum):
    """Where an inbox notification came from."""

    reminder = "reminder"
    notice = "notice"
    alert = "alert"


class Notification(TimestampedModel):
    """One inbox entry for one user, pushes are deliveries of it.

    `dedup_key` names the cause (a reminder occurrence, a notice, an alert) so that a cause lands
    in a user's inbox at most once.
    """

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(NotificationKind, max_length=16)
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    urgent = fields.BooleanField(default=False)
    collapse_key = fields.CharField(max_length=200, null=True)
    ttl_s = fields.IntField(default=86400)
    dedup_key = fields.CharField(max_length=255)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        unique_together = (("user", "dedup_key"),)


class DeliveryStatus(StrEnum):
    """Where a push stands: held waits for the end of quiet hours."""

    queued = "queued"
    held = "held"
    sent = "sent"
    failed = "failed"
    no_device = "no_device"


class Delivery(TimestampedModel):
    """One push of a notification to one device (no device: one no_device row per user).

    A worker claims a row by moving `claimed_until` forward (its lease) and writing its claim id
    into `claimed_by`, sends, then records the outcome.
    """

    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", on_delete=fields.CASCADE
    )
    device: fields.ForeignKeyNullableRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="deliveries", null=True, on_delete=fields.SET_NULL
    )
    user_id = fields.UUIDField(db_index=True)
    reminder_id = fields.UUIDField(null=True, db_index=True)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, db_index=True)
    urgent = fields.BooleanField(default=False)
    attempts = fields.SmallIntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=64, null=True, db_index=True)
    last_error = fields.CharField(max_length=100, null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery"
        # The claim query: pending rows by due time.
        indexes = (("status", "next_attempt_at"),)


class ReminderStatus(StrEnum):
    """A campaign is active until cancelled or past its last occurrence."""

    active = "active"
    cancelled = "cancelled"
    finished = "finished"


class Reminder(TimestampedModel):
    """A scheduler's reminder campaign, `next_at` is the next occurrence still to fire."""

    created_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="reminders", on_delete=fields.RESTRICT
    )
    org_path = fields.CharField(max_length=1000, db_index=True)
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    audience: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    first_at = fields.DatetimeField()
    rrule = fields.CharField(max_length=500, null=True)
    until = fields.DatetimeField(null=True)
    urgent = fields.BooleanField(default=False)
    ttl_s = fields.IntField(default=86400)
    next_at = fields.DatetimeField(null=True, db_index=True)
    status = fields.CharEnumField(ReminderStatus, max_length=16, default=ReminderStatus.active)
    fired = fields.IntField(default=0)
    last_fired_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "reminder"


class ReminderFiring(TimestampedModel):
    """One fired occurrence of a reminder, unique so that no occurrence fires twice."""

    reminder: fields.ForeignKeyRelation[Reminder] = fields.ForeignKeyField(
        "models.Reminder", related_name="firings", on_delete=fields.CASCADE
    )
    occurrence_at = fields.DatetimeField()
    recipients = fields.IntField(default=0)

    class Meta:
        table = "reminder_firing"
        unique_together = (("reminder", "occurrence_at"),)
