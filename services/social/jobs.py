"""Social work's worker jobs and reminder sources: overdue visits and tasks, due reminders."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Final

from grassroots.settings import get_settings
from models.org import OrgUnit, Team, TeamMember, User
from models.social import (
    CaseStatus,
    Client,
    TeamTask,
)
from services import alerts
from services.jobs import isolated, job
from services.notices import Notice, notice_source
from services.org import supervisors_for
from services.social.cadence import local_today
from services.social.clients import CATEGORY_NAMES_ZH
from services.social.sixones import materialise, task_id, team_periods
from services.social.sixones_rules import (
    KIND_NAMES_ZH,
    TaskKind,
)

OVERDUE_TASK_LOOKBACK_DAYS: Final = 400


class _Supervisors:
    """Supervisors per org path, looked up once per job run."""

    def __init__(self) -> None:
        self._cache: dict[str, list[User]] = {}

    async def of(self, org_path: str) -> list[User]:
        if org_path not in self._cache:
            self._cache[org_path] = await supervisors_for(org_path=org_path)
        return self._cache[org_path]


@job("social.overdue_visits", every_s=900)
async def alert_overdue_visits(now: datetime) -> str:
    """Alert the worker and the supervisors once per open case and due date of an overdue visit."""
    today = local_today(now=now, tz=get_settings().tz)
    clients = await Client.filter(
        social_worker_id__isnull=False, status=CaseStatus.open, visit_due_on__lt=today
    )
    keys = {c.id: f"{c.id}:{c.visit_due_on}" for c in clients}
    raised = await alerts.raised_keys(kind="overdue_visit", dedup_keys=list(keys.values()))
    todo = [c for c in clients if keys[c.id] not in raised]
    units = {u.id: u for u in await OrgUnit.filter(id__in=list({c.org_unit_id for c in todo}))}
    supervisors = _Supervisors()
    count = 0
    for c in todo:

        async def alert_one(c: Client = c) -> bool:
            assert c.social_worker_id is not None
            recipients: list[User | uuid.UUID] = [
                c.social_worker_id,
                *await supervisors.of(c.org_path),
            ]
            alert = await alerts.raise_alert(
                kind="overdue_visit",
                subject_type="client",
                subject_id=c.id,
                org_unit=units[c.org_unit_id],
                recipients=recipients,
                title=f"走访逾期：{CATEGORY_NAMES_ZH[c.category]}，应于 {c.visit_due_on} 前走访",
                dedup_key=keys[c.id],
                detail={
                    "client_id": str(c.id),
                    "due_on": str(c.visit_due_on),
                    "risk_level": c.risk_level.value,
                },
                occurred_at=now,
            )
            return alert is not None

        count += bool(await isolated(job_name="social.overdue_visits", row_id=c.id, work=alert_one))
    return f"{count} overdue visits alerted"


@job("social.overdue_tasks", every_s=900)
async def alert_overdue_tasks(now: datetime) -> str:
    """Alert a team's lead and supervisors once per six-ones task left undone past its due date."""
    today = local_today(now=now, tz=get_settings().tz)
    teams = await Team.all()
    pairs: list[tuple[Team, Any]] = []
    for t in teams:

        async def periods(t: Team = t) -> list[Any]:
            return list(
                team_periods(
                    t,
                    from_on=today - timedelta(days=OVERDUE_TASK_LOOKBACK_DAYS),
                    to_on=today - timedelta(days=1),
                )
            )

        found = await isolated(
            job_name="social.overdue_tasks", row_id=t.id, work=periods, atomic=False
        )
        pairs.extend((t, p) for p in found or ())
    rows = await materialise(pairs)
    undone = [r for r in rows.values() if r.completed_at is None]
    raised = await alerts.raised_keys(kind="overdue_task", dedup_keys=[str(r.id) for r in undone])
    team_by_id = {t.id: t for t in teams}
    units = {u.id: u for u in await OrgUnit.filter(id__in=list({t.org_unit_id for t in teams}))}  # type: ignore[attr-defined]
    supervisors = _Supervisors()
    count = 0
    for row in sorted(undone, key=lambda r: (r.due_on, r.kind)):
        if str(row.id) in raised:
            continue

        async def alert_one(row: TeamTask = row) -> bool:
            team = team_by_id[row.team_id]
            name = KIND_NAMES_ZH[TaskKind(row.kind)]
            alert = await alerts.raise_alert(
                kind="overdue_task",
                subject_type="team_task",
                subject_id=row.id,
                org_unit=units[team.org_unit_id],  # type: ignore[attr-defined]
                recipients=[team.lead_id, *await supervisors.of(team.org_path)],  # type: ignore[attr-defined]
                title=f"{team.name}：{name}（{row.period}）已逾期",
                dedup_key=str(row.id),
                detail={
                    "team_id": str(team.id),
                    "kind": row.kind,
                    "period": row.period,
                    "due_on": str(row.due_on),
                },
                occurred_at=now,
            )
            return alert is not None

        count += bool(
            await isolated(job_name="social.overdue_tasks", row_id=row.id, work=alert_one)
        )
    return f"{count} overdue tasks alerted"


