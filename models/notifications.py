"""Devices, the inbox, the push outbox and reminder campaigns."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.base import TimestampedModel
from models.org import User


class Platform(StrEnum):
    """The kind of app a device token belongs to."""

    android = "android"
    ios = "ios"
    web = "web"


class PushProvider(StrEnum):
    """The push service a device token belongs to: FCM, or JPush (mainland China)."""

    fcm = "fcm"
    jpush = "jpush"


class Device(TimestampedModel):
    """A phone or browser that registered a push token, owned by one user at a time.

    A token belongs to one provider: an FCM registration token or a JPush registration id.
    """

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="devices", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=512, unique=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    provider = fields.CharEnumField(PushProvider, max_length=16, default=PushProvider.fcm)
    app_version = fields.CharField(max_length=64, null=True)
    locale = fields.CharField(max_length=35, null=True)
    last_seen_at = fields.DatetimeField()

    class Meta:
        table = "device"


class PushShown(Model):
    """The last message of a collapse key a provider put on a device (JPush's msg_id).

    A later push of the same key to the device names it (JPush's `options.override_msg_id`) and
    replaces it on the phone. JPush overrides for one day only; older rows are deleted.
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="shown", on_delete=fields.CASCADE
    )
    collapse_key = fields.CharField(max_length=200)
    msg_id = fields.CharField(max_length=64)
    sent_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "push_shown"
        unique_together = (("device", "collapse_key"),)


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
    # The app confirmed that a push of it arrived (or it was read): no SMS fallback after that.
    received_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        unique_together = (("user", "dedup_key"),)


class DeliveryStatus(StrEnum):
    """Where a delivery stands: held waits for the end of quiet hours.

    `sent` is a push the provider accepted, `sms_sent` an SMS the SMS service accepted;
    `no_device` / `no_phone` say the user had nothing to deliver to on that channel; `read` is a
    delivery dropped unsent because the notification was opened in the app first.
    """

    queued = "queued"
    held = "held"
    sent = "sent"
    sms_sent = "sms_sent"
    failed = "failed"
    no_device = "no_device"
    no_phone = "no_phone"
    read = "read"


class Channel(StrEnum):
    """How a delivery reaches the user: a push to one device, or an SMS to the user's phone."""

    push = "push"
    sms = "sms"


class Delivery(TimestampedModel):
    """One delivery of a notification: a push to one device, or one SMS to the user's phone.

    No device: one no_device row per user. `sms_for` is the notification id on SMS rows only,
    unique, so that a notification is never texted twice however many jobs ask for it.

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
    channel = fields.CharEnumField(Channel, max_length=8, default=Channel.push)
    # fcm / jpush for pushes, aliyun for SMS; null on no_device rows.
    provider = fields.CharField(max_length=16, null=True)
    # The SMS template kind (alert, reminder, missed_checkin, leave_decision) on SMS rows.
    template = fields.CharField(max_length=32, null=True)
    sms_for = fields.UUIDField(null=True, unique=True)
    # The provider's idempotency key, fixed before the first send and reused by every retry:
    # JPush's cid, under which JPush sends a message once however often it is posted.
    push_ref = fields.CharField(max_length=100, null=True)
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


class SmsDailyCount(TimestampedModel):
    """How many SMS a user was sent on one local day, the counter behind the daily cap."""

    user_id = fields.UUIDField()
    day = fields.DateField()
    sent = fields.IntField(default=0)

    class Meta:
        table = "sms_daily_count"
        unique_together = (("user_id", "day"),)
