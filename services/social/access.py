"""Who may see and change what in social work: every scope rule of the domain.

Admins see every client; supervisors the clients of their subtree (and those delegated to it);
social workers their own caseload; any user the clients whose care group they belong to.
Everything else is a 404 for the object and a 403 for a role that may never touch clients.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Final

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from grassroots.errors import Forbidden, Invalid, NotFound
from models.org import OrgUnit, Role, Team, TeamMember, User
from models.social import (
    CareGroupMember,
    Client,
    Delegation,
    TeamTask,
)
from services import audit
from services.scope import in_subtree, is_admin, overlaps, subtree
from services.social import sixones

CLIENT_ROLES: Final = (Role.admin.value, Role.supervisor.value, Role.social_worker.value)
TEAM_ROLES: Final = CLIENT_ROLES


REPORT_ROLES: Final = (Role.admin.value, Role.supervisor.value)


def _active_delegation_filter(*, today: date) -> Q:
    return Q(starts_on__lte=today) & (Q(ends_on__isnull=True) | Q(ends_on__gte=today))


def client_scope(user: User, *, today: date) -> Q | None:
    """The filter of clients the user may see; None means every client (admins)."""
    if is_admin(user):
        return None
    cond = Q(id__in=Subquery(CareGroupMember.filter(user_id=user.id).values("client_id")))
    if user.has_role(Role.supervisor):
        delegated = subtree()(
            Delegation.filter(_active_delegation_filter(today=today)), user
        ).values("client_id")
        # The subtree as a Q, to be OR-ed with the other grounds in one WHERE (a subquery through
        # `scope.subtree` would read every client of the subtree for each single-client check).
        cond = cond | Q(org_path__startswith=user.org_path) | Q(id__in=Subquery(delegated))
    if user.has_role(Role.social_worker):
        cond = cond | Q(social_worker_id=user.id)
    return cond


async def require_client_role(user: User) -> None:
    """403 unless the user works with clients or belongs to some care group."""
    if user.has_role(*CLIENT_ROLES):
        return
    if not await CareGroupMember.filter(user_id=user.id).exists():
        raise Forbidden()


async def visible_clients(*, user: User, today: date) -> QuerySet[Client]:
    """Every client the user may see (403 for a role that sees none)."""
    await require_client_role(user)
    cond = client_scope(user, today=today)
    qs = Client.all()
    return qs if cond is None else qs.filter(cond)


async def load_client(
    *, user: User, client_id: uuid.UUID, today: date, read: bool = True
) -> Client:
    """A client in the user's scope, else 404; `read` audits the read."""
    qs = await visible_clients(user=user, today=today)
    client = await qs.get_or_none(id=client_id)
    if client is None:
        raise NotFound()
    if read:
        await audit.record(action="read", resource_type="client", resource_id=client.id)
    return client


def can_manage(user: User, client: Client) -> bool:
    """Admins and supervisors of the client's unit manage its case."""
    return is_admin(user) or (
        user.has_role(Role.supervisor) and in_subtree(user=user, org_path=client.org_path)
    )


def can_coordinate(user: User, client: Client) -> bool:
    """Managers and the client's own social worker coordinate care groups and delegations."""
    return can_manage(user, client) or client.social_worker_id == user.id


async def visit_counts_for_cadence(*, user: User, client: Client, today: date) -> bool:
    """Whether the user's visit moves the client's next due date and clears its overdue state.

    The case's worker answers for the cadence, and so do the supervisors of the client's unit
    (who answer for the worker) and of a unit it is delegated to today. A care-group member
    (a patrol volunteer, a neighbour) may still record a visit, because the contact is worth
    keeping in the case file, but it cannot stand in for the worker's visit.
    """
    if client.social_worker_id == user.id or can_manage(user, client):
        return True
    if not user.has_role(Role.supervisor):
        return False
    delegations = Delegation.filter(_active_delegation_filter(today=today), client_id=client.id)
    return any(in_subtree(user=user, org_path=d.org_path) for d in await delegations)


async def org_unit_in_scope(*, user: User, org_unit_id: uuid.UUID) -> OrgUnit:
    """The org unit of the body when it lies in the caller's subtree, else a 422."""
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None or not in_subtree(user=user, org_path=unit.path):
        raise Invalid(
            "org_unit_outside_scope",
            errors=[{"loc": ["body", "org_unit_id"], "msg": "org_unit_outside_scope"}],
        )
    return unit


def team_scope(user: User) -> Q | None:
    """Teams the user may see: admins all, supervisors their subtree, anyone their own teams."""
    if is_admin(user):
        return None
    cond = Q(lead_id=user.id) | Q(
        id__in=Subquery(TeamMember.filter(user_id=user.id).values("team_id"))
    )
    if user.has_role(Role.supervisor):
        cond = cond | Q(org_path__startswith=user.org_path)  # the subtree as a Q, as for clients
    return cond


def visible_teams(user: User) -> QuerySet[Team]:
    """Teams in the caller's scope (403 for roles without teams)."""
    if not user.has_role(*TEAM_ROLES):
        raise Forbidden()
    cond = team_scope(user)
    return Team.all() if cond is None else Team.filter(cond)


async def load_team(*, user: User, team_id: uuid.UUID) -> Team:
    """A team in scope, else 404."""
    team = await visible_teams(user).get_or_none(id=team_id)
    if team is None:
        raise NotFound()
    return team


async def load_task(*, user: User, task_id: uuid.UUID, today: date) -> TeamTask:
    """A task of a team in the caller's scope, else 404 (unlisted ids are found by their uuid5)."""
    teams = visible_teams(user)
    row = await TeamTask.get_or_none(id=task_id)
    if row is not None:
        if not await teams.filter(id=row.team_id).exists():
            raise NotFound()
        return row
    # Never listed yet (e.g. a reminder's deep link): recompute ids of the visible teams' tasks
    # around today; the id is a pure function of team, kind and period.
    window_from, window_to = today - timedelta(days=800), today + timedelta(days=800)
    for team in await teams:
        for period in sixones.team_periods(team, from_on=window_from, to_on=window_to):
            kind, name = period.kind.value, period.period
            if sixones.task_id(team_id=team.id, kind=kind, period=name) == task_id:
                return (await sixones.materialise([(team, period)]))[task_id]
    raise NotFound()


def may_join_care_group(*, helper: User, client: Client) -> bool:
    """A member reads the client: only people of its place (its unit, above or below it) join.

    Never someone of another district or a sibling community.
    """
    return overlaps(client.org_path, helper.org_path)


def require_report_role(user: User) -> None:
    """Reports are for supervisors and admins."""
    if not user.has_role(*REPORT_ROLES):
        raise Forbidden()
