"""A fake FCM v1 server on loopback, for tests and benchmarks of the push sender.

It speaks just enough of Google's protocol for the real firebase-admin SDK to talk to it: the
OAuth2 token endpoint that google-auth posts its signed JWT to (the service account's
``token_uri``) and ``POST /v1/projects/{project}/messages:send``. It runs uvicorn's httptools
protocol on uvloop in a background thread (tests.doubles._server), so one process can host the
test and the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.doubles._server import LoopbackServer, Scope, header

PROJECT_ID = "grassroots-test"
CLIENT_EMAIL = f"push-sender@{PROJECT_ID}.iam.gserviceaccount.com"
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Scripted failure name -> (HTTP status, google.rpc status, FCM errorCode or None), as FCM v1
# answers them; the SDK picks its exception class from the errorCode first, then the status.
_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL", "INTERNAL"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "RESOURCE_EXHAUSTED": (429, "RESOURCE_EXHAUSTED", None),
    "DEADLINE_EXCEEDED": (504, "DEADLINE_EXCEEDED", None),
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
}
_INVALID_TOKEN_TEXT = "The registration token is not a valid FCM registration token"


def _b64url_decode(part: str) -> bytes:
    """Decode one unpadded base64url JWT segment."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _error_body(*, name: str, message: str | None = None) -> tuple[int, bytes]:
    """Build the FCM v1 error response for a scripted failure name."""
    if name not in _ERRORS:
        raise ValueError(f"unknown FCM error {name!r}; known: {sorted(_ERRORS)}")
    status, rpc_status, fcm_code = _ERRORS[name]
    error: dict[str, Any] = {
        "code": status,
        "message": message or f"Fake FCM scripted failure: {name}",
        "status": rpc_status,
    }
    if fcm_code is not None:
        error["details"] = [{"@type": _FCM_ERROR_TYPE, "errorCode": fcm_code}]
    return status, json.dumps({"error": error}).encode()


@dataclass
class _Script:
    """Scripted behaviour, guarded by FakeFcm's lock."""

    failures: dict[str, list[Any]] = field(default_factory=dict)  # token -> [times_left, name]
    always: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # token -> (name, msg)


