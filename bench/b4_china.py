"""B4 China: 100,000 deliveries over FCM and JPush, and the SMS fallback for 1,000 reminders.

    python bench/b4_china.py [--db sqlite|postgres] [--deliveries 100000] [--workers 2]
                             [--lanes 2] [--batch 1000] [--reminders 1000]

Part 1. Half the devices are FCM tokens, half JPush registration ids. The backlog is made with the
real fan-out before the clock starts; delivery worker processes run the real `run_delivery_loop`
with the real PushRouter over FcmSender (firebase-admin, one HTTP request per message) and
JPushSender (the `jpush` client, batch single push with cids stored before the send). The local
stand-ins (tests/doubles/fake_fcm.py, tests/doubles/fake_jpush.py) run in processes of their own
and count what they accepted: every (device, notification) must arrive exactly once. The ceiling
is the same two senders pushing the same messages straight from memory (no database).

Part 2. 1,000 scheduler reminders that no device confirmed, older than the fallback delay: the real
fallback job makes their SMS rows (run twice: once each), the real outbox sends them through the
Alibaba Cloud SMS client to tests/doubles/fake_sms.py, which checks every request's signature;
every reminder must be texted exactly once and no user above the daily cap.
Everything shares the machine's cores (2 on the dev box): the figures are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import b4_deliveries, harness  # noqa: E402

TARGET_PER_S = 2000.0
DEVICES_PER_USER = b4_deliveries.DEVICES_PER_USER  # 5 FCM + 5 JPush
NOTIFICATIONS = 10
CEILING_MESSAGES = 20_000
SMS_USERS = 250
SMS_CAP = 5


# --- the ceiling: the senders alone ----------------------------------------------------------


def _router(account_path: str, fcm_url: str, jpush_url: str) -> Any:
    from notifications.channels import PushRouter
    from notifications.fcm import FcmSender
    from notifications.jpush import JPushSender
    from tests.doubles.fake_jpush import APP_KEY, MASTER_SECRET

    return PushRouter(
        {
            "fcm": FcmSender(credentials_path=account_path, endpoint=fcm_url),
            "jpush": JPushSender(app_key=APP_KEY, master_secret=MASTER_SECRET, endpoint=jpush_url),
        }
    )


# --- the backlog and the delivery workers: b4_deliveries's, with JPush devices besides ------


def _device(n: int, d: int) -> tuple[str, str]:
    """Odd devices are JPush registration ids, even ones FCM tokens."""
    if d % 2 == 1:
        return f"1a{n:08d}{d:02d}bench", "jpush"
    return b4_deliveries.fcm_device(n, d)


def _warm_router(account_path: str, fcm_url: str, jpush_url: str) -> Any:
    router = _router(account_path, fcm_url, jpush_url)
    router.senders["fcm"]._ensure_access_token()
    return router


# --- part 2: the SMS fallback ------------------------------------------------------------------


def _sms_process(database_url: str, sms_url: str, reminders: int, result: Any) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.doubles.fake_sms import (
        ACCESS_KEY_ID,
        ACCESS_KEY_SECRET,
        SIGN_NAME,
        templates_setting,
    )

    os.environ.update(
        GRASSROOTS_DATABASE_URL=database_url,
        GRASSROOTS_SMS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        GRASSROOTS_SMS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        GRASSROOTS_SMS_SIGN_NAME=SIGN_NAME,
        GRASSROOTS_SMS_TEMPLATES=templates_setting(),
        GRASSROOTS_SMS_ENDPOINT=sms_url,
        GRASSROOTS_SMS_DAILY_CAP=str(SMS_CAP),
        GRASSROOTS_SMS_FALLBACK_AFTER_S="7200",
        GRASSROOTS_QUIET_HOURS="22:00-07:00",
    )

    async def main() -> None:
        from zoneinfo import ZoneInfo

        from tortoise import Tortoise

        from grassroots import db
        from grassroots.settings import get_settings
        from models.notifications import Channel, Delivery, Notification, NotificationKind
        from models.org import OrgUnit, User
        from notifications import outbox
        from notifications.sms import make_sms_sender
        from services.notify.urgent import text_unconfirmed_reminders

        get_settings.cache_clear()
        settings = get_settings()
        await Tortoise.init(config=db.tortoise_config(settings))
        unit_id = uuid.uuid4()
        unit = await OrgUnit.create(id=unit_id, name="通州区", path=f"/{unit_id.hex}/", depth=0)
        users = [
            User(
                id=uuid.uuid4(),
                username=f"sms{n}",
                password_hash="!",
                full_name="测试",
                phone=f"1390000{n:04d}",
                roles_text=",social_worker,",
                org_unit_id=unit.id,
                org_path=unit.path,
            )
            for n in range(SMS_USERS)
        ]
        await User.bulk_create(users, batch_size=1000)
        # Noon local time, so the fallback runs outside quiet hours whenever the bench runs.
        noon = datetime.now(ZoneInfo("Asia/Shanghai")).replace(
            hour=12, minute=0, second=0, microsecond=0
        )
        now = noon.astimezone(UTC)
        made = now - timedelta(hours=2, minutes=5)
        reminder_id = uuid.uuid4()
        notes = [
            Notification(
                id=uuid.uuid4(),
                user_id=users[i % SMS_USERS].id,
                kind=NotificationKind.reminder,
                title="本月思想汇报提醒",
                body="请按时提交",
                data={"type": "reminder", "id": str(reminder_id)},
                ttl_s=24 * 3600,
                dedup_key=f"bench-sms:{i}",
                created_at=made,
            )
            for i in range(reminders)
        ]
        await Notification.bulk_create(notes, batch_size=1000)
        started = time.perf_counter()
        said = [await text_unconfirmed_reminders(now), await text_unconfirmed_reminders(now)]
        sms = make_sms_sender(
            access_key_id=settings.sms_access_key_id,
            access_key_secret=ACCESS_KEY_SECRET,
            sign_name=settings.sms_sign_name,
            templates=settings.sms_template_codes,
            endpoint=settings.sms_endpoint,
        )
        sent = 0
        while True:
            report = await outbox.deliver_batch(sender=None, sms=sms, now=now, limit=500)
            if report.claimed == 0:
                break
            sent += report.sms_sent
        elapsed = time.perf_counter() - started
        rows = await Delivery.filter(channel=Channel.sms).values_list("status", flat=True)
        result.put(
            {
                "said": said,
                "rows": len(rows),
                "sms_sent": sum(1 for s in rows if str(s) == "sms_sent"),
                "sent": sent,
                "elapsed": elapsed,
            }
        )
        await Tortoise.close_connections()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="delivery worker processes")
    parser.add_argument("--lanes", type=int, default=2, help="batches in flight per worker")
    parser.add_argument("--batch", type=int, default=1000, help="deliveries per claim")
    parser.add_argument("--reminders", type=int, default=1000, help="unconfirmed reminders")
    args = parser.parse_args()
    if args.deliveries % (DEVICES_PER_USER * NOTIFICATIONS):
        parser.error(f"--deliveries must be a multiple of {DEVICES_PER_USER * NOTIFICATIONS}")
    if args.reminders > SMS_USERS * SMS_CAP:
        parser.error(f"--reminders must be at most {SMS_USERS * SMS_CAP} (the cap)")

    context = mp.get_context("spawn")
    account_path = str(Path(tempfile.mkdtemp(prefix="gr-b4c-")) / "service-account.json")
    fcm = b4_deliveries.StandIn(context, "fcm", account_path)
    china = b4_deliveries.StandIn(context, "jpush")
    texts = b4_deliveries.StandIn(context, "sms")

    rate_alone = b4_deliveries.ceiling(
        _router(account_path, fcm.url, china.url),
        b4_deliveries.ceiling_pushes(CEILING_MESSAGES, jpush=True),
        warm=1000,
    )
    fcm.ask("reset")
    china.ask("reset")

    database_url = harness.database_url_for(args.db, "b4china")
    harness.migrate(database_url)
    setup_started = time.perf_counter()
    asyncio.run(
        b4_deliveries.make_backlog(
            database_url,
            args.deliveries,
            notifications=NOTIFICATIONS,
            device=_device,
            providers=frozenset({"fcm", "jpush"}),
        )
    )
    print(
        f"backlog of {args.deliveries:,} deliveries (half FCM, half JPush) made in "
        f"{time.perf_counter() - setup_started:.1f} s"
    )

    elapsed = b4_deliveries.deliver(
        context,
        database_url=database_url,
        make_sender=functools.partial(_warm_router, account_path, fcm.url, china.url),
        workers=args.workers,
        lanes=args.lanes,
        batch=args.batch,
    )
    by_fcm, by_china = fcm.ask("count"), china.ask("count")

    # A database of its own: part 1's reminders are not part 2's.
    sms_database = harness.database_url_for(args.db, "b4sms")
    harness.migrate(sms_database)
    result = context.Queue()
    sms_process = context.Process(
        target=_sms_process, args=(sms_database, texts.url, args.reminders, result)
    )
    sms_process.start()
    sms_process.join(timeout=600)
    if result.empty():
        raise SystemExit("the SMS part failed (see above)")
    sms_outcome = result.get()
    by_sms = texts.ask("count")
    for stand_in in (fcm, china, texts):
        stand_in.stop()

    rate = args.deliveries / elapsed
    half = args.deliveries // 2
    print(
        f"B4 China on {args.db}: {args.workers} worker process(es) x {args.lanes} lanes, "
        f"claim batch {args.batch}"
    )
    print(f"ceiling (FcmSender + JPushSender alone, no database): {rate_alone:,.0f} messages/s")
    print(
        f"delivered FCM {by_fcm['messages']:,} ({by_fcm['unique']:,} distinct), "
        f"JPush {by_china['messages']:,} ({by_china['unique']:,} distinct) in {elapsed:.1f} s "
        f"= {rate:,.0f}/s ({rate / rate_alone:.0%} of the ceiling)"
    )
    lost = (half - by_fcm["unique"]) + (half - by_china["unique"])
    twice = (by_fcm["messages"] - by_fcm["unique"]) + (by_china["messages"] - by_china["unique"])
    pushes_ok = lost == 0 and twice == 0
    print(f"lost: {lost}, sent twice: {twice} {'PASS' if pushes_ok else 'FAIL'}")
    ok = harness.verdict("B4 China deliveries/s", rate, TARGET_PER_S)

    sms_lost = args.reminders - by_sms["unique"]
    sms_twice = by_sms["messages"] - by_sms["unique"]
    sms_ok = (
        sms_lost == 0
        and sms_twice == 0
        and sms_outcome["sms_sent"] == args.reminders
        and by_sms["max_per_phone"] <= SMS_CAP
        and by_sms["bad_signatures"] == 0
    )
    print(
        f"SMS fallback: {args.reminders:,} unconfirmed reminders to {SMS_USERS} users; "
        "the fallback job "
        f"said {sms_outcome['said'][0]!r}, then {sms_outcome['said'][1]!r}; "
        f"{by_sms['messages']:,} SMS accepted ({by_sms['unique']:,} distinct) in "
        f"{sms_outcome['elapsed']:.1f} s; at most {by_sms['max_per_phone']} per phone "
        f"(cap {SMS_CAP}); bad signatures {by_sms['bad_signatures']}"
    )
    print(f"SMS lost: {sms_lost}, sent twice: {sms_twice} {'PASS' if sms_ok else 'FAIL'}")
    raise SystemExit(0 if ok and pushes_ok and sms_ok else 1)


if __name__ == "__main__":
    main()
