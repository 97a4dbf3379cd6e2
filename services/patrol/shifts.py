"""Checkpoints of a zone and the shifts (assignments) of its patrol members."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from tortoise.queryset import QuerySet

from grassroots import clock
from grassroots.errors import Invalid
from models.org import Role, User
from models.patrol import Assignment, Checkpoint, Zone, ZoneKind
from services import audit
from services.patrol import access, rules
from services.scope import in_subtree

# --- checkpoints and shifts ----------------------------------------------------------------------


async def create_checkpoint(
    *, zone: Zone, name: str, lon: float, lat: float, radius_m: float, required: bool
) -> Checkpoint:
    """A checkpoint of a zone with a fresh secret code for its tag."""
    if (
        await Checkpoint.filter(zone_id=zone.id, deleted_at=None).count()
        >= rules.MAX_CHECKPOINTS_PER_ZONE
    ):
        raise Invalid("too_many_checkpoints", params={"limit": rules.MAX_CHECKPOINTS_PER_ZONE})
    checkpoint = await Checkpoint.create(
        zone=zone,
        org_path=zone.org_path,
        name=name,
        lon=lon,
        lat=lat,
        radius_m=radius_m,
        required=required,
        code=secrets.token_urlsafe(12),
    )
    await audit.record(action="create", resource_type="checkpoint", resource_id=checkpoint.id)
    return checkpoint


async def zone_checkpoints(*, zone_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Checkpoint]]:
    """Live checkpoints of each zone, by name."""
    out: dict[uuid.UUID, list[Checkpoint]] = {}
    rows = await Checkpoint.filter(zone_id__in=list(zone_ids), deleted_at=None).order_by(
        "name", "id"
    )
    for checkpoint in rows:
        out.setdefault(checkpoint.zone_id, []).append(checkpoint)  # type: ignore[attr-defined]
    return out


async def create_assignment(
    *, actor: User, zone: Zone, user_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> Assignment:
    """A shift for a patrol member of the caller's subtree."""
    if ends_at <= starts_at:
        raise Invalid("invalid_time_range")
    if ends_at - starts_at > rules.MAX_SHIFT:
        raise Invalid("shift_too_long")
    if zone.kind != ZoneKind.patrol:
        raise Invalid("zone_not_patrol")
    member = await User.get_or_none(id=user_id, is_active=True, deleted_at=None)
    if (
        member is None
        or not member.has_role(Role.patrol)
        or not in_subtree(user=actor, org_path=member.org_path)
    ):
        raise Invalid(
            "user_not_patrol", errors=[{"loc": ["body", "user_id"], "msg": "user_not_patrol"}]
        )
    assignment = await Assignment.create(
        zone=zone, user=member, org_path=zone.org_path, starts_at=starts_at, ends_at=ends_at
    )
    await audit.record(action="create", resource_type="assignment", resource_id=assignment.id)
    return assignment


async def my_assignments(*, user: User, start: datetime, end: datetime) -> list[Assignment]:
    """The member's shifts overlapping [start, end), in live zones, with their zones."""
    return list(
        await Assignment.filter(
            user_id=user.id, starts_at__lt=end, ends_at__gt=start, zone__deleted_at=None
        )
        .select_related("zone")
        .order_by("starts_at", "id")
        .limit(500)
    )


def zone_assignments(*, zone: Zone) -> QuerySet[Assignment]:
    """The shifts of a zone, for a manager's paginated list."""
    return Assignment.filter(zone_id=zone.id)


async def my_shifts(
    *, user: User, start: datetime | None, end: datetime | None
) -> list[tuple[Assignment, list[Checkpoint]]]:
    """The member's shifts overlapping [start, end) (default: -1 day, +7 days), with checkpoints."""
    now = clock.now()
    rows = await my_assignments(
        user=user, start=start or now - timedelta(days=1), end=end or now + timedelta(days=7)
    )
    checkpoints = await zone_checkpoints(zone_ids={a.zone.id for a in rows})
    return [(a, checkpoints.get(a.zone.id, [])) for a in rows]


async def checkpoints_for(*, user: User, zone: Zone) -> list[tuple[Checkpoint, bool]]:
    """A zone's live checkpoints, each with whether the user may see its tag's secret code."""
    with_code = access.sees_checkpoint_codes(user=user, zone=zone)
    return [(c, with_code) for c in (await zone_checkpoints(zone_ids=[zone.id])).get(zone.id, [])]
