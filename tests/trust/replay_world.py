"""The world of the attack replay, built on a served deployment through the API alone, as the
field apps and the admin console build it: an admin from `grassroots create-admin`, two
districts with every role, clients, supervisions, zones, a patrol round, visits and leave.

    南通市 (root)                 admin (create-admin)
    ├── 崇川区 (district_a)       district_admin, supervisor, scheduler, officer, colleague
    │   └── 和平桥社区 (community_a)  social_worker, patrol, subject, subject_strict, changer,
    │                                 guessed                         <- targets live here
    └── 海门区 (district_b)       supervisor_b, officer_b
        └── 三厂社区 (community_b)    social_worker_b, patrol_b, subject_b
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.identity import check_character

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = "root"
API = "/api/v1"

# A 944 m x 888 m rectangle near 濠河: the patrol zone and the permitted area.
AREA = {
    "type": "Polygon",
    "coordinates": [
        [[120.860, 32.000], [120.870, 32.000], [120.870, 32.008], [120.860, 32.008],
         [120.860, 32.000]]
    ],
}  # fmt: skip
INSIDE = (120.865, 32.004)
FAR_OUTSIDE = (120.865, 32.080)  # about 8 km north of the area
CHECKPOINT = (120.862, 32.002)
HOME = (120.865, 32.011)
FORMULA_NAME = "=cmd|' /C calc'!A0"

# principal: (role, unit, who creates it). Supervisors may grant patrol, social work and
# subject roles in their subtree; officers, schedulers and admins come from the admin.
PEOPLE: dict[str, tuple[str, str, str]] = {
    "district_admin": ("admin", "district_a", "admin"),
    "supervisor": ("supervisor", "district_a", "admin"),
    "supervisor_b": ("supervisor", "district_b", "admin"),
    "scheduler": ("scheduler", "district_a", "admin"),
    "officer": ("officer", "district_a", "admin"),
    "colleague": ("officer", "district_a", "admin"),
    "officer_b": ("officer", "district_b", "admin"),
    "social_worker": ("social_worker", "community_a", "supervisor"),
    "social_worker_b": ("social_worker", "community_b", "supervisor_b"),
    "patrol": ("patrol", "community_a", "supervisor"),
    "patrol_b": ("patrol", "community_b", "supervisor_b"),
    "subject": ("subject", "community_a", "supervisor"),
    "subject_strict": ("subject", "community_a", "supervisor"),
    "subject_b": ("subject", "community_b", "supervisor_b"),
    "changer": ("patrol", "community_a", "supervisor"),
    "guessed": ("patrol", "community_a", "supervisor"),
}


def iso(at: datetime) -> str:
    """A time as the API takes it (RFC 3339, UTC)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def today() -> date:
    """The deployment's local date."""
    return datetime.now(TZ).date()


def local_noon(day: date) -> datetime:
    """Noon of a local day."""
    return datetime.combine(day, time(12), tzinfo=TZ)


def new_phone() -> str:
    """A mobile number of the run (the log check looks for it)."""
    return "139" + "".join(secrets.choice("0123456789") for _ in range(8))


def new_id_number(serial: int) -> str:
    """A valid resident identity number of the run (南通市崇川区, born 1990-03-07)."""
    first = f"32060219900307{serial % 1000:03d}"
    return first + check_character(first)


