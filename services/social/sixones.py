"""Teams and their six-ones tasks (六个一): the calendar, stored completion, completing a task."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from tortoise import connections

from grassroots import clock, db
from grassroots.errors import Conflict, Invalid
from models.org import Team, TeamMember, User
from models.social import (
    TeamTask,
)
from services import alerts, audit
from services.social import messages  # noqa: F401  (registers the codes raised here)
from services.social.cadence import FUTURE_SLACK, local_today
from services.social.sixones_rules import (
    TaskKind,
    TaskPeriod,
    periods_between,
    task_status,
)

MAX_RANGE_DAYS: Final = 4100  # a little over 11 years


# Stable ids of six-ones tasks: uuid5 of this namespace and "team:kind:period".
TASK_NAMESPACE: Final = uuid.UUID("6f0e7d1c-3a55-4c1e-9a43-5a1d0c0f6e01")
KIND_ORDER: Final[dict[str, int]] = {kind.value: i for i, kind in enumerate(TaskKind)}


async def team_members(*, team: Team) -> list[tuple[User, bool]]:
    """The team's members (the lead first) and whether each is the lead."""
    ids = set(await TeamMember.filter(team_id=team.id).values_list("user_id", flat=True))
    ids.add(team.lead_id)  # type: ignore[attr-defined]
    users = await User.filter(id__in=list(ids))
    lead_id = team.lead_id  # type: ignore[attr-defined]
    ordered = sorted(users, key=lambda u: (u.id != lead_id, u.full_name, str(u.id)))
    return [(u, u.id == lead_id) for u in ordered]


def task_id(*, team_id: uuid.UUID, kind: str, period: str) -> uuid.UUID:
    """The stable id of a team's task."""
    return uuid.uuid5(TASK_NAMESPACE, f"{team_id}:{kind}:{period}")


@dataclass(frozen=True)
class TaskView:
    """One six-ones task with its status on the local calendar."""

    id: uuid.UUID
    team_id: uuid.UUID
    kind: str
    period: str
    starts_on: date
    due_on: date
    status: str
    completed_at: datetime | None
    notes: str
    attendee_ids: list[uuid.UUID]


class Scheduled(Protocol):
    """What the schedule needs of a team: a Team row or a TeamRef."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def anchor_month(self) -> date: ...


@dataclass(frozen=True)
class TeamRef:
    """A team's id and anchor month, without loading the row."""

    id: uuid.UUID
    anchor_month: date


def team_periods(team: Scheduled, *, from_on: date, to_on: date) -> list[TaskPeriod]:
    """The team's tasks due in [from_on, to_on]: none falls due before the team's anchor month."""
    start = max(from_on, team.anchor_month)
    if start > to_on:
        return []
    return periods_between(anchor_month=team.anchor_month, from_on=start, to_on=to_on)


@lru_cache(maxsize=4096)
def _calendar(
    team_id: uuid.UUID, anchor_month: date, from_on: date, to_on: date
) -> tuple[tuple[TaskPeriod, uuid.UUID], ...]:
    """The team's tasks in the range with their ids: pure, so kept (phones poll the same year)."""
    team = TeamRef(id=team_id, anchor_month=anchor_month)
    return tuple(
        (p, task_id(team_id=team_id, kind=p.kind.value, period=p.period))
        for p in team_periods(team, from_on=from_on, to_on=to_on)
    )


def _new_task(team: Scheduled, period: TaskPeriod) -> TeamTask:
    return TeamTask(
        id=task_id(team_id=team.id, kind=period.kind.value, period=period.period),
        team_id=team.id,
        kind=period.kind.value,
        period=period.period,
        starts_on=period.starts_on,
        due_on=period.due_on,
    )


async def materialise(pairs: Iterable[tuple[Scheduled, TaskPeriod]]) -> dict[uuid.UUID, TeamTask]:
    """The stored row of each task, inserting those never stored (concurrent inserts ignored)."""
    wanted = {task_id(team_id=t.id, kind=p.kind.value, period=p.period): (t, p) for t, p in pairs}
    if not wanted:
        return {}
    found: dict[uuid.UUID, TeamTask] = {}
    ids = list(wanted)
    for i in range(0, len(ids), 500):
        for row in await TeamTask.filter(id__in=ids[i : i + 500]):
            found[row.id] = row
    missing = [_new_task(*wanted[i]) for i in ids if i not in found]
    if missing:
        await TeamTask.bulk_create(missing, ignore_conflicts=True, batch_size=500)
        # Read them back: a concurrent request may have stored (or even completed) some first.
        new_ids = [row.id for row in missing]
        for i in range(0, len(new_ids), 500):
            for row in await TeamTask.filter(id__in=new_ids[i : i + 500]):
                found[row.id] = row
    return found


