"""The inbox: every notification is first a row for its recipient, then pushes to each device.

`fan_out` is the one way in, used by reminder campaigns, automatic notices and alerts. It stores
one Notification per recipient (at most once per cause: unique (user, dedup_key)) and, when pushes
are enabled, one Delivery per device of the recipient, or one `no_device` row for a recipient
without devices. With pushes disabled (no FCM credentials) no Delivery rows are made at all: the
inbox is the record, and nothing piles up to be sent in a stale burst once credentials appear.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from grassroots import clock
from grassroots.errors import Conflict, NotFound
from grassroots.messages import register_messages
from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    NotificationKind,
    Platform,
    PushProvider,
)
from models.org import User
from notifications.channels import FCM_ONLY, Channels
from notifications.channels import NONE as NO_CHANNELS
from notifications.outbox import PENDING, QuietHours, first_attempt_at
from notifications.sms import PROVIDER as SMS_PROVIDER

register_messages(
    {
        "device_not_found": ("设备未注册", "The device is not registered"),
        "device_provider_conflict": (
            "该推送令牌已登记为 {provider} 设备，请先注销",
            "This token is registered with {provider}; delete the device first",
        ),
    }
)

_DEDUP_MAX = 255
_CHUNK = 1000


@dataclass(frozen=True)
class Message:
    """What lands in the inbox and on the phones, the same for every recipient."""

    kind: NotificationKind
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    urgent: bool = False
    collapse_key: str | None = None
    ttl_s: int = 24 * 3600
    reminder_id: uuid.UUID | None = None
    # The SMS template kind when this message must also go by SMS at once (alert,
    # missed_checkin, leave_decision); None: no SMS (reminders get theirs later, as a fallback).
    sms_template: str | None = None
    # Only recipients holding one of these roles get the SMS (None: every recipient).
    sms_roles: tuple[str, ...] | None = None


@dataclass
class FanOut:
    """What one fan-out stored."""

    notifications: int = 0
    deliveries: int = 0
    no_device: int = 0
    held: int = 0
    sms: int = 0
    no_phone: int = 0


def dedup_key(prefix: str, key: str) -> str:
    """A dedup key that fits the column: long keys keep a prefix and a digest."""
    full = f"{prefix}:{key}"
    if len(full) <= _DEDUP_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()
    return f"{full[: _DEDUP_MAX - 65]}#{digest}"


async def fan_out(
    *,
    message: Message,
    user_ids: Iterable[uuid.UUID],
    dedup: str,
    now: datetime,
    push: bool,
    quiet: QuietHours | None,
    channels: Channels | None = None,
) -> FanOut:
    """Store the message in each active recipient's inbox once and queue its deliveries.

    `channels` says which push providers and SMS kinds are configured; without it, `push` means
    FCM only (as before JPush and SMS existed).
    """
    if channels is None:
        channels = FCM_ONLY if push else NO_CHANNELS
    elif not push:
        channels = NO_CHANNELS
    wanted = set(user_ids)
    report = FanOut()
    if not wanted:
        return report
    people = await User.filter(id__in=list(wanted), is_active=True, deleted_at=None).values_list(
        "id", "phone", "roles_text"
    )
    active: set[Any] = {row[0] for row in people}
    already: set[Any] = set(
        await Notification.filter(user_id__in=list(active), dedup_key=dedup).values_list(
            "user_id", flat=True
        )
    )
    recipients = sorted(active - already)
    if not recipients:
        return report
    notifications: list[Notification] = []
    by_user: dict[uuid.UUID, uuid.UUID] = {}
    for user_id in recipients:
        notification_id = uuid.uuid4()
        by_user[user_id] = notification_id
        data = {**message.data, "notification_id": str(notification_id)}
        notifications.append(
            Notification(
                id=notification_id,
                user_id=user_id,
                kind=message.kind,
                title=message.title,
                body=message.body,
                data=data,
                urgent=message.urgent,
                collapse_key=message.collapse_key,
                ttl_s=message.ttl_s,
                dedup_key=dedup,
                created_at=now,
            )
        )
    await Notification.bulk_create(notifications, batch_size=_CHUNK)
    report.notifications = len(notifications)
    if not channels.any:
        return report
    devices: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    if channels.push:
        for chunk_start in range(0, len(recipients), _CHUNK):
            chunk = recipients[chunk_start : chunk_start + _CHUNK]
            for device_id, user_id, provider in await Device.filter(
                user_id__in=chunk, provider__in=sorted(channels.providers)
            ).values_list("id", "user_id", "provider"):
                devices.setdefault(user_id, []).append((device_id, str(provider)))
    texted = channels.sms_for(message.sms_template)
    phones = {row[0]: row[1] for row in people}
    roles = {row[0]: row[2] for row in people}
    go_at = first_attempt_at(now=now, urgent=message.urgent, quiet=quiet)
    status = DeliveryStatus.held if go_at > now else DeliveryStatus.queued
    deliveries: list[Delivery] = []
    for user_id in recipients:
        common = {
            "notification_id": by_user[user_id],
            "user_id": user_id,
            "reminder_id": message.reminder_id,
            "urgent": message.urgent,
            "created_at": now,
        }
        if texted and _may_text(roles.get(user_id) or "", message.sms_roles):
            has_phone = bool(phones.get(user_id))
            deliveries.append(
                Delivery(
                    id=uuid.uuid4(),
                    device_id=None,
                    channel=Channel.sms,
                    provider=SMS_PROVIDER,
                    template=message.sms_template,
                    sms_for=by_user[user_id],
                    status=status if has_phone else DeliveryStatus.no_phone,
                    next_attempt_at=go_at,
                    **common,
                )
            )
            report.sms += has_phone
            report.no_phone += not has_phone
        if not channels.push:
            continue
        user_devices = devices.get(user_id, [])
        if not user_devices:
            deliveries.append(
                Delivery(
                    id=uuid.uuid4(),
                    device_id=None,
                    status=DeliveryStatus.no_device,
                    next_attempt_at=now,
                    **common,
                )
            )
            report.no_device += 1
            continue
        for device_id, provider in user_devices:
            deliveries.append(
                Delivery(
                    id=uuid.uuid4(),
                    device_id=device_id,
                    provider=provider,
                    status=status,
                    next_attempt_at=go_at,
                    **common,
                )
            )
            report.deliveries += 1
            report.held += status == DeliveryStatus.held
    await Delivery.bulk_create(deliveries, batch_size=_CHUNK)
    return report


def _may_text(roles_text: str, wanted: tuple[str, ...] | None) -> bool:
    """True when a user with these roles (",a,b,") is one the SMS is meant for."""
    return wanted is None or any(f",{role}," in roles_text for role in wanted)


# --- the user's side -------------------------------------------------------------------------


def my_notifications(*, user: User, unread: bool) -> QuerySet[Notification]:
    """The user's inbox, optionally only what is unread."""
    qs = Notification.filter(user_id=user.id)
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return qs


