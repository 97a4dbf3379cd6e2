"""Who may see what: roles and org-unit subtrees, written once for every route."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from grassroots.errors import Forbidden, NotFound
from models.org import Role, User

M = TypeVar("M", bound=Model)

ScopeFilter = Callable[[QuerySet[Any], User], QuerySet[Any]]


def is_admin(user: User) -> bool:
    """Admins act everywhere."""
    return user.has_role(Role.admin)


def subtree(field: str = "org_path") -> ScopeFilter:
    """Objects whose org path lies in the caller's subtree (admins: everything)."""

    def apply(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
        if is_admin(user):
            return qs
        return qs.filter(**{f"{field}__startswith": user.org_path})

    return apply


def within(path: str, root: str) -> bool:
    """True when the org path `path` is `root` or lies below it (paths are /id/id/.../)."""
    return path.startswith(root)


def in_subtree(*, user: User, org_path: str) -> bool:
    """True when an org path lies inside the caller's subtree."""
    return is_admin(user) or within(org_path, user.org_path)


def overlaps(a_path: str, b_path: str) -> bool:
    """True when one org path lies inside the other (the same place, above it or below it)."""
    return within(a_path, b_path) or within(b_path, a_path)


def require_role(user: User, roles: Iterable[str]) -> None:
    """403 unless the user holds one of the roles."""
    if not user.has_role(*roles):
        raise Forbidden()


class Access:
    """One resource's access rule: which roles may touch it and which rows each user sees.

    `get` answers 403 for a role that may not touch the resource at all and 404 for an object
    that does not exist or lies outside the caller's scope, so handlers cannot get it wrong.
    """

    def __init__(
        self, model: type[M], *, roles: Iterable[str], scope: ScopeFilter | None = None
    ) -> None:
        self.model = model
        self.roles = tuple(roles)
        self.scope = scope or subtree()

    def queryset(self, user: User) -> QuerySet[Any]:
        """Every object of the model the user may see."""
        require_role(user, self.roles)
        return self.scope(self.model.all(), user)

    async def get(self, user: User, object_id: Any) -> Any:
        """The object, or 403/404 as above."""
        found = await self.queryset(user).get_or_none(id=object_id)
        if found is None:
            raise NotFound()
        return found