@notice_source("social.sixones_tasks")
async def sixones_task_notices(now: datetime) -> list[Notice]:
    """Remind each team of a task 7 days and 1 day before its due date (until it is done)."""
    today = local_today(now=now, tz=get_settings().tz)
    teams = await Team.all()
    pairs = [
        (t, p)
        for t in teams
        for p in team_periods(t, from_on=today, to_on=today + timedelta(days=7))
    ]
    if not pairs:
        return []
    ids = [task_id(team_id=t.id, kind=p.kind.value, period=p.period) for t, p in pairs]
    done = set(
        await TeamTask.filter(id__in=ids, completed_at__isnull=False).values_list("id", flat=True)
    )
    members: dict[uuid.UUID, set[uuid.UUID]] = {t.id: {t.lead_id} for t in teams}  # type: ignore[attr-defined]
    for team_id_, user_id in await TeamMember.filter(team_id__in=list(members)).values_list(
        "team_id", "user_id"
    ):
        members[team_id_].add(user_id)
    notices: list[Notice] = []
    for (team, period), tid in zip(pairs, ids, strict=True):
        if tid in done:
            continue
        days_left = (period.due_on - today).days
        # Sent on the day, or late (a worker that was down), never after the next reminder is due.
        lead = "7d" if 1 < days_left <= 7 else "1d" if 0 <= days_left <= 1 else None
        if lead is None:
            continue
        name = KIND_NAMES_ZH[period.kind]
        notices.append(
            Notice(
                user_ids=tuple(sorted(members[team.id], key=str)),
                title=f"六个一提醒：{name}",
                body=f"{team.name} {name}（{period.period}）应于 {period.due_on} 前完成",
                cause_key=f"task:{tid}:{lead}",
                data={"type": "team_task", "id": str(tid), "team_id": str(team.id)},
                collapse_key=f"task:{tid}",
            )
        )
    return notices


@notice_source("social.visits_due")
async def visit_due_notices(now: datetime) -> list[Notice]:
    """Remind a worker of each open case with a visit due today or tomorrow (no names in pushes)."""
    today = local_today(now=now, tz=get_settings().tz)
    clients = await Client.filter(
        social_worker_id__isnull=False,
        status=CaseStatus.open,
        visit_due_on__gte=today,
        visit_due_on__lte=today + timedelta(days=1),
    )
    out: list[Notice] = []
    for c in clients:
        assert c.social_worker_id is not None
        out.append(
            Notice(
                user_ids=(c.social_worker_id,),
                title="走访提醒",
                body=f"一位{CATEGORY_NAMES_ZH[c.category]}应于 {c.visit_due_on} 前走访",
                cause_key=f"visit:{c.id}:{c.visit_due_on}",
                data={"type": "client", "id": str(c.id)},
                collapse_key=f"visit:{c.id}",
            )
        )
    return out
