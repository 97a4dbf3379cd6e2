"""FCM, JPush and SMS through one outbox, the real SDKs and the local stand-ins: no mocks.

What the phones in mainland China need: JPush devices get their pushes with the same claiming,
retries, pruning, quiet hours and TTL as FCM ones; urgent notifications also go by SMS within a
daily cap; a reminder no device confirmed is texted once; what was read is never texted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from models.correction import LeaveRequest, LeaveStatus, Supervision
from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    NotificationKind,
    PushProvider,
    PushShown,
    SmsDailyCount,
)
from models.org import Role
from notifications import outbox, sms_cap
from notifications.channels import Channels, PushRouter
from notifications.fcm import FcmSender
from notifications.inbox import Message, fan_out
from notifications.jpush import JPushSender, VendorChannels
from notifications.sms import SmsSender
from services import alerts, reminders
from services.correction.rules import DEFAULT_RULES, rules_to_dict
from services.notify.jobs import fan_out_alerts, store_notices
from services.notify.urgent import text_unconfirmed_reminders
from services.worker import run_worker
from tests.doubles.fake_jpush import APP_KEY, MASTER_SECRET, FakeJPush
from tests.doubles.fake_sms import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    SIGN_NAME,
    TEMPLATES,
    FakeSms,
    templates_setting,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = outbox.parse_quiet_hours("22:00-07:00", tz=SHANGHAI)
NOON = datetime(2030, 6, 3, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
NIGHT = datetime(2030, 6, 3, 23, 30, tzinfo=SHANGHAI).astimezone(UTC)
ALL = Channels(providers=frozenset({"fcm", "jpush"}), sms_templates=frozenset(TEMPLATES))


# --- stand-ins, senders and settings ---------------------------------------------------------


@pytest.fixture(scope="session")
def jpush_server():
    with FakeJPush() as server:
        yield server


@pytest.fixture(scope="session")
def sms_server():
    with FakeSms() as server:
        yield server


@pytest.fixture(scope="session")
def senders(_fake_fcm_server, jpush_server, sms_server, tmp_path_factory):
    account = _fake_fcm_server.write_service_account(tmp_path_factory.mktemp("fcm") / "sa.json")
    fcm = FcmSender(credentials_path=str(account), endpoint=_fake_fcm_server.base_url, timeout_s=5)
    china = JPushSender(
        app_key=APP_KEY, master_secret=MASTER_SECRET, endpoint=jpush_server.base_url, timeout_s=5
    )
    texter = SmsSender(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        sign_name=SIGN_NAME,
        templates=TEMPLATES,
        endpoint=sms_server.base_url,
        timeout_s=5,
    )
    router = PushRouter({"fcm": fcm, "jpush": china})
    yield router, texter, str(account)
    router.close()


@pytest.fixture
def router(senders):
    return senders[0]


@pytest.fixture
def texter(senders):
    return senders[1]


@pytest.fixture
def stand_ins(_fake_fcm_server, jpush_server, sms_server, senders, settings, monkeypatch):
    """All three channels configured in the settings, every stand-in fresh."""
    for server in (_fake_fcm_server, jpush_server, sms_server):
        server.start()
        server.reset()
    senders[0].senders["jpush"].batch_supported = True
    monkeypatch.setattr(settings, "fcm_credentials", senders[2])
    monkeypatch.setattr(settings, "fcm_endpoint", _fake_fcm_server.base_url)
    monkeypatch.setattr(settings, "jpush_app_key", APP_KEY)
    monkeypatch.setattr(settings, "jpush_master_secret", SecretStr(MASTER_SECRET))
    monkeypatch.setattr(settings, "jpush_endpoint", jpush_server.base_url)
    monkeypatch.setattr(settings, "sms_access_key_id", ACCESS_KEY_ID)
    monkeypatch.setattr(settings, "sms_access_key_secret", SecretStr(ACCESS_KEY_SECRET))
    monkeypatch.setattr(settings, "sms_sign_name", SIGN_NAME)
    monkeypatch.setattr(settings, "sms_templates", templates_setting())
    monkeypatch.setattr(settings, "sms_endpoint", sms_server.base_url)
    monkeypatch.setattr(settings, "sms_daily_cap", 10)
    monkeypatch.setattr(settings, "sms_fallback_after_s", 7200)
    monkeypatch.setattr(settings, "quiet_hours", "22:00-07:00")
    return {"fcm": _fake_fcm_server, "jpush": jpush_server, "sms": sms_server}


@pytest.fixture
async def people(make_unit, make_user):
    street = await make_unit("和平桥街道")
    officer = await make_user(Role.officer, unit=street)
    supervisor = await make_user(Role.supervisor, unit=street)
    patrol = await make_user(Role.patrol, unit=street)
    subject = await make_user(Role.subject, unit=street)
    scheduler = await make_user(Role.scheduler, unit=street)
    for user, phone in (
        (officer, "13912340001"),
        (patrol, "13912340003"),
        (subject, "13912340004"),
    ):
        user.phone = phone
        await user.save(update_fields=["phone"])
    return {
        "unit": street,
        "officer": officer,
        "supervisor": supervisor,
        "patrol": patrol,
        "subject": subject,
        "scheduler": scheduler,
    }


def fcm_token(name: str) -> str:
    return f"{name}:APA91b" + "x" * 120


def jpush_id(name: str) -> str:
    return "1a00" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:15]


async def add_device(user, name: str, provider: str = "fcm") -> Device:
    token = jpush_id(name) if provider == "jpush" else fcm_token(name)
    return await Device.create(
        user=user,
        token=token,
        platform="android",
        provider=provider,
        last_seen_at=datetime.now(UTC),
    )


async def notify(
    user_ids, *, at, urgent=False, channels=ALL, sms_template=None, ttl_s=3600, key="task-t1"
):
    return await fan_out(
        message=Message(
            kind=NotificationKind.notice,
            title="提醒",
            body="正文",
            data={"type": "task", "id": "t1"},
            urgent=urgent,
            collapse_key=key,
            ttl_s=ttl_s,
            sms_template=sms_template,
        ),
        user_ids=user_ids,
        dedup=f"test:{uuid.uuid4()}",
        now=at,
        push=True,
        quiet=QUIET,
        channels=channels,
    )


async def drain(router, texter, *, now, rounds=20, **kwargs) -> outbox.BatchReport:
    total = outbox.BatchReport()
    for _ in range(rounds):
        report = await outbox.deliver_batch(sender=router, sms=texter, now=now, **kwargs)
        if report.claimed == 0:
            break
        for name in ("claimed", "sent", "sms_sent", "retry", "failed", "pruned_devices", "held"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
    return total


async def raise_alert(people, *, kind="missed_checkin", recipients=None, key=None):
    return await alerts.raise_alert(
        kind=kind,
        subject_type="supervision",
        subject_id=uuid.uuid4(),
        org_unit=people["unit"],
        recipients=recipients or [people["officer"], people["supervisor"], people["patrol"]],
        title="矫正对象未按期完成思想汇报",
        dedup_key=key or str(uuid.uuid4()),
        urgent=True,
    )


# --- devices -----------------------------------------------------------------------------------


async def test_a_device_registers_with_its_provider(client, auth, people):
    patrol = people["patrol"]
    fcm = await client.put(
        f"/me/devices/{fcm_token('a')}", json={"platform": "android"}, headers=auth(patrol)
    )
    assert fcm.status_code == 201 and fcm.json()["provider"] == "fcm"  # the default
    china = await client.put(
        f"/me/devices/{jpush_id('b')}",
        json={"platform": "android", "provider": "jpush"},
        headers=auth(patrol),
    )
    assert china.status_code == 201 and china.json()["provider"] == "jpush"
    again = await client.put(
        f"/me/devices/{jpush_id('b')}",
        json={"platform": "android", "provider": "jpush", "app_version": "2.1"},
        headers=auth(patrol),
    )
    assert again.status_code == 200 and again.json()["app_version"] == "2.1"
    # A token belongs to one provider: the same token under the other one changes nothing.
    conflict = await client.put(
        f"/me/devices/{jpush_id('b')}",
        json={"platform": "ios", "provider": "fcm"},
        headers=auth(patrol),
    )
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith("application/problem+json")
    assert conflict.json()["code"] == "device_provider_conflict"
    device = await Device.get(token=jpush_id("b"))
    assert (device.provider, device.platform) == (PushProvider.jpush, "android")
    bad = await client.put(
        f"/me/devices/{jpush_id('c')}",
        json={"platform": "android", "provider": "getui"},
        headers=auth(patrol),
    )
    assert bad.status_code == 422
    assert not await Device.filter(token=jpush_id("c")).exists()


# --- pushes through both providers --------------------------------------------------------------


async def test_each_device_is_pushed_through_its_own_provider(people, stand_ins, router, texter):
    patrol = people["patrol"]
    await add_device(patrol, "pixel", "fcm")
    await add_device(patrol, "huawei", "jpush")
    report = await notify([patrol.id], at=NOON)
    assert report.deliveries == 2
    done = await drain(router, texter, now=NOON)
    assert (done.sent, done.failed) == (2, 0)
    assert [m["token"] for m in stand_ins["fcm"].messages] == [fcm_token("pixel")]
    [china] = stand_ins["jpush"].messages
    assert china["target"] == jpush_id("huawei")
    rows = {d.provider: d for d in await Delivery.filter(channel=Channel.push)}
    assert set(rows) == {"fcm", "jpush"}
    assert all(d.status == DeliveryStatus.sent and d.sent_at for d in rows.values())
    # The cid JPush sent under was stored before the send; FCM has no such key.
    assert rows["jpush"].push_ref == china["cid"] and rows["fcm"].push_ref is None


async def test_without_jpush_configured_no_jpush_delivery_is_made(people, stand_ins):
    patrol = people["patrol"]
    await add_device(patrol, "pixel", "fcm")
    await add_device(patrol, "huawei", "jpush")
    fcm_only = Channels(providers=frozenset({"fcm"}))
    report = await notify([patrol.id], at=NOON, channels=fcm_only)
    assert report.deliveries == 1
    assert [d.provider for d in await Delivery.all()] == ["fcm"]
    # Only JPush devices, JPush off: the inbox has it and the record says no_device.
    only_china = await add_device(people["officer"], "honor", "jpush")
    await notify([only_china.user_id], at=NOON, channels=fcm_only)  # type: ignore[attr-defined]
    row = await Delivery.get(user_id=people["officer"].id)
    assert row.status == DeliveryStatus.no_device


async def test_a_dead_registration_id_is_pruned_and_never_retried(
    people, stand_ins, router, texter
):
    patrol = people["patrol"]
    await add_device(patrol, "gone", "jpush")
    await add_device(patrol, "alive", "jpush")
    stand_ins["jpush"].unregistered(jpush_id("gone"))
    await notify([patrol.id], at=NOON)
    await notify([patrol.id], at=NOON, urgent=True)
    report = await drain(router, texter, now=NOON, limit=2)
    assert report.pruned_devices == 1
    assert not await Device.filter(token=jpush_id("gone")).exists()
    failed = await Delivery.filter(status=DeliveryStatus.failed)
    assert len(failed) == 2
    assert {d.last_error for d in failed} <= {"JPUSH_1011", "device_removed"}
    assert await Delivery.filter(status=DeliveryStatus.sent).count() == 2
    requests = stand_ins["jpush"].batch_requests
    assert (await drain(router, texter, now=NOON + timedelta(days=1))).claimed == 0
    assert stand_ins["jpush"].batch_requests == requests


async def test_a_rate_limited_jpush_push_is_retried_with_backoff_and_sent_once(
    people, stand_ins, router, texter
):
    await add_device(people["patrol"], "busy", "jpush")
    stand_ins["jpush"].rate_limit(2)
    await notify([people["patrol"].id], at=NOON)
    first = await drain(router, texter, now=NOON)
    assert (first.sent, first.retry) == (0, 1)
    row = await Delivery.get()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.queued, 1, "JPUSH_2002")
    key = row.push_ref
    assert key is not None
    assert timedelta(seconds=15) <= row.next_attempt_at - NOON <= timedelta(seconds=30)
    assert (await drain(router, texter, now=NOON + timedelta(seconds=10))).claimed == 0
    second = await drain(router, texter, now=row.next_attempt_at)
    assert second.retry == 1
    await row.refresh_from_db()
    third = await drain(router, texter, now=row.next_attempt_at)
    assert third.sent == 1
    await row.refresh_from_db()
    assert (row.status, row.attempts, row.push_ref) == (DeliveryStatus.sent, 3, key)
    [message] = stand_ins["jpush"].sent_to(jpush_id("busy"))
    assert message["cid"] == key  # every retry posted the same cid


async def test_jpush_pushes_keep_quiet_hours_and_their_ttl(people, stand_ins, router, texter):
    await add_device(people["patrol"], "night", "jpush")
    evening = datetime(2030, 6, 3, 21, 0, tzinfo=SHANGHAI).astimezone(UTC)
    await notify([people["patrol"].id], at=evening, ttl_s=24 * 3600)
    late = datetime(2030, 6, 3, 22, 30, tzinfo=SHANGHAI).astimezone(UTC)
    report = await drain(router, texter, now=late, quiet=QUIET)
    assert (report.held, report.sent) == (1, 0)
    morning = datetime(2030, 6, 4, 7, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert (await Delivery.get()).next_attempt_at == morning
    assert (await drain(router, texter, now=morning, quiet=QUIET)).sent == 1
    [message] = stand_ins["jpush"].messages
    # The TTL left at sending, not the one set at noon: a phone that was off gets no stale pile.
    assert message["options"]["time_to_live"] == 24 * 3600 - 10 * 3600
    await add_device(people["officer"], "stale", "jpush")
    await notify([people["officer"].id], at=NOON, ttl_s=600)
    expired = await drain(router, texter, now=NOON + timedelta(hours=1))
    assert expired.failed == 1
    assert (await Delivery.get(user_id=people["officer"].id)).last_error == "expired"


async def test_every_kind_reaches_jpush_as_a_service_message_on_the_registered_channels(
    people, stand_ins, jpush_server, texter
):
    vendors = VendorChannels(xiaomi_channel_id="131072", oppo_channel_id="work_todo")
    with JPushSender(
        app_key=APP_KEY,
        master_secret=MASTER_SECRET,
        endpoint=jpush_server.base_url,
        timeout_s=5,
        vendors=vendors,
    ) as china:
        router = PushRouter({"jpush": china})
        phone = await add_device(people["officer"], "redmi", "jpush")
        for kind, urgent in (
            (NotificationKind.reminder, False),
            (NotificationKind.notice, False),
            (NotificationKind.notice, True),
            (NotificationKind.alert, True),
        ):
            await fan_out(
                message=Message(
                    kind=kind, title="提醒", body="正文", urgent=urgent, collapse_key=f"{kind}-1"
                ),
                user_ids=[phone.user_id],  # type: ignore[attr-defined]
                dedup=f"kinds:{kind}:{urgent}",
                now=NOON,
                push=True,
                quiet=QUIET,
                channels=ALL,
            )
        assert (await drain(router, texter, now=NOON)).sent == 4
    sent = jpush_server.sent_to(phone.token)
    assert len(sent) == 4
    for message in sent:
        options, urgent = message["options"], message["notification"]["android"]["priority"] == 1
        assert options["classification"] == 1
        vendor = options["third_party_channel"]
        assert vendor["xiaomi"] == {"channel_id": "131072"}
        assert vendor["oppo"]["channel_id"] == "work_todo"
        assert vendor["oppo"]["notify_level"] == (16 if urgent else 2)
        assert vendor["vivo"]["classification"] == 1
        assert vendor["huawei"]["importance"] == ("HIGH" if urgent else "NORMAL")
        assert "MARKETING" not in json.dumps(options) and "LOW" not in json.dumps(options)


# --- collapse on Android: a push of the same key replaces the earlier one ----------------------


async def test_a_resent_reminder_replaces_the_earlier_one_on_a_jpush_phone(
    people, stand_ins, router, texter
):
    china, patrol = stand_ins["jpush"], people["patrol"]
    phone = await add_device(patrol, "mi", "jpush")
    pixel = await add_device(patrol, "pixel", "fcm")
    await notify([patrol.id], at=NOON)
    await drain(router, texter, now=NOON)
    [first] = china.sent_to(phone.token)
    assert "override_msg_id" not in first["options"]
    [shown] = await PushShown.filter(device_id=phone.id).values_list("collapse_key", "msg_id")
    assert shown == ("task-t1", first["msg_id"])
    later = NOON + timedelta(hours=3)
    await notify([patrol.id], at=later)  # the same collapse key, three hours on
    assert (await drain(router, texter, now=later)).sent == 2
    first, second = china.sent_to(phone.token)
    assert second["options"]["override_msg_id"] == int(first["msg_id"])
    assert china.showing(phone.token) == [second]  # one notification on the phone, not two
    assert await PushShown.filter(device_id=phone.id).values_list("msg_id", flat=True) == [
        second["msg_id"]
    ]
    # FCM collapses by its own key; nothing of JPush's reaches it.
    assert len(stand_ins["fcm"].sent_to(pixel.token)) == 2


async def test_only_the_same_key_within_jpush_s_window_is_replaced(
    people, stand_ins, router, texter
):
    china, patrol = stand_ins["jpush"], people["patrol"]
    phone = await add_device(patrol, "oppo", "jpush")
    await notify([patrol.id], at=NOON)
    await notify([patrol.id], at=NOON, key="task-t2")  # another task: its own notification
    await drain(router, texter, now=NOON)
    next_day = NOON + timedelta(hours=23, minutes=30)  # past the window JPush overrides in
    await notify([patrol.id], at=next_day)
    await drain(router, texter, now=next_day)
    assert [m["replaces"] for m in china.sent_to(phone.token)] == [None, None, None]
    assert len(china.showing(phone.token)) == 3
    # What JPush can no longer override is forgotten a day after it was sent.
    await drain(router, texter, now=NOON + timedelta(days=2))
    await notify([patrol.id], at=NOON + timedelta(days=2), key="task-t3")
    await drain(router, texter, now=NOON + timedelta(days=2))
    assert await PushShown.filter(device_id=phone.id).values_list("collapse_key", flat=True) == [
        "task-t3"
    ]


async def test_a_message_jpush_no_longer_overrides_is_sent_as_a_new_one(
    people, stand_ins, router, texter
):
    china, patrol = stand_ins["jpush"], people["patrol"]
    phone = await add_device(patrol, "vivo", "jpush")
    await notify([patrol.id], at=NOON)
    await drain(router, texter, now=NOON)
    china.expire_overrides()  # JPush forgot it (its window is its own clock's)
    later = NOON + timedelta(hours=1)
    await notify([patrol.id], at=later)
    done = await drain(router, texter, now=later)
    assert (done.sent, done.failed, done.retry) == (1, 0, 0)
    first, second = china.sent_to(phone.token)
    assert "override_msg_id" not in second["options"]
    assert (
        second["cid"]
        == (await Delivery.filter(device_id=phone.id).order_by("-sent_at").first()).push_ref
    )
    assert china.showing(phone.token) == [first, second]


# --- SMS for what is urgent ------------------------------------------------------------------


async def test_an_urgent_alert_is_texted_at_once_to_officers_with_a_phone(
    people, stand_ins, router, texter
):
    await add_device(people["officer"], "officer-phone", "jpush")
    await raise_alert(people)
    assert await fan_out_alerts(NIGHT) == "notified 1 alerts to 3 inboxes"
    report = await drain(router, texter, now=NIGHT, quiet=QUIET)
    assert (report.sent, report.sms_sent) == (2, 1)  # the officer's JPush push and SMS
    [text] = stand_ins["sms"].messages
    assert text["phone"] == "13912340001"
    assert text["template_code"] == TEMPLATES["missed_checkin"]
    assert text["params"] == {"title": "矫正对象未按期完成思想汇报"}
    sms_rows = await Delivery.filter(channel=Channel.sms)
    by_user = {d.user_id: d for d in sms_rows}
    assert by_user[people["officer"].id].status == DeliveryStatus.sms_sent
    assert by_user[people["officer"].id].provider == "aliyun"
    # The supervisor has no number on file: recorded, not lost silently.
    assert by_user[people["supervisor"].id].status == DeliveryStatus.no_phone
    # Patrol members get the push and the inbox entry, not an SMS.
    assert people["patrol"].id not in by_user
    assert text["out_id"] == str(by_user[people["officer"].id].id)


async def test_other_alerts_use_the_alert_template(people, stand_ins, router, texter):
    await raise_alert(people, kind="outside_permitted_area", recipients=[people["officer"]])
    await fan_out_alerts(NOON)
    await drain(router, texter, now=NOON)
    [text] = stand_ins["sms"].messages
    assert text["template_code"] == TEMPLATES["alert"]


async def test_a_leave_decision_reaches_the_subject_by_push_and_sms(
    people, stand_ins, router, texter
):
    subject, officer = people["subject"], people["officer"]
    await add_device(subject, "subject-phone", "jpush")
    supervision = await Supervision.create(
        client_id=uuid.uuid4(),
        subject=subject,
        officer=officer,
        permitted_zone_id=uuid.uuid4(),
        level="normal",
        rules=rules_to_dict(DEFAULT_RULES),
        # Starting next month: no obligation falls due now, so only the decision is notified.
        starts_on=date(2030, 7, 1),
        ends_on=date(2030, 12, 31),
        org_unit=people["unit"],
        org_path=people["unit"].path,
    )
    leave = await LeaveRequest.create(
        supervision=supervision,
        subject_id=subject.id,
        starts_at=NOON + timedelta(days=2),
        ends_at=NOON + timedelta(days=3),
        destination="南京",
        reason="探亲",
        status=LeaveStatus.approved,
        decided_by_id=officer.id,
        decided_at=NOON - timedelta(minutes=5),
        org_path=people["unit"].path,
        request_hash="x" * 64,
    )
    await store_notices(NOON)
    await store_notices(NOON + timedelta(minutes=1))  # once per decision
    [note] = await Notification.filter(user_id=subject.id)
    assert note.title == "请假申请已批准" and note.urgent
    report = await drain(router, texter, now=NOON)
    assert (report.sent, report.sms_sent) == (2, 1)
    [text] = stand_ins["sms"].sent_to("13912340004")
    assert text["template_code"] == TEMPLATES["leave_decision"]
    [push] = stand_ins["jpush"].sent_to(jpush_id("subject-phone"))
    assert push["notification"]["android"]["extras"]["id"] == str(leave.id)


async def test_the_daily_cap_holds_and_unsent_texts_do_not_count(
    people, stand_ins, router, texter, settings, monkeypatch
):
    monkeypatch.setattr(settings, "sms_daily_cap", 2)
    officer = people["officer"]
    for _ in range(3):
        await raise_alert(people, recipients=[officer])
    await fan_out_alerts(NOON)
    report = await drain(router, texter, now=NOON)
    assert report.sms_sent == 2
    statuses = sorted((d.status, d.last_error) for d in await Delivery.filter(channel=Channel.sms))
    assert statuses == [
        (DeliveryStatus.failed, "daily_cap"),
        (DeliveryStatus.sms_sent, None),
        (DeliveryStatus.sms_sent, None),
    ]
    assert len(stand_ins["sms"].messages) == 2
    count = await SmsDailyCount.get(user_id=officer.id)
    assert (count.day, count.sent) == (date(2030, 6, 3), 2)
    # The next local day starts afresh; a text the service refused is given back to the cap.
    tomorrow = NOON + timedelta(days=1)
    stand_ins["sms"].flow_control("13912340001", 1)
    await raise_alert(people, recipients=[officer])
    await fan_out_alerts(tomorrow)
    first = await drain(router, texter, now=tomorrow)
    assert (first.sms_sent, first.retry) == (0, 1)
    assert (await SmsDailyCount.get(user_id=officer.id, day=date(2030, 6, 4))).sent == 0
    row = await Delivery.filter(channel=Channel.sms, status=DeliveryStatus.queued).first()
    assert row is not None and row.last_error == "isv.BUSINESS_LIMIT_CONTROL"
    second = await drain(router, texter, now=row.next_attempt_at)
    assert second.sms_sent == 1
    assert (await SmsDailyCount.get(user_id=officer.id, day=date(2030, 6, 4))).sent == 1
    assert len(stand_ins["sms"].sent_to("13912340001")) == 3


async def test_two_workers_never_exceed_the_cap(people, stand_ins, settings, monkeypatch):
    monkeypatch.setattr(settings, "sms_daily_cap", 3)
    user_id = people["officer"].id
    taken = await asyncio.gather(
        *(sms_cap.reserve_sms(user_id=user_id, day=date(2030, 6, 3), cap=3) for _ in range(8))
    )
    assert sum(taken) == 3
    assert (await SmsDailyCount.get(user_id=user_id)).sent == 3


# --- the reminder fallback, delivery truth, read on every channel ----------------------------


async def make_reminder(client, auth, people, *, first_at, rrule=None):
    body = {
        "title": "月度例会",
        "body": "本周五下午三点开会",
        "audience": {"user_ids": [str(people["patrol"].id), str(people["supervisor"].id)]},
        "first_at": first_at.isoformat(),
        "ttl_s": 24 * 3600,
    }
    if rrule:
        body["rrule"] = rrule
    created = await client.post(
        "/reminders",
        json=body,
        headers=auth(people["scheduler"]),
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def test_a_reminder_no_device_confirmed_is_texted_once(
    client, auth, people, stand_ins, router, texter
):
    patrol = people["patrol"]
    await add_device(patrol, "patrol-phone", "jpush")
    first_at = datetime.now(UTC) + timedelta(minutes=1)
    reminder_id = await make_reminder(client, auth, people, first_at=first_at)
    at = first_at + timedelta(seconds=1)
    # The test may run at night, or in the hour before it (when the check before the deadline
    # would meet the quiet hours): fire after them.
    for probe in (at, at + timedelta(hours=1)):
        if (end := QUIET.end_after(probe)) is not None:
            at = end + timedelta(seconds=1)
            break
    await reminders.fire_due_reminders(at)
    assert (await drain(router, texter, now=at)).sent == 1
    # Before the deadline nothing is texted; after it, once, to who has a phone.
    assert await text_unconfirmed_reminders(at + timedelta(hours=1)) == "texted 0 reminders"
    later = at + timedelta(hours=2, seconds=5)
    if (end := QUIET.end_after(later)) is not None:
        assert await text_unconfirmed_reminders(later) == "quiet hours"
        later = end + timedelta(seconds=1)
    assert await text_unconfirmed_reminders(later) == "texted 1 reminders (1 without a phone)"
    assert await text_unconfirmed_reminders(later) == "texted 0 reminders"
    report = await drain(router, texter, now=later)
    assert report.sms_sent == 1
    [text] = stand_ins["sms"].messages
    assert text["phone"] == "13912340003" and text["template_code"] == TEMPLATES["reminder"]
    assert await text_unconfirmed_reminders(later + timedelta(minutes=5)) == "texted 0 reminders"
    assert len(stand_ins["sms"].messages) == 1

    listed = await client.get(
        f"/reminders/{reminder_id}/deliveries", headers=auth(people["scheduler"])
    )
    rows = sorted(
        (r["channel"], r["provider"] or "-", r["status"], r["user_id"] == str(patrol.id))
        for r in listed.json()
    )
    assert rows == [
        ("push", "-", "no_device", False),
        ("push", "jpush", "sent", True),
        ("sms", "aliyun", "no_phone", False),
        ("sms", "aliyun", "sms_sent", True),
    ]
    assert all(r["sent_at"] for r in listed.json() if r["status"] in ("sent", "sms_sent"))
    inbox = await client.get("/me/notifications", headers=auth(patrol))
    [item] = inbox.json()["items"]
    assert [(d["channel"], d["status"]) for d in item["deliveries"]] == [
        ("push", "sent"),
        ("sms", "sms_sent"),
    ]
    assert item["received_at"] is None


async def test_a_reminder_the_app_confirmed_is_not_texted(
    client, auth, people, stand_ins, router, texter
):
    patrol = people["patrol"]
    await add_device(patrol, "patrol-phone", "jpush")
    first_at = datetime.now(UTC) + timedelta(minutes=1)
    await make_reminder(client, auth, people, first_at=first_at)
    at = first_at + timedelta(seconds=1)
    if (end := QUIET.end_after(at)) is not None:
        at = end + timedelta(seconds=1)
    await reminders.fire_due_reminders(at)
    await drain(router, texter, now=at)
    [note] = await Notification.filter(user_id=patrol.id)
    confirmed = await client.post(f"/me/notifications/{note.id}/received", headers=auth(patrol))
    assert confirmed.status_code == 204
    again = await client.post(f"/me/notifications/{note.id}/received", headers=auth(patrol))
    assert again.status_code == 204
    someone_else = await client.post(
        f"/me/notifications/{note.id}/received", headers=auth(people["officer"])
    )
    assert someone_else.status_code == 404
    later = at + timedelta(hours=3)
    if (end := QUIET.end_after(later)) is not None:
        later = end + timedelta(seconds=1)
    assert await text_unconfirmed_reminders(later) == "texted 0 reminders (1 without a phone)"
    await drain(router, texter, now=later)
    assert stand_ins["sms"].messages == []
    inbox = await client.get("/me/notifications", headers=auth(patrol))
    assert inbox.json()["items"][0]["received_at"] is not None


async def test_a_cancelled_reminder_is_not_texted(client, auth, people, stand_ins, router, texter):
    first_at = datetime.now(UTC) + timedelta(minutes=1)
    # A recurring campaign, cancelled after its first occurrence fired.
    reminder_id = await make_reminder(client, auth, people, first_at=first_at, rrule="FREQ=MONTHLY")
    at = first_at + timedelta(seconds=1)
    if (end := QUIET.end_after(at)) is not None:
        at = end + timedelta(seconds=1)
    await reminders.fire_due_reminders(at)
    cancelled = await client.delete(f"/reminders/{reminder_id}", headers=auth(people["scheduler"]))
    assert cancelled.status_code == 204
    later = at + timedelta(hours=3)
    if (end := QUIET.end_after(later)) is not None:
        later = end + timedelta(seconds=1)
    assert await text_unconfirmed_reminders(later) == "texted 0 reminders"
    assert not await Delivery.filter(channel=Channel.sms).exists()


async def test_what_was_read_is_not_sent_on_any_channel(
    client, auth, people, stand_ins, router, texter
):
    officer = people["officer"]
    await add_device(officer, "held-phone", "jpush")
    evening = datetime(2030, 6, 3, 21, 0, tzinfo=SHANGHAI).astimezone(UTC)
    # Not urgent, inside quiet hours: the push and the SMS both wait for the morning.
    await notify([officer.id], at=NIGHT, sms_template="alert", ttl_s=24 * 3600)
    assert await Delivery.filter(status=DeliveryStatus.held).count() == 2
    [note] = await Notification.filter(user_id=officer.id)
    read = await client.post(f"/me/notifications/{note.id}/read", headers=auth(officer))
    assert read.status_code == 204
    assert await Delivery.filter(status=DeliveryStatus.read).count() == 2
    morning = datetime(2030, 6, 4, 7, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert (await drain(router, texter, now=morning, quiet=QUIET)).claimed == 0
    assert stand_ins["sms"].messages == [] and stand_ins["jpush"].messages == []
    inbox = await client.get("/me/notifications", headers=auth(officer))
    [item] = inbox.json()["items"]
    assert item["read_at"] and {d["status"] for d in item["deliveries"]} == {"read"}
    # Read between claim and send (a second phone opened it): the outbox drops it unsent.
    await notify([officer.id], at=evening, urgent=True, sms_template="alert")
    claimed = await outbox.claim(claim_id="slow", now=evening, limit=10, lease_s=60)
    assert claimed == 2
    [fresh] = await Notification.filter(user_id=officer.id, read_at__isnull=True)
    await Notification.filter(id=fresh.id).update(read_at=evening)
    later = await drain(router, texter, now=evening + timedelta(seconds=61))
    assert later.sent == 0 and stand_ins["sms"].messages == []
    assert await Delivery.filter(notification_id=fresh.id, status=DeliveryStatus.read).count() == 2


# --- the worker --------------------------------------------------------------------------------


async def test_the_worker_says_once_which_channels_are_off(settings, monkeypatch, caplog):
    for name in ("fcm_credentials", "jpush_app_key", "jpush_master_secret", "sms_access_key_id"):
        monkeypatch.setattr(settings, name, None)
    stop = asyncio.Event()
    stop.set()
    with caplog.at_level(logging.INFO):
        await run_worker(stop=stop, settings=settings, announce=True)
        await run_worker(stop=stop, settings=settings, announce=False)
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "GRASSROOTS_JPUSH_APP_KEY" in m]) == 1
    assert len([m for m in said if "GRASSROOTS_SMS_" in m]) == 1


async def test_the_worker_delivers_on_every_configured_channel(db, people, stand_ins):
    officer = people["officer"]
    await add_device(officer, "boss-fcm", "fcm")
    await add_device(officer, "boss-jpush", "jpush")
    await notify([officer.id], at=datetime.now(UTC), urgent=True, sms_template="alert")
    stop = asyncio.Event()
    from grassroots.settings import get_settings

    task = asyncio.create_task(run_worker(stop=stop, settings=get_settings(), announce=True))
    try:
        for _ in range(400):
            if (
                stand_ins["fcm"].messages
                and stand_ins["jpush"].messages
                and (stand_ins["sms"].messages)
            ):
                break
            await asyncio.sleep(0.025)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    assert len(stand_ins["fcm"].messages) == 1
    assert len(stand_ins["jpush"].messages) == 1
    assert len(stand_ins["sms"].messages) == 1
