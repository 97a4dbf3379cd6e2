"""The JPush and SMS senders on their official SDKs, over HTTP to the local stand-ins: no mocks."""

from __future__ import annotations

import dataclasses
import json
import logging

import jpush
import pytest

from grassroots.settings import Settings
from notifications import jpush as jpush_module
from notifications.fcm import PushMessage
from notifications.jpush import JPushSender, check_sdk_hooks, zone_for
from notifications.sms import SmsMessage, SmsSender, sms_config
from notifications.worker import vendor_channels
from tests.doubles.fake_jpush import APP_KEY, MASTER_SECRET, FakeJPush
from tests.doubles.fake_sms import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    SIGN_NAME,
    TEMPLATES,
    FakeSms,
)


@pytest.fixture(scope="session")
def jpush_server():
    with FakeJPush() as server:
        yield server


@pytest.fixture
def fake_jpush(jpush_server):
    jpush_server.start()
    jpush_server.reset()
    yield jpush_server
    jpush_server.reset()


@pytest.fixture
def sender(fake_jpush):
    with JPushSender(
        app_key=APP_KEY, master_secret=MASTER_SECRET, endpoint=fake_jpush.base_url, timeout_s=5
    ) as made:
        yield made


@pytest.fixture(scope="session")
def sms_server():
    with FakeSms() as server:
        yield server


@pytest.fixture
def fake_sms(sms_server):
    sms_server.reset()
    yield sms_server
    sms_server.reset()


@pytest.fixture
def texter(fake_sms):
    return SmsSender(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        sign_name=SIGN_NAME,
        templates=TEMPLATES,
        endpoint=fake_sms.base_url,
        timeout_s=5,
    )


def regid(n: int) -> str:
    return f"1a0018970a{n:09d}"


def push(n: int, *, urgent: bool = False, ttl_s: int = 3600, key: str | None = None):
    return PushMessage(
        delivery_id=f"d{n}",
        token=regid(n),
        title="月度例会",
        body="本周五下午三点开会",
        data={"type": "reminder", "id": "r1", "notification_id": f"n{n}"},
        collapse_key="reminder-r1",
        ttl_s=ttl_s,
        urgent=urgent,
        provider="jpush",
        idempotency_key=key,
    )


# --- JPush -------------------------------------------------------------------------------------


def test_sdk_hooks_and_the_endpoint_zone():
    check_sdk_hooks()
    zone = zone_for(endpoint="http://127.0.0.1:9/")
    # The SDK itself builds the URL from the zone we registered.
    assert jpush.common.get_url("push", zone) == "http://127.0.0.1:9/v3/"
    assert zone_for(endpoint=None) == "default"
    assert jpush.common.get_url("push", "default") == "https://api.jpush.cn/v3/"
    with pytest.raises(ValueError):
        zone_for(endpoint="api.example.cn")


def test_messages_are_service_messages_with_ttl_and_collapse(sender, fake_jpush):
    results = sender.send([push(1), push(2, urgent=True, ttl_s=120)])
    assert [r.outcome for r in results] == ["sent", "sent"]
    assert all(r.message_id for r in results)
    normal, urgent = fake_jpush.sent_to(regid(1))[0], fake_jpush.sent_to(regid(2))[0]
    for message in (normal, urgent):
        options = message["options"]
        assert options["classification"] == 1  # system/service, never 0 (marketing)
        vendors = options["third_party_channel"]
        assert vendors["vivo"]["classification"] == 1
        assert vendors["huawei"]["category"] == "WORK"
        assert vendors["oppo"]["category"] == "TODO"
        assert "LOW" not in json.dumps(vendors)  # Huawei's and Honor's marketing class
        assert options["apns_collapse_id"] == "reminder-r1"
        android = message["notification"]["android"]
        assert android["extras"]["notification_id"] in ("n1", "n2")
        assert message["notification"]["ios"]["alert"] == {
            "title": "月度例会",
            "body": "本周五下午三点开会",
        }
        assert message["cid"].startswith(APP_KEY + "-")
    assert normal["options"]["time_to_live"] == 3600
    assert urgent["options"]["time_to_live"] == 120
    assert normal["options"]["third_party_channel"]["huawei"]["importance"] == "NORMAL"
    assert urgent["options"]["third_party_channel"]["huawei"]["importance"] == "HIGH"
    assert (
        normal["notification"]["android"]["priority"],
        urgent["notification"]["android"]["priority"],
    ) == (0, 1)


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "one by one"])
def test_vendor_channels_carry_the_registered_channel_ids(fake_jpush, batch):
    fake_jpush.refuse_batch(not batch)
    vendors = jpush_module.VendorChannels(xiaomi_channel_id="131072", oppo_channel_id="work_todo")
    with JPushSender(
        app_key=APP_KEY,
        master_secret=MASTER_SECRET,
        endpoint=fake_jpush.base_url,
        timeout_s=5,
        vendors=vendors,
    ) as configured:
        results = configured.send([push(1), push(2, urgent=True)])
    assert [r.outcome for r in results] == ["sent", "sent"]
    for n, level in ((1, 2), (2, 16)):
        [message] = fake_jpush.sent_to(regid(n))
        options = message["options"]
        assert options["classification"] == 1
        assert options["third_party_channel"]["xiaomi"] == {"channel_id": "131072"}
        assert options["third_party_channel"]["oppo"] == {
            "category": "TODO",
            "notify_level": level,
            "channel_id": "work_todo",
        }
        assert options["third_party_channel"]["vivo"]["classification"] == 1
        assert "MARKETING" not in json.dumps(options) and "LOW" not in json.dumps(options)


