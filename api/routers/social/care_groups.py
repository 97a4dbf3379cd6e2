"""Care groups (关爱小组) of at-risk youth: adding, listing and removing helpers."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from api.deps import CurrentUser
from api.routers.social.dependencies import ScopedClient
from api.routers.social.schemas import CareMemberCreate, CareMemberPublic
from models.social import CareGroupMember
from services.social import care_groups

router = APIRouter(tags=["social"])


def care_member_public(member: CareGroupMember, full_name: str) -> CareMemberPublic:
    """The public view of a care-group member (the name comes from the member's user)."""
    return CareMemberPublic(
        user_id=member.user_id, full_name=full_name, role=member.role, created_at=member.created_at
    )


@router.post(
    "/clients/{id}/care-group",
    operation_id="add_care_group_member",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already a member with this role"}},
)
async def add_care_group_member(
    body: CareMemberCreate, response: Response, client: ScopedClient, user: CurrentUser
) -> CareMemberPublic:
    """Add a helper to an at-risk youth's care group (关爱小组)."""
    member, full_name, created = await care_groups.add_care_member(
        actor=user, client=client, user_id=body.user_id, role=body.role
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return care_member_public(member, full_name)


@router.get("/clients/{id}/care-group", operation_id="list_care_group")
async def list_care_group(client: ScopedClient) -> list[CareMemberPublic]:
    """The client's care group."""
    return [care_member_public(m, name) for m, name in await care_groups.care_group(client=client)]


@router.delete(
    "/clients/{id}/care-group/{user_id}",
    operation_id="remove_care_group_member",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def remove_care_group_member(
    user_id: uuid.UUID, client: ScopedClient, user: CurrentUser
) -> Response:
    """Remove a helper from the care group."""
    await care_groups.remove_care_member(actor=user, client=client, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
