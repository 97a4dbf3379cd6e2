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

from bench import harness  # noqa: E402

TARGET_PER_S = 2000.0
DEVICES_PER_USER = 10  # 5 FCM + 5 JPush
NOTIFICATIONS = 10
CEILING_MESSAGES = 20_000
SMS_USERS = 250
SMS_CAP = 5


# --- stand-ins in their own processes -----------------------------------------------------------


def _stand_in_process(kind: str, conn: Any, account_path: str) -> None:
    sys.path.insert(0, str(ROOT))
    if kind == "fcm":
        from tests.doubles.fake_fcm import FakeFcm

        server: Any = FakeFcm()
    elif kind == "jpush":
        from tests.doubles.fake_jpush import FakeJPush

        server = FakeJPush()
    else:
        from tests.doubles.fake_sms import FakeSms

        server = FakeSms()
    with server:
        if kind == "fcm":
            server.write_service_account(account_path)
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "reset":
                server.reset()
                conn.send("ok")
            elif command == "count":
                messages = server.messages
                if kind == "fcm":
                    keys = {(m.get("token"), m["data"].get("notification_id")) for m in messages}
                elif kind == "jpush":
                    keys = {
                        (m["target"], m["notification"]["android"]["extras"]["notification_id"])
                        for m in messages
                    }
                else:
                    keys = {m["out_id"] for m in messages}
                    per_phone: dict[str, int] = {}
                    for m in messages:
                        per_phone[m["phone"]] = per_phone.get(m["phone"], 0) + 1
                    conn.send(
                        {
                            "messages": len(messages),
                            "unique": len(keys),
                            "max_per_phone": max(per_phone.values(), default=0),
                            "bad_signatures": server.rejected_signatures,
                        }
                    )
                    continue
                conn.send({"messages": len(messages), "unique": len(keys)})


class StandIn:
    """A stand-in server in its own process, driven over a pipe."""

    def __init__(self, context: Any, kind: str, account_path: str = "") -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_stand_in_process, args=(kind, child, account_path), daemon=True
        )
        self.process.start()
        self.url: str = self.conn.recv()

    def ask(self, command: str) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


# --- the ceiling: the senders alone ----------------------------------------------------------


def _pushes(n: int, *, prefix: str) -> list[Any]:
    from notifications.fcm import PushMessage

    return [
        PushMessage(
            delivery_id=str(i),
            token=(f"{prefix}:APA91b{i:08d}" + "x" * 100) if i % 2 == 0 else f"1a{prefix}{i:012d}",
            title="月度例会提醒",
            body="请参加本月社工例会",
            data={"type": "reminder", "id": "r", "notification_id": str(uuid.uuid4())},
            collapse_key="reminder-r",
            ttl_s=3600,
            urgent=False,
            provider="fcm" if i % 2 == 0 else "jpush",
        )
        for i in range(n)
    ]


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


def _ceiling(account_path: str, fcm_url: str, jpush_url: str, n: int) -> float:
    router = _router(account_path, fcm_url, jpush_url)
    pushes = _pushes(n, prefix="ceiling")
    try:
        router.send(pushes[:1000])  # warm up: access token, connections
        started = time.perf_counter()
        for i in range(1000, n, 1000):
            results = router.send(pushes[i : i + 1000])
            assert all(r.ok for r in results), {r.error for r in results if not r.ok}
        elapsed = time.perf_counter() - started
    finally:
        router.close()
    return (n - 1000) / elapsed


# --- the backlog -----------------------------------------------------------------------------


