"""The authorization matrix: for every operation of the OpenAPI spec, what each principal gets.

Read a row as: "build this request; admin gets 200, supervisor 200, its twin in another
district 404, every other role 403, bad tokens 401". The shapes (`only`, `everyone`, `public`)
and the world (who sits where) are in tests/trust/world.py.

Adding an endpoint: add its row to your domain's section below. test_authz_matrix.py fails for
an operation without a row and for a row without an operation. Builders that target an object
should create a fresh one (`await w.new_user(...)`, `await w.call("supervisor", "POST", ...)`)
in the community `w.unit`, owned by `patrol` / `social_worker` / `subject` where ownership
matters, so that every cell starts from an untouched object.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from models.social import Client
from services.identity import check_character
from tests.trust.world import (
    ADMIN_AND_SCOPED_SUPERVISOR_CREATE,
    ADMIN_AND_SCOPED_SUPERVISOR_OK,
    ADMIN_ONLY_OK,
    CHECKPOINT,
    HOME,
    INSIDE,
    LOGIN_PASSWORD,
    ZONE_GEOJSON,
    BodyId,
    Req,
    Row,
    World,
    everyone,
    iso,
    only,
    public,
)

# --- foundation: auth, me, administration, alerts, audit, operations ---------------------------


def _listing(target: Callable[[World], Awaitable[str]]) -> Callable[[World], Awaitable[Req]]:
    """A list request made once `target` exists (a row's `shows`: who finds it listed)."""

    async def build(w: World) -> Req:
        await target(w)
        return Req()

    return build


def _sign_in(w: World) -> Req:
    return Req(form={"username": "m_subject", "password": LOGIN_PASSWORD})


async def _refresh(w: World) -> Req:
    # A refresh token works once: every cell gets its own.
    pair = await w.call("anonymous", "POST", "/auth/token", data=_sign_in(w).form)
    return Req(json={"refresh_token": pair["refresh_token"]})


def _change_password(w: World) -> Req:
    return Req(json={"current_password": LOGIN_PASSWORD, "new_password": w.unique("new-pass-")})


def _new_org_unit(w: World) -> Req:
    return Req(json={"name": w.unique("社区"), "parent_id": str(w.unit.id)})


def _new_user(w: World) -> Req:
    return Req(
        json={
            "username": w.unique("new"),
            "password": "a-long-password-1",
            "full_name": "新队员",
            "roles": ["patrol"],
            "org_unit_id": str(w.unit.id),
        }
    )


async def _update_user(w: World) -> Req:
    target = await w.new_user("patrol")
    return Req(path={"id": target.id}, json={"full_name": "改名"})


def _new_team(w: World) -> Req:
    return Req(
        json={
            "name": w.unique("社工组"),
            "org_unit_id": str(w.unit.id),
            "lead_id": w.id("social_worker"),
            "member_ids": [],
        }
    )


async def _alert_id(w: World) -> str:
    return str((await w.shared("alert", w.new_alert)).id)


async def _open_alerts(w: World) -> Req:
    await _alert_id(w)
    return Req(query={"status": "open"})


async def _patrol_id(w: World) -> str:
    return w.id("patrol")


async def _ack_alert(w: World) -> Req:
    alert = await w.new_alert(recipients=["patrol"])
    return Req(path={"id": alert.id})


FOUNDATION_ROWS: dict[str, Row] = {
    # Public: a token, good or bad, changes nothing.
    "auth_token": Row(_sign_in, public(200)),
    "auth_refresh": Row(_refresh, public(200)),
    # Sign-out takes the refresh token, not a bearer token: whatever token comes along, 204.
    "auth_logout": Row(_refresh, public(204)),
    "healthz": Row(lambda w: Req(), public(200)),
    "readyz": Row(lambda w: Req(), public(200)),
    # GRASSROOTS_METRICS_TOKEN or an admin's token; every other token is a 401, not a 403.
    "metrics": Row(lambda w: Req(), only(200, "admin", others=401)),
    # Any signed-in user.
    "get_me": Row(lambda w: Req(), everyone(200)),
    # Each principal changes its own password (every matrix user has LOGIN_PASSWORD).
    "change_my_password": Row(_change_password, everyone(204)),
    "list_org_units": Row(lambda w: Req(), everyone(200)),
    "get_org_unit": Row(
        lambda w: Req(path={"id": w.unit.id}),
        # Everyone whose subtree holds the community sees it; the others' units do not.
        only(
            200, "admin", "supervisor", "scheduler", "patrol", "social_worker", "officer", "subject"
        ),
    ),
    "list_alerts": Row(
        _open_alerts,
        everyone(200),
        shows=_alert_id,
        # The recipients and the supervisors of the place (officers: correction alerts only).
        seen_by=("admin", "supervisor", "patrol"),
    ),
    "ack_alert": Row(
        _ack_alert,
        # Resolving is for who answers for the place; the recipient reads it (403 here); anyone
        # who does not see it: not found.
        only(200, "admin", "supervisor", others=404, patrol=403),
    ),
    "read_alert": Row(
        _ack_alert,
        # Whoever sees the alert marks it read for itself.
        only(200, "admin", "supervisor", "patrol", others=404),
    ),
    # Administration: admin everywhere, supervisor in its subtree (a body reference outside
    # it is a 422 org_unit_outside_scope, the same answer as a unit that does not exist).
    "create_org_unit": Row(_new_org_unit, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "create_user": Row(_new_user, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "create_team": Row(_new_team, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "list_users": Row(
        lambda w: Req(query={"role": "patrol"}),
        only(200, "admin", "supervisor", "scheduler", "officer", twins=200),
        shows=_patrol_id,
        seen_by=("admin", "supervisor", "scheduler", "officer"),
    ),
    "get_user": Row(
        lambda w: Req(path={"id": w.id("patrol")}),
        only(200, "admin", "supervisor", "scheduler", "officer"),
    ),
    "update_user": Row(_update_user, ADMIN_AND_SCOPED_SUPERVISOR_OK),
    "list_audit": Row(lambda w: Req(), ADMIN_ONLY_OK),
}

# --- patrol: zones, checkpoints, assignments, rounds ---------------------------------------------
# Zones are managed by admins and the supervisors of their subtree; a patrol member reads the
# zones it has shifts in and writes only its own rounds; officers read permitted areas only.


def _new_zone_body(w: World) -> Req:
    return Req(
        json={
            "name": w.unique("区域"),
            "kind": "patrol",
            "org_unit_id": str(w.unit.id),
            "geometry": ZONE_GEOJSON,
        }
    )


def _import_zones(w: World) -> Req:
    feature = {
        "type": "Feature",
        "properties": {"name": w.unique("区域"), "kind": "patrol"},
        "geometry": ZONE_GEOJSON,
    }
    return Req(
        query={"org_unit_id": str(w.unit.id)},
        json={"type": "FeatureCollection", "features": [feature]},
    )


async def _patrol_zone(w: World) -> Req:
    return Req(path={"id": (await w.patrol_zone())["id"]})


async def _fresh_zone(w: World) -> Req:
    return Req(path={"id": (await w.new_zone())["id"]})


async def _update_zone(w: World) -> Req:
    return Req(path={"id": (await w.new_zone())["id"]}, json={"name": w.unique("改名")})


async def _new_checkpoint(w: World) -> Req:
    body = {"name": w.unique("检查点"), "lon": CHECKPOINT[0], "lat": CHECKPOINT[1]}
    return Req(path={"id": (await w.patrol_zone())["id"]}, json=body)


async def _new_assignment(w: World) -> Req:
    starts = datetime.now(UTC) + timedelta(days=w.count())
    body = {
        "user_id": w.id("patrol"),
        "starts_at": iso(starts),
        "ends_at": iso(starts + timedelta(hours=8)),
    }
    return Req(path={"id": (await w.patrol_zone())["id"]}, json=body)


async def _zone_report(w: World) -> Req:
    await w.patrol_round()
    return Req(
        path={"id": (await w.patrol_zone())["id"]},
        query={"date": datetime.now(UTC).date().isoformat()},
    )


async def _zone_positions(w: World) -> Req:
    await w.patrol_round()
    return Req(path={"id": (await w.patrol_zone())["id"]})


async def _start_round(w: World) -> Req:
    zone = await w.patrol_zone()
    return Req(
        json={
            "id": str(uuid.uuid4()),
            "zone_id": zone["id"],
            "started_at": iso(datetime.now(UTC) - timedelta(minutes=5)),
        }
    )


async def _zone_id(w: World) -> str:
    return str((await w.patrol_zone())["id"])


async def _round_id(w: World) -> str:
    return str((await w.patrol_round())["id"])


async def _patrol_round(w: World) -> Req:
    return Req(path={"id": (await w.patrol_round())["id"]})


async def _add_points(w: World) -> Req:
    point = {
        "id": str(uuid.uuid4()),
        "ts": iso(datetime.now(UTC) - timedelta(minutes=1)),
        "lon": INSIDE[0],
        "lat": INSIDE[1],
        "accuracy_m": 8.0,
    }
    return Req(path={"id": (await w.patrol_round())["id"]}, json={"points": [point]})


async def _add_visit(w: World) -> Req:
    checkpoint = await w.checkpoint()
    body = {
        "id": str(uuid.uuid4()),
        "checkpoint_id": checkpoint["id"],
        "ts": iso(datetime.now(UTC) - timedelta(minutes=1)),
        "lon": CHECKPOINT[0],
        "lat": CHECKPOINT[1],
        "method": "gps",
        "accuracy_m": 5.0,
    }
    return Req(path={"id": (await w.patrol_round())["id"]}, json=body)


async def _add_incident(w: World) -> Req:
    body = {
        "id": str(uuid.uuid4()),
        "ts": iso(datetime.now(UTC) - timedelta(minutes=1)),
        "lon": INSIDE[0],
        "lat": INSIDE[1],
        "category": "安全隐患",
        "description": "井盖缺失",
    }
    return Req(path={"id": (await w.patrol_round())["id"]}, json=body)


async def _end_round(w: World) -> Req:
    # Ending is final: every cell ends a round of its own.
    round_ = await w.new_round()
    return Req(path={"id": round_["id"]}, json={"ended_at": iso(datetime.now(UTC))})


# Zones the reader may see: managers in their subtree, the patrol member with a shift there;
# the officer reads permitted areas only, so a patrol zone is not found for it.
ZONE_READERS = only(200, "admin", "supervisor", "patrol", officer=404, officer_other=404)
# Rounds: their member and the supervisors of the place.
ROUND_READERS = only(200, "admin", "supervisor", "patrol")
# Writes to a round: its member alone (an admin or supervisor may not write a member's track).
ROUND_OWNER = only(200, "patrol")

PATROL_ROWS: dict[str, Row] = {
    "create_zone": Row(_new_zone_body, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "import_zones": Row(_import_zones, only(200, "admin", "supervisor", twins=422)),
    "list_zones": Row(
        _listing(_zone_id),
        only(200, "admin", "supervisor", "officer", "patrol", twins=200),
        shows=_zone_id,
        seen_by=("admin", "supervisor", "patrol"),
    ),
    "get_zone": Row(_patrol_zone, ZONE_READERS),
    "update_zone": Row(_update_zone, ADMIN_AND_SCOPED_SUPERVISOR_OK),
    "delete_zone": Row(_fresh_zone, only(204, "admin", "supervisor")),
    "create_checkpoint": Row(_new_checkpoint, only(201, "admin", "supervisor")),
    "list_checkpoints": Row(_patrol_zone, ZONE_READERS),
    "create_assignment": Row(_new_assignment, only(201, "admin", "supervisor")),
    "list_zone_assignments": Row(_patrol_zone, ADMIN_AND_SCOPED_SUPERVISOR_OK),
    # My own shifts: anyone signed in (a member without shifts gets an empty list).
    "list_my_assignments": Row(
        _listing(_zone_id), everyone(200), shows=_zone_id, seen_by=("patrol",)
    ),
    "zone_report": Row(_zone_report, ADMIN_AND_SCOPED_SUPERVISOR_OK),
    "zone_positions": Row(_zone_positions, ADMIN_AND_SCOPED_SUPERVISOR_OK),
    # Only a member with a shift in the zone starts a round there: the other member's zone
    # lookup finds nothing.
    "start_round": Row(_start_round, only(201, "patrol")),
    "list_rounds": Row(
        _listing(_round_id),
        only(200, "admin", "supervisor", "patrol", twins=200),
        shows=_round_id,
        seen_by=("admin", "supervisor", "patrol"),
    ),
    "get_round": Row(_patrol_round, ROUND_READERS),
    "get_round_track": Row(_patrol_round, ROUND_READERS),
    "add_round_points": Row(_add_points, ROUND_OWNER),
    "add_checkpoint_visit": Row(_add_visit, only(201, "patrol")),
    "add_incident": Row(_add_incident, only(201, "patrol")),
    "end_round": Row(_end_round, ROUND_OWNER),
}

# --- social work: clients, caseloads, visits, six-ones tasks ------------------------------------

# Clients: admins, the supervisors of their subtree and the client's own social worker (and the
# members of an at-risk youth's care group); managing a case (assigning it) is for managers.


def _new_client(w: World) -> Req:
    return Req(
        json={
            "full_name": "新对象",
            "category": "released_prisoner",
            "address": "崇川区和平桥社区濠西路 2 号",
            "home_lon": HOME[0],
            "home_lat": HOME[1],
            "risk_level": "low",
            "org_unit_id": str(w.unit.id),
        }
    )


async def _client(w: World) -> Req:
    return Req(path={"id": (await w.own_client()).id})


async def _update_client(w: World) -> Req:
    return Req(path={"id": (await w.own_client()).id}, json={"risk_level": "high"})


async def _search_clients(w: World) -> Req:
    await w.own_client()
    first = "32060219900307" + f"{w.count() % 1000:03d}"
    return Req(json={"id_number": first + check_character(first)})


async def _assign_worker(w: World) -> Req:
    # The client's own worker may read the case but not hand it on.
    client = await w.new_client()
    worker = await w.new_user("social_worker")
    return Req(path={"id": client.id}, json={"user_id": str(worker.id)})


def _delegation_body(w: World) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "org_unit_id": str(w.units["community2"].id),
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=90)).isoformat(),
        "note": "暂住城东，委托帮教",
    }


async def _new_delegation(w: World) -> Req:
    return Req(path={"id": (await w.new_client()).id}, json=_delegation_body(w))


async def _end_delegation(w: World) -> Req:
    client = await w.new_client()
    delegation = await w.call(
        "admin", "POST", f"/clients/{client.id}/delegations", json=_delegation_body(w)
    )
    ends_on = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    return Req(path={"id": client.id, "delegation_id": delegation["id"]}, json={"ends_on": ends_on})


async def _new_visit(w: World) -> Req:
    body = {
        "id": str(uuid.uuid4()),
        "kind": "home",
        "occurred_at": iso(datetime.now(UTC) - timedelta(hours=1)),
        "lon": HOME[0],
        "lat": HOME[1],
        "accuracy_m": 10.0,
        "notes": "入户走访",
    }
    return Req(path={"id": (await w.own_client()).id}, json=body)


async def _add_care_member(w: World) -> Req:
    youth = await w.new_client(category="at_risk_youth")
    return Req(path={"id": youth.id}, json={"user_id": w.id("patrol"), "role": "volunteer"})


async def _remove_care_member(w: World) -> Req:
    # `patrol` is in the group, so it reads the youth but may not manage the group (403).
    youth = await w.new_client(category="at_risk_youth")
    body = {"user_id": w.id("patrol"), "role": "volunteer"}
    await w.call("admin", "POST", f"/clients/{youth.id}/care-group", json=body)
    return Req(path={"id": youth.id, "user_id": w.id("patrol")})


def _close_body(w: World) -> dict[str, Any]:
    # The closing date is a local one: "today" in UTC can be yesterday in Asia/Shanghai.
    return {"closed_on": datetime.now(w.settings.tz).date().isoformat(), "reason": "moved_away"}


async def _close_client(w: World) -> Req:
    return Req(path={"id": (await w.new_client()).id}, json=_close_body(w))


async def _reopen_client(w: World) -> Req:
    # The worker who held the case reads it but does not reopen it (reopening is a manager's
    # decision, like assigning): 403.
    client = await w.new_client()
    await w.call("admin", "POST", f"/clients/{client.id}/close", json=_close_body(w))
    return Req(path={"id": client.id}, json={"note": "本人迁回"})


async def _team(w: World) -> Req:
    return Req(path={"id": (await w.team())["id"]})


async def _complete_task(w: World) -> Req:
    task = await w.open_task()
    body = {"completed_at": iso(datetime.now(UTC)), "notes": "已完成", "attendee_ids": []}
    return Req(path={"id": task["id"]}, json=body)


async def _client_id(w: World) -> str:
    return str((await w.own_client()).id)


async def _overdue_client_id(w: World) -> str:
    async def make() -> Client:
        client = await w.new_client()
        overdue = datetime.now(UTC).date() - timedelta(days=10)
        await Client.filter(id=client.id).update(visit_due_on=overdue)
        return client

    return str((await w.shared("overdue_client", make)).id)


async def _team_id(w: World) -> str:
    return str((await w.team())["id"])


async def _worker_id(w: World) -> str:
    await w.own_client()
    return w.id("social_worker")


CLIENT_READERS = only(200, "admin", "supervisor", "social_worker")
REPORTS = only(200, "admin", "supervisor", twins=200)

SOCIAL_ROWS: dict[str, Row] = {
    # A unit outside the caller's subtree is an invalid reference (422), as a missing one.
    "create_client": Row(_new_client, only(201, "admin", "supervisor", "social_worker", twins=422)),
    "list_clients": Row(
        _listing(_client_id),
        only(200, "admin", "supervisor", "social_worker", twins=200),
        shows=_client_id,
        seen_by=("admin", "supervisor", "social_worker"),
    ),
    "search_clients": Row(
        _search_clients, only(200, "admin", "supervisor", "social_worker", twins=200)
    ),
    "get_client": Row(_client, CLIENT_READERS),
    "update_client": Row(_update_client, CLIENT_READERS),
    "assign_social_worker": Row(
        _assign_worker, only(200, "admin", "supervisor", social_worker_other=404)
    ),
    "close_client": Row(_close_client, CLIENT_READERS),
    "reopen_client": Row(_reopen_client, only(200, "admin", "supervisor", social_worker_other=404)),
    "get_client_history": Row(_client, CLIENT_READERS),
    # The sending supervisor delegates; the worker sees the client but may not (403).
    "create_delegation": Row(
        _new_delegation,
        only(201, "admin", "supervisor", social_worker=403, social_worker_other=404),
    ),
    "end_delegation": Row(_end_delegation, CLIENT_READERS),
    "create_visit": Row(_new_visit, only(201, "admin", "supervisor", "social_worker")),
    "list_visits": Row(_client, CLIENT_READERS),
    "add_care_group_member": Row(
        _add_care_member, only(201, "admin", "supervisor", "social_worker")
    ),
    "list_care_group": Row(_client, CLIENT_READERS),
    "remove_care_group_member": Row(
        _remove_care_member, only(204, "admin", "supervisor", "social_worker")
    ),
    "get_my_caseload": Row(
        _listing(_client_id),
        only(200, "social_worker", twins=200),
        shows=_client_id,
        seen_by=("social_worker",),
    ),
    # My own teams' tasks: anyone signed in (no team, an empty list).
    "list_my_tasks": Row(
        _listing(_team_id), everyone(200), shows=_team_id, seen_by=("social_worker",)
    ),
    "list_teams": Row(
        _listing(_team_id),
        only(200, "admin", "supervisor", "social_worker", twins=200),
        shows=_team_id,
        seen_by=("admin", "supervisor", "social_worker"),
    ),
    "get_team": Row(_team, CLIENT_READERS),
    "list_team_tasks": Row(_team, CLIENT_READERS),
    "complete_task": Row(_complete_task, CLIENT_READERS),
    # The reports list the social worker, the overdue client and the team to their supervisors.
    "report_caseloads": Row(
        _listing(_worker_id), REPORTS, shows=_worker_id, seen_by=("admin", "supervisor")
    ),
    "report_overdue_visits": Row(
        _listing(_overdue_client_id),
        REPORTS,
        shows=_overdue_client_id,
        seen_by=("admin", "supervisor"),
    ),
    "report_sixones": Row(
        _listing(_team_id), REPORTS, shows=_team_id, seen_by=("admin", "supervisor")
    ),
}


# --- community correction: supervisions, check-ins, leave requests ------------------------------
# Officers, supervisors and admins act on the supervisions of their subtree (an officer decides
# only the leave of its own subjects); a subject reaches only its own records through /me/...


async def _new_supervision(w: World) -> Req:
    # A subject has one supervision at a time: every cell places a subject of its own.
    subject = await w.new_user("subject")
    return Req(json=await w.supervision_body(subject))


async def _supervision(w: World) -> Req:
    return Req(path={"id": (await w.supervision())["id"]})


async def _change_level(w: World) -> Req:
    return Req(path={"id": (await w.supervision())["id"]}, json={"level": "strict"})


async def _end_supervision(w: World) -> Req:
    # Every success is the same end of the one supervision: the first ends it, the rest replay.
    today = datetime.now(UTC).date().isoformat()
    body = {"ended_on": today, "reason": "transferred_out", "note": "移交外县"}
    return Req(path={"id": (await w.supervision())["id"]}, json=body)


def _month(w: World) -> str:
    """A past month no other cell of the test uses."""
    first = datetime.now(UTC).date().replace(day=1)
    months = first.year * 12 + first.month - 1 - w.count()
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


async def _compliance(w: World) -> Req:
    month = datetime.now(UTC).date().strftime("%Y-%m")
    return Req(path={"id": (await w.supervision())["id"]}, query={"month": month})


async def _assessment(w: World) -> Req:
    # A month of its own per cell, so that each success creates (201) rather than replaces.
    return Req(
        path={"id": (await w.supervision())["id"], "month": _month(w)},
        json={"grade": "good", "remark": "表现良好"},
    )


async def _officer_checkin(w: World) -> Req:
    body = {
        "id": str(uuid.uuid4()),
        "kind": "report",
        "occurred_at": iso(datetime.now(UTC) - timedelta(minutes=5)),
        "text": "到司法所报到",
    }
    return Req(path={"id": (await w.supervision())["id"]}, json=body)


async def _my_checkin(w: World) -> Req:
    await w.supervision()
    return Req(
        json={
            "id": str(uuid.uuid4()),
            "kind": "location",
            "occurred_at": iso(datetime.now(UTC) - timedelta(minutes=1)),
            "lon": INSIDE[0],
            "lat": INSIDE[1],
            "accuracy_m": 10.0,
        }
    )


async def _my_leave(w: World) -> Req:
    await w.supervision()
    starts = datetime.now(UTC) + timedelta(days=2 * w.count())
    return Req(
        json={
            "id": str(uuid.uuid4()),
            "starts_at": iso(starts),
            "ends_at": iso(starts + timedelta(hours=6)),
            "destination": "南通市区",
            "reason": "就医",
        }
    )


async def _cancel_leave(w: World) -> Req:
    return Req(path={"id": (await w.new_leave())["id"]})


async def _decide_leave(w: World) -> Req:
    leave = await w.new_leave()
    return Req(path={"id": leave["id"]}, json={"approved": True, "note": "同意"})


async def _subject_month(w: World) -> Req:
    await w.supervision()
    return Req(query={"month": datetime.now(UTC).date().strftime("%Y-%m")})


async def _supervision_id(w: World) -> str:
    return str((await w.supervision())["id"])


async def _checkin_id(w: World) -> str:
    async def make() -> dict[str, Any]:
        return await w.call("subject", "POST", "/me/checkins", json=(await _my_checkin(w)).json)

    return str((await w.shared("checkin", make))["id"])


async def _leave_id(w: World) -> str:
    return str((await w.shared("leave", w.new_leave))["id"])


async def _with_supervision(w: World) -> Req:
    await w.supervision()
    return Req()


async def _obligation_rules(w: World) -> Req:
    return Req(path={"id": w.unit.id})


async def _put_obligation_rules(w: World) -> Req:
    rules = await w.shared(
        "rules", lambda: w.call("admin", "GET", f"/org-units/{w.unit.id}/obligation-rules")
    )
    return Req(path={"id": w.unit.id}, json={"rules": rules["rules"]})


async def _late_checkin(w: World) -> Req:
    # Taken four days before it arrives: stored `late`, waiting for the officer's confirmation.
    # Shared: a confirmation is idempotent, so every success answers the same 200.
    async def make() -> dict[str, Any]:
        body = (await _my_checkin(w)).json
        body["occurred_at"] = iso(datetime.now(UTC) - timedelta(days=4))
        return await w.call("subject", "POST", "/me/checkins", json=body)

    return Req(path={"id": (await w.shared("late_checkin", make))["id"]})


OFFICERS = ("admin", "supervisor", "officer")
# A supervision in the community: the officers of its subtree; any other role may not.
ON_SUPERVISION = only(200, *OFFICERS)
# The subject's own records: only subjects; the other subject has no supervision.
SUBJECT_OWN = only(200, "subject", twins=200)

CORRECTION_ROWS: dict[str, Row] = {
    # The body's client outside the caller's scope is a 404, as a missing one (see BODY_IDS).
    "create_supervision": Row(_new_supervision, only(201, *OFFICERS)),
    "list_supervisions": Row(
        _listing(_supervision_id),
        only(200, *OFFICERS, twins=200),
        shows=_supervision_id,
        seen_by=OFFICERS,
    ),
    "get_supervision": Row(_supervision, ON_SUPERVISION),
    "change_supervision_level": Row(_change_level, ON_SUPERVISION),
    "end_supervision": Row(_end_supervision, ON_SUPERVISION),
    "create_officer_checkin": Row(_officer_checkin, only(201, *OFFICERS)),
    "list_supervision_checkins": Row(_supervision, ON_SUPERVISION),
    "list_supervision_leave_requests": Row(_supervision, ON_SUPERVISION),
    "get_supervision_compliance": Row(_compliance, ON_SUPERVISION),
    "export_supervision_compliance_csv": Row(_compliance, ON_SUPERVISION),
    "put_supervision_assessment": Row(_assessment, only(201, *OFFICERS)),
    "decide_leave_request": Row(_decide_leave, ON_SUPERVISION),
    "confirm_checkin": Row(_late_checkin, ON_SUPERVISION),
    "list_officer_subjects": Row(
        _listing(_supervision_id),
        only(200, *OFFICERS, twins=200),
        shows=_supervision_id,
        seen_by=OFFICERS,
    ),
    "get_obligation_rules": Row(_obligation_rules, ON_SUPERVISION),
    "put_obligation_rules": Row(_put_obligation_rules, ON_SUPERVISION),
    # The subject's side: `subject_other` is under no supervision.
    "get_my_supervision": Row(_with_supervision, only(200, "subject")),
    "get_my_compliance": Row(_subject_month, only(200, "subject")),
    "create_my_checkin": Row(_my_checkin, only(201, "subject", twins=422)),
    "list_my_checkins": Row(
        _listing(_checkin_id), SUBJECT_OWN, shows=_checkin_id, seen_by=("subject",)
    ),
    "create_my_leave_request": Row(_my_leave, only(201, "subject", twins=422)),
    "list_my_leave_requests": Row(
        _listing(_leave_id), SUBJECT_OWN, shows=_leave_id, seen_by=("subject",)
    ),
    "cancel_my_leave_request": Row(_cancel_leave, only(200, "subject")),
}


async def _client_elsewhere(w: World) -> str:
    client = await w.new_client(
        category="community_correction", worker=None, unit="community_other"
    )
    return str(client.id)


async def _subject_elsewhere(w: World) -> str:
    return str((await w.new_user("subject", unit="community_other")).id)


async def _officer_elsewhere(w: World) -> str:
    return w.id("officer_other")


async def _area_elsewhere(w: World) -> str:
    return str((await w.new_zone("permitted_area", unit="community_other"))["id"])


# Ids in bodies: a real object outside the caller's scope answers as a random id does. A client
# is reached like a path id (404); the people and the area are references checked as inputs
# (422 with the field's code).
CORRECTION_BODY_IDS: dict[str, list[BodyId]] = {
    "create_supervision": [
        BodyId("client_id", _client_elsewhere, 404, "not_found", "officer"),
        BodyId("subject_user_id", _subject_elsewhere, 422, "subject_invalid", "officer"),
        BodyId("officer_id", _officer_elsewhere, 422, "officer_invalid", "officer"),
        BodyId("permitted_zone_id", _area_elsewhere, 422, "permitted_zone_invalid", "officer"),
    ],
}

# --- notifications: devices, inbox, reminders ----------------------------------------------------
# Devices and the inbox are anyone's own; reminder campaigns belong to schedulers (and admins)
# in their subtree.


def _device(w: World) -> Req:
    return Req(path={"fcm_token": w.unique("fcm-token")}, json={"platform": "android"})


async def _patrol_device(w: World) -> Req:
    # Someone else's token is left alone and still answers 204: deleting reveals nothing.
    token = w.unique("fcm-token")
    await w.call("patrol", "PUT", f"/me/devices/{token}", json={"platform": "android"})
    return Req(path={"fcm_token": token})


async def _read_notification(w: World) -> Req:
    return Req(path={"id": (await w.new_notification("patrol")).id})


def _new_reminder(w: World) -> Req:
    return Req(
        json={
            "title": w.unique("提醒"),
            "body": "请按时参加",
            "audience": {"user_ids": [w.id("patrol")]},
            "first_at": iso(datetime.now(UTC) + timedelta(days=1)),
        }
    )


async def _notification_id(w: World) -> str:
    return str((await w.shared("notification", w.new_notification)).id)


async def _reminder_id(w: World) -> str:
    return str((await w.shared("reminder", w.new_reminder))["id"])


async def _shared_reminder(w: World) -> Req:
    return Req(path={"id": (await w.shared("reminder", w.new_reminder))["id"]})


async def _fresh_reminder(w: World) -> Req:
    return Req(path={"id": (await w.new_reminder())["id"]})


SCHEDULERS = only(200, "admin", "scheduler")

NOTIFICATION_ROWS: dict[str, Row] = {
    "put_my_device": Row(_device, everyone(201)),
    "delete_my_device": Row(_patrol_device, everyone(204)),
    "list_my_notifications": Row(
        _listing(_notification_id), everyone(200), shows=_notification_id, seen_by=("patrol",)
    ),
    "read_my_notification": Row(_read_notification, only(204, "patrol", others=404)),
    # The app confirms a push arrived: only the recipient, anyone else's is a 404.
    "confirm_my_notification_received": Row(_read_notification, only(204, "patrol", others=404)),
    # An audience outside the scheduler's subtree is invalid (422), as a missing one.
    "create_reminder": Row(_new_reminder, only(201, "admin", "scheduler", twins=422)),
    "list_reminders": Row(
        _listing(_reminder_id),
        only(200, "admin", "scheduler", twins=200),
        shows=_reminder_id,
        seen_by=("admin", "scheduler"),
    ),
    "get_reminder": Row(_shared_reminder, SCHEDULERS),
    "cancel_reminder": Row(_fresh_reminder, only(204, "admin", "scheduler")),
    "list_reminder_deliveries": Row(_shared_reminder, SCHEDULERS),
}


# --- privacy: a client's data for admins -----------------------------------------------------


async def _fresh_client(w: World) -> Req:
    return Req(path={"id": (await w.new_client()).id})


PRIVACY_ROWS: dict[str, Row] = {
    # Identity numbers in clear, and erasure: admins alone, whoever else sees the client.
    "export_client_data": Row(_client, ADMIN_ONLY_OK),
    "erase_client_data": Row(_fresh_client, ADMIN_ONLY_OK),
}


# Operations merged before their rows were written: each would be a known, named gap. Every
# capability's operations have rows now; the list must stay empty (test_authz_matrix checks).
ROWS_OWED: dict[str, str] = {}

SECTIONS = (
    FOUNDATION_ROWS,
    PATROL_ROWS,
    SOCIAL_ROWS,
    CORRECTION_ROWS,
    NOTIFICATION_ROWS,
    PRIVACY_ROWS,
)
ROWS: dict[str, Row] = {}
for _section in SECTIONS:
    _twice = set(ROWS) & set(_section)
    if _twice:
        raise ValueError(f"operations with two rows: {sorted(_twice)}")
    ROWS.update(_section)

BODY_IDS: dict[str, list[BodyId]] = {**CORRECTION_BODY_IDS}
