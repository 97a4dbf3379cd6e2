"""SMS transport: Alibaba Cloud's SMS service (短信服务) on its official client.

SMS in mainland China goes out only through templates approved in advance and under a registered
signature (签名), so the sender takes a template code per notification kind
(`GRASSROOTS_SMS_TEMPLATES`, kinds alert, reminder, missed_checkin, leave_decision). Each template
has one variable, `${title}`: the notification's title, cut to the 20 characters a variable may
carry. The message never carries a name, an identity number or a position.

Phone numbers are personal information: they go into the request and nowhere else: never into a
log line, an error code or the delivery record, which keeps only the outcome.

Like notifications.fcm, this module only moves bytes and classifies answers; the outbox does the
claiming, retries with backoff, quiet hours and the daily cap. The SDK's own retries are off.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from alibabacloud_dysmsapi20170525.client import Client as DysmsClient
from alibabacloud_dysmsapi20170525.models import SendSmsRequest
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from darabonba.runtime import RuntimeOptions

from notifications.fcm import DEFAULT_TIMEOUT_S, Outcome, SendResult

log = logging.getLogger(__name__)

PROVIDER = "aliyun"
TITLE_MAX_CHARS = 20
_THREADS = 8

# SendSms answers HTTP 200 with a Code; these are the ones that mean "try again later".
TRANSIENT_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",  # per-number flow control (minute/hour)
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "SignatureNonceUsed",
    }
)


_PHONE_PARAM = re.compile(r"(PhoneNumbers=)[^&\s\"']*")


class _RedactPhoneNumbers(logging.Filter):
    """Blank the PhoneNumbers parameter out of urllib3's request lines (logged at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record when it carries the parameter; never drop it."""
        text = record.getMessage()
        if "PhoneNumbers=" in text:
            record.msg = _PHONE_PARAM.sub(r"\1<redacted>", text)
            record.args = ()
        return True


_REDACT = _RedactPhoneNumbers()


def _keep_numbers_out_of_http_logs() -> None:
    """The SDK puts the number in the query string, which urllib3 logs whole at DEBUG."""
    http_log = logging.getLogger("urllib3.connectionpool")
    if _REDACT not in http_log.filters:
        http_log.addFilter(_REDACT)


@dataclass(frozen=True)
class SmsMessage:
    """One SMS: a delivery of an inbox notification to its user's phone."""

    delivery_id: str
    phone: str  # never logged, never stored with the outcome
    template: str  # the notification kind: alert, reminder, missed_checkin, leave_decision
    title: str


def sms_config(
    *, access_key_id: str, access_key_secret: str, endpoint: str | None, timeout_s: float
) -> openapi_models.Config:
    """The SDK config; ``endpoint`` (a base URL) replaces Alibaba Cloud's for tests."""
    config = openapi_models.Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        region_id="cn-hangzhou",
        read_timeout=int(timeout_s * 1000),
        connect_timeout=int(timeout_s * 1000),
    )
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("SMS endpoint must be an http(s) base URL")
        # The SDK takes a host (and port) and a protocol, never a URL.
        config.endpoint = parts.netloc
        config.protocol = parts.scheme
    return config


def classify_code(code: str | None) -> tuple[Outcome, str]:
    """Map a SendSms answer code to an outcome."""
    if code == "OK":
        return "sent", "OK"
    label = (code or "SMS_ERROR")[:60]
    if code in TRANSIENT_CODES or (code or "").startswith(("Throttling", "isp.")):
        return "transient", label
    return "failed", label


class SmsSender:
    """Sender of SMS through Alibaba Cloud's dysmsapi 2017-05-25 client."""

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: dict[str, str],
        endpoint: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Make the SDK client; ``templates`` maps notification kind to template code."""
        _keep_numbers_out_of_http_logs()
        self._client = DysmsClient(
            sms_config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=endpoint,
                timeout_s=timeout_s,
            )
        )
        self._sign_name = sign_name
        self.templates = dict(templates)
        self._runtime = RuntimeOptions(
            autoretry=False,
            read_timeout=int(timeout_s * 1000),
            connect_timeout=int(timeout_s * 1000),
        )

    def close(self) -> None:
        """Nothing to close: the SDK opens its connections per request."""

    def send(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        """Send each SMS (a few at once); one result per message, in the same order."""
        if len(messages) <= 1:
            return [self._send_one(message=m) for m in messages]
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="sms") as pool:
            return list(pool.map(lambda m: self._send_one(message=m), messages))

    def _send_one(self, *, message: SmsMessage) -> SendResult:
        """Send one SMS and classify the answer."""
        code_for_kind = self.templates.get(message.template)
        if code_for_kind is None:
            return _result(message=message, outcome="failed", code="NO_TEMPLATE")
        request = SendSmsRequest(
            phone_numbers=message.phone,
            sign_name=self._sign_name,
            template_code=code_for_kind,
            template_param=json.dumps(
                {"title": message.title[:TITLE_MAX_CHARS]}, ensure_ascii=False
            ),
            out_id=message.delivery_id,
        )
        try:
            response = self._client.send_sms_with_options(request, self._runtime)
        except ThrottlingException as error:
            return _result(message=message, outcome="transient", code=_code(error, "Throttling"))
        except ServerException as error:
            return _result(message=message, outcome="transient", code=_code(error, "SERVER_ERROR"))
        except ClientException as error:
            outcome, code = classify_code(_code(error, "CLIENT_ERROR"))
            return _result(message=message, outcome=outcome, code=code)
        except Exception as error:  # noqa: BLE001 - connection refused, timeouts: try again
            log.info("sms %s: no answer (%s)", message.delivery_id, type(error).__name__)
            return _result(message=message, outcome="transient", code="UNAVAILABLE")
        body = response.body
        outcome, code = classify_code(getattr(body, "code", None))
        if outcome == "sent":
            return SendResult(
                delivery_id=message.delivery_id,
                ok=True,
                message_id=getattr(body, "biz_id", None),
                outcome="sent",
                error=None,
            )
        return _result(message=message, outcome=outcome, code=code)


def _code(error: Exception, default: str) -> str:
    code = getattr(error, "code", None)
    return str(code) if code else default


def _result(*, message: SmsMessage, outcome: Outcome, code: str) -> SendResult:
    # The delivery id and the code only: the number stays out of the log.
    log.info("sms %s (%s): %s (%s)", message.delivery_id, message.template, outcome, code)
    return SendResult(
        delivery_id=message.delivery_id, ok=False, message_id=None, outcome=outcome, error=code
    )


def make_sms_sender(
    *,
    access_key_id: str | None,
    access_key_secret: str | None,
    sign_name: str | None,
    templates: dict[str, str],
    endpoint: str | None,
) -> SmsSender | None:
    """Return an SmsSender, or None when SMS is not configured."""
    if not (access_key_id and access_key_secret and sign_name and templates):
        return None
    return SmsSender(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        sign_name=sign_name,
        templates=templates,
        endpoint=endpoint,
    )
