"""Supervisors' reports: caseloads, overdue visits and six-ones completion (JSON or CSV)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.functions import Count

from grassroots.settings import Settings
from models.org import Role, User
from models.social import (
    CaseStatus,
    Client,
)
from services import audit
from services.scope import subtree
from services.social.access import require_report_role, visible_clients, visible_teams
from services.social.clients import audit_list_read
from services.social.sixones import TaskView, tasks_for_teams
from services.spreadsheet import excel_csv


@dataclass(frozen=True)
class CaseloadRow:
    """Caseload size of one social worker."""

    user_id: uuid.UUID
    full_name: str
    org_unit_id: uuid.UUID
    caseload: int
    overdue: int
    cap: int


async def caseload_report(*, user: User, today: date, settings: Settings) -> list[CaseloadRow]:
    """Open caseload sizes and overdue counts of every social worker in the caller's subtree."""
    require_report_role(user)
    workers = User.filter(
        roles_text__contains=f",{Role.social_worker.value},", is_active=True, deleted_at=None
    )
    people = await subtree()(workers, user).order_by("full_name", "id")
    ids = [p.id for p in people]
    sizes: dict[Any, int] = {}
    overdue: dict[Any, int] = {}
    if ids:
        for row in (
            await Client.filter(social_worker_id__in=ids, status=CaseStatus.open)
            .annotate(n=Count("id"))
            .group_by("social_worker_id")
            .values("social_worker_id", "n")
        ):
            sizes[row["social_worker_id"]] = row["n"]
        for row in (
            await Client.filter(
                social_worker_id__in=ids, status=CaseStatus.open, visit_due_on__lt=today
            )
            .annotate(n=Count("id"))
            .group_by("social_worker_id")
            .values("social_worker_id", "n")
        ):
            overdue[row["social_worker_id"]] = row["n"]
    await audit.record(
        action="read", resource_type="report", resource_id=None, detail={"report": "caseloads"}
    )
    return [
        CaseloadRow(
            user_id=p.id,
            full_name=p.full_name,
            org_unit_id=p.org_unit_id,
            caseload=_count(sizes, p.id),
            overdue=_count(overdue, p.id),
            cap=settings.caseload_cap,
        )
        for p in people
    ]


def _count(counts: dict[Any, int], key: uuid.UUID) -> int:
    # group_by values may come back as UUIDs or strings depending on the database driver.
    return int(counts.get(key, counts.get(str(key), 0)))


@dataclass(frozen=True)
class OverdueRow:
    """One client whose visit is overdue."""

    client_id: uuid.UUID
    full_name: str
    category: str
    risk_level: str
    org_unit_id: uuid.UUID
    social_worker_id: uuid.UUID
    social_worker_name: str
    last_visit_at: datetime | None
    next_visit_due: date
    days_overdue: int


async def overdue_visits_report(*, user: User, today: date) -> list[OverdueRow]:
    """Open cases in the caller's scope whose next visit is overdue, longest overdue first."""
    require_report_role(user)
    qs = await visible_clients(user=user, today=today)
    clients = (
        await qs.filter(
            social_worker_id__isnull=False, status=CaseStatus.open, visit_due_on__lt=today
        )
        .order_by("visit_due_on", "full_name")
        .limit(5000)
    )
    names = dict(
        await User.filter(id__in=list({c.social_worker_id for c in clients})).values_list(
            "id", "full_name"
        )
    )
    await audit_list_read(clients=clients)
    rows: list[OverdueRow] = []
    for c in clients:
        assert c.social_worker_id is not None and c.visit_due_on is not None
        rows.append(
            OverdueRow(
                client_id=c.id,
                full_name=c.full_name,
                category=c.category.value,
                risk_level=c.risk_level.value,
                org_unit_id=c.org_unit_id,
                social_worker_id=c.social_worker_id,
                social_worker_name=str(names.get(c.social_worker_id, "")),
                last_visit_at=c.last_visit_at,
                next_visit_due=c.visit_due_on,
                days_overdue=(today - c.visit_due_on).days,
            )
        )
    return rows


@dataclass(frozen=True)
class TeamYear:
    """The six-ones completion of one team over a year."""

    team_id: uuid.UUID
    team_name: str
    total: int
    done: int
    overdue: int
    open: int
    tasks: list[TaskView]


async def sixones_report(*, user: User, year: int, today: date, tz: ZoneInfo) -> list[TeamYear]:
    """Completion of every task of every team in scope for a calendar year."""
    require_report_role(user)
    teams = await visible_teams(user).order_by("name", "id")
    tasks = await tasks_for_teams(
        teams=teams, from_on=date(year, 1, 1), to_on=date(year, 12, 31), today=today, tz=tz
    )
    by_team: dict[uuid.UUID, list[TaskView]] = {t.id: [] for t in teams}
    for task in tasks:
        by_team[task.team_id].append(task)
    await audit.record(
        action="read",
        resource_type="report",
        resource_id=None,
        detail={"report": "sixones", "year": year},
    )
    out: list[TeamYear] = []
    for team in teams:
        items = by_team[team.id]
        out.append(
            TeamYear(
                team_id=team.id,
                team_name=team.name,
                total=len(items),
                done=sum(t.status == "done" for t in items),
                overdue=sum(t.status == "overdue" for t in items),
                open=sum(t.status == "open" for t in items),
                tasks=items,
            )
        )
    return out


def to_csv(*, header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A report table as an Excel-friendly CSV (see services/spreadsheet.py)."""
    return excel_csv(rows=[header, *rows])