async def _make_backlog(database_url: str, deliveries: int) -> None:
    from tortoise import Tortoise

    os.environ["GRASSROOTS_DATABASE_URL"] = database_url
    from grassroots import db
    from grassroots.settings import get_settings
    from models.notifications import Delivery, Device, NotificationKind, Platform
    from models.org import OrgUnit, User
    from notifications.channels import Channels
    from notifications.inbox import Message, fan_out

    get_settings.cache_clear()
    await Tortoise.init(config=db.tortoise_config(get_settings()))
    unit_id = uuid.uuid4()
    unit = await OrgUnit.create(id=unit_id, name="崇川区", path=f"/{unit_id.hex}/", depth=0)
    users_needed = deliveries // (DEVICES_PER_USER * NOTIFICATIONS)
    users = [
        User(
            id=uuid.uuid4(),
            username=f"bench{n}",
            password_hash="!",
            full_name="测试",
            roles_text=",patrol,",
            org_unit_id=unit.id,
            org_path=unit.path,
        )
        for n in range(users_needed)
    ]
    await User.bulk_create(users, batch_size=1000)
    now = datetime.now(UTC)
    devices = []
    for n, user in enumerate(users):
        for d in range(DEVICES_PER_USER):
            china = d % 2 == 1
            devices.append(
                Device(
                    id=uuid.uuid4(),
                    user_id=user.id,
                    token=f"1a{n:08d}{d:02d}bench" if china else f"bench{n}-{d}:APA91b" + "x" * 120,
                    platform=Platform.android,
                    provider="jpush" if china else "fcm",
                    last_seen_at=now,
                )
            )
    await Device.bulk_create(devices, batch_size=1000)
    both = Channels(providers=frozenset({"fcm", "jpush"}))
    for k in range(NOTIFICATIONS):
        await fan_out(
            message=Message(
                kind=NotificationKind.reminder,
                title="月度例会提醒",
                body="请参加本月社工例会",
                data={"type": "reminder", "id": str(k)},
                collapse_key=f"reminder-{k}",
                ttl_s=24 * 3600,
            ),
            user_ids=[u.id for u in users],
            dedup=f"bench:{k}",
            now=now,
            push=True,
            quiet=None,
            channels=both,
        )
    count = await Delivery.filter(status="queued").count()
    assert count == deliveries, count
    await Tortoise.close_connections()


# --- a delivery worker process ---------------------------------------------------------------


def _worker_process(
    database_url: str,
    account_path: str,
    fcm_url: str,
    jpush_url: str,
    lanes: int,
    batch: int,
    ready: Any,
    go: Any,
) -> None:
    os.environ["GRASSROOTS_DATABASE_URL"] = database_url
    sys.path.insert(0, str(ROOT))

    async def main() -> None:
        from tortoise import Tortoise

        from grassroots import db
        from grassroots.settings import get_settings
        from models.notifications import Delivery
        from notifications.outbox import PENDING
        from notifications.worker import run_delivery_loop

        get_settings.cache_clear()
        await Tortoise.init(config=db.tortoise_config(get_settings()))
        router = _router(account_path, fcm_url, jpush_url)
        await asyncio.to_thread(router.senders["fcm"]._ensure_access_token)
        ready.set()
        go.wait()
        stop = asyncio.Event()
        loop_task = asyncio.create_task(
            run_delivery_loop(
                stop=stop, sender=router, quiet=None, lanes=lanes, batch_size=batch, idle_s=0.05
            )
        )
        while not await Delivery.filter(status__in=list(PENDING)).count() == 0:
            await asyncio.sleep(0.1)
        stop.set()
        await loop_task
        await asyncio.to_thread(router.close)
        await Tortoise.close_connections()

    asyncio.run(main())


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
    fcm = StandIn(context, "fcm", account_path)
    china = StandIn(context, "jpush")
    texts = StandIn(context, "sms")

    ceiling = _ceiling(account_path, fcm.url, china.url, CEILING_MESSAGES)
    fcm.ask("reset")
    china.ask("reset")

    database_url = harness.database_url_for(args.db, "b4china")
    harness.migrate(database_url)
    setup_started = time.perf_counter()
    asyncio.run(_make_backlog(database_url, args.deliveries))
    print(
        f"backlog of {args.deliveries:,} deliveries (half FCM, half JPush) made in "
        f"{time.perf_counter() - setup_started:.1f} s"
    )

    go = context.Event()
    workers, ready_events = [], []
    for _ in range(args.workers):
        ready = context.Event()
        process = context.Process(
            target=_worker_process,
            args=(
                database_url,
                account_path,
                fcm.url,
                china.url,
                args.lanes,
                args.batch,
                ready,
                go,
            ),
        )
        process.start()
        ready_events.append(ready)
        workers.append(process)
    for ready in ready_events:
        ready.wait(timeout=60)
    started = time.perf_counter()
    go.set()
    for process in workers:
        process.join()
    elapsed = time.perf_counter() - started
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
    print(f"ceiling (FcmSender + JPushSender alone, no database): {ceiling:,.0f} messages/s")
    print(
        f"delivered FCM {by_fcm['messages']:,} ({by_fcm['unique']:,} distinct), "
        f"JPush {by_china['messages']:,} ({by_china['unique']:,} distinct) in {elapsed:.1f} s "
        f"= {rate:,.0f}/s ({rate / ceiling:.0%} of the ceiling)"
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
