"""Push transport: send prepared pushes to Firebase Cloud Messaging with firebase-admin.

Blocking by design: the SDK's sync client is the one that is not tied to an event loop, so the
worker calls ``Sender.send`` in a worker thread. This module only moves bytes and classifies the
answer per message; retries with backoff, quiet hours and token pruning belong to the worker.
"""

from __future__ import annotations

import hashlib
import json as json_module
import logging
import threading
import uuid
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import firebase_admin
import google.auth.exceptions
import google.auth.transport.requests
import requests
import requests.adapters
import urllib3.exceptions
from firebase_admin import credentials, exceptions, messaging
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from grassroots import clock
from notifications.http_transport import HttpClientAdapter

log = logging.getLogger(__name__)

Outcome = Literal["sent", "transient", "unregistered", "invalid", "failed"]

FCM_BASE_URL = "https://fcm.googleapis.com"
FCM_SEND_PATH = "/v1/projects/{0}/messages:send"
MAX_BATCH = 500  # send_each refuses more
DEFAULT_TIMEOUT_S = 10.0
APNS_COLLAPSE_ID_MAX_BYTES = 64

# send_each runs one thread per message of its batch, so a 500-message batch has 500 requests in
# flight. requests' default adapter keeps only 10 connections per host and the SDK mounts its
# 100-connection adapter on https://fcm.googleapis.com only: any other endpoint (staging, the fake)
# would open and throw away a TCP connection for most requests. We mount our own adapter on the
# endpoint actually used, sized for a full batch, so every connection is kept alive and reused.
_POOL_MAXSIZE = MAX_BATCH

# Our adapters (http_transport.HttpClientAdapter, or requests' own behind a proxy) also replace
# the SDK's retry policy (once on connect/read errors, four times with
# backoff on 500/503). The worker already retries transient outcomes with backoff and jitter, at
# most 5 tries per delivery; a second retry layer here would multiply that to 25 HTTP attempts and
# hold a whole batch hostage to one slow message. Only a refused connection is retried, because
# then the request certainly never reached FCM; read errors are not, since FCM may have sent it.
_RETRY = Retry(total=1, connect=1, read=False, redirect=0, status=0, other=0, allowed_methods=None)

# Several batches of one send() run at once (see FcmSender.send) so that one slow message does not
# idle the other 499 threads of its batch while they wait for the batch to end.
_PARALLEL_BATCHES = 2

# FCM_URL is a class attribute read when an App's messaging service is built: it is swapped and the
# service built under this lock so that two senders with different endpoints cannot mix them up.
_FCM_URL_LOCK = threading.Lock()

# warnings.catch_warnings swaps process-wide state and is not thread-safe: serialise our own uses.
_WARNINGS_LOCK = threading.Lock()


