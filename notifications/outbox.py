"""The push outbox: claim due deliveries, send them with a Sender, record what happened.

Claiming. A worker takes a batch by writing a fresh claim id into `claimed_by` and moving
`claimed_until` (its lease) forward. On PostgreSQL the candidates are selected with
``SELECT ... FOR UPDATE SKIP LOCKED`` inside a transaction, so concurrent workers take disjoint
batches without waiting for each other. On SQLite (one connection, no row locks) the claim is a
conditional UPDATE that only takes rows whose lease is free, so two claims can never both win a row.
A worker that dies after claiming leaves rows whose lease expires: the next claim takes them again.

Sending twice. The outcome of a push is written right after ``Sender.send`` returns, for the whole
batch in one UPDATE. If the process dies after FCM accepted a message and before that UPDATE
commits, the lease expires and the message is sent again: at most one duplicate per delivery, only
on a crash inside that window (milliseconds for a batch). FCM has no idempotency key, so this
cannot be closed from our side; the collapse key limits the damage to one visible notification on
Android and iOS. The lease is much longer than a send can take (timeouts), so a slow but alive
worker never has its batch taken over while it is still sending.
"""

from __future__ import annotations

import asyncio
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
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from grassroots import clock, db, metrics
from models.notifications import Delivery, DeliveryStatus, Device
from notifications.fcm import PushMessage, Sender, SendResult, token_hint

log = logging.getLogger("grassroots.push")

MAX_TRIES = 5
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0
DEFAULT_BATCH = 500
DEFAULT_LEASE_S = 120.0
_ERROR_MAX = 100

PENDING = (DeliveryStatus.queued, DeliveryStatus.held)


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
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Claimed:
    delivery_id: uuid.UUID
    device_id: uuid.UUID | None
    attempts: int
    urgent: bool
    push: PushMessage | None  # None: nothing to send (no device any more, or expired)
    error: str | None


