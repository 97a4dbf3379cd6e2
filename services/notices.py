"""Sources of automatic reminders: each capability registers what falls due for whom.

A source is `async def source(now) -> list[Notice]`. The job `services.notify.jobs.store_notices`
calls every source, puts each notice in its recipients' inboxes once per `cause_key` (never twice
for the same cause) and queues the pushes. Sources only read: they never write and never send.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Notice:
    """One reminder for some users; `cause_key` is unique per cause (e.g. 'task:<id>:7d')."""

    user_ids: tuple[uuid.UUID, ...]
    title: str
    body: str
    cause_key: str
    data: dict[str, str] = field(default_factory=dict)  # deep link: at least `type` and `id`
    urgent: bool = False
    collapse_key: str | None = None
    ttl_s: int = 24 * 3600
    # [push branch, issue 16] The SMS template kind when the notice must also go by SMS
    # (e.g. "leave_decision"); None: push and inbox only.
    sms_template: str | None = None


NoticeSource = Callable[[datetime], Awaitable[list[Notice]]]

SOURCES: dict[str, NoticeSource] = {}


def notice_source(name: str) -> Callable[[NoticeSource], NoticeSource]:
    """Register a reminder source under a unique name."""

    def register(func: NoticeSource) -> NoticeSource:
        if name in SOURCES and SOURCES[name] is not func:
            raise ValueError(f"notice source {name!r} registered twice")
        SOURCES[name] = func
        return func

    return register
