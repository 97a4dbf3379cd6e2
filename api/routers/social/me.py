"""My caseload and my six-ones tasks: the phones' hot paths, encoded without per-item models."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CurrentUser, SettingsDep
from api.routers.social.dependencies import TaskRange, Today
from api.routers.social.schemas import CaseloadItem, TaskPublic, caseload_json, tasks_response
from services.social import caseloads, sixones

router = APIRouter(tags=["social"])


@router.get("/me/caseload", operation_id="get_my_caseload", response_model=list[CaseloadItem])
async def get_my_caseload(user: CurrentUser, today: Today) -> Response:
    """My clients with their last visit and when the next is due, most urgent first."""
    body = await caseloads.my_caseload(user=user, today=today, encode=caseload_json)
    return Response(content=body, media_type="application/json")


@router.get("/me/tasks", operation_id="list_my_tasks", response_model=list[TaskPublic])
async def list_my_tasks(
    user: CurrentUser, settings: SettingsDep, today: Today, span: TaskRange
) -> Response:
    """Six-ones tasks of the teams I lead or belong to, due in the range."""
    tasks = await sixones.my_tasks(
        user=user, from_on=span[0], to_on=span[1], today=today, tz=settings.tz
    )
    return tasks_response(tasks)
