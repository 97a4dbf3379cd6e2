"""The delivery side of the background worker: the senders, and the loop that pushes the outbox.

The loop is not a periodic job: `services.worker.run_worker` runs it beside the job loop
(`services.jobs.run_forever`) in `grassroots serve` (in-process) and `grassroots worker`, and
any number of them may run at once (see notifications.outbox). The jobs that fill the outbox
live above, in `services.notify`.
"""

from __future__ import annotations

import asyncio
import logging
import random

from grassroots import clock
from grassroots.settings import Settings
from notifications import outbox
from notifications.channels import Channels, PushRouter
from notifications.fcm import Sender, make_sender
from notifications.jpush import VendorChannels, make_jpush_sender
from notifications.sms import SmsSender, make_sms_sender

log = logging.getLogger("grassroots.push")


def enabled_channels(settings: Settings) -> Channels:
    """The push providers and SMS kinds the settings configure (deliveries are made only then)."""
    return Channels.from_settings(settings)


def push_enabled(settings: Settings) -> bool:
    """True when any delivery channel (FCM, JPush, SMS) is configured."""
    return enabled_channels(settings).any


def vendor_channels(settings: Settings) -> VendorChannels:
    """The vendors' service-message channel ids the settings name, for the JPush sender."""
    return VendorChannels(
        xiaomi_channel_id=settings.jpush_xiaomi_channel_id,
        oppo_channel_id=settings.jpush_oppo_channel_id,
    )


def quiet_hours(settings: Settings) -> outbox.QuietHours | None:
    """The configured quiet hours in the deployment's time zone."""
    return outbox.parse_quiet_hours(settings.quiet_hours, tz=settings.tz)


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


async def start_senders(
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
                vendors=vendor_channels(settings),
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
