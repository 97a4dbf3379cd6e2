"""Org units, users and teams, created within the caller's scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Conflict, Forbidden, Invalid, NotFound
from grassroots.messages import register_messages
from grassroots.settings import Settings
from models.org import OrgUnit, Role, Team, TeamMember, User
from services import audit, user_cache
from services.scope import Access, in_subtree, is_admin, subtree
from services.security import hash_password

MANAGER_ROLES = (Role.admin, Role.supervisor)
# Who reads users and org units: users for the roles that manage or supervise people, units for
# every role (an app names its own unit); both within the reader's subtree.
USER_READ_ROLES = (Role.admin, Role.supervisor, Role.scheduler, Role.officer)
USER_ACCESS = Access(User, roles=USER_READ_ROLES)
ORG_ACCESS = Access(OrgUnit, roles=[r.value for r in Role], scope=subtree("path"))


def org_units(*, viewer: User, parent_id: uuid.UUID | None) -> QuerySet[OrgUnit]:
    """Org units in the viewer's subtree, optionally the children of one unit."""
    qs = ORG_ACCESS.queryset(viewer)
    return qs if parent_id is None else qs.filter(parent_id=parent_id)


def users(*, viewer: User, role: Role | None, org_unit_id: uuid.UUID | None) -> QuerySet[User]:
    """Users in the viewer's subtree that are not deleted, by role and org unit."""
    qs = USER_ACCESS.queryset(viewer).filter(deleted_at=None)
    if role is not None:
        qs = qs.filter(roles_text__contains=f",{role.value},")
    if org_unit_id is not None:
        qs = qs.filter(org_unit_id=org_unit_id)
    return qs


register_messages(
    {
        "admin_account_protected": (
            "只有管理员可以修改管理员账号",
            "Only an admin may change an admin's account",
        ),
        "own_account_change": (
            "不能修改自己的角色或停用自己的账号",
            "You may not change your own roles or disable your own account",
        ),
    }
)

# Who may grant (and revoke) which roles: the table of docs/SECURITY.md, written once here.
# A supervisor runs the field teams of its subtree; officers (司法所) and schedulers answer to
# other offices, so a supervisor hands those out only if it holds them itself. Admin: admins.
GRANTS: dict[str, frozenset[str]] = {
    Role.admin.value: frozenset(r.value for r in Role),
    Role.supervisor.value: frozenset(
        {Role.supervisor.value, Role.patrol.value, Role.social_worker.value, Role.subject.value}
    ),
}


def ancestor_paths(path: str) -> list[str]:
    """'/a/b/c/' -> ['/a/', '/a/b/', '/a/b/c/']."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def grantable_roles(user: User) -> set[str]:
    """Roles the user may hand out or take away: its rows of GRANTS, plus (for a manager) any
    role it holds itself, never admin unless it is one. Others: none."""
    held = set(user.roles)
    allowed: set[str] = set()
    for role in held:
        allowed |= GRANTS.get(role, frozenset())
    if allowed:
        allowed |= held
    if not is_admin(user):
        allowed.discard(Role.admin.value)
    return allowed


def check_account_change(
    *, actor: User, target: User, roles: Sequence[str] | None, is_active: bool | None
) -> None:
    """The account rules of docs/SECURITY.md for a change of `target` by `actor`, else a 403.

    Only managers change accounts; only an admin changes an admin's account (any field);
    a changed role must be one the actor may grant; no one changes its own roles or switches
    itself off (another manager does).
    """
    if not actor.has_role(*MANAGER_ROLES):
        raise Forbidden()
    if is_admin(target) and not is_admin(actor):
        raise Forbidden("admin_account_protected")
    if roles is not None:
        allowed = grantable_roles(actor)
        for role in sorted(set(roles) ^ set(target.roles)):
            if role not in allowed:
                raise Forbidden("role_not_grantable", params={"role": role})
    own = actor.id == target.id
    if own and roles is not None and set(roles) != set(target.roles):
        raise Forbidden("own_account_change")
    if own and is_active is not None and is_active != target.is_active:
        raise Forbidden("own_account_change")


async def org_unit_in_scope(*, user: User, org_unit_id: uuid.UUID, code: str) -> OrgUnit:
    """The org unit if it lies in the caller's subtree, else a 422 with `code`."""
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None or not in_subtree(user=user, org_path=unit.path):
        raise Invalid(code, errors=[{"loc": ["body", "org_unit_id"], "msg": code}])
    return unit


async def create_org_unit(*, user: User, name: str, parent_id: uuid.UUID | None) -> OrgUnit:
    """A new unit under `parent_id` (a root only for admins)."""
    if not user.has_role(*MANAGER_ROLES):
        raise Forbidden()
    parent: OrgUnit | None = None
    if parent_id is None:
        if not is_admin(user):
            raise Forbidden()
    else:
        parent = await org_unit_in_scope(
            user=user, org_unit_id=parent_id, code="org_unit_outside_scope"
        )
    unit_id = uuid.uuid4()
    path = (parent.path if parent else "/") + f"{unit_id.hex}/"
    unit = await OrgUnit.create(
        id=unit_id, name=name, parent=parent, path=path, depth=(parent.depth + 1 if parent else 0)
    )
    await audit.record(action="create", resource_type="org_unit", resource_id=unit.id)
    return unit


