"""`models.base.new_row` builds what `Model(**values)` builds, without its per-field cost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from tortoise.exceptions import ValidationError

from models.audit import AuditEntry
from models.base import new_row
from models.correction import CheckIn, CheckInKind, CheckInStatus
from models.org import OrgUnit
from models.patrol import Zone  # noqa: F401  (the app's models, as the fixture loads them)

pytestmark = pytest.mark.usefixtures("db")

SUBJECT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _values(supervision_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "supervision_id": supervision_id,
        "subject_id": SUBJECT,
        "recorded_by_id": SUBJECT,
        "kind": CheckInKind.location,
        "occurred_at": datetime(2026, 12, 2, 10, 30, tzinfo=UTC),
        "lon": 120.88,
        "lat": 32.0,
        "accuracy_m": 15.0,
        "hours": None,
        "text": None,
        "inside_permitted_area": True,
        "distance_outside_m": 0.0,
        "on_approved_leave": False,
        "status": CheckInStatus.late,
        "org_path": "/a/b/",
        "request_hash": "f" * 64,
    }
    return values | changes


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in type(row)._meta.fields_db_projection}


async def test_a_check_in_is_the_same_row_as_init_builds() -> None:
    object_id = uuid.uuid4()
    built, plain = (
        new_row(CheckIn, id=object_id, **_values(uuid.uuid4())),
        CheckIn(id=object_id, **_values(uuid.uuid4())),
    )
    plain.supervision_id = built.supervision_id
    assert _fields(built) == _fields(plain)
    assert vars(built).keys() == vars(plain).keys()
    assert built._saved_in_db is False and built._custom_generated_pk is False


async def test_values_are_converted_as_init_converts_them() -> None:
    # Strings for a UUID and an enum, an offset time, an int for a float: what __init__ turns
    # into the fields' types, new_row turns into the same.
    beijing = timezone(timedelta(hours=8))
    changes = {
        "subject_id": str(SUBJECT),
        "kind": "location",
        "status": "late",
        "occurred_at": datetime(2026, 12, 2, 18, 30, tzinfo=beijing),
        "lon": 121,
    }
    object_id = uuid.uuid4()
    built = new_row(CheckIn, id=object_id, **_values(uuid.uuid4(), **changes))
    plain = CheckIn(id=object_id, **_values(built.supervision_id, **changes))
    assert _fields(built) == _fields(plain)
    assert built.subject_id == SUBJECT and built.kind is CheckInKind.location
    assert built.status is CheckInStatus.late and type(built.lon) is float


async def test_missing_fields_take_their_defaults() -> None:
    entry = new_row(AuditEntry, action="create", resource_type="checkin", resource_id="x")
    plain = AuditEntry(action="create", resource_type="checkin", resource_id="x")
    assert isinstance(entry.id, uuid.UUID) and entry.id != plain.id
    assert entry.detail == {} and entry.detail is not plain.detail
    assert entry.user_id is None and entry.at is None


async def test_refuses_null_for_a_required_field_and_a_relation_by_name() -> None:
    with pytest.raises(ValueError, match="kind is non nullable"):
        new_row(CheckIn, **_values(uuid.uuid4(), kind=None))
    with pytest.raises(TypeError, match="'supervision'"):
        new_row(CheckIn, supervision=None)


async def test_a_row_built_so_is_inserted_and_checked_as_before() -> None:
    unit = await OrgUnit.create(name="和平桥街道", path="/u/", depth=0)
    entry = new_row(AuditEntry, action="create", resource_type="org_unit", resource_id=unit.id)
    await AuditEntry.bulk_create([entry])
    stored = await AuditEntry.get(id=entry.id)
    assert (stored.action, stored.resource_id, stored.detail) == ("create", str(unit.id), {})
    assert stored.at is not None
    # A value the field refuses is refused at the insert, as for a row built by __init__.
    too_long = new_row(AuditEntry, action="x" * 33, resource_type="org_unit")
    with pytest.raises(ValidationError):
        await AuditEntry.bulk_create([too_long])
    assert await AuditEntry.all().count() == 1
