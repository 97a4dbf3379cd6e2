"""Who is acting in the current request or job, for the audit log."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The signed-in user (None for the system) and the client address."""

    user_id: uuid.UUID | None
    address: str | None


SYSTEM = Actor(user_id=None, address=None)
current_actor: ContextVar[Actor] = ContextVar("current_actor", default=SYSTEM)