def _as_str_dict(raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


async def _load(*, claim_id: str, now: datetime) -> list[_Claimed]:
    """The claimed deliveries with what their pushes need."""
    rows = await Delivery.filter(claimed_by=claim_id, status__in=list(PENDING)).values(
        "id",
        "device_id",
        "attempts",
        "urgent",
        "device__token",
        "notification__title",
        "notification__body",
        "notification__data",
        "notification__collapse_key",
        "notification__ttl_s",
        "notification__created_at",
    )
    claimed: list[_Claimed] = []
    for row in rows:
        token = row["device__token"]
        created_at: datetime = row["notification__created_at"]
        ttl_left = int(row["notification__ttl_s"] - (now - created_at).total_seconds())
        error = None
        if row["device_id"] is None or not token:
            error = "device_removed"
        elif ttl_left <= 0:
            error = "expired"
        push = None
        if error is None:
            push = PushMessage(
                delivery_id=str(row["id"]),
                token=token,
                title=row["notification__title"],
                body=row["notification__body"],
                data=_as_str_dict(row["notification__data"]),
                collapse_key=row["notification__collapse_key"],
                ttl_s=ttl_left,
                urgent=bool(row["urgent"]),
            )
        claimed.append(
            _Claimed(
                delivery_id=row["id"],
                device_id=row["device_id"],
                attempts=row["attempts"],
                urgent=bool(row["urgent"]),
                push=push,
                error=error,
            )
        )
    return claimed


async def _fail(ids: Sequence[uuid.UUID], *, claim_id: str, error: str, attempts: bool) -> None:
    if not ids:
        return
    changes: dict[str, Any] = {
        "status": DeliveryStatus.failed,
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
) -> None:
    """Write the outcome of every push of the batch."""
    by_id = {str(c.delivery_id): c for c in claimed}
    sent: list[uuid.UUID] = []
    failed: dict[str, list[uuid.UUID]] = {}
    dead_devices: set[uuid.UUID] = set()
    retries: list[tuple[_Claimed, str]] = []
    for result in results:
        item = by_id[result.delivery_id]
        if result.outcome == "sent":
            sent.append(item.delivery_id)
        elif result.outcome == "transient" and item.attempts + 1 < MAX_TRIES:
            retries.append((item, result.error or "transient"))
        else:
            code = result.error or result.outcome
            failed.setdefault(code, []).append(item.delivery_id)
            if result.outcome in ("unregistered", "invalid") and item.device_id is not None:
                dead_devices.add(item.device_id)
        if result.outcome != "sent":
            report.errors[result.error or result.outcome] = (
                report.errors.get(result.error or result.outcome, 0) + 1
            )
    if sent:
        # By id only: a push FCM accepted is sent, whoever holds the lease by now.
        await Delivery.filter(id__in=sent).update(
            status=DeliveryStatus.sent,
            sent_at=now,
            attempts=F("attempts") + 1,
            claimed_until=None,
            last_error=None,
        )
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


def _provider(sender: Sender) -> str:
    """The push service behind a sender, as a metrics label (FCM unless it says otherwise)."""
    return str(getattr(sender, "provider", "fcm"))


def _count_outcomes(sender: Sender, results: Sequence[SendResult]) -> None:
    provider = _provider(sender)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    for outcome, n in counts.items():
        metrics.DELIVERIES.labels(provider=provider, outcome=outcome).inc(n)


async def outbox_figures(*, now: datetime) -> tuple[dict[str, int], float]:
    """Deliveries waiting by status, and the age in seconds of the oldest one due by `now`."""
    depth = {str(status): 0 for status in PENDING}
    rows = await (
        Delivery.filter(status__in=list(PENDING))
        .group_by("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    for status, n in rows:
        depth[str(status)] = int(n)
    oldest = (
        await Delivery.filter(status__in=list(PENDING), next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .first()
        .values_list("next_attempt_at", flat=True)
    )
    age = (now - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
    return depth, max(0.0, age)


async def export_metrics(*, now: datetime) -> None:
    """Set the outbox gauges (depth by status, oldest due age) for a scrape."""
    depth, age = await outbox_figures(now=now)
    for status, n in depth.items():
        metrics.OUTBOX_DEPTH.labels(status=status).set(n)
    metrics.OUTBOX_OLDEST_AGE.set(age)


async def deliver_batch(
    *,
    sender: Sender,
    now: datetime | None = None,
    limit: int = DEFAULT_BATCH,
    lease_s: float = DEFAULT_LEASE_S,
    quiet: QuietHours | None = None,
    rng: random.Random | None = None,
) -> BatchReport:
    """Claim one batch of due deliveries, push them in a worker thread and record the outcomes."""
    now = now or clock.now()
    claim_id = uuid.uuid4().hex
    report = BatchReport()
    report.claimed = await claim(claim_id=claim_id, now=now, limit=limit, lease_s=lease_s)
    if report.claimed == 0:
        return report
    claimed = await _load(claim_id=claim_id, now=now)
    quiet_end = quiet.end_after(now) if quiet is not None else None
    to_send: list[_Claimed] = []
    held: list[uuid.UUID] = []
    unsendable: dict[str, list[uuid.UUID]] = {}
    for item in claimed:
        if item.push is None:
            unsendable.setdefault(item.error or "unsendable", []).append(item.delivery_id)
        elif quiet_end is not None and not item.urgent:
            held.append(item.delivery_id)
        else:
            to_send.append(item)
    for code, ids in unsendable.items():
        await _fail(ids, claim_id=claim_id, error=code, attempts=False)
        report.failed += len(ids)
        metrics.DELIVERIES.labels(provider=_provider(sender), outcome="unsendable").inc(len(ids))
    if held:
        # Claimed inside quiet hours (a backlog or a retry): wait for their end.
        await Delivery.filter(id__in=held, claimed_by=claim_id).update(
            status=DeliveryStatus.held, next_attempt_at=quiet_end, claimed_until=None
        )
        report.held += len(held)
    if not to_send:
        return report
    pushes = [item.push for item in to_send if item.push is not None]
    results = await asyncio.to_thread(sender.send, pushes)
    _count_outcomes(sender, results)
    await _record(
        claim_id=claim_id,
        claimed=to_send,
        results=results,
        now=now,
        quiet=quiet,
        report=report,
        rng=rng,
    )
    return report
