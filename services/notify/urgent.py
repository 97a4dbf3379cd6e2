"""What must reach a phone without the app: which notifications also go by SMS, and when.

- Alerts to officers and supervisors go by SMS at once (template `missed_checkin` for a subject's
  missed check-in, `alert` for the others), besides the push.
- A leave decision goes to the subject at once, by push and SMS (template `leave_decision`). The
  decision itself is recorded by the correction domain; this notice source only reads it, so the
  domain code stays unaware of delivery (the same way alerts are fanned out by the worker).
- A scheduler's reminder that no device confirmed (the app reports a push as received, or the
  notification as read) within `GRASSROOTS_SMS_FALLBACK_AFTER_S` (2 h) is texted once (template
  `reminder`), never inside quiet hours.
Every SMS passes the user's daily cap (`GRASSROOTS_SMS_DAILY_CAP`) in the outbox.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Subquery

from grassroots.settings import get_settings
from models.correction import LeaveRequest, LeaveStatus
from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Reminder,
    ReminderStatus,
)
from models.org import Role, User
from notifications.channels import Channels
from notifications.outbox import SMS_FALLBACK_TEMPLATE, first_attempt_at, parse_quiet_hours
from notifications.sms import PROVIDER as SMS_PROVIDER
from services import jobs
from services.notices import Notice, notice_source

ALERT_SMS_ROLES: tuple[str, ...] = (Role.officer.value, Role.supervisor.value)
LEAVE_LOOKBACK = timedelta(days=2)
FALLBACK_LOOKBACK = timedelta(days=1)
FALLBACK_BATCH = 5000
_CHUNK = 1000


def _reminder_id(data: Any) -> uuid.UUID | None:
    """The campaign a reminder notification came from (its deep link's id), when it names one."""
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict) or data.get("type") != "reminder":
        return None
    try:
        return uuid.UUID(str(data.get("id")))
    except ValueError:
        return None


def alert_sms_template(kind: str) -> str:
    """The SMS template kind of an alert kind."""
    return "missed_checkin" if kind == "missed_checkin" else "alert"


@notice_source("correction.leave_decisions")
async def leave_decisions(now: datetime) -> list[Notice]:
    """Each decided leave request, once, to its subject (urgent: push and SMS)."""
    tz = get_settings().tz
    rows = (
        await LeaveRequest.filter(
            status__in=[LeaveStatus.approved, LeaveStatus.rejected],
            decided_at__gte=now - LEAVE_LOOKBACK,
        )
        .order_by("decided_at")
        .limit(FALLBACK_BATCH)
    )
    notices = []
    for leave in rows:
        approved = leave.status == LeaveStatus.approved
        verdict = "已批准" if approved else "未获批准"
        starts = leave.starts_at.astimezone(tz)
        ends = leave.ends_at.astimezone(tz)
        notices.append(
            Notice(
                user_ids=(leave.subject_id,),
                title=f"请假申请{verdict}",
                body=f"您{starts:%m月%d日 %H:%M}至{ends:%m月%d日 %H:%M}的请假申请{verdict}。",
                cause_key=f"leave:{leave.id}:decision",
                data={"type": "leave_request", "id": str(leave.id), "approved": str(approved)},
                urgent=True,
                collapse_key=f"leave-{leave.id}",
                sms_template="leave_decision",
            )
        )
    return notices


@jobs.job("notifications.sms_fallback", every_s=60, transactional=False)
async def text_unconfirmed_reminders(now: datetime) -> str:
    """Text each reminder that no device confirmed in time, once, outside quiet hours."""
    settings = get_settings()
    channels = Channels.from_settings(settings)
    after_s = settings.sms_fallback_after_s
    if not channels.sms_for(SMS_FALLBACK_TEMPLATE) or after_s <= 0:
        return "sms fallback off"
    quiet = parse_quiet_hours(settings.quiet_hours, tz=settings.tz)
    if quiet is not None and quiet.end_after(now) is not None:
        # Nothing is texted at night; the look-back still covers tonight's reminders tomorrow.
        return "quiet hours"
    cutoff = now - timedelta(seconds=after_s)
    texted = Delivery.filter(channel=Channel.sms, sms_for__isnull=False).values("sms_for")
    rows: list[dict[str, Any]] = (
        await Notification.filter(
            kind=NotificationKind.reminder,
            created_at__lte=cutoff,
            created_at__gte=cutoff - FALLBACK_LOOKBACK,
            read_at__isnull=True,
            received_at__isnull=True,
        )
        .exclude(id__in=Subquery(texted))
        .order_by("created_at")
        .limit(FALLBACK_BATCH)
        .values("id", "user_id", "urgent", "ttl_s", "created_at", "data")
    )
    rows = [r for r in rows if r["created_at"] + timedelta(seconds=r["ttl_s"]) > now]
    campaigns = {_reminder_id(r["data"]) for r in rows} - {None}
    if campaigns:
        # A campaign cancelled since it fired sends nothing more, not even its fallback.
        cancelled = set(
            await Reminder.filter(
                id__in=list(campaigns), status=ReminderStatus.cancelled
            ).values_list("id", flat=True)
        )
        rows = [r for r in rows if _reminder_id(r["data"]) not in cancelled]
    if not rows:
        return "texted 0 reminders"
    users = {r["user_id"] for r in rows}
    phones: dict[Any, Any] = {}
    for start in range(0, len(users), _CHUNK):
        chunk = list(users)[start : start + _CHUNK]
        phones.update(
            await User.filter(id__in=chunk, is_active=True, deleted_at=None).values_list(
                "id", "phone"
            )
        )
    deliveries = []
    for row in rows:
        if row["user_id"] not in phones:
            continue  # deactivated since: nothing to text
        has_phone = bool(phones[row["user_id"]])
        go_at = first_attempt_at(now=now, urgent=bool(row["urgent"]), quiet=quiet)
        reminder_id = _reminder_id(row["data"])
        deliveries.append(
            Delivery(
                id=uuid.uuid4(),
                notification_id=row["id"],
                user_id=row["user_id"],
                reminder_id=reminder_id,
                channel=Channel.sms,
                provider=SMS_PROVIDER,
                template=SMS_FALLBACK_TEMPLATE,
                sms_for=row["id"],
                status=DeliveryStatus.queued if has_phone else DeliveryStatus.no_phone,
                urgent=bool(row["urgent"]),
                next_attempt_at=go_at,
                created_at=now,
            )
        )
    # sms_for is unique: a second worker's run (or a retry of this one) cannot text twice.
    await Delivery.bulk_create(deliveries, batch_size=_CHUNK, ignore_conflicts=True)
    queued = sum(d.status == DeliveryStatus.queued for d in deliveries)
    return f"texted {queued} reminders ({len(deliveries) - queued} without a phone)"