@dataclass(frozen=True)
class PushMessage:
    """One push: a delivery of an inbox notification to one device token."""

    delivery_id: str
    token: str
    title: str
    body: str
    data: dict[str, str]  # strings only; carries "type" and "id" for the app's deep link
    collapse_key: str | None
    ttl_s: int
    urgent: bool
    provider: str = "fcm"  # which Sender takes it: "fcm" or "jpush" (the device's provider)
    # The provider's idempotency key when it has one (JPush's cid), the same on every retry.
    idempotency_key: str | None = None
    # The provider's id of the message this one replaces on the phone (JPush's override_msg_id:
    # the last push of the same collapse key to the device); None: a new notification.
    replaces: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What became of one PushMessage; ``error`` is a short code, never the token."""

    delivery_id: str
    ok: bool
    message_id: str | None
    outcome: Outcome
    error: str | None


class Sender(Protocol):
    """Anything that can push messages and say, per message, what happened.

    Implementations: FcmSender (here), notifications.jpush.JPushSender, and
    notifications.channels.PushRouter, which hands each message to its provider's sender.
    """

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        """Send the messages and return one result per message, in the same order."""
        ...


def token_hint(token: str) -> str:
    """Return a loggable prefix of a device token, never the whole token."""
    return f"{token[:8]}…" if token else "<empty>"


def check_sdk_hooks() -> None:
    """Raise RuntimeError if the firebase-admin internals we rely on have changed."""
    service_class = getattr(messaging, "_MessagingService", None)
    fcm_url = getattr(service_class, "FCM_URL", None)
    if not isinstance(fcm_url, str):
        raise RuntimeError("firebase_admin.messaging._MessagingService.FCM_URL is gone")
    if not fcm_url.endswith(FCM_SEND_PATH) or "://" not in fcm_url:
        raise RuntimeError(f"unexpected FCM_URL format: {fcm_url!r}")
    if not callable(getattr(messaging, "_get_messaging_service", None)):
        raise RuntimeError("firebase_admin.messaging._get_messaging_service is gone")


def fcm_url_for(*, endpoint: str | None) -> str:
    """Return the FCM_URL template with the base replaced by ``endpoint`` (None: Google's)."""
    base = (endpoint or FCM_BASE_URL).rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError("FCM endpoint must be an http(s) base URL")
    return base + FCM_SEND_PATH


def apns_collapse_id(*, collapse_key: str) -> str:
    """Fit a collapse key into APNs' 64-byte limit, keeping distinct keys distinct."""
    raw = collapse_key.encode()
    if len(raw) <= APNS_COLLAPSE_ID_MAX_BYTES:
        return collapse_key
    digest = hashlib.sha256(raw).hexdigest()[:16]
    prefix = raw[: APNS_COLLAPSE_ID_MAX_BYTES - len(digest) - 1].decode(errors="ignore")
    return f"{prefix}-{digest}"


def build_messages(*, pushes: Sequence[PushMessage], now_s: float) -> list[messaging.Message]:
    """Build the SDK messages for a batch of pushes."""
    # Message(token=...) warns "Message.token is deprecated. Use Message.fid instead" since 7.7,
    # but our devices register FCM registration tokens (PUT /me/devices/{fcm_token}), which are
    # what the v1 API's "token" field takes; "fid" is a different identifier (a Firebase
    # installation id). So we keep "token" and silence exactly that warning, here and only here,
    # so that a warnings-as-errors run still catches every other deprecation.
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"Message\.token is deprecated",
            category=DeprecationWarning,
        )
        return [_build_message(push=push, now_s=now_s) for push in pushes]


def _build_message(*, push: PushMessage, now_s: float) -> messaging.Message:
    """Build one SDK message: notification, data, Android and APNs delivery options."""
    apns_headers = {
        "apns-push-type": "alert",
        "apns-priority": "10" if push.urgent else "5",
        # APNs reads 0 as "deliver now or never", which is what a zero TTL means.
        "apns-expiration": str(int(now_s) + push.ttl_s) if push.ttl_s > 0 else "0",
    }
    if push.collapse_key:
        apns_headers["apns-collapse-id"] = apns_collapse_id(collapse_key=push.collapse_key)
    return messaging.Message(
        token=push.token,
        notification=messaging.Notification(title=push.title, body=push.body),
        data=dict(push.data),
        android=messaging.AndroidConfig(
            ttl=push.ttl_s,
            collapse_key=push.collapse_key,
            priority="high" if push.urgent else "normal",
        ),
        apns=messaging.APNSConfig(headers=apns_headers),
    )


