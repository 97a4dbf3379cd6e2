"""Pushes through the real firebase-admin SDK to the fake FCM over HTTP: no mocks."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from grassroots import db as db_config
from models.notifications import Delivery, DeliveryStatus, Device, Notification, NotificationKind
from models.org import Role
from notifications import outbox
from notifications.fcm import FcmSender
from notifications.inbox import Message, fan_out
from notifications.worker import run_delivery_loop
from services import alerts, notices, reminders
from services.notify.jobs import fan_out_alerts, store_notices
from services.worker import run_worker
from tests.doubles.fake_fcm import FakeFcm

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = outbox.parse_quiet_hours("22:00-07:00", tz=SHANGHAI)


@pytest.fixture(scope="session")
def fcm_server():
    with FakeFcm() as server:
        yield server


@pytest.fixture(scope="session")
def push_sender(fcm_server, tmp_path_factory):
    path = fcm_server.write_service_account(tmp_path_factory.mktemp("fcm") / "sa.json")
    sender = FcmSender(credentials_path=str(path), endpoint=fcm_server.base_url, timeout_s=5)
    yield sender, str(path)
    sender.close()


@pytest.fixture
def fcm(fcm_server, push_sender, settings, monkeypatch):
    """Pushes enabled for the test, a fresh fake FCM."""
    fcm_server.reset()
    monkeypatch.setattr(settings, "fcm_credentials", push_sender[1])
    monkeypatch.setattr(settings, "fcm_endpoint", fcm_server.base_url)
    return fcm_server


@pytest.fixture
def sender(push_sender):
    return push_sender[0]


@pytest.fixture
async def people(make_unit, make_user):
    street = await make_unit("和平桥街道")
    return {
        "unit": street,
        "scheduler": await make_user(Role.scheduler, unit=street),
        "patrol": await make_user(Role.patrol, unit=street),
        "worker": await make_user(Role.social_worker, unit=street),
    }


def token(name: str) -> str:
    return f"{name}:APA91b" + "x" * 120


async def add_device(user, name: str, platform: str = "android") -> Device:
    return await Device.create(
        user=user, token=token(name), platform=platform, last_seen_at=datetime.now(UTC)
    )


async def notify(user_ids, *, at, urgent=False, title="提醒", ttl_s=3600, dedup=None):
    return await fan_out(
        message=Message(
            kind=NotificationKind.notice,
            title=title,
            body="正文",
            data={"type": "task", "id": "t1"},
            urgent=urgent,
            collapse_key="task-t1",
            ttl_s=ttl_s,
        ),
        user_ids=user_ids,
        dedup=dedup or f"test:{uuid.uuid4()}",
        now=at,
        push=True,
        quiet=QUIET,
    )


async def drain(sender, *, now, rounds=20, **kwargs) -> outbox.BatchReport:
    total = outbox.BatchReport()
    for _ in range(rounds):
        report = await outbox.deliver_batch(sender=sender, now=now, **kwargs)
        if report.claimed == 0:
            break
        for name in ("claimed", "sent", "retry", "failed", "pruned_devices", "held"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
    return total


NOON = datetime(2030, 6, 3, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)


async def test_reminder_end_to_end_over_http(client, auth, people, fcm, sender):
    patrol, scheduler = people["patrol"], people["scheduler"]
    put = await client.put(
        f"/me/devices/{token('phone')}", json={"platform": "android"}, headers=auth(patrol)
    )
    assert put.status_code == 201
    await client.put(f"/me/devices/{token('ipad')}", json={"platform": "ios"}, headers=auth(patrol))
    first_at = datetime.now(UTC) + timedelta(minutes=5)
    created = await client.post(
        "/reminders",
        json={
            "title": "月度例会",
            "body": "本周五下午三点开会",
            "audience": {"user_ids": [str(patrol.id), str(people["worker"].id)]},
            "first_at": first_at.isoformat(),
            "rrule": "FREQ=MONTHLY",
            "ttl_s": 7200,
        },
        headers=auth(scheduler),
    )
    assert created.status_code == 201, created.text
    reminder_id = created.json()["id"]
    at = first_at + timedelta(seconds=1)
    if (q := QUIET.end_after(at)) is not None:  # the test may run at night: fire after it
        at = q + timedelta(seconds=1)
        first_at = at
    summary = await reminders.fire_due_reminders(at)
    assert summary == "fired 1 reminders to 2 inboxes"
    report = await drain(sender, now=at)
    assert (report.sent, report.failed) == (2, 0)

    phone = fcm.sent_to(token("phone"))
    assert len(phone) == 1 and len(fcm.messages) == 2
    message = phone[0]
    assert message["notification"] == {"title": "月度例会", "body": "本周五下午三点开会"}
    assert message["data"]["type"] == "reminder" and message["data"]["id"] == reminder_id
    assert message["android"]["collapse_key"] == f"reminder-{reminder_id}"
    assert message["android"]["priority"] == "normal"
    assert message["android"]["ttl"] == "7200s"
    apns = fcm.sent_to(token("ipad"))[0]["apns"]["headers"]
    assert apns["apns-priority"] == "5" and apns["apns-collapse-id"] == f"reminder-{reminder_id}"

    listed = await client.get(f"/reminders/{reminder_id}/deliveries", headers=auth(scheduler))
    rows = listed.json()
    by_status = sorted((r["status"], r["user_id"]) for r in rows)
    assert by_status == sorted(
        [
            ("sent", str(patrol.id)),
            ("sent", str(patrol.id)),
            ("no_device", str(people["worker"].id)),
        ]
    )
    assert all(r["sent_at"] for r in rows if r["status"] == "sent")
    inbox = await client.get("/me/notifications", headers=auth(patrol))
    item = inbox.json()["items"][0]
    assert item["title"] == "月度例会"
    assert item["data"]["notification_id"] == message["data"]["notification_id"]


async def test_flaky_token_is_retried_with_backoff_and_delivered_once(people, fcm, sender):
    await add_device(people["patrol"], "flaky")
    fcm.fail_times(token("flaky"), 2, "UNAVAILABLE")
    await notify([people["patrol"].id], at=NOON)
    rng = random.Random(1)
    first = await drain(sender, now=NOON, rng=rng)
    assert (first.sent, first.retry) == (0, 1)
    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.queued and delivery.attempts == 1
    assert delivery.last_error == "UNAVAILABLE"
    wait = delivery.next_attempt_at - NOON
    assert timedelta(seconds=15) <= wait <= timedelta(seconds=30)
    # Not due yet: nothing is claimed before the backoff has passed.
    assert (await drain(sender, now=NOON + wait / 2)).claimed == 0
    second = await drain(sender, now=delivery.next_attempt_at, rng=rng)
    assert second.retry == 1
    await delivery.refresh_from_db()
    assert delivery.next_attempt_at - NOON > wait  # the delay grows
    third = await drain(sender, now=delivery.next_attempt_at, rng=rng)
    assert third.sent == 1
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.sent and delivery.attempts == 3
    assert len(fcm.sent_to(token("flaky"))) == 1


async def test_transient_errors_give_up_after_five_tries(people, fcm, sender):
    await add_device(people["patrol"], "down")
    fcm.fail_times(token("down"), 100, "INTERNAL")
    await notify([people["patrol"].id], at=NOON, ttl_s=7 * 24 * 3600)
    now = NOON
    for _ in range(outbox.MAX_TRIES):
        await drain(sender, now=now)
        now = (await Delivery.get()).next_attempt_at
    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.failed
    assert delivery.attempts == outbox.MAX_TRIES
    assert (await drain(sender, now=now + timedelta(days=1))).claimed == 0
    assert fcm.sent_to(token("down")) == []
    assert await Device.filter(token=token("down")).exists()  # transient errors keep the device


@pytest.mark.parametrize("kind", ["unregistered", "invalid"])
async def test_dead_token_is_pruned_and_never_retried(people, fcm, sender, kind):
    patrol = people["patrol"]
    await add_device(patrol, "dead")
    await add_device(patrol, "alive")
    getattr(fcm, kind)(token("dead"))
    await notify([patrol.id], at=NOON)
    await notify([patrol.id], at=NOON, urgent=True)
    report = await drain(sender, now=NOON, limit=2)
    assert report.pruned_devices == 1
    assert not await Device.filter(token=token("dead")).exists()
    assert await Device.filter(token=token("alive")).exists()
    failed = await Delivery.filter(status=DeliveryStatus.failed)
    assert len(failed) == 2  # the one tried, and the other one queued for the same device
    assert {d.last_error for d in failed} <= {"UNREGISTERED", "INVALID_ARGUMENT", "device_removed"}
    assert await Delivery.filter(status=DeliveryStatus.sent).count() == 2
    sends_before = fcm.send_requests
    assert (await drain(sender, now=NOON + timedelta(days=1))).claimed == 0
    assert fcm.send_requests == sends_before


async def test_a_crashed_worker_loses_nothing_and_sends_nothing_twice(people, fcm, sender):
    users = [people["patrol"], people["worker"], people["scheduler"]]
    for n, user in enumerate(users):
        await add_device(user, f"crash{n}")
    await notify([u.id for u in users], at=NOON)
    # Worker A claims a batch and dies before sending.
    claimed = await outbox.claim(claim_id="dead-worker", now=NOON, limit=2, lease_s=60)
    assert claimed == 2
    # Worker B, while A's lease runs: only the unclaimed one.
    during = await drain(sender, now=NOON + timedelta(seconds=30))
    assert during.sent == 1
    # After the lease expires the abandoned deliveries are taken again.
    after = await drain(sender, now=NOON + timedelta(seconds=61))
    assert after.sent == 2
    assert await Delivery.filter(status=DeliveryStatus.sent).count() == 3
    sent_tokens = [m["token"] for m in fcm.messages]
    assert sorted(sent_tokens) == sorted(token(f"crash{n}") for n in range(3))
    assert (await drain(sender, now=NOON + timedelta(hours=1))).claimed == 0


async def test_two_workers_split_one_backlog_without_duplicates(people, fcm, sender, make_user):
    users = [await make_user(Role.patrol, unit=people["unit"]) for _ in range(40)]
    for n, user in enumerate(users):
        for d in range(5):
            await add_device(user, f"u{n}d{d}")
    for k in range(5):
        await notify([u.id for u in users], at=NOON, dedup=f"backlog:{k}")
    total = 40 * 5 * 5
    assert await Delivery.filter(status=DeliveryStatus.queued).count() == total

    async def worker():
        return await drain(sender, now=NOON, rounds=100, limit=50)

    reports = await asyncio.gather(worker(), worker(), worker())
    assert sum(r.sent for r in reports) == total
    if db_config.dialect() == "postgres":
        # SKIP LOCKED: every worker took a share.
        assert all(r.sent > 0 for r in reports)
    delivery_ids = [m["data"]["notification_id"] + m["token"] for m in fcm.messages]
    assert len(delivery_ids) == total == len(set(delivery_ids))
    assert await Delivery.filter(status=DeliveryStatus.sent).count() == total


async def test_quiet_hours_hold_non_urgent_until_they_end(people, fcm, sender):
    patrol = people["patrol"]
    await add_device(patrol, "night")
    night = datetime(2030, 6, 3, 23, 30, tzinfo=SHANGHAI).astimezone(UTC)
    morning = datetime(2030, 6, 4, 7, 0, tzinfo=SHANGHAI).astimezone(UTC)
    calm = await notify([patrol.id], at=night, title="例行提醒", ttl_s=24 * 3600)
    urgent = await notify([patrol.id], at=night, title="紧急", urgent=True)
    assert (calm.held, urgent.held) == (1, 0)
    held = await Delivery.get(status=DeliveryStatus.held)
    assert held.next_attempt_at == morning
    at_night = await drain(sender, now=night, quiet=QUIET)
    assert at_night.sent == 1
    assert [m["notification"]["title"] for m in fcm.messages] == ["紧急"]
    assert fcm.messages[0]["android"]["priority"] == "high"
    assert fcm.messages[0]["apns"]["headers"]["apns-priority"] == "10"
    assert (await drain(sender, now=morning - timedelta(minutes=1), quiet=QUIET)).claimed == 0
    at_seven = await drain(sender, now=morning, quiet=QUIET)
    assert at_seven.sent == 1
    assert [m["notification"]["title"] for m in fcm.messages] == ["紧急", "例行提醒"]
    # The TTL counts from when the notification was made: 7.5 h of it are gone.
    assert fcm.messages[1]["android"]["ttl"] == f"{24 * 3600 - 7 * 3600 - 1800}s"


async def test_a_backlog_claimed_inside_quiet_hours_waits(people, fcm, sender):
    await add_device(people["patrol"], "late")
    evening = datetime(2030, 6, 3, 21, 0, tzinfo=SHANGHAI).astimezone(UTC)
    await notify([people["patrol"].id], at=evening, ttl_s=24 * 3600)
    late = datetime(2030, 6, 3, 22, 30, tzinfo=SHANGHAI).astimezone(UTC)
    report = await drain(sender, now=late, quiet=QUIET)
    assert (report.held, report.sent) == (1, 0)
    assert fcm.messages == []


async def test_expired_pushes_are_not_sent(people, fcm, sender):
    await add_device(people["patrol"], "stale")
    await notify([people["patrol"].id], at=NOON, ttl_s=600)
    report = await drain(sender, now=NOON + timedelta(hours=1))
    assert report.failed == 1
    assert (await Delivery.get()).last_error == "expired"
    assert fcm.messages == []


async def test_urgent_alert_is_pushed_at_once_with_high_priority(people, fcm, sender):
    await add_device(people["scheduler"], "boss")
    await alerts.raise_alert(
        kind="outside_permitted_area",
        subject_type="supervision",
        subject_id=uuid.uuid4(),
        org_unit=people["unit"],
        recipients=[people["scheduler"]],
        title="矫正对象离开活动范围",
        dedup_key="s:1",
        urgent=True,
    )
    night = datetime(2030, 6, 3, 23, 30, tzinfo=SHANGHAI).astimezone(UTC)
    await fan_out_alerts(night)
    report = await drain(sender, now=night, quiet=QUIET)
    assert report.sent == 1
    message = fcm.messages[0]
    assert message["android"]["priority"] == "high"
    assert message["data"]["type"] == "alert"


@pytest.mark.parametrize("kind", ["task", "visit", "checkin"])
async def test_each_automatic_source_kind_is_pushed(people, fcm, sender, kind):
    worker = people["worker"]
    await add_device(worker, f"src-{kind}")

    async def source(now):
        return [
            notices.Notice(
                user_ids=(worker.id,),
                title=f"{kind} 即将到期",
                body="请及时处理",
                cause_key=f"{kind}:1:1d",
                data={"type": kind, "id": "1"},
                collapse_key=f"{kind}-1",
            )
        ]

    notices.SOURCES[f"test.{kind}"] = source
    try:
        assert await store_notices(NOON) == "stored 1 notices"
        assert await store_notices(NOON) == "stored 0 notices"
    finally:
        del notices.SOURCES[f"test.{kind}"]
    report = await drain(sender, now=NOON, quiet=QUIET)
    assert report.sent == 1
    assert fcm.messages[0]["data"]["type"] == kind
    assert fcm.messages[0]["android"]["collapse_key"] == f"{kind}-1"


async def test_the_delivery_loop_runs_until_stopped(people, fcm, sender):
    await add_device(people["patrol"], "loop")
    await notify([people["patrol"].id], at=datetime.now(UTC), urgent=True)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_delivery_loop(stop=stop, sender=sender, quiet=None, lanes=2, idle_s=0.05)
    )
    for _ in range(200):
        if await Delivery.filter(status=DeliveryStatus.sent).exists():
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(fcm.messages) == 1
    assert await Notification.all().count() == 1


async def test_the_worker_says_once_that_pushes_are_off(settings, monkeypatch, caplog):
    monkeypatch.setattr(settings, "fcm_credentials", None)
    stop = asyncio.Event()
    stop.set()
    with caplog.at_level(logging.INFO):
        await run_worker(stop=stop, settings=settings, announce=True)
        await run_worker(stop=stop, settings=settings, announce=False)  # serve logged it already
    said = [r for r in caplog.records if "GRASSROOTS_FCM_CREDENTIALS" in r.getMessage()]
    assert len(said) == 1


async def test_the_worker_pushes_when_credentials_are_set(db, people, fcm, settings, caplog):
    await add_device(people["patrol"], "boot")
    await notify([people["patrol"].id], at=datetime.now(UTC), urgent=True)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(run_worker(stop=stop, settings=settings, announce=True))
        for _ in range(300):
            if fcm.messages:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert len(fcm.messages) == 1
    assert not [r for r in caplog.records if "GRASSROOTS_FCM_CREDENTIALS" in r.getMessage()]


async def test_a_slow_fcm_does_not_slow_api_requests(client, auth, people, fcm, sender):
    # FCM answers every message after 1.5 s while the delivery loop works through a backlog:
    # sends run in a worker thread, so the API on the same event loop keeps answering at once.
    for n in range(20):
        await add_device(people["worker"], f"slow{n}")
    await notify([people["worker"].id], at=datetime.now(UTC), urgent=True)
    fcm.delay_s = 1.5
    stop = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(
        run_delivery_loop(stop=stop, sender=sender, quiet=None, lanes=2, idle_s=0.05)
    )
    try:
        await asyncio.sleep(0.3)  # the first batch is now waiting on FCM
        for _ in range(10):
            r = await client.get("/me/notifications", headers=auth(people["worker"]))
            assert r.status_code == 200
        # Had the send blocked the event loop, nothing here could have run before FCM's
        # first answer (1.5 s after the loop started).
        assert time.perf_counter() - began < 1.2
        for _ in range(300):
            if await Delivery.filter(status=DeliveryStatus.sent).count() == 20:
                break
            await asyncio.sleep(0.05)
    finally:
        fcm.delay_s = 0.0
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert await Delivery.filter(status=DeliveryStatus.sent).count() == 20  # none lost
    assert len({m["token"] for m in fcm.messages}) == len(fcm.messages) == 20  # none twice
