"""First steps on an empty database: the root org unit and the first admin."""

from __future__ import annotations

import uuid

from grassroots.settings import Settings
from models.org import OrgUnit, Role, User
from services import org

ROOT_NAME = "南通市"


class BootstrapError(Exception):
    """The bootstrap step cannot be done; the message is for the operator."""


async def root_unit() -> OrgUnit:
    """The root org unit (the city), created when missing."""
    root = await OrgUnit.filter(parent=None).order_by("created_at").first()
    if root is None:
        unit_id = uuid.uuid4()
        root = await OrgUnit.create(id=unit_id, name=ROOT_NAME, path=f"/{unit_id.hex}/", depth=0)
    return root


async def create_admin(*, username: str, password: str, full_name: str, settings: Settings) -> str:
    """An admin at the root; returns a line for the operator (never the password)."""
    if await User.filter(username=username).exists():
        raise BootstrapError(f"user {username!r} already exists")
    root = await root_unit()
    await org.create_user(
        actor=None,
        username=username,
        password=password,
        full_name=full_name,
        phone=None,
        roles=[Role.admin.value],
        org_unit_id=root.id,
        settings=settings,
    )
    return f"created admin {username!r} at {root.name}"
