"""The delivery outbox: claim due deliveries, send them with a Sender, record what happened.

Pushes (FCM or JPush, routed by the device's provider) and SMS share the outbox: the same claims,
leases, retries with backoff, quiet hours and TTL; SMS also pass each user's daily cap, reserved
with a conditional UPDATE before the text is sent and given back when it is not
(`notifications.sms_cap`). What the outbox holds and how sends ended are `notifications.figures`.

Claiming. A worker takes a batch by writing a fresh claim id into `claimed_by` and moving
`claimed_until` (its lease) forward. On PostgreSQL the candidates are selected with
``SELECT ... FOR UPDATE SKIP LOCKED`` inside a transaction, so concurrent workers take disjoint
batches without waiting for each other. On SQLite (one connection, no row locks) the claim is a
conditional UPDATE that only takes rows whose lease is free, so two claims can never both win a row.
A worker that dies after claiming leaves rows whose lease expires: the next claim takes them again.

Sending twice. The outcome of a push is written right after ``Sender.send`` returns, for the whole
batch in one UPDATE. If the process dies after FCM accepted a message and before that UPDATE
commits, the lease expires and the message is sent again: at most one duplicate per delivery, only
on a crash inside that window (milliseconds for a batch). FCM and Alibaba's SendSms have no
idempotency key, and JPush's cids are fetched per request by its client, so this cannot be closed
from our side; the collapse key limits the damage to one visible notification on
Android and iOS. The lease is much longer than a send can take (timeouts), so a slow but alive
worker never has its batch taken over while it is still sending.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from grassroots import clock, db
from grassroots.settings import get_settings
from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Device,
    PushProvider,
)
from models.org import User
from notifications import figures, refs, sms_cap
from notifications.fcm import PushMessage, Sender, SendResult, token_hint
from notifications.figures import PENDING as PENDING  # the outbox's word, defined with its figures
from notifications.sms import SmsMessage, SmsSender

log = logging.getLogger("grassroots.push")

MAX_TRIES = 5
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0
DEFAULT_BATCH = 500
DEFAULT_LEASE_S = 120.0
_ERROR_MAX = 100

# The SMS template kind of the fallback for a reminder no device confirmed: a push that arrives
# (received) makes it unnecessary; for the urgent kinds only reading the notification does.
SMS_FALLBACK_TEMPLATE = "reminder"


# --- quiet hours -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """A daily local-time window in which non-urgent pushes wait (may cross midnight)."""

    start: time
    end: time
    tz: ZoneInfo

    def end_after(self, at: datetime) -> datetime | None:
        """The end of the window that contains `at` (UTC), or None when `at` lies outside it."""
        local = at.astimezone(self.tz)
        now_t = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = self.start <= now_t < self.end
            end_day = local.date()
        else:
            inside = now_t >= self.start or now_t < self.end
            end_day = local.date() + timedelta(days=1) if now_t >= self.start else local.date()
        if not inside:
            return None
        end_local = datetime.combine(end_day, self.end).replace(tzinfo=self.tz)
        return end_local.astimezone(UTC)


def parse_quiet_hours(spec: str | None, *, tz: ZoneInfo) -> QuietHours | None:
    """Parse "HH:MM-HH:MM" (local time); an empty value means no quiet hours."""
    if spec is None or not spec.strip():
        return None
    try:
        start_text, end_text = spec.strip().split("-")
        start = time.fromisoformat(start_text.strip())
        end = time.fromisoformat(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"quiet hours must look like 22:00-07:00, not {spec!r}") from exc
    return QuietHours(start=start, end=end, tz=tz)


def first_attempt_at(*, now: datetime, urgent: bool, quiet: QuietHours | None) -> datetime:
    """When a new push may go: now, or the end of quiet hours for a non-urgent one."""
    if urgent or quiet is None:
        return now
    return quiet.end_after(now) or now


def backoff_s(*, attempts: int, rng: random.Random | None = None) -> float:
    """Delay before try number `attempts + 1`: exponential with jitter (half to full)."""
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    factor = float((rng or random).uniform(0.5, 1.0))
    return float(delay * factor)


# --- claiming --------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return (
        Q(status__in=list(PENDING))
        & Q(next_attempt_at__lte=now)
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )


async def claim(*, claim_id: str, now: datetime, limit: int, lease_s: float) -> int:
    """Claim up to `limit` due deliveries for `claim_id`; returns how many were claimed."""
    lease = now + timedelta(seconds=lease_s)
    if db.dialect() == "postgres":
        async with in_transaction():
            rows = (
                await Delivery.filter(_due(now))
                .order_by("next_attempt_at")
                .limit(limit)
                .select_for_update(skip_locked=True)
                .only("id")
            )
            locked = [row.id for row in rows]
            if not locked:
                return 0
            return await Delivery.filter(id__in=locked).update(
                claimed_until=lease, claimed_by=claim_id
            )
    ids: list[Any] = (
        await Delivery.filter(_due(now))
        .order_by("next_attempt_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    if not ids:
        return 0
    # The lease condition is repeated in the UPDATE: a row another worker claimed in between
    # is not taken again.
    return await Delivery.filter(_due(now), id__in=list(ids)).update(
        claimed_until=lease, claimed_by=claim_id
    )


# --- one batch -------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What one claim-send-record round did."""

    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    pruned_devices: int = 0
    held: int = 0
    sms_sent: int = 0  # of `sent`, how many were SMS
    skipped: int = 0  # dropped unsent for a reason that is no failure (read, no phone)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Claimed:
    delivery_id: uuid.UUID
    device_id: uuid.UUID | None
    user_id: uuid.UUID
    channel: Channel
    attempts: int
    urgent: bool
    push: PushMessage | None  # a push to send
    sms: SmsMessage | None  # or an SMS to send; neither: nothing to send (see error)
    error: str | None
    skip_status: DeliveryStatus = DeliveryStatus.failed  # what an unsendable row becomes