async def create_user(
    *,
    actor: User | None,
    username: str,
    password: str,
    full_name: str,
    phone: str | None,
    roles: Sequence[str],
    org_unit_id: uuid.UUID,
    settings: Settings,
) -> User:
    """A new user; `actor` None is the trusted command line, else roles and scope are checked."""
    if actor is not None:
        if not actor.has_role(*MANAGER_ROLES):
            raise Forbidden()
        allowed = grantable_roles(actor)
        for role in roles:
            if role not in allowed:
                raise Forbidden("role_not_grantable", params={"role": role})
        unit = await org_unit_in_scope(
            user=actor, org_unit_id=org_unit_id, code="org_unit_outside_scope"
        )
    else:
        found = await OrgUnit.get_or_none(id=org_unit_id)
        if found is None:
            raise NotFound()
        unit = found
    if await User.filter(username=username).exists():
        raise Conflict("username_taken")
    password_hash = await hash_password(password=password, settings=settings)
    try:
        user = await User.create(
            username=username,
            password_hash=password_hash,
            full_name=full_name,
            phone=phone,
            roles_text=User.encode_roles(list(roles)),
            org_unit=unit,
            org_path=unit.path,
        )
    except IntegrityError as exc:
        raise Conflict("username_taken") from exc
    await audit.record(action="create", resource_type="user", resource_id=user.id)
    return user


async def update_user(
    *,
    actor: User,
    target: User,
    full_name: str | None,
    phone: str | None,
    roles: Sequence[str] | None,
    is_active: bool | None,
) -> User:
    """Change a user in scope, by the account rules (check_account_change)."""
    from services.auth import end_sessions

    check_account_change(actor=actor, target=target, roles=roles, is_active=is_active)
    deactivated = is_active is False and target.is_active
    if roles is not None:
        target.roles_text = User.encode_roles(list(roles))
    if full_name is not None:
        target.full_name = full_name
    if phone is not None:
        target.phone = phone
    if is_active is not None:
        target.is_active = is_active
    # Only the fields this call may change: a stale token_version must never be written back.
    await target.save(update_fields=["roles_text", "full_name", "phone", "is_active", "updated_at"])
    user_cache.forget(target.id)
    if deactivated:
        # Switching an account off ends every session; switching it on again revives none.
        await end_sessions(user_id=target.id)
        await target.refresh_from_db(fields=["token_version"])
    await audit.record(action="update", resource_type="user", resource_id=target.id)
    return target


async def users_in_scope(*, user: User, user_ids: Sequence[uuid.UUID]) -> list[User]:
    """Active users among `user_ids` inside the caller's subtree; any other id is a 422."""
    wanted = set(user_ids)
    found = await User.filter(id__in=list(wanted), deleted_at=None, is_active=True)
    visible = [u for u in found if in_subtree(user=user, org_path=u.org_path)]
    if len(visible) != len(wanted):
        raise Invalid("user_outside_scope")
    return visible


async def create_team(
    *,
    actor: User,
    name: str,
    org_unit_id: uuid.UUID,
    lead_id: uuid.UUID,
    member_ids: Sequence[uuid.UUID],
    anchor_month: date | None,
) -> Team:
    """A social-work team in the caller's scope, the lead counted as a member."""
    if not actor.has_role(*MANAGER_ROLES):
        raise Forbidden()
    unit = await org_unit_in_scope(
        user=actor, org_unit_id=org_unit_id, code="org_unit_outside_scope"
    )
    people = await users_in_scope(user=actor, user_ids=[lead_id, *member_ids])
    today = clock.today()
    anchor = (anchor_month or today).replace(day=1)
    async with in_transaction():
        team = await Team.create(
            name=name, org_unit=unit, org_path=unit.path, lead_id=lead_id, anchor_month=anchor
        )
        await TeamMember.bulk_create([TeamMember(team=team, user_id=p.id) for p in people])
    await audit.record(action="create", resource_type="team", resource_id=team.id)
    return team


async def team_member_ids(*, team: Team) -> list[uuid.UUID]:
    """The ids of a team's members (the lead among them), in a stable order."""
    member_ids = await TeamMember.filter(team_id=team.id).values_list("user_id", flat=True)
    return sorted(member_ids, key=str)  # type: ignore[arg-type]


async def supervisors_for(*, org_path: str) -> list[User]:
    """Active supervisors whose subtree holds `org_path` (nearest unit first)."""
    paths = ancestor_paths(org_path)
    found = await User.filter(
        org_path__in=paths,
        roles_text__contains=f",{Role.supervisor.value},",
        is_active=True,
        deleted_at=None,
    )
    return sorted(found, key=lambda u: -len(u.org_path))
