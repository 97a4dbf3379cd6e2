"""The machinery of the authorization matrix: principals, the seeded world, requests and rows.

The table (tests/trust/authz_table.py) holds only data and small request builders; nothing in
this module changes when an endpoint is added.

The world, one per test (the database is emptied after each test):

    南通市 (root)                     admin, the `expired`/`disabled`/`deleted` admins
    ├── 崇川区 (district)             supervisor, scheduler, officer
    │   ├── 和平桥社区 (community)    patrol, social_worker, subject   <- targets live here
    │   └── 城东社区 (community2)     patrol_other, social_worker_other, subject_other
    └── 海门区 (district_other)       supervisor_other
        └── 三厂社区 (community_other)

So `supervisor_other` is out of scope by org unit, and the other `*_other` principals are in the
supervisor's subtree but do not own (and are not assigned to) the targets: both must get 404.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from grassroots.settings import Settings
from models.alerts import Alert
from models.org import OrgUnit, Role, User
from services import alerts
from services.security import hash_password, issue_access_token

# Columns of the matrix, in print order.
SIGNED_IN = (
    "admin",
    "supervisor",
    "supervisor_other",
    "scheduler",
    "patrol",
    "patrol_other",
    "social_worker",
    "social_worker_other",
    "officer",
    "subject",
    "subject_other",
)
BAD_TOKENS = ("anonymous", "expired", "disabled", "deleted")
PRINCIPALS = SIGNED_IN + BAD_TOKENS
# A principal and its out-of-scope twin: where the first succeeds on an object, the twin gets 404.
TWINS = {
    "supervisor": "supervisor_other",
    "patrol": "patrol_other",
    "social_worker": "social_worker_other",
    "subject": "subject_other",
}

LOGIN_PASSWORD = "matrix-password-0123"
# Cells run in this session, printed at the end of the run by tests/trust/conftest.py.
TALLY = {"operations": 0, "cells": 0, "wrong": 0}


# --- expected answers --------------------------------------------------------------------------

ALL_401_FOR_BAD_TOKENS: Mapping[str, int] = dict.fromkeys(BAD_TOKENS, 401)


def public(status: int) -> dict[str, int]:
    """A public operation: every principal, whatever token it sends, gets `status`."""
    return dict.fromkeys(PRINCIPALS, status)


def everyone(status: int, **overrides: int) -> dict[str, int]:
    """Every signed-in principal gets `status` (unless named); bad tokens get 401."""
    return _complete(dict.fromkeys(SIGNED_IN, status), overrides)


def only(
    status: int, *allowed: str, twins: int = 404, others: int = 403, **overrides: int
) -> dict[str, int]:
    """`allowed` get `status`; their out-of-scope twins get `twins` (404: never reveal the
    object); every other role gets `others` (403: the role may never do it); bad tokens 401."""
    unknown = set(allowed) - set(SIGNED_IN)
    if unknown:
        raise ValueError(f"unknown principals {sorted(unknown)}")
    answers = dict.fromkeys(SIGNED_IN, others)
    for principal in allowed:
        answers[principal] = status
        twin = TWINS.get(principal)
        if twin and twin not in allowed:
            answers[twin] = twins
    return _complete(answers, overrides)


def _complete(answers: dict[str, int], overrides: Mapping[str, int]) -> dict[str, int]:
    unknown = set(overrides) - set(SIGNED_IN)
    if unknown:
        raise ValueError(f"unknown principals {sorted(unknown)}")
    return {**answers, **overrides, **ALL_401_FOR_BAD_TOKENS}


# Compact defaults for the common shapes.
ADMIN_AND_SCOPED_SUPERVISOR = ("admin", "supervisor")
ADMIN_AND_SCOPED_SUPERVISOR_OK = only(200, *ADMIN_AND_SCOPED_SUPERVISOR)
ADMIN_AND_SCOPED_SUPERVISOR_CREATE = only(201, *ADMIN_AND_SCOPED_SUPERVISOR, twins=422)
ADMIN_ONLY_OK = only(200, "admin")


# --- requests and rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    """What to send: path parameters, query, JSON or form body. Method and path come from the
    spec (by operation id), so a row can never exercise the wrong route."""

    path: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None


Builder = Callable[["World"], "Req | Awaitable[Req]"]


@dataclass(frozen=True)
class Row:
    """One operation: how to build its request, and what each principal must get.

    `build` is called once per cell, so a builder that creates its target (a fresh user, a fresh
    alert) gives every principal an untouched object: one principal's success cannot change the
    next one's answer.
    """

    build: Builder
    expect: Mapping[str, int]

    async def request(self, world: World) -> Req:
        """A fresh request for one cell."""
        built = self.build(world)
        return await built if inspect.isawaitable(built) else built


# --- the seeded world ---------------------------------------------------------------------------


@dataclass
class World:
    """Org units, one user per principal, their headers, and helpers for builders."""

    client: httpx.AsyncClient
    settings: Settings
    units: dict[str, OrgUnit]
    users: dict[str, User]
    headers: dict[str, dict[str, str]]
    _counter: list[int] = field(default_factory=lambda: [0])

    @property
    def unit(self) -> OrgUnit:
        """The community every target lives in (in the supervisor's subtree)."""
        return self.units["community"]

    def id(self, principal: str) -> str:
        """The user id of a principal, as a string for a body or path."""
        return str(self.users[principal].id)

    def unique(self, prefix: str = "u") -> str:
        """A name no other cell uses."""
        self._counter[0] += 1
        return f"{prefix}{self._counter[0]}_{uuid.uuid4().hex[:8]}"

    async def new_user(self, *roles: Role | str, unit: str = "community") -> User:
        """A fresh user (a target that one cell may change without touching the next)."""
        org_unit = self.units[unit]
        return await User.create(
            username=self.unique("user"),
            password_hash="!",
            full_name="矩阵用户",
            roles_text=User.encode_roles([str(getattr(r, "value", r)) for r in roles]),
            org_unit=org_unit,
            org_path=org_unit.path,
        )

    async def new_alert(self, *, recipients: Iterable[str] = ("patrol",)) -> Alert:
        """A fresh open alert in the community, addressed to the named principals."""
        raised = await alerts.raise_alert(
            kind="zone_exit",
            subject_type="user",
            subject_id=self.users["patrol"].id,
            org_unit=self.unit,
            recipients=[self.users[p] for p in recipients],
            title="矩阵告警",
            dedup_key=self.unique("alert"),
        )
        assert raised is not None
        return raised

    async def call(self, principal: str, method: str, path: str, **kwargs: Any) -> Any:
        """Set something up through the API as `principal` (must succeed); the JSON answer.
        `path` is below /api/v1, e.g. "/zones"."""
        response = await self.client.request(
            method, f"/api/v1{path}", headers=self.headers[principal], **kwargs
        )
        assert response.is_success, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


async def build_world(*, client: httpx.AsyncClient, settings: Settings) -> World:
    """Seed the org tree and one user per principal."""

    async def unit(name: str, parent: OrgUnit | None = None) -> OrgUnit:
        unit_id = uuid.uuid4()
        return await OrgUnit.create(
            id=unit_id,
            name=name,
            parent=parent,
            path=(parent.path if parent else "/") + f"{unit_id.hex}/",
            depth=parent.depth + 1 if parent else 0,
        )

    root = await unit("南通市")
    district = await unit("崇川区", root)
    district_other = await unit("海门区", root)
    units = {
        "root": root,
        "district": district,
        "community": await unit("和平桥社区", district),
        "community2": await unit("城东社区", district),
        "district_other": district_other,
        "community_other": await unit("三厂社区", district_other),
    }
    placement: dict[str, tuple[str, str]] = {
        "admin": (Role.admin, "root"),
        "supervisor": (Role.supervisor, "district"),
        "supervisor_other": (Role.supervisor, "district_other"),
        "scheduler": (Role.scheduler, "district"),
        "patrol": (Role.patrol, "community"),
        "patrol_other": (Role.patrol, "community2"),
        "social_worker": (Role.social_worker, "community"),
        "social_worker_other": (Role.social_worker, "community2"),
        "officer": (Role.officer, "district"),
        "subject": (Role.subject, "community"),
        "subject_other": (Role.subject, "community2"),
        # The strongest role behind every bad token: even an admin's bad token is a 401.
        "expired": (Role.admin, "root"),
        "disabled": (Role.admin, "root"),
        "deleted": (Role.admin, "root"),
    }
    # One real password, for the public sign-in rows.
    password_hash = await hash_password(password=LOGIN_PASSWORD, settings=settings)
    users: dict[str, User] = {}
    for principal, (role, unit_name) in placement.items():
        org_unit = units[unit_name]
        users[principal] = await User.create(
            username=f"m_{principal}",
            password_hash=password_hash,
            full_name=f"矩阵{principal}",
            roles_text=User.encode_roles([role]),
            org_unit=org_unit,
            org_path=org_unit.path,
            is_active=principal != "disabled",
            deleted_at=datetime.now(UTC) if principal == "deleted" else None,
        )
    long_ago = datetime.now(UTC) - timedelta(seconds=2 * settings.access_token_ttl_s + 60)
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for principal, user in users.items():
        token = issue_access_token(
            user_id=user.id, settings=settings, now=long_ago if principal == "expired" else None
        )
        headers[principal] = {"Authorization": f"Bearer {token}"}
    return World(client=client, settings=settings, units=units, users=users, headers=headers)