def classify_error(*, error: BaseException) -> tuple[Outcome, str]:
    """Map an SDK or transport error to an outcome and a short error code."""
    if isinstance(error, messaging.UnregisteredError):
        return "unregistered", "UNREGISTERED"
    if isinstance(error, messaging.SenderIdMismatchError):
        return "unregistered", "SENDER_ID_MISMATCH"
    if isinstance(error, messaging.QuotaExceededError):
        return "transient", "QUOTA_EXCEEDED"
    if isinstance(error, messaging.ThirdPartyAuthError):
        return "failed", "THIRD_PARTY_AUTH_ERROR"
    if isinstance(error, exceptions.InvalidArgumentError):
        # FCM answers INVALID_ARGUMENT both for a bad registration token and for a bad payload;
        # only the former may delete the device, so look for the token in FCM's message.
        if "token" in str(error).lower():
            return "invalid", "INVALID_ARGUMENT"
        return "failed", "INVALID_ARGUMENT"
    if isinstance(
        error,
        exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.ResourceExhaustedError
        | exceptions.DeadlineExceededError,
    ):
        return "transient", str(error.code)
    cause = error.cause if isinstance(error, exceptions.FirebaseError) else error
    if isinstance(cause, requests.Timeout | TimeoutError):
        return "transient", "DEADLINE_EXCEEDED"
    if isinstance(
        cause,
        requests.ConnectionError | urllib3.exceptions.HTTPError | ConnectionError,
    ):
        return "transient", "UNAVAILABLE"
    if isinstance(cause, google.auth.exceptions.TransportError):
        return "transient", "AUTH_UNAVAILABLE"
    if isinstance(error, exceptions.FirebaseError):
        return "failed", str(error.code)
    return "failed", type(error).__name__


