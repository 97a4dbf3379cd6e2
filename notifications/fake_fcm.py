"""A fake FCM v1 server on loopback, for tests and benchmarks of the push sender.

It speaks just enough of Google's protocol for the real firebase-admin SDK to talk to it: the
OAuth2 token endpoint that google-auth posts its signed JWT to (the service account's
``token_uri``) and ``POST /v1/projects/{project}/messages:send``. It runs uvicorn's httptools
protocol on uvloop in a background thread, so one process can host the test and the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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

_Scope = dict[str, Any]
_Receive = Any
_Send = Any


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


class FakeFcm:
    """A fake FCM v1 server with its OAuth2 token endpoint, in a background thread."""

    def __init__(self, *, delay_s: float = 0.0, project_id: str = PROJECT_ID) -> None:
        """Prepare the server; ``start`` (or ``with``) binds a free loopback port."""
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
        self._in_flight = 0
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakeFcm:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def base_url(self) -> str:
        """Return the server's base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def token_uri(self) -> str:
        """Return the OAuth2 token endpoint written into service accounts."""
        return f"{self.base_url}/token"

    def start(self) -> None:
        """Bind a loopback port (a free one the first time) and serve in a daemon thread."""
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            loop="uvloop",
            http="httptools",
            ws="none",
            interface="asgi3",
            proxy_headers=False,
            server_header=False,
            date_header=False,
            lifespan="off",
            access_log=False,
            log_level="warning",
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-fcm", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake FCM server did not start")
            time.sleep(0.005)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving: the port refuses connections and open connections are closed."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None

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
        deadline = time.monotonic() + 5
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
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

    async def _asgi(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """Serve the two endpoints as a bare ASGI app (a router would cost throughput)."""
        if scope["type"] != "http":
            return
        self._in_flight += 1  # only the server's event loop thread touches it
        try:
            await self._handle(scope, receive, send)
        finally:
            self._in_flight -= 1

    async def _handle(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """Route one HTTP request."""
        body = b""
        more = True
        while more:
            event = await receive()
            body += event.get("body", b"")
            more = event.get("more_body", False)
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
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=UTF-8"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

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
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            with self._lock:
                public_key = self._public_keys.get(header.get("kid", ""))
            if public_key is None or header.get("alg") != "RS256":
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

    def _send(self, scope: _Scope, path: str, body: bytes) -> tuple[int, bytes]:
        """Authenticate, apply the script for the message's token, then record the message."""
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode()
        access_token = authorization.removeprefix("Bearer ")
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
