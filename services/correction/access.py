"""Who may see and change what in community correction: every scope rule of the domain.

Officers, supervisors and admins see the supervisions in their org subtree; an officer decides
the leave of their own subjects only; a subject sees only their own leave. The org-subtree test
itself is `services.scope`'s.
"""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.queryset import QuerySet

from models.correction import LeaveRequest, Supervision
from models.org import OrgUnit, Role, User
from services.errors import NotFound
from services.scope import Access, in_subtree, is_admin, overlaps, subtree

OFFICER_ROLES = (Role.officer, Role.supervisor, Role.admin)


def leave_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Officers decide the leave of their own subjects; supervisors their subtree; admins all."""
    if is_admin(user) or user.has_role(Role.supervisor):
        return subtree()(qs, user)
    return qs.filter(supervision__officer_id=user.id)


def own_leave_scope(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """A subject's own leave requests."""
    return qs.filter(subject_id=user.id)


SUPERVISION_ACCESS = Access(Supervision, roles=OFFICER_ROLES, scope=subtree())
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
