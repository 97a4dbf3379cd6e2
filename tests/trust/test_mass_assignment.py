"""Mass assignment: no request can set what the server owns.

Generic over the OpenAPI spec (every operation added later is checked without a change here):
every request body refuses unknown properties, and no request body names a server-owned field
unless the allow-list below says why that operation may. Then behaviour on the foundation's
create/update endpoints: the forbidden field is a 422 (or a 403 for a role beyond one's grant)
and nothing is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from models.org import OrgUnit, Role, Team, User

# Fields a client must never set: the server computes, owns or guards them.
SERVER_OWNED = {
    "id",  # server-made, except client-made ids for offline records (API.md "Ids")
    "org_path",
    "path",
    "depth",
    "password_hash",
    "hashed_password",
    "request_hash",
    "open_key",
    "dedup_key",
    "created_at",
    "updated_at",
    "deleted_at",
    "acked_at",
    "acked_by",
    "acked_by_id",
    "status",
    "is_active",
    "roles",
    "roles_text",
    "user_id",
    "owner",
    "owner_id",
    "created_by",
    "created_by_id",
    "area_m2",
    "distance_m",
    "location_verified",
    "inside_permitted_area",
    "on_approved_leave",
    "next_at",
    "sent_at",
    "read_at",
    "accepted",
    "in_zone",
    "in_zone_ratio",
    "coverage_ratio",
    "duration_s",
    "overdue",
}

# (operation id, field path) -> why this operation may take it. `[]` marks list items.
ALLOWED_FIELDS: dict[tuple[str, str], str] = {
    ("create_user", "roles"): "user administration: roles are checked against grantable_roles()",
    ("update_user", "roles"): "user administration: a change must be grantable by the caller",
    ("update_user", "is_active"): "user administration disables accounts (and revokes tokens)",
    # Client-made ids of records a phone creates offline (API.md "Ids"): a retry is a no-op.
    ("start_round", "id"): "client-made id (offline round), idempotent create_once",
    ("add_round_points", "points[].id"): "client-made id (buffered track point), deduplicated",
    ("add_checkpoint_visit", "id"): "client-made id (offline checkpoint visit)",
    ("add_incident", "id"): "client-made id (offline incident)",
    ("create_my_checkin", "id"): "client-made id (offline check-in)",
    ("create_officer_checkin", "id"): "client-made id (check-in recorded on the officer's phone)",
    ("create_my_leave_request", "id"): "client-made id (offline leave request)",
    ("create_reminder", "audience.roles"): "a filter (who receives the reminder), not a grant",
    ("create_assignment", "user_id"): "API.md pins {user_id}: the patrol member assigned to the "
    "shift, checked to lie in the caller's scope",
    ("create_visit", "id"): "client-made id (offline visit), idempotent create_once",
    ("assign_social_worker", "user_id"): "API.md pins {user_id}: the social worker given the case, "
    "checked to hold the role and lie in the caller's scope",
    ("add_care_group_member", "user_id"): "the helper added to the care group, checked to be an "
    "active user of the client's place (its unit, above or below it); only managers and the "
    "client's worker may add one",
}

# (operation id, field path, "" for the body itself) -> why the object may hold unknown keys.
OPEN_OBJECTS: dict[tuple[str, str], str] = {
    ("auth_token", ""): "OAuth2 password form (RFC 6749 4.3): standard clients also send "
    "grant_type, scope and client_id, which are ignored, not refused",
    ("create_zone", "geometry"): "GeoJSON geometry (RFC 7946 allows foreign members), checked "
    "by geo.validation: type, rings, vertex count",
    ("update_zone", "geometry"): "as create_zone",
    ("import_zones", "features[]"): "GeoJSON Feature: `properties` is free-form by RFC 7946, "
    "each feature is validated and rejected by index",
    ("import_zones", "crs"): "written by QGIS and ogr2ogr: accepted and ignored, never stored",
    ("put_obligation_rules", "rules"): "map of supervision level -> rules, unknown levels "
    "refused by services.correction.rules (422 rules_invalid)",
    ("put_obligation_rules", "rules{}[]"): "each rule must have exactly the known fields "
    "(correction.rules: set(entry) != _RULE_FIELDS -> 422 rules_invalid)",
}


def _spec() -> dict[str, Any]:
    from api.app import create_app
    from grassroots.settings import Settings

    return create_app(Settings(), manage_db=False).openapi()


SPEC = _spec()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = SPEC["components"]["schemas"][name]
    return schema


def _walk(schema: dict[str, Any], path: str, seen: frozenset[str]) -> Iterator[tuple[str, dict]]:
    """Every schema inside a request body, with its field path ("points[].id")."""
    ref = schema.get("$ref")
    if ref in seen:
        return
    seen = seen | {ref} if ref else seen
    schema = _resolve(schema)
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}" if path else name, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _walk(sub, path, seen)
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}", seen)


def _request_bodies() -> dict[str, dict[str, Any]]:
    bodies: dict[str, dict[str, Any]] = {}
    for item in SPEC["paths"].values():
        for operation in item.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                bodies[operation["operationId"]] = content["schema"]
    return bodies


BODIES = _request_bodies()


def test_the_spec_has_request_bodies_to_check():
    assert {"create_user", "update_user", "create_team", "create_org_unit"} <= set(BODIES)


@pytest.mark.parametrize("operation_id", sorted(BODIES))
def test_request_body_refuses_unknown_properties(operation_id: str):
    open_objects = [
        path or "(body)"
        for path, schema in _walk(BODIES[operation_id], "", frozenset())
        if schema.get("type") == "object"
        and schema.get("additionalProperties") is not False
        and (operation_id, path) not in OPEN_OBJECTS
    ]
    assert not open_objects, (
        f"{operation_id}: objects that accept unknown properties (subclass StrictInput): "
        f"{open_objects}"
    )


@pytest.mark.parametrize("operation_id", sorted(BODIES))
def test_request_body_exposes_no_server_owned_field(operation_id: str):
    exposed = sorted(
        {
            path
            for path, _ in _walk(BODIES[operation_id], "", frozenset())
            if path.rsplit(".", 1)[-1] in SERVER_OWNED
            and (operation_id, path) not in ALLOWED_FIELDS
        }
    )
    assert not exposed, (
        f"{operation_id}: request fields the server owns: {exposed} "
        "(remove them, or add an entry with its reason to ALLOWED_FIELDS)"
    )


def test_allow_lists_name_only_existing_fields():
    fields = {(op, path) for op, body in BODIES.items() for path, _ in _walk(body, "", frozenset())}
    stale = sorted((set(ALLOWED_FIELDS) | set(OPEN_OBJECTS)) - fields)
    assert not stale, f"allow-list entries for fields that no longer exist: {stale}"


# --- behaviour on the foundation's create and update endpoints --------------------------------


@pytest.fixture
async def world(make_unit, make_user):
    city = await make_unit("南通市")
    district = await make_unit("崇川区", city)
    other = await make_unit("海门区", city)
    return {
        "city": city,
        "district": district,
        "other": other,
        "admin": await make_user(Role.admin, unit=city),
        "supervisor": await make_user(Role.supervisor, unit=district),
        "social_worker": await make_user(Role.social_worker, unit=district),
        "target": await make_user(Role.patrol, unit=district, full_name="原名"),
    }


def _user_body(world: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "username": f"new_{uuid.uuid4().hex[:8]}",
        "password": "a-long-password-1",
        "full_name": "新人",
        "roles": ["patrol"],
        "org_unit_id": str(world["district"].id),
        **extra,
    }


SMUGGLED_USER_FIELDS = {
    "is_active": False,
    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$forged",
    "org_path": "/",
    "created_at": "2020-01-01T00:00:00Z",
    "deleted_at": "2020-01-01T00:00:00Z",
    "id": "00000000-0000-0000-0000-000000000001",
    "roles_text": ",admin,",
}


@pytest.mark.parametrize("field", sorted(SMUGGLED_USER_FIELDS))
async def test_create_user_refuses_a_server_owned_field(client, world, auth, field):
    body = _user_body(world, **{field: SMUGGLED_USER_FIELDS[field]})
    r = await client.post("/users", json=body, headers=auth(world["admin"]))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", field]
    assert not await User.filter(username=body["username"]).exists()


@pytest.mark.parametrize("roles", [["admin"], ["patrol", "admin"]])
async def test_supervisor_cannot_create_a_user_with_roles_beyond_its_grant(
    client, world, auth, roles
):
    body = _user_body(world, roles=roles)
    r = await client.post("/users", json=body, headers=auth(world["supervisor"]))
    assert r.status_code == 403 and r.json()["code"] == "role_not_grantable"
    assert not await User.filter(username=body["username"]).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "renamed_user"),
        ("org_unit_id", "OTHER_UNIT"),
        ("org_path", "/"),
        ("password_hash", "$argon2id$forged"),
        ("deleted_at", "2020-01-01T00:00:00Z"),
    ],
)
async def test_update_user_refuses_identity_and_placement_fields(client, world, auth, field, value):
    target = world["target"]
    if value == "OTHER_UNIT":
        value = str(world["other"].id)
    r = await client.patch(
        f"/users/{target.id}",
        json={"full_name": "新名", field: value},
        headers=auth(world["admin"]),
    )
    assert r.status_code == 422, r.text
    stored = await User.get(id=target.id)
    # Nothing of the request was applied, not even its valid part.
    assert (stored.username, stored.full_name, stored.org_path, stored.password_hash) == (
        target.username,
        "原名",
        target.org_path,
        target.password_hash,
    )
    assert stored.org_unit_id == world["district"].id  # type: ignore[attr-defined]
    assert stored.deleted_at is None


async def test_supervisor_cannot_raise_roles_beyond_its_grant(client, world, auth):
    for who in ("target", "supervisor"):  # someone else, or itself
        r = await client.patch(
            f"/users/{world[who].id}", json={"roles": ["admin"]}, headers=auth(world["supervisor"])
        )
        assert r.status_code == 403 and r.json()["code"] == "role_not_grantable"
        assert not (await User.get(id=world[who].id)).has_role(Role.admin)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "00000000-0000-0000-0000-000000000002"),
        ("org_path", "/"),
        ("created_at", "2020-01-01T00:00:00Z"),
    ],
)
async def test_create_team_refuses_a_server_owned_field(client, world, auth, field, value):
    body = {
        "name": "社工一组",
        "org_unit_id": str(world["district"].id),
        "lead_id": str(world["social_worker"].id),
        "member_ids": [],
        field: value,
    }
    r = await client.post("/teams", json=body, headers=auth(world["admin"]))
    assert r.status_code == 422, r.text
    assert await Team.all().count() == 0


@pytest.mark.parametrize(
    ("field", "value"), [("path", "/"), ("depth", 0), ("id", str(uuid.uuid4()))]
)
async def test_create_org_unit_refuses_a_server_owned_field(client, world, auth, field, value):
    body = {"name": "濠西社区", "parent_id": str(world["district"].id), field: value}
    r = await client.post("/org-units", json=body, headers=auth(world["admin"]))
    assert r.status_code == 422, r.text
    assert not await OrgUnit.filter(name="濠西社区").exists()
