"""Supervisors' reports: caseloads, overdue visits and six-ones completion, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SettingsDep
from api.responses import csv_response, csv_responses
from api.routers.social.dependencies import Format, Today
from api.routers.social.schemas import (
    CaseloadRowPublic,
    OverdueRowPublic,
    SixonesReport,
    TaskPublic,
    TeamYearPublic,
)
from models.social import ClientCategory
from services.social import clients, reports
from services.social.sixones_rules import KIND_NAMES_ZH, TaskKind

router = APIRouter(tags=["social"])


@router.get(
    "/reports/caseloads",
    operation_id="report_caseloads",
    responses=csv_responses(),
    response_model=list[CaseloadRowPublic],
)
async def report_caseloads(
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,
    format: Format = "json",  # noqa: A002
) -> Any:
    """Caseload size and overdue visits of every social worker in my subtree."""
    rows = await reports.caseload_report(user=user, today=today, settings=settings)
    if format == "csv":
        return csv_response(
            reports.to_csv(
                header=["社工ID", "姓名", "组织单位ID", "个案数", "逾期走访", "上限"],
                rows=[
                    [r.user_id, r.full_name, r.org_unit_id, r.caseload, r.overdue, r.cap]
                    for r in rows
                ],
            ),
            filename="caseloads.csv",
        )
    return [CaseloadRowPublic.model_validate(r) for r in rows]


@router.get(
    "/reports/overdue-visits",
    operation_id="report_overdue_visits",
    responses=csv_responses(),
    response_model=list[OverdueRowPublic],
)
async def report_overdue_visits(
    user: CurrentUser,
    today: Today,
    format: Format = "json",  # noqa: A002
) -> Any:
    """Clients in my subtree whose visit is overdue, longest overdue first."""
    rows = await reports.overdue_visits_report(user=user, today=today)
    if format == "csv":
        return csv_response(
            reports.to_csv(
                header=[
                    "服务对象ID",
                    "姓名",
                    "类别",
                    "风险等级",
                    "组织单位ID",
                    "社工ID",
                    "社工",
                    "上次走访",
                    "应走访日期",
                    "逾期天数",
                ],
                rows=[
                    [
                        r.client_id,
                        r.full_name,
                        clients.CATEGORY_NAMES_ZH[ClientCategory(r.category)],
                        r.risk_level,
                        r.org_unit_id,
                        r.social_worker_id,
                        r.social_worker_name,
                        r.last_visit_at,
                        r.next_visit_due,
                        r.days_overdue,
                    ]
                    for r in rows
                ],
            ),
            filename="overdue-visits.csv",
        )
    return [OverdueRowPublic.model_validate(r) for r in rows]


@router.get(
    "/reports/sixones",
    operation_id="report_sixones",
    responses=csv_responses(),
    response_model=SixonesReport,
)
async def report_sixones(
    user: CurrentUser,
    settings: SettingsDep,
    today: Today,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    format: Format = "json",  # noqa: A002
) -> Any:
    """Six-ones completion per team and period for a year (default: this year)."""
    year = year or today.year
    teams = await reports.sixones_report(user=user, year=year, today=today, tz=settings.tz)
    if format == "csv":
        return csv_response(
            reports.to_csv(
                header=["团队ID", "团队", "任务", "周期", "截止日期", "状态", "完成时间"],
                rows=[
                    [
                        t.team_id,
                        t.team_name,
                        KIND_NAMES_ZH[TaskKind(task.kind)],
                        task.period,
                        task.due_on,
                        task.status,
                        task.completed_at,
                    ]
                    for t in teams
                    for task in t.tasks
                ],
            ),
            filename=f"sixones-{year}.csv",
        )
    return SixonesReport(
        year=year,
        teams=[
            TeamYearPublic(
                team_id=t.team_id,
                team_name=t.team_name,
                total=t.total,
                done=t.done,
                overdue=t.overdue,
                open=t.open,
                tasks=[TaskPublic.model_validate(x) for x in t.tasks],
            )
            for t in teams
        ],
    )
