"""The jobs that fill inboxes: automatic notices from every source, and alerts to their recipients.

Each stores a notification once per (cause, user) through `notifications.inbox.fan_out` and, when a
channel is configured, queues the deliveries the delivery loop sends. Importing this module
registers its jobs and those of `services.notify.urgent`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from tortoise.transactions import in_transaction

from grassroots.settings import get_settings
from models.alerts import Alert
from models.notifications import NotificationKind
from notifications.inbox import Message, dedup_key, fan_out
from notifications.worker import enabled_channels, quiet_hours
from services import alerts as alert_service
from services import jobs, notices
from services.notify import urgent

log = logging.getLogger("grassroots.push")

# The job names keep their "notifications." prefix: each names a lease row (jobs_state) that
# deployed databases already hold.

ALERT_BATCH = 200
# Alerts notified in one transaction (each in a savepoint of its own).
ALERT_CHUNK = 25
ALERT_TTL_S = 24 * 3600

# Chinese first: the field apps run in Chinese; the title carries the specifics.
ALERT_BODIES = {
    "missed_checkin": "矫正对象未按时报到，请及时处理",
    "outside_permitted_area": "矫正对象离开活动范围，请及时处理",
    "overdue_visit": "走访已逾期，请尽快安排",
    "missed_checkpoint": "巡防必到点未到，请核实",
    "zone_exit": "巡防队员离开责任区，请核实",
    "overdue_task": "六个一任务已逾期，请尽快完成",
}


@jobs.job("notifications.notices", every_s=60, transactional=False)
async def store_notices(now: datetime) -> str:
    """Run every notice source and store each notice once per (cause_key, user)."""
    settings = get_settings()
    quiet = quiet_hours(settings)
    channels = enabled_channels(settings)
    stored = 0
    for name, source in sorted(notices.SOURCES.items()):
        try:
            found = await source(now)
        except Exception:  # noqa: BLE001 - one broken source must not starve the others
            log.exception("notice source %s failed", name)
            continue
        for notice in found:
            message = Message(
                kind=NotificationKind.notice,
                title=notice.title,
                body=notice.body,
                data={**notice.data, "source": name},
                urgent=notice.urgent,
                collapse_key=notice.collapse_key,
                ttl_s=notice.ttl_s,
                sms_template=notice.sms_template,
            )
            async with in_transaction():
                result = await fan_out(
                    message=message,
                    user_ids=notice.user_ids,
                    dedup=dedup_key("notice", notice.cause_key),
                    now=now,
                    push=channels.any,
                    quiet=quiet,
                    channels=channels,
                )
            stored += result.notifications
    return f"stored {stored} notices"


@jobs.job("notifications.alerts", every_s=5, transactional=False)
async def fan_out_alerts(now: datetime) -> str:
    """Put every alert not yet notified in its recipients' inboxes (urgent ones push at once).

    `ALERT_CHUNK` alerts share a transaction (one commit, one disk sync: a transaction per
    alert held SQLite's write lock 200 times a run, and each request's write waited for one),
    each alert in a savepoint of its own: one that fails is rolled back alone, logged, left
    unnotified for the next run, and the others go on.
    """
    settings = get_settings()
    quiet = quiet_hours(settings)
    channels = enabled_channels(settings)
    pending = await Alert.filter(notified=False).order_by("created_at").limit(ALERT_BATCH)
    recipients = await alert_service.recipient_ids([alert.id for alert in pending])
    notified = stored = 0
    for start in range(0, len(pending), ALERT_CHUNK):
        async with in_transaction():
            for alert in pending[start : start + ALERT_CHUNK]:

                async def notify(alert: Alert = alert) -> int:
                    result = await fan_out(
                        message=_alert_message(alert),
                        user_ids=recipients.get(alert.id, []),
                        dedup=dedup_key("alert", str(alert.id)),
                        now=now,
                        push=channels.any,
                        quiet=quiet,
                        channels=channels,
                    )
                    await Alert.filter(id=alert.id).update(notified=True)
                    return result.notifications

                done = await jobs.isolated(
                    job_name="notifications.alerts", row_id=alert.id, work=notify
                )
                if done is not None:
                    notified += 1
                    stored += done
    skipped = len(pending) - notified
    left = f", {skipped} left for the next run" if skipped else ""
    return f"notified {notified} alerts to {stored} inboxes{left}"


def _alert_message(alert: Alert) -> Message:
    return Message(
        kind=NotificationKind.alert,
        title=alert.title,
        body=ALERT_BODIES.get(alert.kind, alert.title),
        data={"type": "alert", "id": str(alert.id), "kind": alert.kind},
        urgent=alert.urgent,
        collapse_key=f"alert-{alert.id}",
        ttl_s=ALERT_TTL_S,
        sms_template=urgent.alert_sms_template(alert.kind),
        sms_roles=urgent.ALERT_SMS_ROLES,
    )