class FakeFcm(LoopbackServer):
    """A fake FCM v1 server with its OAuth2 token endpoint, in a background thread."""

    name = "fake-fcm"

    def __init__(self, *, delay_s: float = 0.0, project_id: str = PROJECT_ID) -> None:
        """Prepare the server; ``start`` (or ``with``) binds a free loopback port."""
        super().__init__()
        self.delay_s = delay_s
        self.project_id = project_id
        self.token_requests = 0
        self.send_requests = 0
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._script = _Script()
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}
        self._access_tokens: set[str] = set()
        self._down_503 = False

    # lifecycle -------------------------------------------------------------------------------

    @property
    def token_uri(self) -> str:
        """Return the OAuth2 token endpoint written into service accounts."""
        return f"{self.base_url}/token"

    # scripting -------------------------------------------------------------------------------

    def fail_times(self, token: str, n: int, status: str = "UNAVAILABLE") -> None:
        """Fail the next ``n`` sends to ``token`` with ``status``, then succeed."""
        _error_body(name=status)  # validates the name
        with self._lock:
            self._script.failures[token] = [n, status]

    def unregistered(self, token: str) -> None:
        """Answer every send to ``token`` with 404 UNREGISTERED."""
        with self._lock:
            self._script.always[token] = ("UNREGISTERED", "Requested entity was not found.")

    def invalid(self, token: str, message: str = _INVALID_TOKEN_TEXT) -> None:
        """Answer every send to ``token`` with 400 INVALID_ARGUMENT (a bad token by default)."""
        with self._lock:
            self._script.always[token] = ("INVALID_ARGUMENT", message)

    def down(self, *, refuse: bool = True) -> None:
        """Take the server down: refuse connections, or with ``refuse=False`` answer 503."""
        if refuse:
            self.stop()
        else:
            self._down_503 = True

    def up(self) -> None:
        """Bring the server back on the same port, answering normally."""
        self._down_503 = False
        self.start()

    def reset(self) -> None:
        """Let requests in flight finish, then forget messages, counters and scripts."""
        self.delay_s = 0.0
        self.wait_idle()
        with self._lock:
            self._messages.clear()
            self._script = _Script()
            self.token_requests = 0
            self.send_requests = 0
        self._down_503 = False

    # inspection ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Return a copy of the FCM ``message`` objects accepted so far, in arrival order."""
        with self._lock:
            return list(self._messages)

    def sent_to(self, token: str) -> list[dict[str, Any]]:
        """Return the accepted messages addressed to ``token``."""
        return [message for message in self.messages if message.get("token") == token]

    # credentials -----------------------------------------------------------------------------

    def write_service_account(self, path: str | Path) -> Path:
        """Write a service-account JSON with a fresh RSA key whose token_uri is this server."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000000",
            "auth_uri": f"{self.base_url}/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": f"{self.base_url}/certs",
            "client_x509_cert_url": f"{self.base_url}/certs/{CLIENT_EMAIL}",
            "universe_domain": "googleapis.com",
        }
        with self._lock:
            self._public_keys[key_id] = key.public_key()
        target = Path(path)
        target.write_text(json.dumps(info, indent=2), encoding="utf-8")
        return target

    # HTTP ------------------------------------------------------------------------------------

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Route one request to the token endpoint or the send endpoint."""
        path: str = scope["path"]
        if self._down_503:
            status, payload = _error_body(name="UNAVAILABLE", message="fake FCM is down")
        elif scope["method"] != "POST":
            status, payload = 405, b'{"error": "method not allowed"}'
        elif path == "/token":
            status, payload = self._token(body)
        elif path.startswith("/v1/projects/") and path.endswith("/messages:send"):
            if self.delay_s > 0:
                await asyncio.sleep(self.delay_s)
            status, payload = self._send(scope, path, body)
        else:
            status, payload = 404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}'
        return status, {}, payload

    def _token(self, body: bytes) -> tuple[int, bytes]:
        """Check a JWT-bearer grant signed by a key we issued and answer an access token."""
        with self._lock:
            self.token_requests += 1
        form = urllib.parse.parse_qs(body.decode())
        grant_type = form.get("grant_type", [""])[0]
        assertion = form.get("assertion", [""])[0]
        if grant_type != _JWT_BEARER or not self._assertion_ok(assertion):
            return 400, b'{"error": "invalid_grant", "error_description": "Invalid JWT"}'
        access_token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens.add(access_token)
        answer = {"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"}
        return 200, json.dumps(answer).encode()

    def _assertion_ok(self, assertion: str) -> bool:
        """Verify the RS256 signature, audience and expiry of a service-account JWT."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            jwt_header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            with self._lock:
                public_key = self._public_keys.get(jwt_header.get("kid", ""))
            if public_key is None or jwt_header.get("alg") != "RS256":
                return False
            public_key.verify(
                _b64url_decode(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (ValueError, InvalidSignature):
            return False
        # google-auth always puts Google's token endpoint in "aud", wherever it posts the JWT.
        audience_ok = claims.get("aud") in (self.token_uri, _GOOGLE_TOKEN_URI)
        return bool(audience_ok and claims.get("exp", 0) > time.time())

    def _send(self, scope: Scope, path: str, body: bytes) -> tuple[int, bytes]:
        """Authenticate, apply the script for the message's token, then record the message."""
        access_token = header(scope, "authorization").removeprefix("Bearer ")
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            return _error_body(name="INVALID_ARGUMENT", message="Invalid JSON payload.")
        token = message.get("token", "")
        project = path[len("/v1/projects/") : -len("/messages:send")]
        with self._lock:
            self.send_requests += 1
            if access_token not in self._access_tokens:
                return 401, json.dumps(
                    {"error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}}
                ).encode()
            if project != self.project_id:
                return 404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}'
            scripted = self._script.failures.get(token)
            if scripted is not None and scripted[0] > 0:
                scripted[0] -= 1
                return _error_body(name=scripted[1])
            if token in self._script.always:
                name, text = self._script.always[token]
                return _error_body(name=name, message=text)
            self._messages.append(message)
            number = len(self._messages)
        return 200, json.dumps({"name": f"projects/{project}/messages/{number}"}).encode()
