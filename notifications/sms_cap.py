"""Each user's daily SMS cap (`GRASSROOTS_SMS_DAILY_CAP`), counted per local day.

A text reserves one of the day's SMS before it is sent and gives it back when it was not sent
(a retry reserves again). The reservation is one conditional UPDATE, so two workers can never
both take a user's last SMS of the day.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from grassroots.settings import get_settings
from models.notifications import SmsDailyCount


def local_day(now: datetime) -> date:
    """The deployment's local date at `now`: the day a cap counts."""
    return now.astimezone(get_settings().tz).date()


async def reserve_sms(*, user_id: uuid.UUID, day: date, cap: int) -> bool:
    """Count one more SMS for the user today if that stays within `cap`; False when it would not."""
    if cap <= 0:
        return False
    try:
        await SmsDailyCount.get_or_create(user_id=user_id, day=day)
    except IntegrityError:  # made by another worker at the same moment: it exists now
        pass
    taken = await SmsDailyCount.filter(user_id=user_id, day=day, sent__lt=cap).update(
        sent=F("sent") + 1
    )
    return taken == 1


async def reserve_each(*, user_ids: Sequence[uuid.UUID], cap: int, now: datetime) -> list[bool]:
    """Reserve one SMS per entry (a user may appear more than once), in order: True if within."""
    day = local_day(now)
    return [await reserve_sms(user_id=user_id, day=day, cap=cap) for user_id in user_ids]


async def release(*, user_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Give back one reserved SMS per entry: texts that were not sent."""
    day = local_day(now)
    for user_id in user_ids:
        await SmsDailyCount.filter(user_id=user_id, day=day, sent__gt=0).update(sent=F("sent") - 1)
