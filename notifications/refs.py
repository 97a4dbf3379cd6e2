"""What a provider gave a delivery, kept on its row: the idempotency key and the message id.

- `push_ref`: the provider's idempotency key (JPush's cid), stored before the first send and
  posted again by every retry, so the provider sends it once (see notifications.outbox).
- `provider_msg_id`: the id of the message the provider accepted (JPush's msg_id). A later push
  of the same collapse key to the same device names it in JPush's `options.override_msg_id`, and
  the phone shows the new notification in place of the old one instead of both. JPush honours
  an override for one day after the first message (docs.jiguang.cn/jpush/server/push/
  rest_api_v3_push, options) on its own channel and the Xiaomi, OPPO, vivo, FCM, Honor and Huawei
  (EMUI 10+) channels; an older or unknown msg_id is refused with 1003 and the push is then sent
  without it (notifications.jpush).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from tortoise import connections

from grassroots import db
from models.notifications import Delivery, PushProvider

# JPush overrides a message for one day after it was sent; an hour less leaves room for clocks.
OVERRIDE_WINDOW = timedelta(hours=23)

Column = Literal["push_ref", "provider_msg_id"]


async def store(column: Column, pairs: Sequence[tuple[str, uuid.UUID]]) -> None:
    """UPDATE delivery SET column = value WHERE id = delivery id, for every pair, in one batch."""
    if not pairs:
        return
    # One prepared statement run for all pairs: less than half the time of Tortoise's
    # bulk_update (a CASE per row built by pypika) on a 500-row batch here.
    conn = connections.get("default")
    if db.dialect() == "postgres":
        sql = f'UPDATE "delivery" SET "{column}" = $1 WHERE "id" = $2'
        values: list[list[Any]] = [[value, delivery_id] for value, delivery_id in pairs]
    else:
        sql = f'UPDATE "delivery" SET "{column}" = ? WHERE "id" = ?'
        values = [[value, str(delivery_id)] for value, delivery_id in pairs]
    await conn.execute_many(sql, values)


async def shown_messages(
    *, wanted: Sequence[tuple[uuid.UUID, str]], now: datetime
) -> dict[tuple[uuid.UUID, str], str]:
    """The JPush msg_id last sent to each (device, collapse key) within the override window."""
    if not wanted:
        return {}
    rows = (
        await Delivery.filter(
            device_id__in=list({device for device, _ in wanted}),
            sent_at__gte=now - OVERRIDE_WINDOW,
            provider=PushProvider.jpush.value,
            provider_msg_id__isnull=False,
            notification__collapse_key__in=list({key for _, key in wanted}),
        )
        .order_by("sent_at")
        .values_list("device_id", "notification__collapse_key", "provider_msg_id")
    )
    # Ordered by time: the latest message of each pair is the one on the phone.
    latest = {(device, key): str(msg_id) for device, key, msg_id in rows}
    return {pair: latest[pair] for pair in wanted if pair in latest}
