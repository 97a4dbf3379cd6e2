"""Who may see and change what in community correction: every scope rule of the domain.

Officers, supervisors and admins see the supervisions in their org subtree; only the assigned
officer (or a supervisor of the subtree, or an admin) acts on a supervision: ends it, changes its
level, assesses it, decides its leave, confirms its late check-ins. A subject sees only their own
leave. A client named in a body is found by the same rules as a path id: in the caller's subtree
or visible to it in social work, else a 404. The org-subtree test itself is `services.scope`'s.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from grassroots.errors import NotFound
from models.correction import CheckIn, LeaveRequest, Supervision
from models.org import OrgUnit, Role, User
from models.social import Client
from services.scope import Access, in_subtree, is_admin, overlaps, subtree
from services.social.access import client_scope

OFFICER_ROLES = (Role.officer, Role.supervisor, Role.admin)


def leave_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Officers decide the leave of their own subjects; supervisors their subtree; admins all."""
    if is_admin(user) or user.has_role(Role.supervisor):
        return subtree()(qs, user)
    return qs.filter(supervision__officer_id=user.id)


def assigned_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Supervisions the caller acts on: its own as officer; a supervisor's subtree; admins all."""
    if is_admin(user) or user.has_role(Role.supervisor):
        return subtree()(qs, user)
    return qs.filter(officer_id=user.id)


def assigned_checkin_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Check-ins of the supervisions the caller acts on (see `assigned_scope`)."""
    if is_admin(user) or user.has_role(Role.supervisor):
        return subtree()(qs, user)
    return qs.filter(supervision__officer_id=user.id)


def own_leave_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """A subject's own leave requests."""
    return qs.filter(subject_id=user.id)


SUPERVISION_ACCESS = Access(Supervision, roles=OFFICER_ROLES, scope=subtree())
# The same supervisions, for acting on them (end, level, assessment): the assigned officer only.
MANAGED_SUPERVISION_ACCESS = Access(Supervision, roles=OFFICER_ROLES, scope=assigned_scope)
MANAGED_CHECKIN_ACCESS = Access(CheckIn, roles=OFFICER_ROLES, scope=assigned_checkin_scope)
LEAVE_ACCESS = Access(LeaveRequest, roles=OFFICER_ROLES, scope=leave_scope)
MY_LEAVE_ACCESS = Access(LeaveRequest, roles=[Role.subject], scope=own_leave_scope)


def officer_supervisions(*, user: User) -> QuerySet[Supervision]:
    """An officer's own supervisions; a supervisor's or an admin's whole subtree."""
    qs = SUPERVISION_ACCESS.queryset(user)
    if not user.has_role(Role.supervisor, Role.admin):
        qs = qs.filter(officer_id=user.id)
    return qs


def officer_covers(*, officer: User, subject: User) -> bool:
    """Whether the officer's office holds the subject's org unit in its subtree."""
    return in_subtree(user=officer, org_path=subject.org_path)


def may_use_area(*, actor: User, area_org_path: str) -> bool:
    """A permitted area is usable by an office above it, below it or on its own path."""
    return is_admin(actor) or overlaps(area_org_path, actor.org_path)


async def load_office(*, org_unit_id: uuid.UUID, user: User) -> OrgUnit:
    """An org unit in the caller's subtree, else a 404."""
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None or not in_subtree(user=user, org_path=unit.path):
        raise NotFound()
    return unit


async def load_client(*, actor: User, client_id: uuid.UUID, today: date) -> Client:
    """A client named in a body: in the caller's subtree or visible to it in social work, else
    a 404, the same for a missing id as for one out of scope (no existence oracle)."""
    qs = Client.filter(id=client_id)
    if not is_admin(actor):
        cond = Q(org_path__startswith=actor.org_path)
        social = client_scope(actor, today=today)
        qs = qs.filter(cond if social is None else cond | social)
    client = await qs.first()
    if client is None:
        raise NotFound()
    return client