async def mark_read(*, user: User, notification_id: uuid.UUID) -> None:
    """Mark one of my notifications read on every channel (again is a no-op); another's is a 404.

    What is still waiting to go (a push held for quiet hours, an SMS) is dropped as `read`:
    nobody gets a text about what they have already opened.
    """
    found = await Notification.filter(id=notification_id, user_id=user.id).first()
    if found is None:
        raise NotFound()
    now = clock.now()
    if found.read_at is None:
        await Notification.filter(id=notification_id, read_at__isnull=True).update(read_at=now)
    if found.received_at is None:
        await Notification.filter(id=notification_id, received_at__isnull=True).update(
            received_at=now
        )
    # Rows a worker holds right now are in flight: they are recorded as what they became.
    await Delivery.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        notification_id=notification_id,
        status__in=list(PENDING),
    ).update(status=DeliveryStatus.read, last_error="read")


async def mark_received(*, user: User, notification_id: uuid.UUID) -> None:
    """The app confirms a push of my notification arrived: no SMS fallback for it (idempotent)."""
    found = await Notification.filter(id=notification_id, user_id=user.id).first()
    if found is None:
        raise NotFound()
    if found.received_at is None:
        await Notification.filter(id=notification_id, received_at__isnull=True).update(
            received_at=clock.now()
        )


async def read_times(*, notification_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each of these notifications was read (unread ones are absent)."""
    ids = list(notification_ids)
    out: dict[uuid.UUID, datetime] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await Notification.filter(
            id__in=ids[start : start + _CHUNK], read_at__isnull=False
        ).values_list("id", "read_at")
        out.update({row[0]: row[1] for row in rows})
    return out


async def deliveries_by_notification(
    *, notification_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Delivery]]:
    """Each notification's deliveries (every channel), oldest first."""
    ids = list(notification_ids)
    out: dict[uuid.UUID, list[Delivery]] = {i: [] for i in ids}
    if not ids:
        return out
    for delivery in await Delivery.filter(notification_id__in=ids).order_by("created_at", "id"):
        out[delivery.notification_id].append(delivery)  # type: ignore[attr-defined]
    return out


async def register_device(
    *,
    user: User,
    token: str,
    platform: Platform,
    app_version: str | None,
    locale: str | None,
    provider: PushProvider = PushProvider.fcm,
) -> tuple[Device, bool]:
    """Upsert a device by token for the user; returns (device, created for this user).

    A token belongs to one provider: registering it again under another is a 409.
    """
    now = clock.now()
    for _ in range(3):
        device = await Device.get_or_none(token=token)
        if device is not None and device.provider != provider:
            raise Conflict("device_provider_conflict", params={"provider": str(device.provider)})
        if device is None:
            try:
                created = await Device.create(
                    user_id=user.id,
                    token=token,
                    provider=provider,
                    platform=platform,
                    app_version=app_version,
                    locale=locale,
                    last_seen_at=now,
                )
            except IntegrityError:  # registered concurrently: update it instead
                continue
            return created, True
        moved = device.user_id != user.id  # type: ignore[attr-defined]
        if moved:
            # Pushes still queued for the previous owner must not reach the new one's phone.
            await Delivery.filter(device_id=device.id, status__in=list(PENDING)).update(
                status=DeliveryStatus.failed, last_error="device_moved", claimed_until=None
            )
        await Device.filter(id=device.id).update(
            user_id=user.id,
            platform=platform,
            app_version=app_version,
            locale=locale,
            last_seen_at=now,
            updated_at=now,
        )
        await device.refresh_from_db()
        return device, moved
    raise NotFound("device_not_found")


async def remove_device(*, user: User, token: str) -> None:
    """Forget my device (sign-out); a token I do not own is left alone, and it is still a 204."""
    device = await Device.get_or_none(token=token, user_id=user.id)
    if device is None:
        return
    await Delivery.filter(device_id=device.id, status__in=list(PENDING)).update(
        status=DeliveryStatus.failed, last_error="device_removed", claimed_until=None
    )
    await device.delete()
