"""FcmSender through the real firebase-admin SDK, over HTTP, against the fake FCM server."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from firebase_admin import messaging

from notifications import fcm
from notifications.fcm import FcmSender, PushMessage, SendResult
from tests.doubles.fake_fcm import FakeFcm


def push(
    *,
    token: str,
    delivery_id: str | None = None,
    urgent: bool = False,
    collapse_key: str | None = "task-42",
    ttl_s: int = 3600,
    data: dict[str, str] | None = None,
) -> PushMessage:
    """Build a PushMessage with sensible defaults."""
    return PushMessage(
        delivery_id=delivery_id or f"delivery-{token}",
        token=token,
        title="六个一提醒",
        body="本月议事会将于月底截止",
        data=data if data is not None else {"type": "task", "id": "task-42"},
        collapse_key=collapse_key,
        ttl_s=ttl_s,
        urgent=urgent,
    )


def test_sdk_hooks_still_exist() -> None:
    """The SDK internals behind GRASSROOTS_FCM_ENDPOINT are still where we expect them."""
    fcm.check_sdk_hooks()
    assert messaging._MessagingService.FCM_URL == (
        "https://fcm.googleapis.com/v1/projects/{0}/messages:send"
    )


def test_check_sdk_hooks_notices_a_missing_fcm_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """If a firebase-admin upgrade drops FCM_URL, the check says so instead of sending to Google."""
    monkeypatch.delattr(messaging._MessagingService, "FCM_URL")
    with pytest.raises(RuntimeError, match="FCM_URL"):
        fcm.check_sdk_hooks()


def test_endpoint_replaces_only_the_base() -> None:
    """The endpoint keeps the SDK's path format."""
    assert fcm.fcm_url_for(endpoint="http://127.0.0.1:9/") == (
        "http://127.0.0.1:9/v1/projects/{0}/messages:send"
    )
    assert fcm.fcm_url_for(endpoint=None) == messaging._MessagingService.FCM_URL
    with pytest.raises(ValueError, match="http"):
        fcm.fcm_url_for(endpoint="fcm.example.com")


def test_sender_leaves_the_class_attribute_as_it_found_it(fcm_sender: FcmSender) -> None:
    """The override is applied to our App only, not to every App in the process."""
    assert messaging._MessagingService.FCM_URL.startswith("https://fcm.googleapis.com/")
    assert fcm_sender.endpoint.startswith("http://127.0.0.1:")


def test_happy_path_sends_payload_and_platform_options(
    fake_fcm: FakeFcm, fcm_sender: FcmSender
) -> None:
    """A normal push carries notification, deep-link data, Android and APNs options."""
    before_s = int(time.time())
    [result] = fcm_sender.send([push(token="device-token-aaaaaaaa")])

    assert result.ok and result.outcome == "sent" and result.error is None
    assert result.delivery_id == "delivery-device-token-aaaaaaaa"
    assert result.message_id is not None
    assert result.message_id.startswith("projects/grassroots-test/messages/")
    [message] = fake_fcm.sent_to("device-token-aaaaaaaa")
    assert message["notification"] == {"title": "六个一提醒", "body": "本月议事会将于月底截止"}
    assert message["data"] == {"type": "task", "id": "task-42"}
    assert message["android"] == {"ttl": "3600s", "collapse_key": "task-42", "priority": "normal"}
    headers = message["apns"]["headers"]
    assert headers["apns-priority"] == "5"
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-collapse-id"] == "task-42"
    assert before_s + 3600 <= int(headers["apns-expiration"]) <= int(time.time()) + 3600


@pytest.mark.parametrize(
    ("urgent", "android_priority", "apns_priority"), [(True, "high", "10"), (False, "normal", "5")]
)
def test_urgent_and_normal_priority(
    fake_fcm: FakeFcm,
    fcm_sender: FcmSender,
    urgent: bool,
    android_priority: str,
    apns_priority: str,
) -> None:
    """Urgent pushes wake the phone; the rest may wait for a good moment."""
    fcm_sender.send([push(token="device-priority", urgent=urgent)])
    [message] = fake_fcm.sent_to("device-priority")
    assert message["android"]["priority"] == android_priority
    assert message["apns"]["headers"]["apns-priority"] == apns_priority


def test_without_collapse_key_no_collapse_headers(fake_fcm: FakeFcm, fcm_sender: FcmSender) -> None:
    """No collapse key: nothing collapses on either platform."""
    fcm_sender.send([push(token="device-nocollapse", collapse_key=None)])
    [message] = fake_fcm.sent_to("device-nocollapse")
    assert "collapse_key" not in message["android"]
    assert "apns-collapse-id" not in message["apns"]["headers"]