def task_view(row: TeamTask, *, today: date, tz: ZoneInfo) -> TaskView:
    completed_on = local_today(now=row.completed_at, tz=tz) if row.completed_at else None
    return TaskView(
        id=row.id,
        team_id=row.team_id,
        kind=row.kind,
        period=row.period,
        starts_on=row.starts_on,
        due_on=row.due_on,
        status=task_status(due_on=row.due_on, completed_on_or_none=completed_on, today=today),
        completed_at=row.completed_at,
        notes=row.notes,
        attendee_ids=[uuid.UUID(str(a)) for a in row.attendee_ids or []],
    )


def check_range(*, from_on: date, to_on: date) -> None:
    """422 for an inverted or very long date range."""
    if to_on < from_on:
        raise Invalid(
            "invalid_date_range", errors=[{"loc": ["query", "to"], "msg": "invalid_date_range"}]
        )
    if (to_on - from_on).days > MAX_RANGE_DAYS:
        raise Invalid("range_too_long", errors=[{"loc": ["query", "to"], "msg": "range_too_long"}])


async def tasks_for_teams(
    *,
    teams: Sequence[Scheduled],
    from_on: date,
    to_on: date,
    today: date,
    tz: ZoneInfo,
    known: dict[uuid.UUID, tuple[datetime | None, str, list[Any]]] | None = None,
) -> list[TaskView]:
    """Every task of the teams due in [from_on, to_on], by due date, then kind, then team.

    Only completion is read from the database (the rest is the calendar's); tasks never stored
    are stored now so each keeps its id. `known` is the stored completion when the caller has
    already read it. Phones poll this: no ORM objects on the way (bench/b5).
    """
    check_range(from_on=from_on, to_on=to_on)
    calendar = [
        (t, p, tid) for t in teams for p, tid in _calendar(t.id, t.anchor_month, from_on, to_on)
    ]
    if not calendar:
        return []
    ids = [tid for _, _, tid in calendar]
    completion = known if known is not None else await _completion(ids)
    missing = [(t, p) for t, p, tid in calendar if tid not in completion]
    if missing:
        await TeamTask.bulk_create([_new_task(*m) for m in missing], ignore_conflicts=True)
        # Read back what was missing: a concurrent request may have stored (even completed) it.
        completion.update(await _completion([i for i in ids if i not in completion]))
    views: list[TaskView] = []
    for team, period, tid in calendar:
        completed_at, notes, attendees = completion.get(tid, (None, "", []))
        completed_on = local_today(now=completed_at, tz=tz) if completed_at else None
        views.append(
            TaskView(
                id=tid,
                team_id=team.id,
                kind=period.kind.value,
                period=period.period,
                starts_on=period.starts_on,
                due_on=period.due_on,
                status=task_status(
                    due_on=period.due_on, completed_on_or_none=completed_on, today=today
                ),
                completed_at=completed_at,
                notes=notes,
                attendee_ids=[uuid.UUID(str(a)) for a in attendees],
            )
        )
    views.sort(key=lambda v: (v.due_on, KIND_ORDER.get(v.kind, 99), str(v.team_id)))
    return views


async def _completion(
    ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, tuple[datetime | None, str, list[Any]]]:
    """Completion time, notes and attendees of the stored tasks among `ids`."""
    found: dict[uuid.UUID, tuple[datetime | None, str, list[Any]]] = {}
    for i in range(0, len(ids), 500):
        rows = await TeamTask.filter(id__in=list(ids[i : i + 500])).values_list(
            "id", "completed_at", "notes", "attendee_ids"
        )
        for row_id, completed_at, notes, attendees in rows:
            key = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))
            found[key] = (completed_at, str(notes or ""), list(attendees or []))
    return found