class FcmSender:
    """Sender on the real firebase-admin SDK, with its own named App."""

    def __init__(
        self,
        *,
        credentials_path: str,
        endpoint: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Load the service account and build the App and its messaging service eagerly."""
        check_sdk_hooks()
        certificate = credentials.Certificate(credentials_path)
        # The service account's token_uri is used exactly as written: google-auth posts its
        # signed JWT there, which is how a staging or fake FCM gets its own token endpoint.
        self._credential: Any = certificate.get_credential()
        self._timeout_s = timeout_s
        self._refresh_lock = threading.Lock()
        self._auth_request = _TimeoutRequest(timeout_s=timeout_s)
        self._app = firebase_admin.initialize_app(
            certificate,
            {"httpTimeout": timeout_s},
            name=f"grassroots-fcm-{uuid.uuid4().hex[:12]}",
        )
        try:
            self._session = self._install_session(endpoint=endpoint)
        except BaseException:
            firebase_admin.delete_app(self._app)
            raise
        self.endpoint = (endpoint or FCM_BASE_URL).rstrip("/")
        self.project_id: str = self._app.project_id

    def _install_session(self, *, endpoint: str | None) -> requests.Session:
        """Build this App's messaging service against ``endpoint`` and give it our session."""
        fcm_url = fcm_url_for(endpoint=endpoint)
        with _FCM_URL_LOCK:
            original = messaging._MessagingService.FCM_URL
            messaging._MessagingService.FCM_URL = fcm_url
            try:
                # Building the service now reads FCM_URL for this App (once, for its lifetime).
                service: Any = messaging._get_messaging_service(self._app)
            finally:
                messaging._MessagingService.FCM_URL = original
        if not isinstance(
            getattr(getattr(service, "_client", None), "_session", None), requests.Session
        ):
            raise RuntimeError("firebase_admin's messaging service no longer has _client._session")
        # Swap the SDK's AuthorizedSession for our leaner one (see _LeanAuthorizedSession).
        session = _LeanAuthorizedSession(self._credential, auth_request=self._auth_request)
        _freeze_environment(session=session, url=fcm_url)
        base = (endpoint or FCM_BASE_URL).rstrip("/")
        if requests.utils.select_proxy(fcm_url, session.proxies):
            # Through a proxy (likely from a government network): requests' own adapter.
            session.mount(
                base,
                requests.adapters.HTTPAdapter(
                    pool_connections=1, pool_maxsize=_POOL_MAXSIZE, max_retries=_RETRY
                ),
            )
        else:
            session.mount(base, HttpClientAdapter())
        service._client.session.close()
        service._client._session = session
        return session

    def __enter__(self) -> FcmSender:
        """Return the sender itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the sender."""
        self.close()

    def close(self) -> None:
        """Delete the App and close its HTTP connections (call it off the event loop)."""
        self._session.close()
        firebase_admin.delete_app(self._app)

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        """Send the messages in batches of at most 500 and return one result per message."""
        batches = [messages[i : i + MAX_BATCH] for i in range(0, len(messages), MAX_BATCH)]
        if len(batches) <= 1:
            return [result for batch in batches for result in self._send_batch(batch=batch)]
        with ThreadPoolExecutor(
            max_workers=_PARALLEL_BATCHES, thread_name_prefix="fcm-batch"
        ) as pool:
            done = pool.map(lambda batch: self._send_batch(batch=batch), batches)
            return [result for results in done for result in results]

    def _ensure_access_token(self) -> None:
        """Refresh the OAuth2 access token once, before a batch needs it."""
        # Without this, the first batch's 500 threads would each find no valid token and each post
        # to the token endpoint; one refresh under a lock serves them all for the next hour.
        with self._refresh_lock:
            if not self._credential.valid:
                self._credential.refresh(self._auth_request)

    def _send_batch(self, *, batch: Sequence[PushMessage]) -> list[SendResult]:
        """Send one batch of at most 500 messages with send_each."""
        try:
            self._ensure_access_token()
            built = build_messages(pushes=batch, now_s=clock.now().timestamp())
        except Exception as error:  # the whole batch shares one fate
            return self._whole_batch_failed(batch=batch, error=error)
        results: list[SendResult | None] = [None] * len(batch)
        pending = list(range(len(batch)))
        try:
            response = messaging.send_each(built, app=self._app)
        except ValueError:
            # The SDK encodes the whole batch before sending anything, so one malformed message
            # fails them all: find the culprits, settle them, and send the rest.
            pending = []
            for index, message in enumerate(built):
                try:
                    str(message)  # runs the SDK's encoder and its validation
                    pending.append(index)
                except ValueError:
                    results[index] = self._malformed(push=batch[index])
            if not pending:
                return [result for result in results if result is not None]
            try:
                response = messaging.send_each([built[i] for i in pending], app=self._app)
            except Exception as error:
                for index, result in zip(
                    pending,
                    self._whole_batch_failed(batch=[batch[i] for i in pending], error=error),
                    strict=True,
                ):
                    results[index] = result
                return [result for result in results if result is not None]
        except Exception as error:
            return self._whole_batch_failed(batch=batch, error=error)
        for index, answer in zip(pending, response.responses, strict=True):
            results[index] = self._result(push=batch[index], answer=answer)
        return [result for result in results if result is not None]

    def _result(self, *, push: PushMessage, answer: messaging.SendResponse) -> SendResult:
        """Turn one SendResponse into a SendResult."""
        if answer.success:
            return SendResult(
                delivery_id=push.delivery_id,
                ok=True,
                message_id=answer.message_id,
                outcome="sent",
                error=None,
            )
        outcome, code = classify_error(error=answer.exception)
        log.info(
            "push %s to %s: %s (%s)",
            push.delivery_id,
            token_hint(push.token),
            outcome,
            code,
        )
        return SendResult(
            delivery_id=push.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
        )

    def _malformed(self, *, push: PushMessage) -> SendResult:
        """Settle a message the SDK refuses to encode: a missing token or a bad payload."""
        outcome: Outcome = "invalid" if not push.token else "failed"
        code = "EMPTY_TOKEN" if not push.token else "BAD_MESSAGE"
        log.warning("push %s not sent: %s", push.delivery_id, code)
        return SendResult(
            delivery_id=push.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
        )

    def _whole_batch_failed(
        self, *, batch: Sequence[PushMessage], error: BaseException
    ) -> list[SendResult]:
        """Mark every message of a batch transient after the batch call itself raised."""
        # Typical causes: the token endpoint or FCM refusing connections before anything was
        # sent. Nothing says the messages are bad, so the worker retries them all.
        cause = error.cause if isinstance(error, exceptions.FirebaseError) else error
        if isinstance(cause, google.auth.exceptions.GoogleAuthError):
            code = "AUTH_UNAVAILABLE"
        else:
            code = classify_error(error=error)[1]
        log.warning(
            "push batch of %d failed as a whole: %s (%s)", len(batch), code, type(cause).__name__
        )
        return [
            SendResult(
                delivery_id=push.delivery_id,
                ok=False,
                message_id=None,
                outcome="transient",
                error=code,
            )
            for push in batch
        ]


def _freeze_environment(*, session: requests.Session, url: str) -> None:
    """Read proxy and CA settings from the environment once instead of on every request."""
    # With trust_env on, requests walks os.environ for proxies on every call: a quarter of the
    # client's time per message in our profile. A deployment that reaches FCM through
    # HTTPS_PROXY (likely from a government network) keeps working: the proxies and CA bundle
    # that apply to the FCM URL are captured here, once, and set on the session.
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    if url.startswith("https://") and settings["verify"] is not True:
        session.verify = settings["verify"]
    session.trust_env = False


class _LeanRequests(requests.Session):
    """A requests Session whose JSON POSTs skip the generic machinery we do not use."""

    # Session.request spends more time than the HTTP exchange itself on things FCM calls never
    # need: merging cookie jars, proxy environment lookups, hooks, redirect handling and URL
    # re-parsing. Profiling send_each showed 700 µs of CPU per message through the SDK's
    # AuthorizedSession against 430 µs for the same request through the transport adapter, and
    # with the GIL that CPU is the ceiling on messages per second. This path builds the prepared
    # request directly and hands it to the mounted adapter, which still does pooling, TLS,
    # proxies, timeouts, retries and the mapping of urllib3 errors to requests exceptions that
    # the SDK's error handling expects. Anything else falls back to the full Session.request.

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        json: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a JSON POST straight through the adapter; defer anything else to requests."""
        if kwargs or data is not None or json is None or method.upper() != "POST":
            return super().request(
                method, url, data=data, headers=headers, timeout=timeout, json=json, **kwargs
            )
        body = json_module.dumps(json, separators=(",", ":"), allow_nan=False).encode()
        merged: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        merged["Content-Type"] = "application/json"
        merged["Content-Length"] = str(len(body))
        prepared = requests.PreparedRequest()
        prepared.method = "POST"
        prepared.url = url
        prepared.headers = merged
        prepared.body = body
        prepared.hooks = {"response": []}
        response = self.get_adapter(url).send(
            prepared,
            stream=False,
            timeout=timeout,
            verify=self.verify,
            cert=self.cert,
            proxies=self.proxies,
        )
        response.content  # noqa: B018 - reads the body, which returns the connection to the pool
        return response


class _LeanAuthorizedSession(  # type: ignore[misc]  # request() narrowed on purpose
    google.auth.transport.requests.AuthorizedSession, _LeanRequests
):
    """google-auth's AuthorizedSession (auth header, refresh on 401) over _LeanRequests."""

    def __init__(self, credential: Any, *, auth_request: Any) -> None:
        """Authorise requests with ``credential``, refreshing it through ``auth_request``."""
        super().__init__(credential, auth_request=auth_request)  # type: ignore[no-untyped-call]


class _TimeoutRequest(google.auth.transport.requests.Request):
    """google-auth transport that applies our timeout to token requests (its default is 120 s)."""

    def __init__(self, *, timeout_s: float) -> None:
        """Use a fresh session with the given timeout."""
        super().__init__()
        self._timeout_s = timeout_s

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Make the request with our timeout."""
        kwargs["timeout"] = self._timeout_s
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]


def make_sender(*, credentials_path: str | None, endpoint: str | None) -> Sender | None:
    """Return an FcmSender, or None when no credentials are configured (inbox only)."""
    if not credentials_path:
        log.warning("GRASSROOTS_FCM_CREDENTIALS is not set: no pushes will be sent (inbox only)")
        return None
    return FcmSender(credentials_path=credentials_path, endpoint=endpoint)
