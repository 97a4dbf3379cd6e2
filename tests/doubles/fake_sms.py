"""A stand-in for Alibaba Cloud's SMS API (dysmsapi 2017-05-25, action SendSms), on loopback.

It checks requests the way the service does, for what the official client sends:
- the V3 signature (`Authorization: ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,
  Signature=...`): the canonical request is rebuilt from the method, path, query, the signed
  headers and `x-acs-content-sha256` (which must be the body's SHA-256), and its HMAC-SHA256
  under the access key secret must match: else 400 `SignatureDoesNotMatch`; an unknown key id is
  404 `InvalidAccessKeyId.NotFound`; `x-acs-date` more than 15 minutes off is 400
  `InvalidTimeStamp.Expired`; a nonce seen before is 400 `SignatureNonceUsed`;
- SendSms parameters: a registered sign name (`isv.SMS_SIGNATURE_ILLEGAL`), an approved template
  (`isv.SMS_TEMPLATE_ILLEGAL`), a mainland mobile number (`isv.MOBILE_NUMBER_ILLEGAL`) and JSON
  template parameters (`isv.INVALID_JSON_PARAM`), all answered 200 with the code as SendSms does.
Success answers `{"Code": "OK", "BizId", "RequestId"}`. Scripts: per-number flow control
(`isv.BUSINESS_LIMIT_CONTROL`, 200) for the next N sends to a number, and API throttling
(`Throttling.User`, 400) for the next N requests.

The numbers it receives stay in memory for the test to inspect; it never logs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.doubles._server import LoopbackServer, Scope, header

ACCESS_KEY_ID = "LTAI5tGrassrootsTest01"
ACCESS_KEY_SECRET = "grassroots-sms-test-secret-0123456789"
SIGN_NAME = "南通综治"
TEMPLATES = {
    "alert": "SMS_900001",
    "reminder": "SMS_900002",
    "missed_checkin": "SMS_900003",
    "leave_decision": "SMS_900004",
}
ALGORITHM = "ACS3-HMAC-SHA256"
MOBILE = re.compile(r"^(\+?86)?1[3-9]\d{9}$")
MAX_SKEW_S = 15 * 60


def templates_setting(templates: dict[str, str] | None = None) -> str:
    """The GRASSROOTS_SMS_TEMPLATES value for these templates."""
    return ",".join(f"{kind}={code}" for kind, code in (templates or TEMPLATES).items())


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    """The V3 canonical query string: keys sorted, values percent-encoded (RFC 3986)."""
    return "&".join(f"{key}={urllib.parse.quote(value, safe='~')}" for key, value in sorted(pairs))


class FakeSms(LoopbackServer):
    """Alibaba Cloud SMS SendSms on loopback, recording every SMS it accepted."""

    name = "fake-sms"

    def __init__(
        self,
        *,
        access_key_id: str = ACCESS_KEY_ID,
        access_key_secret: str = ACCESS_KEY_SECRET,
        sign_name: str = SIGN_NAME,
        templates: dict[str, str] | None = None,
    ) -> None:
        """Accept only this key pair, sign name and these template codes."""
        super().__init__()
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.template_codes = set((templates or TEMPLATES).values())
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Let requests in flight finish, then forget messages, counters and scripts."""
        self.delay_s = 0.0
        self.wait_idle()
        with self._lock:
            self._messages: list[dict[str, Any]] = []
            self._nonces: set[str] = set()
            self._flow: dict[str, int] = {}
            self._throttled = 0
            self.requests = 0
            self.rejected_signatures = 0

    def flow_control(self, phone: str, n: int) -> None:
        """Answer the next ``n`` sends to ``phone`` with isv.BUSINESS_LIMIT_CONTROL."""
        with self._lock:
            self._flow[phone] = n

    def throttle(self, n: int) -> None:
        """Answer the next ``n`` requests with 400 Throttling.User."""
        with self._lock:
            self._throttled = n

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The accepted SMS: phone, sign_name, template_code, params, out_id."""
        with self._lock:
            return list(self._messages)

    def sent_to(self, phone: str) -> list[dict[str, Any]]:
        """The accepted SMS to ``phone``."""
        return [m for m in self.messages if m["phone"] == phone]

    # HTTP ------------------------------------------------------------------------------------

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Check the signature, then answer SendSms."""
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        request_id = str(uuid.uuid4()).upper()
        with self._lock:
            self.requests += 1
        problem = self._check_signature(scope, body)
        if problem is not None:
            status, code, message = problem
            with self._lock:
                self.rejected_signatures += 1
            return self._answer(status, code, message, request_id)
        if header(scope, "x-acs-action") != "SendSms" or header(scope, "x-acs-version") != (
            "2017-05-25"
        ):
            return self._answer(400, "InvalidAction.NotFound", "no such action", request_id)
        with self._lock:
            if self._throttled > 0:
                self._throttled -= 1
                return self._answer(
                    400,
                    "Throttling.User",
                    "Request was denied due to user flow control.",
                    request_id,
                )
        params = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode()))
        if body:
            params.update(urllib.parse.parse_qsl(body.decode()))
        return self._send_sms(params, request_id)

    def _answer(
        self, status: int, code: str, message: str, request_id: str, **extra: str
    ) -> tuple[int, dict[str, str], bytes]:
        answer = {"Code": code, "Message": message, "RequestId": request_id, **extra}
        return status, {}, json.dumps(answer, ensure_ascii=False).encode()

    def _check_signature(self, scope: Scope, body: bytes) -> tuple[int, str, str] | None:
        """Why the request's V3 signature fails, or None when it holds."""
        authorization = header(scope, "authorization")
        if not authorization.startswith(ALGORITHM + " "):
            return 400, "MissingAuthorization", "Authorization is mandatory for this action."
        fields = dict(
            part.strip().split("=", 1)
            for part in authorization[len(ALGORITHM) + 1 :].split(",")
            if "=" in part
        )
        if fields.get("Credential") != self.access_key_id:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        signed = fields.get("SignedHeaders", "").split(";")
        if not {"host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} <= set(
            signed
        ):
            return 400, "IncompleteSignature", "Required headers are not signed."
        payload_hash = hashlib.sha256(body).hexdigest()
        if header(scope, "x-acs-content-sha256") != payload_hash:
            return 400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body."
        values: dict[str, list[str]] = {}
        for key, value in scope["headers"]:
            name = key.decode("latin-1").lower()
            if name in signed:
                values.setdefault(name, []).append(value.decode("latin-1").strip())
        canonical_headers = "".join(
            f"{name}:{','.join(sorted(values.get(name, [''])))}\n" for name in sorted(signed)
        )
        query = urllib.parse.parse_qsl(
            scope.get("query_string", b"").decode(), keep_blank_values=True
        )
        canonical_request = "\n".join(
            [
                scope["method"],
                urllib.parse.quote(scope["path"] or "/", safe="/~"),
                canonical_query(query),
                canonical_headers,
                ";".join(sorted(signed)),
                payload_hash,
            ]
        )
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        expected = hmac.new(
            self.access_key_secret.encode(), f"{ALGORITHM}\n{digest}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return 400, "SignatureDoesNotMatch", "The request signature does not conform."
        try:
            sent_at = datetime.strptime(header(scope, "x-acs-date"), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return 400, "InvalidTimeStamp.Format", "Specified time stamp is not valid."
        if abs(sent_at.replace(tzinfo=UTC).timestamp() - time.time()) > MAX_SKEW_S:
            return 400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
        nonce = header(scope, "x-acs-signature-nonce")
        with self._lock:
            if nonce in self._nonces:
                return 400, "SignatureNonceUsed", "Specified signature nonce was used already."
            self._nonces.add(nonce)
        return None

    def _send_sms(
        self, params: dict[str, str], request_id: str
    ) -> tuple[int, dict[str, str], bytes]:
        phone = params.get("PhoneNumbers", "")
        if params.get("SignName") != self.sign_name:
            return self._answer(200, "isv.SMS_SIGNATURE_ILLEGAL", "签名不合法", request_id)
        if params.get("TemplateCode") not in self.template_codes:
            return self._answer(200, "isv.SMS_TEMPLATE_ILLEGAL", "模板不合法", request_id)
        if not MOBILE.match(phone):
            return self._answer(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号", request_id)
        try:
            template_params = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return self._answer(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法", request_id)
        with self._lock:
            left = self._flow.get(phone, 0)
            if left > 0:
                self._flow[phone] = left - 1
                return self._answer(
                    200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", request_id
                )
            biz_id = f"{len(self._messages) + 900000000}^0"
            self._messages.append(
                {
                    "phone": phone,
                    "sign_name": params.get("SignName"),
                    "template_code": params.get("TemplateCode"),
                    "params": template_params,
                    "out_id": params.get("OutId"),
                    "biz_id": biz_id,
                }
            )
        return self._answer(200, "OK", "OK", request_id, BizId=biz_id)