@dataclass
class Replay:
    """The served world: an HTTP client, every principal's password and tokens, the ids."""

    http: httpx.AsyncClient
    admin_password: str
    passwords: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    # Every secret or personal number the run used: none may reach the server's log.
    secrets: set[str] = field(default_factory=set)
    # The deployment and the record of every answer (tests/trust/served.py).
    deployment: Any = None
    recorded: Any = None

    def headers(self, principal: str) -> dict[str, str]:
        """The bearer header of a principal (`anonymous`: none)."""
        if principal == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[principal]}"}

    async def send(self, principal: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request as `principal`; `path` below /api/v1 unless it starts at the root."""
        url = path if path.startswith(("/healthz", "/readyz", "/metrics")) else API + path
        headers = {**self.headers(principal), **kwargs.pop("headers", {})}
        return await self.http.request(method, url, headers=headers, **kwargs)

    async def call(self, principal: str, method: str, path: str, **kwargs: Any) -> Any:
        """A request that must succeed (building the world); its JSON."""
        r = await self.send(principal, method, path, **kwargs)
        assert r.is_success, (principal, method, path, r.status_code, r.text)
        return r.json() if r.content else None

    async def sign_in(self, principal: str, password: str | None = None) -> httpx.Response:
        """POST /auth/token with the principal's username and password."""
        username = ADMIN if principal == "admin" else f"r_{principal}"
        return await self.http.post(
            f"{API}/auth/token",
            data={"username": username, "password": password or self.passwords[principal]},
        )

    async def keep_tokens(self, principal: str, answer: httpx.Response) -> None:
        assert answer.status_code == 200, (principal, answer.text)
        body = answer.json()
        self.tokens[principal] = body["access_token"]
        self.refresh[principal] = body["refresh_token"]
        self.secrets |= {body["access_token"], body["refresh_token"]}


async def build(replay: Replay) -> None:
    """Everything the replay attacks, made through the API as its users would make it."""
    r = replay
    r.passwords["admin"] = r.admin_password
    r.secrets.add(r.admin_password)
    await r.keep_tokens("admin", await r.sign_in("admin"))
    me = await r.call("admin", "GET", "/me")
    r.user_ids["admin"] = me["id"]
    r.units["root"] = me["org_unit_id"]
    for name, label, parent in (
        ("district_a", "崇川区", "root"),
        ("community_a", "和平桥社区", "district_a"),
        ("district_b", "海门区", "root"),
        ("community_b", "三厂社区", "district_b"),
    ):
        body = {"name": label, "parent_id": r.units[parent]}
        r.units[name] = (await r.call("admin", "POST", "/org-units", json=body))["id"]
    for principal, (role, unit, creator) in PEOPLE.items():
        password = f"pw-{principal}-{secrets.token_hex(8)}"
        phone = new_phone()
        r.passwords[principal] = password
        r.secrets |= {password, phone}
        body = {
            "username": f"r_{principal}",
            "password": password,
            "full_name": f"回放{principal}",
            "phone": phone,
            "roles": [role],
            "org_unit_id": r.units[unit],
        }
        r.user_ids[principal] = (await r.call(creator, "POST", "/users", json=body))["id"]
        if creator == "admin" and role == "supervisor":
            await r.keep_tokens(principal, await r.sign_in(principal))
    for principal in PEOPLE:
        if principal not in r.tokens:
            await r.keep_tokens(principal, await r.sign_in(principal))
    await _clients(r)
    await _zones_and_round(r)
    await _supervisions(r)
    await _casework(r)


async def new_client(
    r: Replay,
    *,
    creator: str,
    unit: str,
    category: str,
    risk: str = "medium",
    name: str = "回放对象",
) -> str:
    """A client registered by a supervisor, with an identity number and a phone."""
    number, phone = new_id_number(len(r.secrets)), new_phone()
    r.secrets |= {number, phone}
    r.ids.setdefault("id_numbers", []).append(number)
    body = {
        "full_name": name,
        "category": category,
        "id_number": number,
        "phone": phone,
        "address": "濠西路 1 号",
        "home_lon": HOME[0],
        "home_lat": HOME[1],
        "risk_level": risk,
        "org_unit_id": r.units[unit],
    }
    return str((await r.call(creator, "POST", "/clients", json=body))["id"])


async def _clients(r: Replay) -> None:
    correction = "community_correction"
    r.ids["corr_a"] = await new_client(
        r, creator="supervisor", unit="community_a", category=correction
    )
    r.ids["corr_strict"] = await new_client(
        r, creator="supervisor", unit="community_a", category=correction
    )
    r.ids["corr_b"] = await new_client(
        r, creator="supervisor_b", unit="community_b", category=correction
    )
    # A high-risk youth (7-day cadence) whose name is a spreadsheet formula.
    r.ids["youth"] = await new_client(
        r, creator="supervisor", unit="community_a", category="at_risk_youth", risk="high",
        name=FORMULA_NAME,
    )  # fmt: skip
    r.ids["released"] = await new_client(
        r, creator="supervisor", unit="community_a", category="released_prisoner"
    )
    for client in ("youth", "released"):
        body = {"user_id": r.user_ids["social_worker"]}
        await r.call("supervisor", "PUT", f"/clients/{r.ids[client]}/social-worker", json=body)


async def new_zone(r: Replay, *, creator: str, unit: str, kind: str, name: str) -> str:
    body = {"name": name, "kind": kind, "org_unit_id": r.units[unit], "geometry": AREA}
    return str((await r.call(creator, "POST", "/zones", json=body))["id"])


async def _zones_and_round(r: Replay) -> None:
    r.ids["area_a"] = await new_zone(
        r, creator="supervisor", unit="community_a", kind="permitted_area", name="活动范围"
    )
    r.ids["area_b"] = await new_zone(
        r, creator="supervisor_b", unit="community_b", kind="permitted_area", name="三厂范围"
    )
    zone = await new_zone(r, creator="supervisor", unit="community_a", kind="patrol", name="濠河")
    r.ids["patrol_zone"] = zone
    checkpoint = {"name": "检查点", "lon": CHECKPOINT[0], "lat": CHECKPOINT[1], "radius_m": 30}
    r.ids["checkpoint"] = (
        await r.call("supervisor", "POST", f"/zones/{zone}/checkpoints", json=checkpoint)
    )["id"]
    now = datetime.now(UTC)
    shift = {
        "user_id": r.user_ids["patrol"],
        "starts_at": iso(now - timedelta(hours=2)),
        "ends_at": iso(now + timedelta(hours=6)),
    }
    await r.call("supervisor", "POST", f"/zones/{zone}/assignments", json=shift)
    round_id = str(uuid.uuid4())
    started = now - timedelta(minutes=30)
    body = {"id": round_id, "zone_id": zone, "started_at": iso(started)}
    await r.call("patrol", "POST", "/rounds", json=body)
    points = [
        {"id": str(uuid.uuid4()), "ts": iso(now - timedelta(minutes=m)), "lon": lon, "lat": lat,
         "accuracy_m": 8.0}
        for m, (lon, lat) in ((20, CHECKPOINT), (10, INSIDE))
    ]  # fmt: skip
    await r.call("patrol", "POST", f"/rounds/{round_id}/points", json={"points": points})
    visit = {
        "id": str(uuid.uuid4()),
        "checkpoint_id": r.ids["checkpoint"],
        "ts": iso(now - timedelta(minutes=20)),
        "lon": CHECKPOINT[0],
        "lat": CHECKPOINT[1],
        "method": "gps",
        "accuracy_m": 8.0,
    }
    await r.call("patrol", "POST", f"/rounds/{round_id}/checkpoint-visits", json=visit)
    r.ids["round"] = round_id


def supervision_body(
    r: Replay, *, client: str, subject: str, level: str, starts_on: date, officer: str = "officer"
) -> dict[str, Any]:
    area = "area_b" if subject.endswith("_b") else "area_a"
    return {
        "client_id": r.ids[client],
        "subject_user_id": r.user_ids[subject],
        "officer_id": r.user_ids[officer],
        "permitted_zone_id": r.ids[area],
        "level": level,
        "starts_on": starts_on.isoformat(),
        "ends_on": (today() + timedelta(days=300)).isoformat(),
    }


async def _supervisions(r: Replay) -> None:
    day = today()
    # The subject under a normal regime for two months: a check-in of 40 days ago falls in it.
    body = supervision_body(
        r, client="corr_a", subject="subject", level="normal", starts_on=day - timedelta(days=60)
    )
    r.ids["supervision"] = (await r.call("officer", "POST", "/supervisions", json=body))["id"]
    # A strict regime (a location check-in every day) begun six days ago.
    body = supervision_body(
        r, client="corr_strict", subject="subject_strict", level="strict",
        starts_on=day - timedelta(days=6),
    )  # fmt: skip
    r.ids["strict"] = (await r.call("officer", "POST", "/supervisions", json=body))["id"]
    body = supervision_body(
        r, client="corr_b", subject="subject_b", level="normal",
        starts_on=day - timedelta(days=30), officer="officer_b",
    )  # fmt: skip
    r.ids["supervision_b"] = (await r.call("officer_b", "POST", "/supervisions", json=body))["id"]
    # The subject checks in as the app does, inside and precise.
    checkin = {
        "id": str(uuid.uuid4()),
        "kind": "location",
        "occurred_at": iso(datetime.now(UTC) - timedelta(minutes=2)),
        "lon": INSIDE[0],
        "lat": INSIDE[1],
        "accuracy_m": 12,
    }
    assert (await r.call("subject", "POST", "/me/checkins", json=checkin))["status"] == "ok"
    # The strict subject's phone was off for days: a check-in taken four days ago arrives now,
    # before the worker closes that day as missed (late: it counts once the officer confirms).
    late_day = day - timedelta(days=4)
    late = {**checkin, "id": str(uuid.uuid4()), "occurred_at": iso(local_noon(late_day))}
    answer = await r.call("subject_strict", "POST", "/me/checkins", json=late)
    assert answer["status"] == "late", answer
    r.ids["late_checkin"], r.ids["late_day"] = answer["id"], late_day
    leave_start = datetime.now(UTC) + timedelta(days=3)
    leave = {
        "id": str(uuid.uuid4()),
        "starts_at": iso(leave_start),
        "ends_at": iso(leave_start + timedelta(hours=8)),
        "destination": "南通市区",
        "reason": "就医",
    }
    r.ids["leave"] = (await r.call("subject", "POST", "/me/leave-requests", json=leave))["id"]


async def _casework(r: Replay) -> None:
    youth = r.ids["youth"]
    # The last home visit of the youth was 40 days ago: the case is overdue (7-day cadence).
    visit = {
        "id": str(uuid.uuid4()),
        "kind": "home",
        "occurred_at": iso(datetime.now(UTC) - timedelta(days=40)),
        "notes": "入户走访",
    }
    await r.call("social_worker", "POST", f"/clients/{youth}/visits", json=visit)
    member = {"user_id": r.user_ids["patrol"], "role": "volunteer"}
    await r.call("social_worker", "POST", f"/clients/{youth}/care-group", json=member)