def test_apns_collapse_id_fits_64_bytes_and_stays_distinct() -> None:
    """APNs refuses collapse ids over 64 bytes; long keys are shortened without colliding."""
    first = fcm.apns_collapse_id(collapse_key="提醒" * 20 + "a")
    second = fcm.apns_collapse_id(collapse_key="提醒" * 20 + "b")
    assert len(first.encode()) <= 64 and len(second.encode()) <= 64
    assert first != second
    assert fcm.apns_collapse_id(collapse_key="short") == "short"


def test_600_messages_go_out_as_500_plus_100(
    fake_fcm: FakeFcm, fcm_sender: FcmSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send_each takes at most 500 messages: 600 become two calls, all delivered once, in order."""
    batch_sizes: list[int] = []
    real_send_each = messaging.send_each

    def spy(messages: list[messaging.Message], **kwargs: Any) -> messaging.BatchResponse:
        batch_sizes.append(len(messages))
        return real_send_each(messages, **kwargs)

    monkeypatch.setattr(messaging, "send_each", spy)
    pushes = [push(token=f"device-{i:04d}", delivery_id=f"d-{i}") for i in range(600)]

    results = fcm_sender.send(pushes)

    assert sorted(batch_sizes) == [100, 500]
    assert [result.delivery_id for result in results] == [f"d-{i}" for i in range(600)]
    assert all(result.outcome == "sent" for result in results)
    received = sorted(message["token"] for message in fake_fcm.messages)
    assert received == [f"device-{i:04d}" for i in range(600)]
    # One OAuth2 token serves all 600 requests (no stampede on the token endpoint).
    assert fake_fcm.token_requests == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("UNAVAILABLE", "UNAVAILABLE"),
        ("INTERNAL", "INTERNAL"),
        ("QUOTA_EXCEEDED", "QUOTA_EXCEEDED"),
        ("RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"),
        ("DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED"),
    ],
)
def test_transient_errors(fake_fcm: FakeFcm, fcm_sender: FcmSender, status: str, code: str) -> None:
    """Server-side hiccups are transient, reported once (no hidden SDK retries), then succeed."""
    fake_fcm.fail_times("device-flaky", 1, status=status)

    [first] = fcm_sender.send([push(token="device-flaky")])
    [second] = fcm_sender.send([push(token="device-flaky")])

    assert first == SendResult(
        delivery_id="delivery-device-flaky",
        ok=False,
        message_id=None,
        outcome="transient",
        error=code,
    )
    assert second.outcome == "sent"
    assert fake_fcm.send_requests == 2
    assert len(fake_fcm.sent_to("device-flaky")) == 1


def test_unregistered_and_sender_mismatch_are_unregistered(
    fake_fcm: FakeFcm, fcm_sender: FcmSender
) -> None:
    """A token FCM no longer knows, or one from another project, is to be pruned."""
    fake_fcm.unregistered("device-gone")
    fake_fcm.fail_times("device-other-project", 99, status="SENDER_ID_MISMATCH")

    gone, mismatch, fine = fcm_sender.send(
        [push(token="device-gone"), push(token="device-other-project"), push(token="device-ok")]
    )

    assert (gone.outcome, gone.error) == ("unregistered", "UNREGISTERED")
    assert (mismatch.outcome, mismatch.error) == ("unregistered", "SENDER_ID_MISMATCH")
    assert fine.outcome == "sent"
    assert [m["token"] for m in fake_fcm.messages] == ["device-ok"]


def test_invalid_token_is_invalid_but_a_bad_payload_is_failed(
    fake_fcm: FakeFcm, fcm_sender: FcmSender
) -> None:
    """INVALID_ARGUMENT deletes the device only when FCM blames the token."""
    fake_fcm.invalid("device-garbled")
    fake_fcm.invalid("device-bad-payload", message="Invalid value at 'message.data[0].value'")

    garbled, bad_payload = fcm_sender.send(
        [push(token="device-garbled"), push(token="device-bad-payload")]
    )

    assert (garbled.outcome, garbled.error) == ("invalid", "INVALID_ARGUMENT")
    assert (bad_payload.outcome, bad_payload.error) == ("failed", "INVALID_ARGUMENT")


def test_a_malformed_message_does_not_sink_its_batch(
    fake_fcm: FakeFcm, fcm_sender: FcmSender
) -> None:
    """The SDK encodes a whole batch before sending: one bad message must not fail the others."""
    bad_data: Any = {"type": "task", "id": 42}  # not a string: the SDK's encoder refuses it
    results = fcm_sender.send(
        [
            push(token="device-1"),
            push(token="device-2", data=bad_data),
            push(token="", delivery_id="no-token"),
            push(token="device-3"),
        ]
    )

    assert [(r.outcome, r.error) for r in results] == [
        ("sent", None),
        ("failed", "BAD_MESSAGE"),
        ("invalid", "EMPTY_TOKEN"),
        ("sent", None),
    ]
    assert sorted(m["token"] for m in fake_fcm.messages) == ["device-1", "device-3"]


def test_server_down_before_the_first_token_makes_everything_transient(
    fake_fcm: FakeFcm, fcm_credentials: Path
) -> None:
    """Token endpoint refusing connections: the whole batch is transient, nothing is lost."""
    sender = FcmSender(
        credentials_path=str(fcm_credentials), endpoint=fake_fcm.base_url, timeout_s=2
    )
    try:
        fake_fcm.down()
        results = sender.send([push(token=f"device-{i}") for i in range(3)])
        assert {(r.outcome, r.error) for r in results} == {("transient", "AUTH_UNAVAILABLE")}
        fake_fcm.up()
        assert all(r.outcome == "sent" for r in sender.send([push(token="device-0")]))
    finally:
        sender.close()


def test_server_down_with_a_valid_token_makes_everything_transient(
    fake_fcm: FakeFcm, fcm_sender: FcmSender
) -> None:
    """FCM refusing connections after we hold a token: every message is transient."""
    fcm_sender.send([push(token="device-warmup")])
    fake_fcm.down()

    results = fcm_sender.send([push(token=f"device-{i}") for i in range(5)])

    assert {(r.outcome, r.error) for r in results} == {("transient", "UNAVAILABLE")}
    fake_fcm.up()
    assert fcm_sender.send([push(token="device-back")])[0].outcome == "sent"


def test_server_answering_503_makes_everything_transient(
    fake_fcm: FakeFcm, fcm_sender: FcmSender
) -> None:
    """A server that is up but unavailable: transient, and tried once only."""
    fcm_sender.send([push(token="device-warmup")])
    fake_fcm.down(refuse=False)

    results = fcm_sender.send([push(token=f"device-{i}") for i in range(3)])

    assert {(r.outcome, r.error) for r in results} == {("transient", "UNAVAILABLE")}


def test_a_slow_server_times_out_as_transient(fake_fcm: FakeFcm, fcm_credentials: Path) -> None:
    """httpTimeout bounds every call; a timeout is transient."""
    with FcmSender(
        credentials_path=str(fcm_credentials), endpoint=fake_fcm.base_url, timeout_s=0.3
    ) as sender:
        sender.send([push(token="device-warmup")])
        fake_fcm.delay_s = 1.0
        [result] = sender.send([push(token="device-slow")])
    assert (result.outcome, result.error) == ("transient", "DEADLINE_EXCEEDED")


def test_the_token_uri_in_the_json_is_the_one_used(
    fake_fcm: FakeFcm, fcm_credentials: Path, tmp_path: Path
) -> None:
    """google-auth posts to the service account's token_uri, not to Google's."""
    info = json.loads(fcm_credentials.read_text(encoding="utf-8"))
    assert info["token_uri"] == f"{fake_fcm.base_url}/token"
    with FcmSender(credentials_path=str(fcm_credentials), endpoint=fake_fcm.base_url) as sender:
        sender.send([push(token="device-a"), push(token="device-b")])
    assert fake_fcm.token_requests == 1

    # Point token_uri somewhere that refuses connections: the fake sees no token request.
    info["token_uri"] = "http://127.0.0.1:9/token"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(info), encoding="utf-8")
    fake_fcm.reset()
    with FcmSender(
        credentials_path=str(elsewhere), endpoint=fake_fcm.base_url, timeout_s=2
    ) as sender:
        [result] = sender.send([push(token="device-c")])
    assert (result.outcome, result.error) == ("transient", "AUTH_UNAVAILABLE")
    assert fake_fcm.token_requests == 0


def test_logs_never_hold_a_whole_token(
    fake_fcm: FakeFcm, fcm_sender: FcmSender, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures are logged with a short token prefix at most."""
    token = "secret-device-token-" + "x" * 100
    fake_fcm.unregistered(token)
    with caplog.at_level(logging.DEBUG):
        fcm_sender.send([push(token=token, delivery_id="delivery-1")])
    assert "secret-d" in caplog.text
    assert token not in caplog.text


def test_make_sender_without_credentials_is_none(fcm_credentials: Path) -> None:
    """No GRASSROOTS_FCM_CREDENTIALS: no sender, the inbox still fills."""
    assert fcm.make_sender(credentials_path=None, endpoint=None) is None
    assert fcm.make_sender(credentials_path="", endpoint=None) is None
    sender = fcm.make_sender(credentials_path=str(fcm_credentials), endpoint="http://127.0.0.1:9")
    assert isinstance(sender, FcmSender)
    sender.close()


def test_empty_send_sends_nothing(fake_fcm: FakeFcm, fcm_sender: FcmSender) -> None:
    """Nothing in, nothing out."""
    assert fcm_sender.send([]) == []
    assert fake_fcm.send_requests == 0