async def my_tasks(
    *, user: User, from_on: date, to_on: date, today: date, tz: ZoneInfo
) -> list[TaskView]:
    """Tasks of the teams I lead or belong to: teams and stored completion in one query."""
    check_range(from_on=from_on, to_on=to_on)
    postgres = db.dialect() == "postgres"
    mark = iter(["$1", "$2", "$3", "$4"] if postgres else ["?"] * 4)
    # One round trip for the hot path of the phone app: my teams with their stored tasks.
    sql = (
        "SELECT t.id AS team_id, t.anchor_month, k.id AS task_id, k.completed_at, k.notes, "
        f"k.attendee_ids FROM {Team._meta.db_table} t LEFT JOIN {TeamTask._meta.db_table} k "
        f"ON k.team_id = t.id AND k.due_on >= {next(mark)} AND k.due_on <= {next(mark)} "
        f"WHERE t.lead_id = {next(mark)} OR t.id IN (SELECT team_id FROM "
        f"{TeamMember._meta.db_table} WHERE user_id = {next(mark)})"
    )
    me: Any = user.id if postgres else str(user.id)
    rows = await connections.get("default").execute_query_dict(sql, [from_on, to_on, me, me])
    teams: dict[uuid.UUID, TeamRef] = {}
    known: dict[uuid.UUID, tuple[datetime | None, str, list[Any]]] = {}
    for row in rows:
        team_id = _as_uuid(row["team_id"])
        if team_id not in teams:
            teams[team_id] = TeamRef(id=team_id, anchor_month=_as_date(row["anchor_month"]))
        if row["task_id"] is not None:
            attendees = row["attendee_ids"]
            if isinstance(attendees, str):
                attendees = json.loads(attendees)
            completed_at = row["completed_at"]
            if isinstance(completed_at, str):
                completed_at = datetime.fromisoformat(completed_at)
            known[_as_uuid(row["task_id"])] = (
                completed_at,
                str(row["notes"] or ""),
                list(attendees or []),
            )
    return await tasks_for_teams(
        teams=list(teams.values()), from_on=from_on, to_on=to_on, today=today, tz=tz, known=known
    )


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def default_range(*, today: date) -> tuple[date, date]:
    """The current local calendar year."""
    return date(today.year, 1, 1), date(today.year, 12, 31)


async def complete_task(
    *,
    user: User,
    task: TeamTask,
    completed_at: datetime,
    notes: str,
    attendee_ids: Sequence[uuid.UUID],
    request_hash: str,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> TeamTask:
    """Mark a task done once; the same body again is a no-op, another body a 409."""
    if task.completed_at is not None:
        if task.request_hash == request_hash:
            return task
        raise Conflict("task_already_completed")
    now = now or clock.now()
    if completed_at > now + FUTURE_SLACK:
        raise Invalid(
            "completed_in_future",
            errors=[{"loc": ["body", "completed_at"], "msg": "completed_in_future"}],
        )
    if local_today(now=completed_at, tz=tz) < task.starts_on:
        raise Invalid(
            "completed_before_period",
            errors=[{"loc": ["body", "completed_at"], "msg": "completed_before_period"}],
        )
    team = await Team.get(id=task.team_id)
    members = set(await TeamMember.filter(team_id=team.id).values_list("user_id", flat=True))
    members.add(team.lead_id)  # type: ignore[attr-defined]
    attendees = list(dict.fromkeys(attendee_ids))
    if any(a not in members for a in attendees):
        raise Invalid(
            "attendee_not_in_team",
            errors=[{"loc": ["body", "attendee_ids"], "msg": "attendee_not_in_team"}],
        )
    updated = await TeamTask.filter(id=task.id, completed_at__isnull=True).update(
        completed_at=completed_at,
        completed_by_id=user.id,
        notes=notes,
        attendee_ids=[str(a) for a in attendees],
        request_hash=request_hash,
    )
    await task.refresh_from_db()
    if updated != 1 and task.request_hash != request_hash:
        raise Conflict("task_already_completed")
    if updated == 1:
        await audit.record(
            action="complete",
            resource_type="team_task",
            resource_id=task.id,
            detail={"team_id": str(team.id), "kind": task.kind, "period": task.period},
        )
        # The cause is fixed: the overdue-task alert closes for the lead and the supervisors.
        await alerts.resolve_cause(kind="overdue_task", subject_id=task.id)
    return task
