"""What the outbox holds and how sends ended, for /metrics.

The depth and the oldest due age are read from the database at each scrape (any worker's
deliveries count, whichever process answers); send outcomes are counted as they happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.functions import Count

from grassroots import metrics
from models.notifications import Delivery, DeliveryStatus
from notifications.fcm import SendResult

# What still waits to be sent (the outbox's own word for it, `notifications.outbox.PENDING`).
PENDING = (DeliveryStatus.queued, DeliveryStatus.held)


def count_outcomes(providers: Sequence[str], results: Sequence[SendResult]) -> None:
    """Count each send's outcome by the provider it went through."""
    counts: dict[tuple[str, str], int] = {}
    for provider, result in zip(providers, results, strict=False):
        counts[(provider, result.outcome)] = counts.get((provider, result.outcome), 0) + 1
    for (provider, outcome), n in counts.items():
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
