"""B4: 100,000 deliveries through firebase-admin to a local fake FCM (>= 2,000/s, exactly once).

    python bench/b4_deliveries.py [--db sqlite|postgres] [--deliveries 100000] [--workers 1]
                                  [--lanes 2] [--batch 500]

The fake FCM (tests/doubles/fake_fcm.py: OAuth2 token endpoint + FCM v1 send, uvicorn/uvloop)
runs in its own process; so does each delivery worker (the real `run_delivery_loop`, the real
FcmSender on firebase-admin 7.7, one HTTP request per message as FCM v1 requires). The backlog is
made with the real fan-out (inbox rows + deliveries) before the clock starts. At the end the fake
counts what it received: every (token, notification) must arrive exactly once. The ceiling is the
same FcmSender pushing the same kind of messages straight from memory (no database), in this run.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

TARGET_PER_S = 2000.0
DEVICES_PER_USER = 10
CEILING_MESSAGES = 20_000


# --- the fake FCM in its own process ---------------------------------------------------------


def _fake_fcm_process(conn: Any, account_path: str) -> None:
    from tests.doubles.fake_fcm import FakeFcm

    with FakeFcm() as fake:
        fake.write_service_account(account_path)
        conn.send(fake.base_url)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            if command == "reset":
                fake.reset()
                conn.send("ok")
            elif command == "count":
                messages = fake.messages
                keys = {(m.get("token"), m["data"].get("notification_id")) for m in messages}
                conn.send({"messages": len(messages), "unique": len(keys)})


# --- the ceiling: the sender alone -----------------------------------------------------------


def _ceiling(account_path: str, endpoint: str, n: int) -> float:
    from notifications.fcm import FcmSender, PushMessage

    pushes = [
        PushMessage(
            delivery_id=str(i),
            token=f"ceiling:APA91b{i:08d}" + "x" * 100,
            title="月度例会提醒",
            body="请参加本月社工例会",
            data={"type": "reminder", "id": "r", "notification_id": str(uuid.uuid4())},
            collapse_key="reminder-r",
            ttl_s=3600,
            urgent=False,
        )
        for i in range(n)
    ]
    with FcmSender(credentials_path=account_path, endpoint=endpoint) as sender:
        sender.send(pushes[:500])  # warm up: access token, connections
        started = time.perf_counter()
        for i in range(500, n, 1000):
            results = sender.send(pushes[i : i + 1000])
            assert all(r.ok for r in results), {r.error for r in results if not r.ok}
        elapsed = time.perf_counter() - started
    return (n - 500) / elapsed


# --- the backlog -----------------------------------------------------------------------------


async def _make_backlog(database_url: str, deliveries: int) -> None:
    from tortoise import Tortoise

    os.environ["GRASSROOTS_DATABASE_URL"] = database_url
    from grassroots import db
    from grassroots.settings import get_settings
    from models.notifications import Delivery, Device, NotificationKind, Platform
    from models.org import OrgUnit, User
    from notifications.inbox import Message, fan_out

    get_settings.cache_clear()
    await Tortoise.init(config=db.tortoise_config(get_settings()))
    unit_id = uuid.uuid4()
    unit = await OrgUnit.create(id=unit_id, name="崇川区", path=f"/{unit_id.hex}/", depth=0)
    users_needed = deliveries // (DEVICES_PER_USER * 10)
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
    devices = [
        Device(
            id=uuid.uuid4(),
            user_id=user.id,
            token=f"bench{n}-{d}:APA91b" + "x" * 120,
            platform=Platform.android,
            last_seen_at=now,
        )
        for n, user in enumerate(users)
        for d in range(DEVICES_PER_USER)
    ]
    await Device.bulk_create(devices, batch_size=1000)
    for k in range(10):
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
        )
    count = await Delivery.filter(status="queued").count()
    assert count == deliveries, count
    await Tortoise.close_connections()


# --- a delivery worker process ---------------------------------------------------------------


def _worker_process(
    database_url: str, account_path: str, endpoint: str, lanes: int, batch: int, ready: Any, go: Any
) -> None:
    os.environ["GRASSROOTS_DATABASE_URL"] = database_url

    async def main() -> None:
        from tortoise import Tortoise

        from grassroots import db
        from grassroots.settings import get_settings
        from models.notifications import Delivery
        from notifications.fcm import FcmSender
        from notifications.outbox import PENDING
        from notifications.worker import run_delivery_loop

        get_settings.cache_clear()
        await Tortoise.init(config=db.tortoise_config(get_settings()))
        sender = FcmSender(credentials_path=account_path, endpoint=endpoint)
        await asyncio.to_thread(sender._ensure_access_token)
        ready.set()
        go.wait()
        stop = asyncio.Event()
        loop_task = asyncio.create_task(
            run_delivery_loop(
                stop=stop, sender=sender, quiet=None, lanes=lanes, batch_size=batch, idle_s=0.05
            )
        )
        while not await Delivery.filter(status__in=list(PENDING)).count() == 0:
            await asyncio.sleep(0.1)
        stop.set()
        await loop_task
        await asyncio.to_thread(sender.close)
        await Tortoise.close_connections()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="delivery worker processes")
    parser.add_argument("--lanes", type=int, default=2, help="batches in flight per worker")
    parser.add_argument("--batch", type=int, default=500, help="deliveries per claim (<= 500)")
    args = parser.parse_args()
    if args.deliveries % (DEVICES_PER_USER * 10):
        parser.error(f"--deliveries must be a multiple of {DEVICES_PER_USER * 10}")

    context = mp.get_context("spawn")
    account_path = str(Path(tempfile.mkdtemp(prefix="gr-b4-")) / "service-account.json")
    parent, child = context.Pipe()
    fake = context.Process(target=_fake_fcm_process, args=(child, account_path), daemon=True)
    fake.start()
    endpoint = parent.recv()

    ceiling = _ceiling(account_path, endpoint, CEILING_MESSAGES)
    parent.send("reset")
    parent.recv()

    database_url = harness.database_url_for(args.db, "b4")
    harness.migrate(database_url)
    setup_started = time.perf_counter()
    asyncio.run(_make_backlog(database_url, args.deliveries))
    setup_s = time.perf_counter() - setup_started
    print(f"backlog of {args.deliveries:,} deliveries made in {setup_s:.1f} s")

    ready_events = []
    go = context.Event()
    workers = []
    for _ in range(args.workers):
        ready = context.Event()
        process = context.Process(
            target=_worker_process,
            args=(database_url, account_path, endpoint, args.lanes, args.batch, ready, go),
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
    parent.send("count")
    counted = parent.recv()
    parent.send("stop")
    fake.join(timeout=10)

    rate = args.deliveries / elapsed
    print(
        f"B4 on {args.db}: {args.workers} worker process(es) x {args.lanes} lanes,"
        f" batch {args.batch}"
    )
    print(f"ceiling (FcmSender alone, no database): {ceiling:,.0f} messages/s")
    print(
        f"delivered {counted['messages']:,} messages ({counted['unique']:,} distinct) "
        f"in {elapsed:.1f} s = {rate:,.0f}/s ({rate / ceiling:.0%} of the ceiling)"
    )
    lost = args.deliveries - counted["unique"]
    twice = counted["messages"] - counted["unique"]
    print(f"lost: {lost}, sent twice: {twice} {'PASS' if lost == 0 and twice == 0 else 'FAIL'}")
    ok = harness.verdict("B4 deliveries/s", rate, TARGET_PER_S)
    raise SystemExit(0 if ok and lost == 0 and twice == 0 else 1)


if __name__ == "__main__":
    main()
