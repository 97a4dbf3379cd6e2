"""Patrol's scope rules read directly: which zones and rounds each mix of roles may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.org import Role
from models.patrol import Assignment, Round, Zone, ZoneKind
from services.patrol import access
from tests.patrol.world import ZONE_GEOJSON


async def _zone(unit, name: str, kind: ZoneKind = ZoneKind.patrol, deleted: bool = False) -> Zone:
    return await Zone.create(
        name=name,
        kind=kind,
        org_unit=unit,
        org_path=unit.path,
        geometry=ZONE_GEOJSON,
        area_m2=1.0,
        deleted_at=datetime.now(UTC) if deleted else None,
    )


async def _visible(scope, model, user) -> set[str]:
    return {row.name if model is Zone else str(row.id) for row in await scope(model.all(), user)}


async def test_zone_scope_for_each_mix_of_roles(make_unit, make_user):
    """Managers: their subtree; officers: its permitted areas; patrol: zones of their shifts."""
    district = await make_unit("崇川区")
    street = await make_unit("和平桥街道", parent=district)
    other = await make_unit("城东街道", parent=district)
    await _zone(street, "street patrol")
    await _zone(street, "street area", ZoneKind.permitted_area)
    await _zone(street, "street retired", deleted=True)
    away = await _zone(other, "other patrol")
    await _zone(other, "other area", ZoneKind.permitted_area)
    now = datetime.now(UTC)

    async def user(*roles: Role):
        member = await make_user(*roles, unit=street)
        if Role.patrol in roles:
            await Assignment.create(
                zone=away, user=member, org_path=away.org_path, starts_at=now, ends_at=now
            )
        return member

    cases = {
        (Role.admin,): {"street patrol", "street area", "other patrol", "other area"},
        (Role.supervisor,): {"street patrol", "street area"},
        (Role.officer,): {"street area"},
        (Role.patrol,): {"other patrol"},
        (Role.supervisor, Role.patrol): {"street patrol", "street area", "other patrol"},
        (Role.officer, Role.patrol): {"street area", "other patrol"},
        (Role.social_worker,): set(),
    }
    for roles, expected in cases.items():
        assert await _visible(access.zone_scope, Zone, await user(*roles)) == expected, roles
    managed = {"street patrol", "street area"}
    assert await _visible(access.managed_zone_scope, Zone, await user(Role.supervisor)) == managed


async def test_round_scope_adds_a_supervisors_own_rounds_outside_the_subtree(make_unit, make_user):
    """A supervisor who also patrols sees the subtree's rounds and their own elsewhere."""
    district = await make_unit("崇川区")
    street = await make_unit("和平桥街道", parent=district)
    other = await make_unit("城东街道", parent=district)
    here, away = await _zone(street, "here"), await _zone(other, "away")
    both = await make_user(Role.supervisor, Role.patrol, unit=street)
    member = await make_user(Role.patrol, unit=street)
    stranger = await make_user(Role.patrol, unit=other)
    started_at = datetime.now(UTC) - timedelta(hours=1)

    async def round_of(user, zone) -> str:
        made = await Round.create(
            user=user, zone=zone, org_path=zone.org_path, started_at=started_at, request_hash="h"
        )
        return str(made.id)

    own_away = await round_of(both, away)
    members = await round_of(member, here)
    strangers = await round_of(stranger, away)
    assert await _visible(access.round_scope, Round, both) == {own_away, members}
    assert await _visible(access.round_scope, Round, member) == {members}
    assert await _visible(access.own_round_scope, Round, both) == {own_away}
    admin = await make_user(Role.admin, unit=street)
    assert await _visible(access.round_scope, Round, admin) == {own_away, members, strangers}
