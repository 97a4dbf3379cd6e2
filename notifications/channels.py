"""Which delivery channels run, and the one push Sender that routes messages to their provider.

A device token belongs to one provider (FCM, or JPush for phones in mainland China); each push
message carries its device's provider and the PushRouter hands it to that provider's sender, so the
outbox claims, retries and prunes the same way whichever service carries the push. SMS is a channel
of its own (notifications.sms), for what must arrive without the app.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from grassroots.settings import Settings
from notifications.fcm import PushMessage, Sender, SendResult

log = logging.getLogger("grassroots.push")


@dataclass(frozen=True)
class Channels:
    """The configured channels: push providers with credentials, SMS kinds with a template."""

    providers: frozenset[str] = frozenset()
    sms_templates: frozenset[str] = field(default_factory=frozenset)

    @property
    def push(self) -> bool:
        """True when at least one push provider is configured."""
        return bool(self.providers)

    @property
    def sms(self) -> bool:
        """True when SMS is configured."""
        return bool(self.sms_templates)

    @property
    def any(self) -> bool:
        """True when any delivery is made at all."""
        return self.push or self.sms

    def sms_for(self, template: str | None) -> bool:
        """True when an SMS of this kind can be sent (SMS is on and the kind has a template)."""
        return template is not None and template in self.sms_templates

    @classmethod
    def from_settings(cls, settings: Settings) -> Channels:
        """The channels the settings configure."""
        providers = set()
        if settings.fcm_credentials:
            providers.add("fcm")
        if settings.jpush_enabled:
            providers.add("jpush")
        templates = frozenset(settings.sms_template_codes) if settings.sms_enabled else frozenset()
        return cls(providers=frozenset(providers), sms_templates=templates)


FCM_ONLY = Channels(providers=frozenset({"fcm"}))
NONE = Channels()


class PushRouter:
    """A Sender that sends each message through the sender of its provider."""

    def __init__(self, senders: Mapping[str, Sender]) -> None:
        """Route to these senders by provider name ("fcm", "jpush")."""
        self.senders = dict(senders)

    def send(self, messages: Sequence[PushMessage]) -> list[SendResult]:
        """Send every provider's share at once (each in its thread); results in message order."""
        groups: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            groups.setdefault(message.provider, []).append(index)
        results: list[SendResult | None] = [None] * len(messages)

        def run(provider: str) -> None:
            indexes = groups[provider]
            sender = self.senders.get(provider)
            if sender is None:
                # Rows are only made for configured providers; a worker started without the
                # provider's credentials leaves nothing unrecorded and says why.
                for i in indexes:
                    results[i] = SendResult(
                        delivery_id=messages[i].delivery_id,
                        ok=False,
                        message_id=None,
                        outcome="transient",
                        error="provider_disabled",
                    )
                return
            answers = sender.send([messages[i] for i in indexes])
            for i, answer in zip(indexes, answers, strict=True):
                results[i] = answer

        if len(groups) <= 1:
            for provider in groups:
                run(provider)
        else:
            with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="push") as pool:
                list(pool.map(run, groups))
        return [result for result in results if result is not None]

    def reserve_keys_for(self, provider: str, count: int) -> list[str] | None:
        """Idempotency keys from the provider's sender, or None when it has none to give."""
        reserve = getattr(self.senders.get(provider), "reserve_keys", None)
        if not callable(reserve):
            return None
        keys = reserve(count)
        return [str(key) for key in keys]

    def close(self) -> None:
        """Close every sender that can be closed."""
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if callable(close):
                close()