def test_without_channel_ids_none_is_sent(sender, fake_jpush):
    sender.send([push(1)])
    [message] = fake_jpush.sent_to(regid(1))
    vendors = message["options"]["third_party_channel"]
    assert "xiaomi" not in vendors and "channel_id" not in vendors["oppo"]


def test_the_channel_ids_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("GRASSROOTS_JPUSH_XIAOMI_CHANNEL_ID", "131072")
    monkeypatch.setenv("GRASSROOTS_JPUSH_OPPO_CHANNEL_ID", "work_todo")
    settings = Settings()
    assert vendor_channels(settings) == jpush_module.VendorChannels(
        xiaomi_channel_id="131072", oppo_channel_id="work_todo"
    )
    monkeypatch.delenv("GRASSROOTS_JPUSH_XIAOMI_CHANNEL_ID")
    monkeypatch.delenv("GRASSROOTS_JPUSH_OPPO_CHANNEL_ID")
    assert vendor_channels(Settings()) == jpush_module.NO_VENDOR_CHANNELS


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "one by one"])
def test_a_push_replaces_the_message_it_names_or_goes_anew(sender, fake_jpush, batch):
    fake_jpush.refuse_batch(not batch)
    [first] = sender.send([push(1)])
    [second] = sender.send([dataclasses.replace(push(1), replaces=first.message_id)])
    assert second.outcome == "sent"
    sent = fake_jpush.sent_to(regid(1))
    assert sent[1]["options"]["override_msg_id"] == int(first.message_id)
    assert fake_jpush.showing(regid(1)) == [sent[1]]
    fake_jpush.expire_overrides()
    [third] = sender.send([dataclasses.replace(push(1), replaces=second.message_id)])
    assert third.outcome == "sent"  # refused as an override (1003), then sent as a new one
    assert "override_msg_id" not in fake_jpush.sent_to(regid(1))[2]["options"]
    assert len(fake_jpush.showing(regid(1))) == 2


def test_a_large_send_goes_in_batches_of_1000(sender, fake_jpush):
    results = sender.send([push(n) for n in range(2500)])
    assert all(r.ok for r in results)
    assert [r.delivery_id for r in results] == [f"d{n}" for n in range(2500)]
    assert fake_jpush.batch_requests == 3 and fake_jpush.plain_requests == 0
    messages = fake_jpush.messages
    assert len(messages) == 2500 and len({m["target"] for m in messages}) == 2500
    assert len({m["cid"] for m in messages}) == 2500


def test_per_message_error_codes(sender, fake_jpush):
    fake_jpush.unregistered(regid(1))
    fake_jpush.fail_times(regid(2), 1, 1000)
    fake_jpush.fail_times(regid(3), 1, 1003)
    results = {r.delivery_id: r for r in sender.send([push(1), push(2), push(3), push(4)])}
    assert (results["d1"].outcome, results["d1"].error) == ("unregistered", "JPUSH_1011")
    assert (results["d2"].outcome, results["d2"].error) == ("transient", "JPUSH_1000")
    assert (results["d3"].outcome, results["d3"].error) == ("failed", "JPUSH_1003")
    assert results["d4"].outcome == "sent"
    assert [m["target"] for m in fake_jpush.messages] == [regid(4)]


def test_a_rate_limited_request_is_retried_later_as_a_whole(sender, fake_jpush):
    fake_jpush.rate_limit(1)
    results = sender.send([push(1), push(2)])
    assert {(r.outcome, r.error) for r in results} == {("transient", "JPUSH_2002")}
    assert fake_jpush.messages == []
    assert all(r.ok for r in sender.send([push(1), push(2)]))


def test_a_wrong_master_secret_sends_nothing(fake_jpush):
    with JPushSender(
        app_key=APP_KEY, master_secret="not-the-secret", endpoint=fake_jpush.base_url
    ) as wrong:
        results = wrong.send([push(1)])
    assert (results[0].outcome, results[0].error) == ("transient", "JPUSH_UNAUTHORIZED")
    assert fake_jpush.auth_failures >= 1 and fake_jpush.messages == []


def test_without_batch_push_each_message_goes_alone(sender, fake_jpush):
    fake_jpush.refuse_batch()
    fake_jpush.unregistered(regid(2))
    results = sender.send([push(1), push(2), push(3)])
    assert [r.outcome for r in results] == ["sent", "unregistered", "sent"]
    assert results[1].error == "JPUSH_1011"
    assert sender.batch_supported is False
    assert fake_jpush.plain_requests == 3
    assert sorted(m["target"] for m in fake_jpush.messages) == [regid(1), regid(3)]


