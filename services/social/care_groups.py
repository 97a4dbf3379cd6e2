"""Care groups (关爱小组) of at-risk youth: the helpers who may read the client."""

from __future__ import annotations

import uuid

from tortoise.exceptions import IntegrityError

from grassroots.errors import Conflict, Forbidden, Invalid, NotFound
from models.org import User
from models.social import (
    CareGroupMember,
    CareRole,
    CaseStatus,
    Client,
    ClientCategory,
)
from services import audit
from services.social import messages  # noqa: F401  (registers the codes raised here)
from services.social.access import can_coordinate, may_join_care_group


async def add_care_member(
    *, actor: User, client: Client, user_id: uuid.UUID, role: CareRole
) -> tuple[CareGroupMember, str, bool]:
    """Add a helper to an at-risk youth's care group: (member, helper's name, created).

    The same member again is a no-op.
    """
    if not can_coordinate(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        raise Conflict("case_closed")
    if client.category != ClientCategory.at_risk_youth:
        raise Invalid("care_group_youth_only")
    helper = await User.get_or_none(id=user_id, is_active=True, deleted_at=None)
    if helper is None or not may_join_care_group(helper=helper, client=client):
        raise Invalid(
            "user_outside_scope", errors=[{"loc": ["body", "user_id"], "msg": "user_outside_scope"}]
        )
    existing = await CareGroupMember.get_or_none(client_id=client.id, user_id=helper.id)
    if existing is not None:
        if existing.role != role:
            raise Conflict("already_in_care_group")
        return existing, helper.full_name, False
    try:
        member = await CareGroupMember.create(client_id=client.id, user_id=helper.id, role=role)
    except IntegrityError:
        found = await CareGroupMember.get_or_none(client_id=client.id, user_id=helper.id)
        if found is None or found.role != role:
            raise Conflict("already_in_care_group") from None
        return found, helper.full_name, False
    await audit.record(
        action="create",
        resource_type="care_group_member",
        resource_id=member.id,
        detail={"client_id": str(client.id), "user_id": str(helper.id), "role": role.value},
    )
    return member, helper.full_name, True


async def care_group(*, client: Client) -> list[tuple[CareGroupMember, str]]:
    """The care group's members with their names."""
    members = await CareGroupMember.filter(client_id=client.id).order_by("created_at")
    names = dict(
        await User.filter(id__in=[m.user_id for m in members]).values_list("id", "full_name")
    )
    return [(m, str(names.get(m.user_id, ""))) for m in members]


async def remove_care_member(*, actor: User, client: Client, user_id: uuid.UUID) -> None:
    """Remove a helper from the care group (404 when not a member)."""
    if not can_coordinate(actor, client):
        raise Forbidden()
    deleted = await CareGroupMember.filter(client_id=client.id, user_id=user_id).delete()
    if not deleted:
        raise NotFound()
    await audit.record(
        action="delete",
        resource_type="care_group_member",
        resource_id=None,
        detail={"client_id": str(client.id), "user_id": str(user_id)},
    )
