"""The machinery of the authorization matrix: principals, the seeded world, requests and rows.

The table (tests/trust/authz_table.py) holds only data and small request builders; nothing in
this module changes when an endpoint is added.

The world, one per test (the database is emptied after each test):

    南通市 (root)                     admin, the `expired`/`disabled`/`deleted` admins
    ├── 崇川区 (district)             supervisor, scheduler, officer
    │   ├── 和平桥社区 (community)    patrol, social_worker, subject   <- targets live here
    │   └── 城东社区 (community2)     patrol_other, social_worker_other, subject_other
    └── 海门区 (district_other)       supervisor_other, scheduler_other, officer_other
        └── 三厂社区 (community_other)

So `supervisor_other`, `scheduler_other` and `officer_other` are out of scope by org unit, and
the other `*_other` principals are in the supervisor's subtree but do not own (and are not
assigned to) the targets: all must get 404.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from grassroots.settings import Settings
from models.alerts import Alert
from models.notifications import Notification, NotificationKind
from models.org import OrgUnit, Role, User
from models.social import Client, ClientCategory, RiskLevel
from services import alerts
from services.security import hash_password, issue_access_token

# Columns of the matrix, in print order.
SIGNED_IN = (
    "admin",
    "supervisor",
    "supervisor_other",
    "scheduler",
    "scheduler_other",
    "patrol",
    "patrol_other",
    "social_worker",
    "social_worker_other",
    "officer",
    "officer_other",
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
    "scheduler": "scheduler_other",
    "officer": "officer_other",
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
    # For lists and reports: the id of a target the request's answer may hold, and who may see
    # it there. Every other principal's 2xx answer must not mention it (a 200 list is no licence
    # to show an object whose direct read is a 404).
    shows: Callable[[World], Awaitable[str]] | None = None
    seen_by: tuple[str, ...] = ()

    async def request(self, world: World) -> Req:
        """A fresh request for one cell."""
        built = self.build(world)
        return await built if inspect.isawaitable(built) else built


@dataclass(frozen=True)
class BodyId:
    """An id carried in a request body: a real object outside the caller's scope (`outside`)
    and a random id must get the same answer, `status` with `code`; no existence oracle.

    The request is the operation's row request, as `principal` (who succeeds with the row's own
    body), with `field` replaced.
    """

    field: str
    outside: Callable[[World], Awaitable[str]]
    status: int
    code: str
    principal: str


# --- the seeded world ---------------------------------------------------------------------------

# A 944 m x 888 m rectangle near 濠河: the patrol zone and the permitted area.
ZONE_GEOJSON = {
    "type": "Polygon",
    "coordinates": [
        [[120.860, 32.000], [120.870, 32.000], [120.870, 32.008], [120.860, 32.008],
         [120.860, 32.000]]
    ],
}  # fmt: skip
CHECKPOINT = (120.862, 32.002)
HOME = (120.865, 32.011)  # a client's home, north of the zone
INSIDE = (120.865, 32.004)


def iso(at: datetime) -> str:
    """A UTC time as the API takes it."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class World:
    """Org units, one user per principal, their headers, and helpers for builders."""

    client: httpx.AsyncClient
    settings: Settings
    units: dict[str, OrgUnit]
    users: dict[str, User]
    headers: dict[str, dict[str, str]]
    _counter: list[int] = field(default_factory=lambda: [0])
    # Shared targets that reads (and repeatable writes) reuse within one test, by name.
    _shared: dict[str, Any] = field(default_factory=dict)

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

    def count(self) -> int:
        """A number no other cell of this test gets (for months, leave windows, ...)."""
        self._counter[0] += 1
        return self._counter[0]

    async def shared(self, name: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """`make()` once per test: a target that every cell may read without changing it."""
        if name not in self._shared:
            self._shared[name] = await make()
        return self._shared[name]

    # --- patrol: zones, checkpoints, shifts, rounds (owned by `patrol`) ---------------------

    async def new_zone(self, kind: str = "patrol", unit: str = "community") -> dict[str, Any]:
        """A fresh zone in the community (or `unit`), made by the admin through the API."""
        body = {
            "name": self.unique("区域"),
            "kind": kind,
            "org_unit_id": str(self.units[unit].id),
            "geometry": ZONE_GEOJSON,
        }
        return await self.call("admin", "POST", "/zones", json=body)

    async def patrol_zone(self) -> dict[str, Any]:
        """The community's patrol zone, with a checkpoint and a shift of `patrol` around now."""

        async def make() -> dict[str, Any]:
            zone = await self.new_zone()
            await self.new_shift(zone["id"])
            return zone

        return await self.shared("patrol_zone", make)

    async def new_shift(self, zone_id: str, principal: str = "patrol") -> dict[str, Any]:
        """A shift of `principal` in the zone from two hours ago to six hours ahead."""
        now = datetime.now(UTC)
        body = {
            "user_id": self.id(principal),
            "starts_at": iso(now - timedelta(hours=2)),
            "ends_at": iso(now + timedelta(hours=6)),
        }
        return await self.call("admin", "POST", f"/zones/{zone_id}/assignments", json=body)

    async def checkpoint(self) -> dict[str, Any]:
        """A checkpoint of the patrol zone."""

        async def make() -> dict[str, Any]:
            zone = await self.patrol_zone()
            body = {"name": "检查点", "lon": CHECKPOINT[0], "lat": CHECKPOINT[1], "radius_m": 30}
            return await self.call("admin", "POST", f"/zones/{zone['id']}/checkpoints", json=body)

        return await self.shared("checkpoint", make)

    async def new_round(self) -> dict[str, Any]:
        """A fresh active round of `patrol` in the patrol zone, started 30 minutes ago."""
        zone = await self.patrol_zone()
        body = {
            "id": str(uuid.uuid4()),
            "zone_id": zone["id"],
            "started_at": iso(datetime.now(UTC) - timedelta(minutes=30)),
        }
        return await self.call("patrol", "POST", "/rounds", json=body)

    async def patrol_round(self) -> dict[str, Any]:
        """The shared round of `patrol`, with two points of track."""

        async def make() -> dict[str, Any]:
            round_ = await self.new_round()
            now = datetime.now(UTC)
            points = [
                {"id": str(uuid.uuid4()), "ts": iso(now - timedelta(minutes=m)), "lon": lon,
                 "lat": lat, "accuracy_m": 8.0}
                for m, (lon, lat) in ((20, CHECKPOINT), (10, INSIDE))
            ]  # fmt: skip
            await self.call(
                "patrol", "POST", f"/rounds/{round_['id']}/points", json={"points": points}
            )
            return round_

        return await self.shared("patrol_round", make)

    # --- correction: `subject` supervised by `officer` ---------------------------------------

    async def permitted_area(self) -> dict[str, Any]:
        """The community's permitted area."""
        return await self.shared("permitted_area", lambda: self.new_zone("permitted_area"))

    async def supervision_body(self, subject: str | User = "subject") -> dict[str, Any]:
        """The body placing a subject under `officer`, from two years ago to a year ahead."""
        area = await self.permitted_area()
        subject_id = self.id(subject) if isinstance(subject, str) else str(subject.id)
        today = datetime.now(UTC).date()
        return {
            "client_id": str(await self.correction_client()),
            "subject_user_id": subject_id,
            "officer_id": self.id("officer"),
            "permitted_zone_id": area["id"],
            "level": "normal",
            "starts_on": (today - timedelta(days=730)).isoformat(),
            "ends_on": (today + timedelta(days=365)).isoformat(),
        }

    async def correction_client(self) -> uuid.UUID:
        """A fresh social-work client in the community_correction category, without a worker."""
        return (await self.new_client(category="community_correction", worker=None)).id

    async def supervision(self) -> dict[str, Any]:
        """The supervision of `subject` under `officer` (one per test: a subject has one)."""

        async def make() -> dict[str, Any]:
            body = await self.supervision_body()
            return await self.call("officer", "POST", "/supervisions", json=body)

        return await self.shared("supervision", make)

    async def new_leave(self) -> dict[str, Any]:
        """A fresh pending leave request of `subject`, in a window no other cell uses."""
        await self.supervision()
        starts = datetime.now(UTC) + timedelta(days=2 * self.count())
        body = {
            "id": str(uuid.uuid4()),
            "starts_at": iso(starts),
            "ends_at": iso(starts + timedelta(hours=6)),
            "destination": "南通市区",
            "reason": "就医",
        }
        return await self.call("subject", "POST", "/me/leave-requests", json=body)

    # --- social work: clients of `social_worker`, its team --------------------------------

    async def new_client(
        self,
        *,
        category: str = "released_prisoner",
        worker: str | None = "social_worker",
        unit: str = "community",
    ) -> Client:
        """A fresh client in the community (or `unit`), given to `worker` by the admin."""
        org_unit = self.units[unit]
        client = await Client.create(
            full_name="矩阵对象",
            category=ClientCategory(category),
            address="崇川区和平桥社区濠西路 1 号",
            home_lon=HOME[0],
            home_lat=HOME[1],
            risk_level=RiskLevel.medium,
            org_unit=org_unit,
            org_path=org_unit.path,
        )
        if worker is not None:
            body = {"user_id": self.id(worker)}
            await self.call("admin", "PUT", f"/clients/{client.id}/social-worker", json=body)
        return client

    async def own_client(self) -> Client:
        """The shared client of `social_worker` (reads, visits and edits reuse it)."""
        return await self.shared("own_client", self.new_client)

    async def team(self) -> dict[str, Any]:
        """The community's team led by `social_worker`, its schedule anchored last January."""

        async def make() -> dict[str, Any]:
            body = {
                "name": self.unique("社工站"),
                "org_unit_id": str(self.unit.id),
                "lead_id": self.id("social_worker"),
                "member_ids": [],
                "anchor_month": date(datetime.now(UTC).year - 1, 1, 1).isoformat(),
            }
            return await self.call("admin", "POST", "/teams", json=body)

        return await self.shared("team", make)

    async def open_task(self) -> dict[str, Any]:
        """An open task of the team whose period has begun, one no other cell has had."""
        team = await self.team()

        async def listed() -> list[dict[str, Any]]:
            today = datetime.now(UTC).date()
            query = {"from": date(today.year - 1, 1, 1).isoformat(), "to": today.isoformat()}
            tasks = await self.call("admin", "GET", f"/teams/{team['id']}/tasks", params=query)
            return [
                t for t in tasks if t["status"] != "done" and t["starts_on"] < today.isoformat()
            ]

        tasks = await self.shared("tasks", listed)
        return tasks.pop()

    # --- notifications -------------------------------------------------------------------------

    async def new_reminder(self) -> dict[str, Any]:
        """A fresh reminder of the scheduler to the community."""
        body = {
            "title": "月度例会",
            "body": "请按时参加",
            "audience": {"org_unit_id": str(self.unit.id)},
            "first_at": iso(datetime.now(UTC) + timedelta(days=1)),
            "rrule": "FREQ=MONTHLY",
        }
        return await self.call("scheduler", "POST", "/reminders", json=body)

    async def new_notification(self, principal: str = "patrol") -> Notification:
        """A fresh unread notification in the inbox of `principal`."""
        return await Notification.create(
            user_id=self.users[principal].id,
            kind=NotificationKind.alert,
            title="矩阵通知",
            body="测试",
            dedup_key=self.unique("notification"),
        )

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
        "scheduler_other": (Role.scheduler, "district_other"),
        "patrol": (Role.patrol, "community"),
        "patrol_other": (Role.patrol, "community2"),
        "social_worker": (Role.social_worker, "community"),
        "social_worker_other": (Role.social_worker, "community2"),
        "officer": (Role.officer, "district"),
        "officer_other": (Role.officer, "district_other"),
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
