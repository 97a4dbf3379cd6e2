"""Teams and their six-ones tasks (六个一): listing, one team, its tasks, completing one."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CurrentUser, SettingsDep
from api.pagination import PageParams, paginate
from api.routers.social.dependencies import ScopedTask, ScopedTeam, TaskRange, Today
from api.routers.social.schemas import (
    TaskComplete,
    TaskPublic,
    TeamDetail,
    TeamMemberPublic,
    TeamSummary,
    tasks_response,
)
from api.schemas import Page
from services.idempotency import fingerprint
from services.social import access, sixones

router = APIRouter(tags=["social"])


@router.get("/teams", operation_id="list_teams")
async def list_teams(user: CurrentUser, page: PageParams) -> Page[TeamSummary]:
    """Teams I belong to or, for supervisors, in my subtree."""
    rows, cursor = await paginate(access.visible_teams(user), page)
    return Page(items=[TeamSummary.model_validate(t) for t in rows], next_cursor=cursor)


@router.get("/teams/{id}", operation_id="get_team")
async def get_team(team: ScopedTeam) -> TeamDetail:
    """One team with its members."""
    members = await sixones.team_members(team=team)
    return TeamDetail(
        **TeamSummary.model_validate(team).model_dump(),
        members=[
            TeamMemberPublic(user_id=u.id, full_name=u.full_name, is_lead=lead)
            for u, lead in members
        ],
    )


@router.get("/teams/{id}/tasks", operation_id="list_team_tasks", response_model=list[TaskPublic])
async def list_team_tasks(
    team: ScopedTeam, settings: SettingsDep, today: Today, span: TaskRange
) -> Response:
    """The team's six-ones tasks due in the range, with their status in local time."""
    tasks = await sixones.tasks_for_teams(
        teams=[team], from_on=span[0], to_on=span[1], today=today, tz=settings.tz
    )
    return tasks_response(tasks)


@router.post("/tasks/{id}/complete", operation_id="complete_task")
async def complete_task(
    task: ScopedTask, body: TaskComplete, user: CurrentUser, settings: SettingsDep, today: Today
) -> TaskPublic:
    """Mark a task of my team done (same body again: 200; a different one: 409)."""
    done = await sixones.complete_task(
        user=user,
        task=task,
        completed_at=body.completed_at,
        notes=body.notes,
        attendee_ids=body.attendee_ids,
        request_hash=fingerprint(body),
        tz=settings.tz,
    )
    return TaskPublic.model_validate(sixones.task_view(done, today=today, tz=settings.tz))
