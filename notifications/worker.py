"""The notifications side of the background worker.

Two periodic jobs fill inboxes (automatic notices from `services.notices.SOURCES`, and alerts),
and one long-running delivery loop pushes what is queued. The loop is not a periodic job: it runs
beside `services.jobs.run_forever` in `grassroots serve` (in-process) and `grassroots worker`,
through `run_worker`, and any number of them may run at once (see notifications.outbox).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime

from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.settings import Settings, get_settings
from models.alerts import Alert
from models.notifications import NotificationKind
from notifications import outbox, urgent
from notifications.channels import Channels, PushRouter
from notifications.fcm import Sender, make_sender
from notifications.inbox import Message, dedup_key, fan_out
from notifications.jpush import make_jpush_sender
from notifications.sms import SmsSender, make_sms_sender
from services import alerts as alert_service
from services import jobs, notices

log = logging.getLogger("grassroots.push")

ALERT_BATCH = 200
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


def enabled_channels(settings: Settings) -> Channels:
    """The push providers and SMS kinds the settings configure (deliveries are made only then)."""
    return Channels.from_settings(settings)


def push_enabled(settings: Settings) -> bool:
    """True when any delivery channel (FCM, JPush, SMS) is configured."""
    return enabled_channels(settings).any


def quiet_hours(settings: Settings) -> outbox.QuietHours | None:
    """The configured quiet hours in the deployment's time zone."""
    return outbox.parse_quiet_hours(settings.quiet_hours, tz=settings.tz)


# --- jobs ------------------------------------------------------------------------------------


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
    """Put every alert not yet notified in its recipients' inboxes (urgent ones push at once)."""
    settings = get_settings()
    quiet = quiet_hours(settings)
    channels = enabled_channels(settings)
    pending = await Alert.filter(notified=False).order_by("created_at").limit(ALERT_BATCH)
    recipients = await alert_service.recipient_ids([alert.id for alert in pending])
    stored = 0
    for alert in pending:
        message = Message(
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
        async with in_transaction():
            result = await fan_out(
                message=message,
                user_ids=recipients.get(alert.id, []),
                dedup=dedup_key("alert", str(alert.id)),
                now=now,
                push=channels.any,
                quiet=quiet,
                channels=channels,
            )
            await Alert.filter(id=alert.id).update(notified=True)
        stored += result.notifications
    return f"notified {len(pending)} alerts to {stored} inboxes"


# --- the delivery loop -----------------------------------------------------------------------


async def run_delivery_loop(
    *,
    stop: asyncio.Event,
    sender: Sender | None,
    quiet: outbox.QuietHours | None,
    sms: SmsSender | None = None,
    lanes: int = 2,
    batch_size: int = outbox.DEFAULT_BATCH,
    lease_s: float = outbox.DEFAULT_LEASE_S,
    idle_s: float = 1.0,
) -> None:
    """Push queued deliveries until `stop` is set; `lanes` batches are in flight at once."""
    rng = random.Random()

    async def lane() -> None:
        while not stop.is_set():
            claimed = 0
            try:
                report = await outbox.deliver_batch(
                    sender=sender,
                    sms=sms,
                    now=clock.now(),
                    limit=batch_size,
                    lease_s=lease_s,
                    quiet=quiet,
                    rng=rng,
                )
                claimed = report.claimed
                if claimed:
                    log.info(
                        "delivered %d: %d sent (%d by SMS), %d to retry, %d failed, %d held, "
                        "%d devices pruned",
                        report.claimed,
                        report.sent,
                        report.sms_sent,
                        report.retry,
                        report.failed,
                        report.held,
                        report.pruned_devices,
                    )
            except Exception:  # noqa: BLE001 - e.g. the database is down: try again shortly
                log.warning("delivery round failed; retrying", exc_info=True)
            if claimed == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle_s)
                except TimeoutError:
                    pass

    await asyncio.gather(*(lane() for _ in range(lanes)))


async def _start_senders(
    *, settings: Settings, announce: bool
) -> tuple[PushRouter | None, SmsSender | None]:
    """Build a sender per configured channel; each missing one is logged once (`announce`)."""
    push_senders: dict[str, Sender] = {}
    if settings.fcm_credentials:
        try:
            fcm = await asyncio.to_thread(
                make_sender,
                credentials_path=settings.fcm_credentials,
                endpoint=settings.fcm_endpoint,
            )
            if fcm is not None:
                push_senders["fcm"] = fcm
        except Exception:  # noqa: BLE001 - a bad credentials file must not stop the other jobs
            log.exception("FCM sender could not start: no FCM pushes until the worker restarts")
    elif announce:
        log.warning("GRASSROOTS_FCM_CREDENTIALS is not set: no FCM pushes (inbox only)")
    if settings.jpush_enabled and settings.jpush_master_secret is not None:
        try:
            jpush_sender = make_jpush_sender(
                app_key=settings.jpush_app_key,
                master_secret=settings.jpush_master_secret.get_secret_value(),
                endpoint=settings.jpush_endpoint,
            )
            if jpush_sender is not None:
                push_senders["jpush"] = jpush_sender
        except Exception:  # noqa: BLE001
            log.exception("JPush sender could not start: no JPush pushes until the worker restarts")
    elif announce:
        log.warning(
            "GRASSROOTS_JPUSH_APP_KEY / GRASSROOTS_JPUSH_MASTER_SECRET are not set: no JPush pushes"
        )
    sms: SmsSender | None = None
    if settings.sms_enabled and settings.sms_access_key_secret is not None:
        try:
            sms = make_sms_sender(
                access_key_id=settings.sms_access_key_id,
                access_key_secret=settings.sms_access_key_secret.get_secret_value(),
                sign_name=settings.sms_sign_name,
                templates=settings.sms_template_codes,
                endpoint=settings.sms_endpoint,
            )
        except Exception:  # noqa: BLE001
            log.exception("SMS sender could not start: no SMS until the worker restarts")
    elif announce:
        log.warning("GRASSROOTS_SMS_* are not set: no SMS")
    router = PushRouter(push_senders) if push_senders else None
    return router, sms


async def run_worker(*, stop: asyncio.Event, settings: Settings, announce: bool) -> None:
    """The whole background worker: periodic jobs, and the delivery loop when a channel is set.

    `announce` logs the "no pushes" / "no SMS" notices; `grassroots serve` logged them at start.
    """
    router, sms = await _start_senders(settings=settings, announce=announce)
    tasks = [jobs.run_forever(stop=stop, poll_s=settings.worker_poll_s)]
    if router is not None or sms is not None:
        tasks.append(
            run_delivery_loop(
                stop=stop,
                sender=router,
                sms=sms,
                quiet=quiet_hours(settings),
                lease_s=settings.delivery_lease_s,
            )
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        if router is not None:
            await asyncio.to_thread(router.close)
