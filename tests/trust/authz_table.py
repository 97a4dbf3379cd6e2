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

from tests.trust.world import (
    ADMIN_AND_SCOPED_SUPERVISOR_CREATE,
    ADMIN_AND_SCOPED_SUPERVISOR_OK,
    ADMIN_ONLY_OK,
    LOGIN_PASSWORD,
    Req,
    Row,
    World,
    everyone,
    only,
    public,
)

# --- foundation: auth, me, administration, alerts, audit, operations ---------------------------


def _sign_in(w: World) -> Req:
    return Req(form={"username": "m_subject", "password": LOGIN_PASSWORD})


async def _refresh(w: World) -> Req:
    # A refresh token works once: every cell gets its own.
    pair = await w.call("anonymous", "POST", "/auth/token", data=_sign_in(w).form)
    return Req(json={"refresh_token": pair["refresh_token"]})


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


async def _ack_alert(w: World) -> Req:
    alert = await w.new_alert(recipients=["patrol"])
    return Req(path={"id": alert.id})


FOUNDATION_ROWS: dict[str, Row] = {
    # Public: a token, good or bad, changes nothing.
    "auth_token": Row(_sign_in, public(200)),
    "auth_refresh": Row(_refresh, public(200)),
    "healthz": Row(lambda w: Req(), public(200)),
    "readyz": Row(lambda w: Req(), public(200)),
    "metrics": Row(lambda w: Req(), public(200)),
    # Any signed-in user.
    "get_me": Row(lambda w: Req(), everyone(200)),
    "list_org_units": Row(lambda w: Req(), everyone(200)),
    "get_org_unit": Row(
        lambda w: Req(path={"id": w.unit.id}),
        # Everyone whose subtree holds the community sees it; the others' units do not.
        only(
            200, "admin", "supervisor", "scheduler", "patrol", "social_worker", "officer", "subject"
        ),
    ),
    "list_alerts": Row(lambda w: Req(query={"status": "open"}), everyone(200)),
    "ack_alert": Row(
        _ack_alert,
        # Recipients and the supervisors/officers of the place; anyone else: not found.
        only(200, "admin", "supervisor", "patrol", "officer", others=404),
    ),
    # Administration: admin everywhere, supervisor in its subtree (a body reference outside
    # it is a 422 org_unit_outside_scope, the same answer as a unit that does not exist).
    "create_org_unit": Row(_new_org_unit, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "create_user": Row(_new_user, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "create_team": Row(_new_team, ADMIN_AND_SCOPED_SUPERVISOR_CREATE),
    "list_users": Row(
        lambda w: Req(query={"role": "patrol"}),
        only(200, "admin", "supervisor", "scheduler", "officer", twins=200),
    ),
    "get_user": Row(
        lambda w: Req(path={"id": w.id("patrol")}),
        only(200, "admin", "supervisor", "scheduler", "officer"),
    ),
    "update_user": Row(_update_user, ADMIN_AND_SCOPED_SUPERVISOR_OK),
    "list_audit": Row(lambda w: Req(), ADMIN_ONLY_OK),
}

# --- patrol: zones, checkpoints, assignments, rounds ---------------------------------------------

PATROL_ROWS: dict[str, Row] = {}

# --- social work: clients, caseloads, visits, six-ones tasks ------------------------------------

_SOCIAL_ROLES = ("admin", "supervisor", "supervisor_other", "social_worker", "social_worker_other")
_SUPERVISORS = ("admin", "supervisor", "supervisor_other")

SOCIAL_ROWS: dict[str, Row] = {
    # Lists answer 200 (scoped, maybe empty) to every role that works with clients or teams.
    "list_clients": Row(lambda w: Req(), only(200, *_SOCIAL_ROLES)),
    "list_teams": Row(lambda w: Req(), only(200, *_SOCIAL_ROLES)),
    "get_my_caseload": Row(lambda w: Req(), only(200, "social_worker", "social_worker_other")),
    "list_my_tasks": Row(lambda w: Req(), everyone(200)),
    "report_caseloads": Row(lambda w: Req(), only(200, *_SUPERVISORS)),
    "report_overdue_visits": Row(lambda w: Req(), only(200, *_SUPERVISORS)),
    "report_sixones": Row(lambda w: Req(query={"year": 2026}), only(200, *_SUPERVISORS)),
}

# --- community correction: supervisions, check-ins, leave requests ------------------------------

CORRECTION_ROWS: dict[str, Row] = {}

# --- notifications: devices, inbox, reminders ----------------------------------------------------

NOTIFICATION_ROWS: dict[str, Row] = {}


# Operations merged before their rows were written: each is a known, named gap (the matrix does
# not cover it yet), never a silent one. An operation that is neither here nor in ROWS fails the
# coverage test. Move an entry into its section above when its row is written; the list must
# only shrink.
ROWS_OWED: dict[str, str] = {
    **dict.fromkeys(
        [
            "add_checkpoint_visit", "add_incident", "add_round_points", "create_assignment",
            "create_checkpoint", "create_zone", "delete_zone", "end_round", "get_round",
            "get_round_track", "get_zone", "import_zones", "list_checkpoints",
            "list_my_assignments", "list_rounds", "list_zone_assignments", "list_zones",
            "start_round", "update_zone", "zone_positions", "zone_report",
        ],
        "patrol",
    ),
    **dict.fromkeys(
        [
            "cancel_my_leave_request", "change_supervision_level", "create_my_checkin",
            "create_my_leave_request", "create_officer_checkin", "create_supervision",
            "decide_leave_request", "export_supervision_compliance_csv", "get_my_compliance",
            "get_my_supervision", "get_obligation_rules", "get_supervision",
            "get_supervision_compliance", "list_my_checkins", "list_my_leave_requests",
            "list_officer_subjects", "list_supervision_checkins",
            "list_supervision_leave_requests", "list_supervisions", "put_obligation_rules",
            "put_supervision_assessment",
        ],
        "correction",
    ),
    **dict.fromkeys(
        [
            "add_care_group_member", "assign_social_worker", "complete_task", "create_client",
            "create_delegation", "create_visit", "end_delegation", "get_client",
            "get_client_history", "get_team", "list_care_group", "list_team_tasks",
            "list_visits", "remove_care_group_member", "search_clients", "update_client",
        ],
        "social (scope and roles covered in tests/social)",
    ),
    **dict.fromkeys(
        [
            "cancel_reminder", "create_reminder", "delete_my_device", "get_reminder",
            "list_my_notifications", "list_reminder_deliveries", "list_reminders",
            "put_my_device", "read_my_notification",
        ],
        "notifications",
    ),
}  # fmt: skip

SECTIONS = (FOUNDATION_ROWS, PATROL_ROWS, SOCIAL_ROWS, CORRECTION_ROWS, NOTIFICATION_ROWS)
ROWS: dict[str, Row] = {}
for _section in SECTIONS:
    _twice = set(ROWS) & set(_section)
    if _twice:
        raise ValueError(f"operations with two rows: {sorted(_twice)}")
    ROWS.update(_section)
