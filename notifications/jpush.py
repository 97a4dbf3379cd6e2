"""Push transport for mainland China: JPush (极光推送) on its official Python client, `jpush`.

Phones sold in China mostly lack Google Play services, so FCM never reaches them; JPush's client
SDK registers the phone with its vendor channel (Huawei, Honor, Xiaomi, OPPO, vivo, ...) and the
server sends through JPush's REST API to the phone's registration id.

Idempotency. A cid is also JPush's guard against duplicates: a message posted again under the same
cid is not sent again. The outbox asks for the cids (`reserve_keys`) and stores one per delivery
before the first send; every retry, including one after a worker died mid-send, reuses it, so a
JPush push reaches the phone once even across a crash (FCM and SMS have no such key).

Batching. Every push carries its own inbox notification id, so the messages of a batch differ and
JPush's plain push (one content for up to 1,000 registration ids) does not fit. JPush's batch single
push (`/v3/push/batch/regid/single`) takes up to 1,000 different messages in one request, keyed by
cids fetched beforehand from `/v3/push/cid`, and answers per cid: a `msg_id`, or an error such as
1011 (no such registration id: the device is pruned). The SDK's `batch_push_by_regid` fetches the
cids itself and does not say which cid it gave which message, so we fetch the cids with the SDK's
`get_cid` and post the batch through the SDK's own `_request` (its auth, headers and errors). That
interface needs JPush to enable it for the app (a "VIP" feature): an app without it is answered
with a permission error, and the sender then falls back to one plain push per message.

Collapse. iOS gets `apns_collapse_id`. For Android JPush documents no collapse key; what it
documents is `options.override_msg_id`: the msg_id of a message sent in the last day, which the
new notification replaces on the phone (JPush's own channel and the Xiaomi, OPPO, vivo, FCM, Honor
and Huawei EMUI 10+ channels). The outbox names the last msg_id of the push's collapse key to the
device (`PushMessage.replaces`, kept in `push_shown` by notifications.refs); one JPush no longer
knows is refused (1003) and the message is sent again at once without it.

Endpoint. The SDK builds every URL from `jpush.common.ZONES[zone]`; `GRASSROOTS_JPUSH_ENDPOINT`
registers one more zone whose URLs point at that base, and the client is made with that zone.

Classification. Chinese vendors throttle marketing messages silently, so every message is marked
as a service/system message: `options.classification = 1`, Huawei/Honor `importance` NORMAL or HIGH
(never LOW, their marketing class) with Huawei category WORK, vivo `classification` 1 with
category TODO, OPPO category TODO with `notify_level` 2 (notification bar and lock screen) or, when
urgent, 16 (banner, vibration and sound too); Android's own `category` is `reminder` or `alarm`.
Xiaomi (since 2023) and OPPO put a message without the `channel_id` of a channel registered in
their console for service messages in their public channel, with its daily limits: each is sent
when configured (`VendorChannels`, GRASSROOTS_JPUSH_{XIAOMI,OPPO}_CHANNEL_ID). Field names as JPush
documents `options.third_party_channel` (docs.jiguang.cn/jpush/server/push/rest_api_v3_push).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jpush
import requests.adapters
from jpush import common as jpush_common

from notifications.fcm import (
    DEFAULT_TIMEOUT_S,
    Outcome,
    PushMessage,
    SendResult,
    apns_collapse_id,
    token_hint,
)

log = logging.getLogger(__name__)

JPUSH_BASE_URL = "https://api.jpush.cn"
MAX_BATCH = 1000  # batch single push and the cid pool take at most 1,000 per request
BATCH_PATH = "push/batch/regid/single"
# JPush's time_to_live is capped at 10 days for offline messages.
MAX_TTL_S = 10 * 24 * 3600

# JPush v3 error codes (https://docs.jiguang.cn/jpush/server/push/rest_api_v3_push): what they
# mean for one delivery.
INVALID_PARAMETER = 1003  # e.g. an override_msg_id JPush no longer knows
NO_TARGET = 1011  # no device with this registration id (never registered, uninstalled, expired)
TRANSIENT_CODES = frozenset(
    {
        1000,  # internal error
        1030,  # internal timeout
        2002,  # API calls above the app's rate limit (HTTP 429)
        2008,  # broadcast above its rate limit
        2009,  # push requests above their rate limit
    }
)
NO_PERMISSION = 2004  # e.g. batch single push not enabled for the app
_PER_MESSAGE_THREADS = 16

_ZONE_URLS = ("PUSH", "REPORT", "DEVICE", "ALIAS", "TAG", "SCHEDULE", "ADMIN")


def check_sdk_hooks() -> None:
    """Raise RuntimeError if the jpush internals we rely on have changed."""
    zones = getattr(jpush_common, "ZONES", None)
    if not isinstance(zones, dict) or "PUSH" not in zones.get("DEFAULT", {}):
        raise RuntimeError("jpush.common.ZONES no longer maps zones to URLs")
    if not callable(getattr(jpush_common, "get_url", None)):
        raise RuntimeError("jpush.common.get_url is gone")
    if not callable(getattr(jpush.JPush, "_request", None)):
        raise RuntimeError("jpush.JPush._request is gone")
    if not callable(getattr(jpush.Push, "get_cid", None)):
        raise RuntimeError("jpush.Push.get_cid is gone")


def zone_for(*, endpoint: str | None) -> str:
    """The SDK zone whose URLs use ``endpoint`` as base (None: JPush's own, zone "default")."""
    if endpoint is None:
        return "default"
    base = endpoint.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError("JPush endpoint must be an http(s) base URL")
    # get_url upper-cases the zone it is given, so the key is upper case throughout.
    name = ("GRASSROOTS-" + hashlib.sha256(base.encode()).hexdigest()[:12]).upper()
    jpush_common.ZONES[name] = {
        "PUSH": f"{base}/v3/",
        "REPORT": f"{base}/v3/report/",
        "DEVICE": f"{base}/v3/devices/",
        "ALIAS": f"{base}/v3/aliases/",
        "TAG": f"{base}/v3/tags/",
        "SCHEDULE": f"{base}/v3/schedules/",
        "ADMIN": f"{base}/v1/",
    }
    assert set(_ZONE_URLS) == set(jpush_common.ZONES[name])
    return name


@dataclass(frozen=True)
class VendorChannels:
    """The service-message channels registered in the vendors' consoles (None: not sent)."""

    xiaomi_channel_id: str | None = None
    oppo_channel_id: str | None = None


NO_VENDOR_CHANNELS = VendorChannels()


def third_party_channel(*, urgent: bool, vendors: VendorChannels) -> dict[str, dict[str, Any]]:
    """`options.third_party_channel`: every vendor's service (never marketing) classification."""
    importance = "HIGH" if urgent else "NORMAL"
    channel: dict[str, dict[str, Any]] = {
        "huawei": {"importance": importance, "category": "WORK"},
        "honor": {"importance": importance},
        "vivo": {"classification": 1, "category": "TODO"},
        # OPPO's notify_level needs its category: 16 = bar, lock screen, banner, vibration, sound.
        "oppo": {"category": "TODO", "notify_level": 16 if urgent else 2},
    }
    if vendors.xiaomi_channel_id:
        channel["xiaomi"] = {"channel_id": vendors.xiaomi_channel_id}
    if vendors.oppo_channel_id:
        channel["oppo"]["channel_id"] = vendors.oppo_channel_id
    return channel


def build_payload(
    *, push: PushMessage, vendors: VendorChannels = NO_VENDOR_CHANNELS
) -> dict[str, Any]:
    """One message of a batch single push: target, notification and delivery options."""
    extras = dict(push.data)
    android = jpush.android(
        alert=push.body,
        title=push.title,
        extras=extras,
        # JPush's Android priority runs -2..2; urgent alerts peek over other apps.
        priority=1 if push.urgent else 0,
        category="alarm" if push.urgent else "reminder",
    )
    ios = jpush.ios(
        alert={"title": push.title, "body": push.body},
        extras=extras,
        thread_id=push.collapse_key,
        interruption_level="time-sensitive" if push.urgent else "active",
    )
    options: dict[str, Any] = {
        "time_to_live": max(0, min(push.ttl_s, MAX_TTL_S)),
        "apns_production": True,
        # 1 = system/service message, 0 = operational (marketing) message: never 0 here.
        "classification": 1,
        "third_party_channel": third_party_channel(urgent=push.urgent, vendors=vendors),
    }
    if push.collapse_key:
        options["apns_collapse_id"] = apns_collapse_id(collapse_key=push.collapse_key)
    if push.replaces is not None and push.replaces.isdigit():
        # Android: the new notification takes the place of the earlier one of the same key.
        options["override_msg_id"] = int(push.replaces)
    return {
        "platform": "all",
        "target": push.token,
        "notification": jpush.notification(alert=push.body, android=android, ios=ios),
        "options": options,
    }


def classify_code(*, code: int | None, message: str | None) -> tuple[Outcome, str]:
    """Map a JPush error code to an outcome and a short error code."""
    label = f"JPUSH_{code}" if code is not None else "JPUSH_ERROR"
    if code == NO_TARGET:
        return "unregistered", label
    if code in TRANSIENT_CODES:
        return "transient", label
    if code == INVALID_PARAMETER and "registration" in (message or "").lower():
        return "invalid", label
    return "failed", label


class _BatchRefused(Exception):
    """JPush does not allow batch single push for this app."""


class JPushSender:
    """Sender on JPush's official client, batch single push with a per-message fallback."""

    def __init__(
        self,
        *,
        app_key: str,
        master_secret: str,
        endpoint: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        vendors: VendorChannels = NO_VENDOR_CHANNELS,
    ) -> None:
        """Make the SDK client against JPush or ``endpoint``."""
        check_sdk_hooks()
        self.vendors = vendors
        self.zone = zone_for(endpoint=endpoint)
        self.endpoint = (endpoint or JPUSH_BASE_URL).rstrip("/")
        self._client = jpush.JPush(app_key, master_secret, timeout=timeout_s, zone=self.zone)
        # Requests reads proxy settings from the environment on every call unless told not to;
        # the per-message fallback may run many calls at once, hence the larger pool.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=_PER_MESSAGE_THREADS)
        self._client.session.mount(self.endpoint, adapter)
        self.batch_supported = True

    def __enter__(self) -> JPushSender:
        """Return the sender itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the sender."""
        self.close()

    def close(self) -> None:
        """Close the SDK's HTTP connections."""
        self._client.session.close()

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        """Send the messages in batches of at most 1,000; one result per message, in order.

        A message JPush refuses because the one it would replace is past the override window or
        unknown (1003) is sent again at once as a new notification, under the same cid.
        """
        results = self._send_all(messages)
        stale = [
            i
            for i, (push, result) in enumerate(zip(messages, results, strict=True))
            if push.replaces is not None and result.error == f"JPUSH_{INVALID_PARAMETER}"
        ]
        if stale:
            log.info("%d pushes could not replace their earlier message: sent anew", len(stale))
            again = self._send_all([dataclasses.replace(messages[i], replaces=None) for i in stale])
            for i, result in zip(stale, again, strict=True):
                results[i] = result
        return results

    def _send_all(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            batch = messages[start : start + MAX_BATCH]
            if self.batch_supported:
                try:
                    results.extend(self._send_batch(batch=batch))
                    continue
                except _BatchRefused:
                    log.warning("JPush refused batch single push: one request per message now")
                    self.batch_supported = False
            results.extend(self._send_each(batch=batch))
        return results

    def reserve_keys(self, count: int) -> list[str]:
        """Fetch ``count`` cids from JPush: idempotency keys to store before the first send."""
        cids: list[str] = []
        push_api = self._client.create_push()
        while len(cids) < count:
            want = min(MAX_BATCH, count - len(cids))
            got = list(push_api.get_cid(want, "push").payload["cidlist"])
            if len(got) != want:
                raise ValueError(f"JPush gave {len(got)} cids for {want}")
            cids.extend(got)
        return cids

    # batch single push ---------------------------------------------------------------------

    def _send_batch(self, *, batch: Sequence[PushMessage]) -> list[SendResult]:
        """Post the batch in one batch single push, each message under its cid."""
        try:
            payloads = [build_payload(push=push, vendors=self.vendors) for push in batch]
        except ValueError:
            return [self._one_by_one_malformed(push=push) for push in batch]
        try:
            missing = [i for i, push in enumerate(batch) if not push.idempotency_key]
            fresh = iter(self.reserve_keys(len(missing)) if missing else [])
            # A message whose cid was stored beforehand keeps it: JPush sends each cid once.
            cids = [push.idempotency_key or next(fresh) for push in batch]
            body = json.dumps(
                {"pushlist": dict(zip(cids, payloads, strict=True))}, ensure_ascii=False
            )
            url = jpush_common.get_url("push", self.zone) + BATCH_PATH
            response = self._client._request("POST", body.encode(), url, "application/json", 3)
            answers: dict[str, Any] = response.json()
        except Exception as error:  # noqa: BLE001 - classified below, the batch shares one fate
            if _refuses_batch(error):
                raise _BatchRefused() from error
            return self._whole_batch_failed(batch=batch, error=error)
        return [
            self._result(push=push, answer=answers.get(cid))
            for push, cid in zip(batch, cids, strict=True)
        ]

    def _result(self, *, push: PushMessage, answer: Any) -> SendResult:
        """Turn one cid's answer into a SendResult."""
        if isinstance(answer, dict) and answer.get("msg_id") is not None:
            return SendResult(
                delivery_id=push.delivery_id,
                ok=True,
                message_id=str(answer["msg_id"]),
                outcome="sent",
                error=None,
            )
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict):
            outcome, code = classify_code(
                code=_int(error.get("code")), message=error.get("message")
            )
        else:  # no answer for this cid: nothing says it was sent, so try again
            outcome, code = "transient", "JPUSH_NO_ANSWER"
        log.info("push %s to %s: %s (%s)", push.delivery_id, token_hint(push.token), outcome, code)
        return SendResult(
            delivery_id=push.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
        )

    # one push per message ------------------------------------------------------------------

    def _send_each(self, *, batch: Sequence[PushMessage]) -> list[SendResult]:
        """Send each message as its own plain push to one registration id."""
        with ThreadPoolExecutor(
            max_workers=_PER_MESSAGE_THREADS, thread_name_prefix="jpush"
        ) as pool:
            return list(pool.map(lambda push: self._send_one(push=push), batch))

    def _send_one(self, *, push: PushMessage) -> SendResult:
        """One plain push of one message."""
        try:
            payload = build_payload(push=push, vendors=self.vendors)
        except ValueError:
            return self._one_by_one_malformed(push=push)
        push_api = self._client.create_push()
        if push.idempotency_key:
            push_api.cid = push.idempotency_key
        push_api.audience = jpush.audience(jpush.registration_id(payload.pop("target")))
        push_api.platform = payload["platform"]
        push_api.notification = payload["notification"]
        push_api.options = payload["options"]
        try:
            answer = push_api.send().payload
        except jpush.JPushFailure as failure:
            code_number = _int(failure.error_code)
            if code_number is None:
                outcome, code = _status_outcome(failure)
            else:
                outcome, code = classify_code(code=code_number, message=str(failure.details or ""))
            return SendResult(
                delivery_id=push.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
            )
        except Exception as error:  # noqa: BLE001 - connection errors and 401
            outcome, code = _transport_outcome(error)
            return SendResult(
                delivery_id=push.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
            )
        return self._result(push=push, answer=answer)

    # shared --------------------------------------------------------------------------------

    def _one_by_one_malformed(self, *, push: PushMessage) -> SendResult:
        """A message the SDK's builders refuse (e.g. an empty body)."""
        log.warning("push %s not sent: BAD_MESSAGE", push.delivery_id)
        return SendResult(
            delivery_id=push.delivery_id,
            ok=False,
            message_id=None,
            outcome="invalid" if not push.token else "failed",
            error="EMPTY_TOKEN" if not push.token else "BAD_MESSAGE",
        )

    def _whole_batch_failed(
        self, *, batch: Sequence[PushMessage], error: BaseException
    ) -> list[SendResult]:
        """Every message of a batch gets the fate of the request that carried them."""
        if isinstance(error, jpush.JPushFailure):
            code_number = _int(error.error_code)
            if code_number is None:
                outcome, code = _status_outcome(error)
            else:
                outcome, code = classify_code(code=code_number, message=str(error.details or ""))
                if outcome in ("unregistered", "invalid"):
                    # A request-level error says nothing about any one registration id.
                    outcome = "failed"
        else:
            outcome, code = _transport_outcome(error)
        log.warning("JPush batch of %d failed as a whole: %s (%s)", len(batch), code, outcome)
        return [
            SendResult(
                delivery_id=push.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
            )
            for push in batch
        ]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _refuses_batch(error: BaseException) -> bool:
    """True when JPush answered that the app may not use batch single push."""
    if not isinstance(error, jpush.JPushFailure):
        return False
    status = getattr(error.response, "status_code", None)
    return _int(error.error_code) == NO_PERMISSION or status == 403


def _status_outcome(failure: jpush.JPushFailure) -> tuple[Outcome, str]:
    """An error answer without a JPush code: judge by the HTTP status."""
    status = getattr(failure.response, "status_code", 0) or 0
    if status == 429 or status >= 500:
        return "transient", f"HTTP_{status}"
    return "failed", f"HTTP_{status}"


def _transport_outcome(error: BaseException) -> tuple[Outcome, str]:
    """A request that got no JPush answer: a bad key (401) or no connection; both are retried."""
    if isinstance(error, jpush.Unauthorized):
        # A wrong master secret fails everything until an operator fixes it: retried with
        # backoff, then failed, like FCM's unavailable token endpoint.
        return "transient", "JPUSH_UNAUTHORIZED"
    if isinstance(error, jpush_common.APIConnectionException):
        return "transient", "DEADLINE_EXCEEDED"
    return "transient", "UNAVAILABLE"


def make_jpush_sender(
    *,
    app_key: str | None,
    master_secret: str | None,
    endpoint: str | None,
    vendors: VendorChannels = NO_VENDOR_CHANNELS,
) -> JPushSender | None:
    """Return a JPushSender, or None when JPush is not configured."""
    if not app_key or not master_secret:
        return None
    return JPushSender(
        app_key=app_key, master_secret=master_secret, endpoint=endpoint, vendors=vendors
    )