def test_a_cid_is_sent_once_however_often_it_is_posted(sender, fake_jpush):
    [key] = sender.reserve_keys(1)
    first = sender.send([push(1, key=key)])
    again = sender.send([push(1, key=key)])  # e.g. a retry after a worker died mid-send
    assert first[0].ok and again[0].ok and first[0].message_id == again[0].message_id
    assert len(fake_jpush.sent_to(regid(1))) == 1
    fake_jpush.refuse_batch()  # the plain push carries the cid too
    [other] = sender.reserve_keys(1)
    sender.send([push(2, key=other)])
    assert fake_jpush.plain_requests == 1


def test_an_unreachable_jpush_is_transient():
    down = FakeJPush()
    down.start()
    base = down.base_url
    down.stop()
    with JPushSender(app_key=APP_KEY, master_secret=MASTER_SECRET, endpoint=base) as lost:
        results = lost.send([push(1)])
    assert results[0].outcome == "transient"
    assert results[0].error in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def test_make_jpush_sender_needs_both_keys():
    assert jpush_module.make_jpush_sender(app_key=None, master_secret="x", endpoint=None) is None
    assert jpush_module.make_jpush_sender(app_key="k", master_secret=None, endpoint=None) is None


# --- SMS ---------------------------------------------------------------------------------------


def sms(
    n: int, *, template: str = "alert", phone: str | None = None, title: str = "矫正对象未按期报到"
):
    return SmsMessage(
        delivery_id=f"s{n}", phone=phone or f"1380013{n:04d}", template=template, title=title
    )


def test_a_signed_sendsms_with_the_kind_s_template(texter, fake_sms):
    long_title = "矫正对象未按期完成思想汇报，请尽快联系并核实情况"
    results = texter.send([sms(1, title=long_title), sms(2, template="leave_decision")])
    assert [r.outcome for r in results] == ["sent", "sent"]
    assert all(r.message_id for r in results)
    assert fake_sms.rejected_signatures == 0
    first, second = fake_sms.sent_to("13800130001")[0], fake_sms.sent_to("13800130002")[0]
    assert first["sign_name"] == SIGN_NAME
    assert first["template_code"] == TEMPLATES["alert"]
    assert second["template_code"] == TEMPLATES["leave_decision"]
    assert first["params"] == {"title": long_title[:20]}
    assert first["out_id"] == "s1"


def test_a_wrong_secret_fails_the_signature_check(fake_sms):
    wrong = SmsSender(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret="not-the-secret",
        sign_name=SIGN_NAME,
        templates=TEMPLATES,
        endpoint=fake_sms.base_url,
    )
    [result] = wrong.send([sms(1)])
    assert (result.outcome, result.error) == ("failed", "SignatureDoesNotMatch")
    assert fake_sms.rejected_signatures == 1 and fake_sms.messages == []


def test_flow_control_and_throttling_are_transient_bad_numbers_are_not(texter, fake_sms):
    fake_sms.flow_control("13800130001", 1)
    results = texter.send([sms(1), sms(2, phone="12345"), sms(3, template="unknown")])
    assert [(r.outcome, r.error) for r in results] == [
        ("transient", "isv.BUSINESS_LIMIT_CONTROL"),
        ("failed", "isv.MOBILE_NUMBER_ILLEGAL"),
        ("failed", "NO_TEMPLATE"),
    ]
    fake_sms.throttle(1)
    [throttled] = texter.send([sms(4)])
    assert (throttled.outcome, throttled.error) == ("transient", "Throttling.User")
    assert [r.outcome for r in texter.send([sms(1), sms(4)])] == ["sent", "sent"]


def test_an_unreachable_sms_service_is_transient():
    down = FakeSms()
    down.start()
    base = down.base_url
    down.stop()
    lost = SmsSender(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        sign_name=SIGN_NAME,
        templates=TEMPLATES,
        endpoint=base,
        timeout_s=2,
    )
    [result] = lost.send([sms(1)])
    assert (result.outcome, result.error) == ("transient", "UNAVAILABLE")


def test_phone_numbers_never_reach_the_log(texter, fake_sms, caplog):
    fake_sms.flow_control("13800130001", 1)
    with caplog.at_level(logging.DEBUG):
        texter.send([sms(1), sms(2, phone="12345")])
    assert caplog.records  # the outcomes were logged
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "13800130001" not in text and "12345" not in text


def test_the_sms_endpoint_must_be_a_url():
    config = sms_config(
        access_key_id="a", access_key_secret="b", endpoint="http://127.0.0.1:8080", timeout_s=1
    )
    assert (config.endpoint, config.protocol) == ("127.0.0.1:8080", "http")
    with pytest.raises(ValueError):
        sms_config(access_key_id="a", access_key_secret="b", endpoint="dysms", timeout_s=1)
