"""What a provider gave a delivery: the idempotency key before the send, the message id after.

- `delivery.push_ref`: the provider's idempotency key (JPush's cid), stored before the first send
  and posted again by every retry, so the provider sends it once (see notifications.outbox).
- `push_shown`: the id of the last message of each collapse key that JPush put on a device (its
  msg_id). A later push of the same key to the device names it in JPush's
  `options.override_msg_id`, and the phone shows the new notification in place of the old one
  instead of both. JPush honours an override for one day after the first message
  (docs.jiguang.cn/jpush/server/push/rest_api_v3_push, options) on its own channel and the
  Xiaomi, OPPO, vivo, FCM, Honor and Huawei (EMUI 10+) channels; an unknown msg_id is refused
  with 1003 and the push is then sent without it (notifications.jpush).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections

from grassroots import db
from models.notifications import PushShown

# JPush overrides a message for one day after it was sent; an hour less leaves room for clocks.
OVERRIDE_WINDOW = timedelta(hours=23)
KEEP_SHOWN = timedelta(days=1)


async def store_push_refs(pairs: Sequence[tuple[str, uuid.UUID]]) -> None:
    """UPDATE delivery SET push_ref = key WHERE id = delivery id, for every (key, id) pair."""
    if not pairs:
        return
    conn = connections.get("default")
    if db.dialect() == "postgres":
        # One statement for the whole batch: a tenth of the time of one UPDATE per row.
        await conn.execute_query(
            'UPDATE "delivery" AS d SET "push_ref" = v.key FROM unnest($1::text[], $2::uuid[])'
            ' AS v(key, id) WHERE d."id" = v.id',
            [[key for key, _ in pairs], [delivery_id for _, delivery_id in pairs]],
        )
        return
    values: list[list[Any]] = [[key, str(delivery_id)] for key, delivery_id in pairs]
    await conn.execute_many('UPDATE "delivery" SET "push_ref" = ? WHERE "id" = ?', values)


async def remember_shown(shown: Sequence[tuple[uuid.UUID, str, str]], *, now: datetime) -> None:
    """Keep (device, collapse key) -> msg_id of the messages just sent; forget what is too old."""
    if not shown:
        return
    latest = {(device, key): msg_id for device, key, msg_id in shown}  # the last one wins
    await PushShown.bulk_create(
        [
            PushShown(device_id=device, collapse_key=key, msg_id=msg_id, sent_at=now)
            for (device, key), msg_id in latest.items()
        ],
        on_conflict=("device_id", "collapse_key"),
        update_fields=("msg_id", "sent_at"),
    )
    await PushShown.filter(sent_at__lt=now - KEEP_SHOWN).delete()


async def shown_messages(
    *, wanted: Sequence[tuple[uuid.UUID, str]], now: datetime
) -> dict[tuple[uuid.UUID, str], str]:
    """The msg_id last shown on each (device, collapse key), if it is still within the window."""
    if not wanted:
        return {}
    rows = await PushShown.filter(
        device_id__in=list({device for device, _ in wanted}),
        collapse_key__in=list({key for _, key in wanted}),
        sent_at__gte=now - OVERRIDE_WINDOW,
    ).values_list("device_id", "collapse_key", "msg_id")
    found = {(device, key): str(msg_id) for device, key, msg_id in rows}
    return {pair: found[pair] for pair in wanted if pair in found}
