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
import functools
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

TARGET_PER_S = 2000.0
DEVICES_PER_USER = 10
CEILING_MESSAGES = 20_000


# --- stand-ins in their own processes (FCM; JPush and SMS for b4_china) ---------------------


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


# --- the ceiling: the senders alone ---------------------------------------------------------


def ceiling_pushes(n: int, *, jpush: bool = False) -> list[Any]:
    """`n` pushes straight from memory; with `jpush`, every other one to a JPush id."""
    from notifications.fcm import PushMessage

    pushes = []
    for i in range(n):
        china = jpush and i % 2 == 1
        pushes.append(
            PushMessage(
                delivery_id=str(i),
                token=f"1aceiling{i:012d}" if china else f"ceiling:APA91b{i:08d}" + "x" * 100,
                title="月度例会提醒",
                body="请参加本月社工例会",
                data={"type": "reminder", "id": "r", "notification_id": str(uuid.uuid4())},
                collapse_key="reminder-r",
                ttl_s=3600,
                urgent=False,
                provider="jpush" if china else "fcm",
            )
        )
    return pushes


def ceiling(sender: Any, pushes: list[Any], *, warm: int) -> float:
    """Messages/s of `sender` alone after `warm` of them (access token, connections); closes it."""
    try:
        sender.send(pushes[:warm])
        started = time.perf_counter()
        for i in range(warm, len(pushes), 1000):
            results = sender.send(pushes[i : i + 1000])
            assert all(r.ok for r in results), {r.error for r in results if not r.ok}
        elapsed = time.perf_counter() - started
    finally:
        sender.close()
    return (len(pushes) - warm) / elapsed


# --- the backlog (b4_china makes its own with JPush devices besides) -------------------------


def fcm_device(n: int, d: int) -> tuple[str, str]:
    """The token and provider of user n's device d: an FCM token."""
    return f"bench{n}-{d}:APA91b" + "x" * 120, "fcm"


async def make_backlog(
    database_url: str,
    deliveries: int,
    *,
    notifications: int = 10,
    device: Callable[[int, int], tuple[str, str]] = fcm_device,
    providers: frozenset[str] = frozenset({"fcm"}),
) -> None:
    """`deliveries` queued deliveries through the real fan-out: `notifications` to every user."""
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
    users_needed = deliveries // (DEVICES_PER_USER * notifications)
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
            token, provider = device(n, d)
            devices.append(
                Device(
                    id=uuid.uuid4(),
                    user_id=user.id,
                    token=token,
                    platform=Platform.android,
                    provider=provider,
                    last_seen_at=now,
                )
            )
    await Device.bulk_create(devices, batch_size=1000)
    channels = Channels(providers=providers)
    for k in range(notifications):
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
            channels=channels,
        )
    count = await Delivery.filter(status="queued").count()
    assert count == deliveries, count
    await Tortoise.close_connections()


# --- delivery worker processes (b4_china drives them too) ------------------------------------


def warm_fcm_sender(account_path: str, endpoint: str) -> Any:
    """An FcmSender that already holds its access token."""
    from notifications.fcm import FcmSender

    sender = FcmSender(credentials_path=account_path, endpoint=endpoint)
    sender._ensure_access_token()
    return sender


def _worker_process(
    database_url: str, make_sender: Callable[[], Any], lanes: int, batch: int, ready: Any, go: Any
) -> None:
    os.environ["GRASSROOTS_DATABASE_URL"] = database_url
    sys.path.insert(0, str(ROOT))

    async def drain() -> None:
        from tortoise import Tortoise

        from grassroots import db
        from grassroots.settings import get_settings
        from models.notifications import Delivery
        from notifications.outbox import PENDING
        from notifications.worker import run_delivery_loop

        get_settings.cache_clear()
        await Tortoise.init(config=db.tortoise_config(get_settings()))
        sender = await asyncio.to_thread(make_sender)
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

    asyncio.run(drain())


def deliver(
    context: Any,
    *,
    database_url: str,
    make_sender: Callable[[], Any],
    workers: int,
    lanes: int,
    batch: int,
) -> float:
    """Drain the backlog with `workers` processes of the real delivery loop; the seconds it took.

    `make_sender` (picklable: a module-level function or a partial of one) builds each worker's
    sender before the clock starts.
    """
    go = context.Event()
    processes, ready_events = [], []
    for _ in range(workers):
        ready = context.Event()
        process = context.Process(
            target=_worker_process, args=(database_url, make_sender, lanes, batch, ready, go)
        )
        process.start()
        ready_events.append(ready)
        processes.append(process)
    for ready in ready_events:
        ready.wait(timeout=60)
    started = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    return time.perf_counter() - started


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
    fake = StandIn(context, "fcm", account_path)
    endpoint = fake.url
    from notifications.fcm import FcmSender

    rate_alone = ceiling(
        FcmSender(credentials_path=account_path, endpoint=endpoint),
        ceiling_pushes(CEILING_MESSAGES),
        warm=500,
    )
    fake.ask("reset")

    database_url = harness.database_url_for(args.db, "b4")
    harness.migrate(database_url)
    setup_started = time.perf_counter()
    asyncio.run(make_backlog(database_url, args.deliveries))
    setup_s = time.perf_counter() - setup_started
    print(f"backlog of {args.deliveries:,} deliveries made in {setup_s:.1f} s")

    elapsed = deliver(
        context,
        database_url=database_url,
        make_sender=functools.partial(warm_fcm_sender, account_path, endpoint),
        workers=args.workers,
        lanes=args.lanes,
        batch=args.batch,
    )
    counted = fake.ask("count")
    fake.stop()

    rate = args.deliveries / elapsed
    print(
        f"B4 on {args.db}: {args.workers} worker process(es) x {args.lanes} lanes,"
        f" batch {args.batch}"
    )
    print(f"ceiling (FcmSender alone, no database): {rate_alone:,.0f} messages/s")
    print(
        f"delivered {counted['messages']:,} messages ({counted['unique']:,} distinct) "
        f"in {elapsed:.1f} s = {rate:,.0f}/s ({rate / rate_alone:.0%} of the ceiling)"
    )
    lost = args.deliveries - counted["unique"]
    twice = counted["messages"] - counted["unique"]
    print(f"lost: {lost}, sent twice: {twice} {'PASS' if lost == 0 and twice == 0 else 'FAIL'}")
    ok = harness.verdict("B4 deliveries/s", rate, TARGET_PER_S)
    raise SystemExit(0 if ok and lost == 0 and twice == 0 else 1)


if __name__ == "__main__":
    main()
