"""The alerts patrol raises: a round's zone exits and missed checkpoints, a shift's misses."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from models.org import User
from models.patrol import Assignment, Round, Zone
from services import alerts
from services.org import supervisors_for
from services.patrol import analysis, rules, shifts

# --- alerts --------------------------------------------------------------------------------------


async def raise_round_alerts(
    *, summary: analysis.RoundSummary, now: datetime, ended: bool, exits_alerted: int = 0
) -> int:
    """Zone exits (the nth exit once, ever) and, for an ended round, missed required checkpoints.

    The first `exits_alerted` exits are known to be alerted already and are not looked at.
    """
    round = summary.round
    zone = await Zone.get(id=round.zone_id).select_related("org_unit")  # type: ignore[attr-defined]
    member = await User.get(id=round.user_id)  # type: ignore[attr-defined]
    recipients = await supervisors_for(org_path=member.org_path)
    raised = 0
    for ordinal, exit_ in enumerate(summary.exits, start=1):
        if ordinal <= exits_alerted:
            continue
        key = f"{round.id}:exit{ordinal}"
        if await alerts.raise_alert(
            kind="zone_exit",
            subject_type="patrol_round",
            subject_id=round.id,
            org_unit=zone.org_unit,
            recipients=recipients,
            title=f"巡防队员 {member.full_name} 离开责任区 {zone.name}",
            dedup_key=key,
            detail={
                "zone_id": str(zone.id),
                "user_id": str(member.id),
                "exited_at": exit_.exited_at.isoformat(),
                "returned_at": None if exit_.returned_at is None else exit_.returned_at.isoformat(),
            },
            occurred_at=exit_.exited_at,
            once=True,
        ):
            raised += 1
    if ended:
        for checkpoint in summary.missed:
            key = f"round:{round.id}:{checkpoint.id}"
            if await alerts.raise_alert(
                kind="missed_checkpoint",
                subject_type="patrol_round",
                subject_id=round.id,
                org_unit=zone.org_unit,
                recipients=recipients,
                title=f"{member.full_name} 本次巡逻漏检 {checkpoint.name}",
                dedup_key=key,
                detail={
                    "zone_id": str(zone.id),
                    "checkpoint_id": str(checkpoint.id),
                    "user_id": str(member.id),
                },
                occurred_at=round.ended_at or now,
                once=True,
            ):
                raised += 1
    return raised


async def judge_shift(*, shift: Assignment) -> int:
    """Alerts for the shift's required checkpoints that no round of the shift visited."""
    required = [
        c
        for c in (await shifts.zone_checkpoints(zone_ids=[shift.zone.id])).get(shift.zone.id, [])
        if c.required
    ]
    if not required:
        return 0
    rounds = await Round.filter(
        user_id=shift.user.id,
        zone_id=shift.zone.id,
        started_at__lt=shift.ends_at,
        started_at__gte=shift.starts_at - rules.ROUND_EARLY_START,
    )
    visited: set[Hashable] = set()
    round_alerted: set[Hashable] = set()
    for round in rounds:
        summary = await analysis.judged_summary(round=round, persist=False)
        visited |= {c.id for c in summary.checkpoints if c.visited_at is not None}
        for checkpoint in required:
            if await alerts.was_raised(
                kind="missed_checkpoint", dedup_key=f"round:{round.id}:{checkpoint.id}"
            ):
                round_alerted.add(checkpoint.id)
    recipients = await supervisors_for(org_path=shift.user.org_path)
    raised = 0
    for checkpoint in required:
        key = f"shift:{shift.id}:{checkpoint.id}"
        if checkpoint.id in visited or checkpoint.id in round_alerted:
            continue
        if await alerts.raise_alert(
            kind="missed_checkpoint",
            subject_type="patrol_assignment",
            subject_id=shift.id,
            org_unit=shift.zone.org_unit,
            recipients=recipients,
            title=f"{shift.user.full_name} 班次内未到检查点 {checkpoint.name}",
            dedup_key=key,
            detail={
                "zone_id": str(shift.zone.id),
                "checkpoint_id": str(checkpoint.id),
                "user_id": str(shift.user.id),
            },
            occurred_at=shift.ends_at,
            once=True,
        ):
            raised += 1
    return raised
