"""A stand-in for JPush's push REST API v3 (https://api.jpush.cn/v3/), on loopback.

What the official `jpush` client sends, it answers as JPush does:
- every request must carry HTTP Basic auth with the app key and master secret, else 401 with
  error 1004;
- `GET /v3/push/cid?count=N&type=push` hands out cids ("{app_key}-{uuid}", at most 1,000);
- `POST /v3/push/batch/regid/single` takes `{"pushlist": {cid: message}}` (at most 1,000, each cid
  one we issued) and answers per cid `{"msg_id": ...}` or `{"error": {"code", "message"}}`; a cid
  already used answers its first msg_id again without sending (JPush dedups by cid);
- `POST /v3/push` (one plain push to `audience.registration_id`) answers `{"sendno", "msg_id"}`,
  or 400 with error 1011 when none of the ids is known.
A message may name in `options.override_msg_id` one this stand-in accepted: it then takes that
message's place on the phone (`showing`); an unknown or expired one (`expire_overrides`) is refused
with 1003 and nothing is sent, as JPush does after its one-day window.
Scripts: unknown registration ids (1011), failures by code for the next N sends to an id, a rate
limit for the next N requests (429, error 2002, JPush's X-Rate-Limit headers), a refused batch
interface (403, error 2004, as for an app without the VIP batch push), and a delay per request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.parse
import uuid
from typing import Any

from tests.doubles._server import LoopbackServer, Scope, header

APP_KEY = "0123456789abcdef01234567"
MASTER_SECRET = "fedcba9876543210fedcba98"
MAX_BATCH = 1000
VENDORS = frozenset(
    {"xiaomi", "huawei", "honor", "meizu", "oppo", "vivo", "fcm", "nio", "asus", "hmos"}
)

ERROR_TEXT = {
    1000: "Server internal error",
    1003: "Parameter value is invalid",
    1004: "Authen failed",
    1011: "cannot find user by this audience or has been inactive for more than 255 days",
    2002: "Rate limit exceeded",
    2004: "No permission to do this operation",
}


def _error(code: int, message: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message or ERROR_TEXT.get(code, "error")}}


class FakeJPush(LoopbackServer):
    """JPush's push API on loopback, scriptable, recording every message it accepted."""

    name = "fake-jpush"

    def __init__(
        self, *, app_key: str = APP_KEY, master_secret: str = MASTER_SECRET, delay_s: float = 0.0
    ) -> None:
        """Accept only this app key and master secret."""
        super().__init__()
        self.app_key = app_key
        self.master_secret = master_secret
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self.batches_in_flight = 0
        self.reset()

    # scripting -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Let requests in flight finish, then forget messages, counters and scripts."""
        self.delay_s = 0.0
        self.wait_idle()
        with self._lock:
            self._messages: list[dict[str, Any]] = []
            self._issued: set[str] = set()
            self._used: dict[str, str] = {}  # cid -> msg_id
            self._unknown: set[str] = set()
            self._failures: dict[str, list[int]] = {}  # regid -> [times_left, code]
            self._rate_limited = 0
            self._refuse_batch = False
            self.requests = 0
            self.batch_requests = 0
            self.plain_requests = 0
            self.cid_requests = 0
            self.auth_failures = 0
            self._next_msg = 0
            self._overridable: set[str] = set()

    def unregistered(self, regid: str) -> None:
        """Answer every push to ``regid`` with 1011 (no such device)."""
        with self._lock:
            self._unknown.add(regid)

    def fail_times(self, regid: str, n: int, code: int = 1000) -> None:
        """Fail the next ``n`` pushes to ``regid`` with JPush error ``code``, then accept."""
        with self._lock:
            self._failures[regid] = [n, code]

    def rate_limit(self, n: int) -> None:
        """Answer the next ``n`` push requests (batch or plain) with 429 / 2002."""
        with self._lock:
            self._rate_limited = n

    def refuse_batch(self, refuse: bool = True) -> None:
        """Answer batch single push with 403 / 2004, as JPush does for apps without it."""
        with self._lock:
            self._refuse_batch = refuse

    def expire_overrides(self) -> None:
        """A day passes: no message accepted so far may be overridden any more."""
        with self._lock:
            self._overridable.clear()

    # inspection ------------------------------------------------------------------------------

    def showing(self, regid: str) -> list[dict[str, Any]]:
        """The notifications on the phone of ``regid``: each override replaced its message."""
        shown: list[dict[str, Any]] = []
        for message in self.sent_to(regid):
            shown = [m for m in shown if m["msg_id"] != message["replaces"]] + [message]
        return shown

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message accepted (sent to a phone), in arrival order: target, cid and payload."""
        with self._lock:
            return list(self._messages)

    def sent_to(self, regid: str) -> list[dict[str, Any]]:
        """The accepted messages to ``regid``."""
        return [m for m in self.messages if m["target"] == regid]

    # HTTP ------------------------------------------------------------------------------------

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Route one request."""
        path: str = scope["path"]
        method: str = scope["method"]
        batch = path == "/v3/push/batch/regid/single"
        self.batches_in_flight += batch  # only the server's event loop thread touches it
        try:
            if self.delay_s > 0:
                await asyncio.sleep(self.delay_s)
            return self._route(scope, body, path=path, method=method)
        finally:
            self.batches_in_flight -= batch

    def _route(
        self, scope: Scope, body: bytes, *, path: str, method: str
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests += 1
        if not self._authorised(header(scope, "authorization")):
            with self._lock:
                self.auth_failures += 1
            return self._json(401, _error(1004))
        if method == "GET" and path == "/v3/push/cid":
            return self._cids(scope)
        if method == "POST" and path in ("/v3/push/batch/regid/single", "/v3/push"):
            limited = self._take_rate_limit()
            if limited is not None:
                return limited
            try:
                payload = json.loads(body)
            except ValueError:
                return self._json(400, _error(1003, "Request body is not valid JSON"))
            if not isinstance(payload, dict):
                return self._json(400, _error(1003, "Request body must be an object"))
            if path == "/v3/push":
                return self._plain(payload)
            return self._batch(payload)
        return self._json(404, _error(1003, f"no such API: {method} {path}"))

    def _authorised(self, authorization: str) -> bool:
        if not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:]).decode()
        except ValueError:
            return False
        return decoded == f"{self.app_key}:{self.master_secret}"

    def _json(
        self, status: int, answer: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return status, headers or {}, json.dumps(answer, ensure_ascii=False).encode()

    def _take_rate_limit(self) -> tuple[int, dict[str, str], bytes] | None:
        with self._lock:
            if self._rate_limited <= 0:
                return None
            self._rate_limited -= 1
        limits = {
            "X-Rate-Limit-Limit": "600",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": "60",
        }
        return self._json(429, _error(2002), limits)

    def _cids(self, scope: Scope) -> tuple[int, dict[str, str], bytes]:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode())
        try:
            count = int(query.get("count", ["1"])[0])
        except ValueError:
            return self._json(400, _error(1003, "count must be a number"))
        kind = query.get("type", ["push"])[0]
        if not 1 <= count <= MAX_BATCH or kind not in ("push", "schedule"):
            return self._json(400, _error(1003, "count must be 1..1000"))
        cids = [f"{self.app_key}-{uuid.uuid4()}" for _ in range(count)]
        with self._lock:
            self.cid_requests += 1
            self._issued.update(cids)
        return self._json(200, {"cidlist": cids})

    def _batch(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.batch_requests += 1
            refuse = self._refuse_batch
        if refuse:
            return self._json(403, _error(2004))
        pushlist = payload.get("pushlist")
        if not isinstance(pushlist, dict) or not 1 <= len(pushlist) <= MAX_BATCH:
            return self._json(400, _error(1003, "pushlist must hold 1..1000 cids"))
        answers: dict[str, Any] = {}
        with self._lock:
            for cid, message in pushlist.items():
                answers[cid] = self._one(cid=cid, message=message)
        return self._json(200, answers)

    def _one(self, *, cid: str, message: Any) -> dict[str, Any]:
        """One message of a batch (the lock is held)."""
        if cid in self._used:
            return {"msg_id": self._used[cid]}  # a retry with the same cid is not sent again
        if cid not in self._issued:
            return _error(1003, "cid is invalid")
        problem = _invalid_message(message, batch=True)
        if problem:
            return _error(1003, problem)
        regid = message["target"]
        answer = self._script(regid, message)
        if answer is not None:
            return answer
        msg_id = self._accept(regid=regid, cid=cid, message=message)
        self._used[cid] = msg_id
        return {"msg_id": msg_id}

    def _plain(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.plain_requests += 1
            audience = payload.get("audience")
            ids = audience.get("registration_id") if isinstance(audience, dict) else None
            if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_BATCH:
                return self._json(400, _error(1003, "audience.registration_id must hold 1..1000"))
            problem = _invalid_message(payload, batch=False)
            if problem:
                return self._json(400, _error(1003, problem))
            accepted = None
            first_error: dict[str, Any] | None = None
            for regid in ids:
                answer = self._script(regid, payload)
                if answer is None:
                    accepted = self._accept(regid=regid, cid=None, message=payload)
                elif first_error is None:
                    first_error = answer
        if accepted is None:
            error = first_error or _error(1011)
            status = 400 if error["error"]["code"] in (1003, 1011) else 500
            if error["error"]["code"] == 2002:
                status = 429
            return self._json(status, error)
        return self._json(200, {"sendno": "0", "msg_id": accepted})

    def _script(self, regid: str, message: dict[str, Any]) -> dict[str, Any] | None:
        """A scripted error for ``regid``, or None to accept (the lock is held)."""
        if regid in self._unknown:
            return _error(1011)
        replaces = (message.get("options") or {}).get("override_msg_id")
        if replaces is not None and str(replaces) not in self._overridable:
            return _error(1003, "override_msg_id is not a valid message to override")
        scripted = self._failures.get(regid)
        if scripted is not None and scripted[0] > 0:
            scripted[0] -= 1
            return _error(scripted[1])
        return None

    def _accept(self, *, regid: str, cid: str | None, message: dict[str, Any]) -> str:
        self._next_msg += 1
        msg_id = str(18_000_000_000 + self._next_msg)
        options = message.get("options") or {}
        replaces = options.get("override_msg_id")
        self._overridable.add(msg_id)
        self._messages.append(
            {
                "target": regid,
                "cid": cid,
                "msg_id": msg_id,
                "replaces": None if replaces is None else str(replaces),
                "platform": message.get("platform"),
                "notification": message.get("notification"),
                "options": options,
            }
        )
        return msg_id


def _invalid_message(message: Any, *, batch: bool) -> str | None:
    """Why JPush would refuse this message with 1003, or None."""
    if not isinstance(message, dict):
        return "message must be an object"
    if "platform" not in message:
        return "platform is required"
    if batch and not isinstance(message.get("target"), str):
        return "target must be a registration id"
    if "notification" not in message and "message" not in message:
        return "notification or message is required"
    options = message.get("options") or {}
    ttl = options.get("time_to_live")
    if ttl is not None and not (isinstance(ttl, int) and 0 <= ttl <= 864000):
        return "time_to_live must be 0..864000"
    if options.get("classification", 0) not in (0, 1):
        return "classification must be 0 or 1"
    return _invalid_vendor_options(options.get("third_party_channel") or {})


def _invalid_vendor_options(vendors: Any) -> str | None:
    """Why JPush would refuse `options.third_party_channel` (the fields it documents), or None."""
    if not isinstance(vendors, dict) or not set(vendors) <= VENDORS:
        return f"third_party_channel takes {sorted(VENDORS)}"
    for name, fields in vendors.items():
        if not isinstance(fields, dict):
            return f"third_party_channel.{name} must be an object"
        channel_id = fields.get("channel_id")
        if channel_id is not None and not (isinstance(channel_id, str) and channel_id):
            return f"third_party_channel.{name}.channel_id must be a non-empty string"
    oppo = vendors.get("oppo", {})
    if "notify_level" in oppo and (
        oppo["notify_level"] not in (1, 2, 16) or "category" not in oppo
    ):
        return "third_party_channel.oppo.notify_level is 1, 2 or 16, with a category"
    return None
