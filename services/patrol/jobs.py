"""Patrol's worker jobs: zone exits, shifts' missed checkpoints and track retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from grassroots.settings import get_settings
from models.patrol import Assignment, Round, RoundStatus
from services import audit
from services.jobs import isolated, job
from services.patrol import alerting, analysis, rules, track_store


@job("patrol.zone_exits", every_s=30, transactional=False)
async def zone_exit_job(now: datetime) -> str:
    """Judge rounds whose track changed since last judged and alert each new zone exit.

    Each round is judged outside any transaction and settled in a short one of its own: one
    transaction for the whole run held row locks on rounds that point uploads update, for as
    long as the run took, and deadlocked with them under load (bench/city_morning.py). A round
    that fails is logged and judged again next run; the others are not held back by it.
    The served worker runs it in its job process (services/job_process.py), where the geometry
    holds no API request back.
    """
    pending = (
        await Round.filter(
            Q(track_changed_at__not_isnull=True)
            & (Q(analysed_at__isnull=True) | Q(analysed_at__lt=F("track_changed_at")))
        )
        .order_by("track_changed_at")
        .limit(200)
    )
    raised = failed = 0
    for round in pending:

        async def judge(round: Round = round) -> int:
            # Only the points since the round was last judged (services/patrol/judging.py).
            summary = await analysis.judged_summary(round=round, persist=True)
            async with in_transaction():
                count = await alerting.raise_round_alerts(
                    summary=summary,
                    now=now,
                    ended=round.status == RoundStatus.ended,
                    exits_alerted=round.exits_alerted,
                )
                # `now` is when the run began: points arriving meanwhile make it judged again.
                await Round.filter(id=round.id).update(
                    analysed_at=now, exits_alerted=max(round.exits_alerted, len(summary.exits))
                )
            return count

        # Analysis runs outside any transaction (see above): the work opens its own.
        done = await isolated(
            job_name="patrol.zone_exits", row_id=round.id, work=judge, atomic=False
        )
        if done is None:
            failed += 1
        else:
            raised += done
    failures = f", {failed} failed (judged again next run)" if failed else ""
    return f"judged {len(pending) - failed} rounds, raised {raised} alerts{failures}"


@job("patrol.missed_checkpoints", every_s=300)
async def missed_checkpoints_job(now: datetime) -> str:
    """Alert required checkpoints of shifts that ended (10 min ago, for late uploads) unvisited."""
    shifts = (
        await Assignment.filter(checked_at=None, ends_at__lte=now - rules.ALERT_GRACE)
        .select_related("zone__org_unit", "user")
        .order_by("ends_at")
        .limit(200)
    )
    raised = 0
    for shift in shifts:

        async def judge(shift: Assignment = shift) -> int:
            count = await alerting.judge_shift(shift=shift)
            await Assignment.filter(id=shift.id).update(checked_at=now)
            return count

        raised += (
            await isolated(job_name="patrol.missed_checkpoints", row_id=shift.id, work=judge) or 0
        )
    return f"judged {len(shifts)} shifts, raised {raised} alerts"


@job("patrol.retention", every_s=3600, transactional=False)
async def retention_job(now: datetime) -> str:
    """Delete track points older than the retention period (precise locations: PIPL)."""
    days = get_settings().retention_days
    cutoff = now - timedelta(days=days)
    result = await track_store.delete_expired_points(cutoff=cutoff)
    await audit.record(
        action="delete",
        resource_type="track_point",
        resource_id=None,
        detail={
            "deleted": result.deleted_rows,
            "dropped_partitions": result.dropped_partitions,
            "more_left": result.more_left,
            "older_than": cutoff.isoformat(),
            "retention_days": days,
        },
    )
    dropped = (
        f"; dropped partitions {', '.join(result.dropped_partitions)}"
        if result.dropped_partitions
        else ""
    )
    return f"deleted {result.deleted_rows} track points older than {days} days{dropped}"


@job("patrol.track_partitions", every_s=3600, transactional=False)
async def track_partitions_job(now: datetime) -> str:
    """Create the track-point partitions of this month and the next ones (PostgreSQL)."""
    created = await track_store.ensure_partitions(now=now)
    return f"created partitions {', '.join(created)}" if created else "partitions ready"