def _as_str_dict(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


async def _load(*, claim_id: str, now: datetime) -> list[_Claimed]:
    """The claimed deliveries with what their pushes and SMS need."""
    rows = await Delivery.filter(claimed_by=claim_id, status__in=list(PENDING)).values(
        "id",
        "device_id",
        "user_id",
        "channel",
        "template",
        "attempts",
        "urgent",
        "device__token",
        "device__provider",
        "push_ref",
        "notification__title",
        "notification__body",
        "notification__data",
        "notification__collapse_key",
        "notification__ttl_s",
        "notification__created_at",
        "notification__read_at",
        "notification__received_at",
    )
    sms_users = {row["user_id"] for row in rows if row["channel"] == Channel.sms}
    phones: dict[Any, str | None] = {}
    if sms_users:
        phones = dict(
            await User.filter(id__in=list(sms_users), is_active=True, deleted_at=None).values_list(
                "id", "phone"
            )
        )
    claimed: list[_Claimed] = []
    for row in rows:
        created_at: datetime = row["notification__created_at"]
        ttl_left = int(row["notification__ttl_s"] - (now - created_at).total_seconds())
        channel = Channel(row["channel"])
        error: str | None = None
        skip = DeliveryStatus.failed
        push = sms = None
        if row["notification__read_at"] is not None:
            # Opened in the app already: nothing more to say on any channel.
            error, skip = "read", DeliveryStatus.read
        elif channel == Channel.sms:
            phone = phones.get(row["user_id"])
            if row["template"] == SMS_FALLBACK_TEMPLATE and row["notification__received_at"]:
                error, skip = "received", DeliveryStatus.read
            elif not phone:
                error, skip = "no_phone", DeliveryStatus.no_phone
            elif ttl_left <= 0:
                error = "expired"
            else:
                sms = SmsMessage(
                    delivery_id=str(row["id"]),
                    phone=phone,
                    template=row["template"] or "",
                    title=row["notification__title"],
                )
        else:
            token = row["device__token"]
            if row["device_id"] is None or not token:
                error = "device_removed"
            elif ttl_left <= 0:
                error = "expired"
            else:
                push = PushMessage(
                    delivery_id=str(row["id"]),
                    token=token,
                    title=row["notification__title"],
                    body=row["notification__body"],
                    data=_as_str_dict(row["notification__data"]),
                    collapse_key=row["notification__collapse_key"],
                    ttl_s=ttl_left,
                    urgent=bool(row["urgent"]),
                    provider=str(row["device__provider"] or PushProvider.fcm),
                    idempotency_key=row["push_ref"],
                )
        claimed.append(
            _Claimed(
                delivery_id=row["id"],
                device_id=row["device_id"],
                user_id=row["user_id"],
                channel=channel,
                attempts=row["attempts"],
                urgent=bool(row["urgent"]),
                push=push,
                sms=sms,
                error=error,
                skip_status=skip,
            )
        )
    return claimed


async def _fail(
    ids: Sequence[uuid.UUID],
    *,
    claim_id: str,
    error: str,
    attempts: bool,
    status: DeliveryStatus = DeliveryStatus.failed,
) -> None:
    if not ids:
        return
    changes: dict[str, Any] = {
        "status": status,
        "last_error": error[:_ERROR_MAX],
        "claimed_until": None,
    }
    if attempts:
        changes["attempts"] = F("attempts") + 1
    await Delivery.filter(id__in=list(ids), claimed_by=claim_id).update(**changes)


async def _record(
    *,
    claim_id: str,
    claimed: Sequence[_Claimed],
    results: Iterable[SendResult],
    now: datetime,
    quiet: QuietHours | None,
    report: BatchReport,
    rng: random.Random | None,
    sent_status: DeliveryStatus = DeliveryStatus.sent,
) -> list[_Claimed]:
    """Write the outcome of every push (or SMS) of the batch; returns the items not sent."""
    by_id = {str(c.delivery_id): c for c in claimed}
    sent: list[uuid.UUID] = []
    not_sent: list[_Claimed] = []
    failed: dict[str, list[uuid.UUID]] = {}
    dead_devices: set[uuid.UUID] = set()
    retries: list[tuple[_Claimed, str]] = []
    shown: list[tuple[uuid.UUID, str, str]] = []
    for result in results:
        item = by_id[result.delivery_id]
        if result.outcome == "sent":
            sent.append(item.delivery_id)
            if _may_be_replaced(item) and result.message_id and item.device_id and item.push:
                shown.append((item.device_id, item.push.collapse_key or "", result.message_id))
            continue
        not_sent.append(item)
        if result.outcome == "transient" and item.attempts + 1 < MAX_TRIES:
            retries.append((item, result.error or "transient"))
        else:
            code = result.error or result.outcome
            failed.setdefault(code, []).append(item.delivery_id)
            if result.outcome in ("unregistered", "invalid") and item.device_id is not None:
                dead_devices.add(item.device_id)
        report.errors[result.error or result.outcome] = (
            report.errors.get(result.error or result.outcome, 0) + 1
        )
    if sent:
        # By id only: a push the provider accepted is sent, whoever holds the lease by now.
        await Delivery.filter(id__in=sent).update(
            status=sent_status,
            sent_at=now,
            attempts=F("attempts") + 1,
            claimed_until=None,
            last_error=None,
        )
        await refs.remember_shown(shown, now=now)
    for code, ids in failed.items():
        await _fail(ids, claim_id=claim_id, error=code, attempts=True)
    for item, code in retries:
        retry_at = now + timedelta(seconds=backoff_s(attempts=item.attempts + 1, rng=rng))
        if not item.urgent and quiet is not None:
            retry_at = quiet.end_after(retry_at) or retry_at
        await Delivery.filter(id=item.delivery_id, claimed_by=claim_id).update(
            status=DeliveryStatus.queued,
            attempts=F("attempts") + 1,
            next_attempt_at=retry_at,
            claimed_until=None,
            last_error=code[:_ERROR_MAX],
        )
    if dead_devices:
        report.pruned_devices += await prune_devices(device_ids=dead_devices)
    report.sent += len(sent)
    report.retry += len(retries)
    report.failed += sum(len(ids) for ids in failed.values())
    return not_sent


async def prune_devices(*, device_ids: Iterable[uuid.UUID]) -> int:
    """Delete devices FCM called dead; their other pending pushes fail, never to be retried."""
    ids = list(device_ids)
    await Delivery.filter(device_id__in=ids, status__in=list(PENDING)).update(
        status=DeliveryStatus.failed, last_error="device_removed", claimed_until=None
    )
    found = await Device.filter(id__in=ids).values_list("id", "token")
    for device_id, token in found:
        log.info("device %s pruned (token %s)", device_id, token_hint(str(token)))
    await Device.filter(id__in=ids).delete()
    return len(found)


async def deliver_batch(
    *,
    sender: Sender | None,
    sms: SmsSender | None = None,
    now: datetime | None = None,
    limit: int = DEFAULT_BATCH,
    lease_s: float = DEFAULT_LEASE_S,
    quiet: QuietHours | None = None,
    rng: random.Random | None = None,
) -> BatchReport:
    """Claim one batch of due deliveries, send them in worker threads and record the outcomes."""
    now = now or clock.now()
    claim_id = uuid.uuid4().hex
    report = BatchReport()
    report.claimed = await claim(claim_id=claim_id, now=now, limit=limit, lease_s=lease_s)
    if report.claimed == 0:
        return report
    claimed = await _load(claim_id=claim_id, now=now)
    quiet_end = quiet.end_after(now) if quiet is not None else None
    pushes: list[_Claimed] = []
    texts: list[_Claimed] = []
    held: list[uuid.UUID] = []
    unsendable: dict[tuple[str, DeliveryStatus], list[uuid.UUID]] = {}
    for item in claimed:
        if item.push is None and item.sms is None:
            key = (item.error or "unsendable", item.skip_status)
            unsendable.setdefault(key, []).append(item.delivery_id)
        elif quiet_end is not None and not item.urgent:
            held.append(item.delivery_id)
        elif item.push is not None and sender is None:
            unsendable.setdefault(("push_disabled", DeliveryStatus.failed), []).append(
                item.delivery_id
            )
        elif item.sms is not None and sms is None:
            unsendable.setdefault(("sms_disabled", DeliveryStatus.failed), []).append(
                item.delivery_id
            )
        elif item.push is not None:
            pushes.append(item)
        else:
            texts.append(item)
    for (code, status), ids in unsendable.items():
        await _fail(ids, claim_id=claim_id, error=code, attempts=False, status=status)
        report.failed += len(ids) if status == DeliveryStatus.failed else 0
        report.skipped += len(ids) if status != DeliveryStatus.failed else 0
    if held:
        # Claimed inside quiet hours (a backlog or a retry): wait for their end.
        await Delivery.filter(id__in=held, claimed_by=claim_id).update(
            status=DeliveryStatus.held, next_attempt_at=quiet_end, claimed_until=None
        )
        report.held += len(held)
    if texts:
        texts = await _within_cap(texts=texts, claim_id=claim_id, now=now, report=report)
    if pushes and sender is not None:
        pushes = await _fix_idempotency_keys(pushes=pushes, sender=sender)
        pushes = await _name_what_they_replace(pushes=pushes, now=now)
    messages = [item.push for item in pushes if item.push is not None]
    sms_messages = [item.sms for item in texts if item.sms is not None]

    async def send_pushes() -> list[SendResult]:
        if not messages or sender is None:
            return []
        return await asyncio.to_thread(sender.send, messages)

    async def send_texts() -> list[SendResult]:
        if not sms_messages or sms is None:
            return []
        return await asyncio.to_thread(sms.send, sms_messages)

    # Both channels at once, each in its thread; the outcomes are written after both return.
    push_results, sms_results = await asyncio.gather(send_pushes(), send_texts())
    figures.count_outcomes([m.provider for m in messages], push_results)
    figures.count_outcomes(["aliyun_sms"] * len(sms_messages), sms_results)
    if texts:
        not_sent = await _record(
            claim_id=claim_id,
            claimed=texts,
            results=sms_results,
            now=now,
            quiet=quiet,
            report=report,
            rng=rng,
            sent_status=DeliveryStatus.sms_sent,
        )
        report.sms_sent += len(texts) - len(not_sent)
        # What was not sent does not count against the user's cap (a retry reserves again).
        await sms_cap.release(user_ids=[item.user_id for item in not_sent], now=now)
    if pushes:
        await _record(
            claim_id=claim_id,
            claimed=pushes,
            results=push_results,
            now=now,
            quiet=quiet,
            report=report,
            rng=rng,
        )
    return report


async def _fix_idempotency_keys(*, pushes: list[_Claimed], sender: Sender) -> list[_Claimed]:
    """Store a provider idempotency key (JPush's cid) on each push that has none, before sending.

    Committed before the send, the key is what a retry after a crash posts again, and the
    provider sends a key once. Without keys (the provider gave none) the push goes as before.
    """
    reserve = getattr(sender, "reserve_keys_for", None)
    if not callable(reserve):
        return pushes
    wanted: dict[str, list[int]] = {}
    for index, item in enumerate(pushes):
        if item.push is not None and item.push.idempotency_key is None:
            wanted.setdefault(item.push.provider, []).append(index)
    out = list(pushes)
    for provider, indexes in wanted.items():
        try:
            keys = await asyncio.to_thread(reserve, provider, len(indexes))
        except Exception:  # noqa: BLE001 - no keys: the sender fetches its own, as before
            log.warning("no idempotency keys from %s; sending without", provider, exc_info=True)
            continue
        if not keys:
            continue
        pairs: list[tuple[str, uuid.UUID]] = []
        for index, key in zip(indexes, keys, strict=True):
            item = out[index]
            assert item.push is not None
            out[index] = dataclasses.replace(
                item, push=dataclasses.replace(item.push, idempotency_key=key)
            )
            pairs.append((key, item.delivery_id))
        await refs.store_push_refs(pairs)
    return out


def _may_be_replaced(item: _Claimed) -> bool:
    """A JPush push with a collapse key: a later one of the same key may replace it."""
    push = item.push
    return push is not None and push.provider == PushProvider.jpush and bool(push.collapse_key)


async def _name_what_they_replace(*, pushes: list[_Claimed], now: datetime) -> list[_Claimed]:
    """Give each JPush push the msg_id of the last push of its collapse key to its device."""
    keys = {
        item.delivery_id: (item.device_id, item.push.collapse_key)
        for item in pushes
        if _may_be_replaced(item) and item.device_id and item.push and item.push.collapse_key
    }
    shown = await refs.shown_messages(wanted=list(keys.values()), now=now)
    out = []
    for item in pushes:
        msg_id = shown.get(keys[item.delivery_id]) if item.delivery_id in keys else None
        if item.push is not None and msg_id is not None:
            item = dataclasses.replace(item, push=dataclasses.replace(item.push, replaces=msg_id))
        out.append(item)
    return out


async def _within_cap(
    *, texts: Sequence[_Claimed], claim_id: str, now: datetime, report: BatchReport
) -> list[_Claimed]:
    """Reserve one SMS of each user's daily cap per text; those over the cap fail."""
    allowed = await sms_cap.reserve_each(
        user_ids=[item.user_id for item in texts], cap=get_settings().sms_daily_cap, now=now
    )
    over = [item.delivery_id for item, ok in zip(texts, allowed, strict=True) if not ok]
    if over:
        await _fail(over, claim_id=claim_id, error="daily_cap", attempts=False)
        report.failed += len(over)
        report.errors["daily_cap"] = report.errors.get("daily_cap", 0) + len(over)
    return [item for item, ok in zip(texts, allowed, strict=True) if ok]
