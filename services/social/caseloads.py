"""Caseloads: assigning a case to a social worker under the cap, delegations, my caseload."""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from tortoise import connections
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from grassroots import clock, db
from grassroots.errors import Conflict, Forbidden, Invalid, NotFound
from grassroots.settings import Settings
from models.org import OrgUnit, Role, User
from models.social import (
    CaseAssignment,
    CaseStatus,
    Client,
    Delegation,
)
from services import audit
from services.group_commit import GroupCommit
from services.scope import in_subtree
from services.social import messages  # noqa: F401  (registers the codes raised here)
from services.social.access import can_coordinate, can_manage
from services.social.cadence import visit_due_on


async def assign_locked(
    *, client: Client, worker: User, actor: User, settings: Settings, now: datetime
) -> None:
    """Give `client` to `worker` inside the caller's transaction, counting the cap under a lock."""
    # Locking the worker's row serialises concurrent assignments to the same worker on PostgreSQL
    # (SQLite runs one transaction at a time anyway), so the count below cannot go stale.
    await User.filter(id=worker.id).select_for_update().first()
    held = (
        await Client.filter(social_worker_id=worker.id, status=CaseStatus.open)
        .exclude(id=client.id)
        .count()
    )
    if held >= settings.caseload_cap:
        raise Conflict("caseload_full", params={"cap": settings.caseload_cap})
    due = visit_due_on(
        risk_level=client.risk_level,
        last_visit_at=client.last_visit_at,
        assigned_at=now,
        tz=settings.tz,
        reopened_at=client.reopened_at,
    )
    # Conditional on the case being open: a close that won the race rolls this assignment back.
    updated = await Client.filter(id=client.id, status=CaseStatus.open).update(
        social_worker_id=worker.id, assigned_at=now, visit_due_on=due
    )
    if not updated:
        raise Conflict("case_closed")
    await CaseAssignment.filter(client_id=client.id, ends_at__isnull=True).update(ends_at=now)
    await CaseAssignment.create(
        client_id=client.id, worker_id=worker.id, assigned_by_id=actor.id, starts_at=now
    )
    client.social_worker_id = worker.id
    client.assigned_at = now
    client.visit_due_on = due


async def assign_worker(
    *,
    actor: User,
    client: Client,
    worker_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Client:
    """Give the case to a social worker in the actor's scope; old assignments stay as history."""
    if not can_manage(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        raise Conflict("case_closed")
    worker = await User.get_or_none(id=worker_id, is_active=True, deleted_at=None)
    if (
        worker is None
        or not worker.has_role(Role.social_worker)
        or not in_subtree(user=actor, org_path=worker.org_path)
    ):
        raise Invalid(
            "not_a_social_worker",
            errors=[{"loc": ["body", "user_id"], "msg": "not_a_social_worker"}],
        )
    if client.social_worker_id == worker.id:
        return client
    now = now or clock.now()
    async with in_transaction():
        await assign_locked(client=client, worker=worker, actor=actor, settings=settings, now=now)
    await audit.record(
        action="assign",
        resource_type="client",
        resource_id=client.id,
        detail={"social_worker_id": str(worker.id)},
    )
    return client


async def create_delegation(
    *,
    actor: User,
    client: Client,
    org_unit_id: uuid.UUID,
    starts_on: date,
    ends_on: date | None,
    note: str,
) -> Delegation:
    """Delegate supervision of a client to another org unit for a period (委托帮教).

    Only the sending side's supervisor (or an admin) delegates: the receiving unit's supervisors
    then read the phone, address and home position, and that disclosure is the supervisor's to
    decide, not the worker's alone. (A proposal the worker makes and supervisors accept would
    need a pending state for no safety gain: the supervisor decides either way.)
    """
    if not can_manage(actor, client):
        raise Forbidden()
    if client.status == CaseStatus.closed:
        raise Conflict("case_closed")
    if ends_on is not None and ends_on < starts_on:
        raise Invalid(
            "invalid_date_range", errors=[{"loc": ["body", "ends_on"], "msg": "invalid_date_range"}]
        )
    unit = await OrgUnit.get_or_none(id=org_unit_id)
    if unit is None:
        raise Invalid(
            "org_unit_outside_scope",
            errors=[{"loc": ["body", "org_unit_id"], "msg": "org_unit_outside_scope"}],
        )
    if unit.id == client.org_unit_id:
        raise Invalid("delegation_same_unit")
    overlap = Q(client_id=client.id) & (Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on))
    if ends_on is not None:
        overlap &= Q(starts_on__lte=ends_on)
    if await Delegation.filter(overlap).exists():
        raise Conflict("delegation_overlaps")
    delegation = await Delegation.create(
        client_id=client.id,
        org_unit=unit,
        org_path=unit.path,
        starts_on=starts_on,
        ends_on=ends_on,
        note=note,
        created_by_id=actor.id,
    )
    await audit.record(
        action="delegate",
        resource_type="client",
        resource_id=client.id,
        detail={"delegation_id": str(delegation.id), "org_unit_id": str(unit.id)},
    )
    return delegation


async def end_delegation(
    *, actor: User, client: Client, delegation_id: uuid.UUID, ends_on: date
) -> Delegation:
    """Close an open delegation on `ends_on`."""
    if not can_coordinate(actor, client):
        raise Forbidden()
    delegation = await Delegation.get_or_none(id=delegation_id, client_id=client.id)
    if delegation is None:
        raise NotFound()
    if ends_on < delegation.starts_on:
        raise Invalid(
            "invalid_date_range", errors=[{"loc": ["body", "ends_on"], "msg": "invalid_date_range"}]
        )
    delegation.ends_on = ends_on
    await delegation.save(update_fields=["ends_on", "updated_at"])
    await audit.record(
        action="update",
        resource_type="delegation",
        resource_id=delegation.id,
        detail={"client_id": str(client.id)},
    )
    return delegation


_READ_AUDIT = GroupCommit()
CASELOAD_FIELDS: Final = (
    "id",
    "full_name",
    "category",
    "id_number_masked",
    "phone",
    "address",
    "home_lon",
    "home_lat",
    "risk_level",
    "org_unit_id",
    "social_worker_id",
    "assigned_at",
    "last_visit_at",
    "visit_due_on",
    "status",
    "closed_on",
    "close_reason",
    "created_at",
    "updated_at",
)
# Most urgent first; the id settles ties, so the same rows always come in the same order.
_ORDER: Final = "visit_due_on, full_name, id"
# Answers remembered, one per worker, least recently read forgotten first: about 40 kB each at
# the cap of 50 clients, so at most ~40 MB for a process that serves a whole district's workers.
MEMO_SIZE: Final = 1024


@dataclass(frozen=True, slots=True)
class _Answer:
    version: bytes
    today: date
    body: bytes
    client_ids: list[str]


_ANSWERS: OrderedDict[uuid.UUID, _Answer] = OrderedDict()


def _statements(*, postgres: bool) -> tuple[str, str]:
    """The version of my caseload alone, and the version with the rows, in one snapshot.

    The version is made of every field of every row, each written so that no two different
    contents read the same: PostgreSQL's record text (SHA-256 in the database, so only 32 bytes
    come back), SQLite's `quote()` of each field (lossless for floats too; hashed here). Any
    write shows, whether or not it touched `updated_at`.
    """
    worker, status = ("$1", "$2") if postgres else ("?", "?")
    mine = (
        f"WITH mine AS (SELECT {', '.join(CASELOAD_FIELDS)} FROM {Client._meta.db_table} "
        f"WHERE social_worker_id = {worker} AND status = {status})"
    )
    if postgres:
        version = (
            "(SELECT sha256(convert_to(coalesce("
            f"string_agg(mine::text, ',' ORDER BY {_ORDER}), ''), 'UTF8')) FROM mine)"
        )
    else:
        fields = " || ',' || ".join(f"quote({f})" for f in CASELOAD_FIELDS)
        version = (
            f"(SELECT coalesce(group_concat({fields}, ';'), '') "
            f"FROM (SELECT * FROM mine ORDER BY {_ORDER}))"
        )
    # The join keeps one row (of nulls) for an empty caseload, to carry the version.
    return (
        f"{mine} SELECT {version} AS version",
        f"{mine} SELECT v.version, mine.* FROM (SELECT {version} AS version) AS v "
        f"LEFT JOIN mine ON true ORDER BY {_ORDER}",
    )


_STATEMENTS: Final = {True: _statements(postgres=True), False: _statements(postgres=False)}


def _version(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else hashlib.sha256(value.encode()).digest()


async def my_caseload(
    *,
    user: User,
    today: date,
    encode: Callable[[list[dict[str, Any]], date], bytes],
) -> bytes:
    """My open cases, most urgent first, as `encode(rows, today)` writes them.

    Phones poll this list and it seldom changes between two polls, so a worker's answer is
    remembered with the version of the rows it was written from: a read asks the database for
    the version alone (one short row) and decodes and encodes the 50 rows only when it changed.
    `encode` must depend on the rows and `today` only. The rows are plain (one query, no joins,
    no models): times come back as datetimes on PostgreSQL and as ISO text on SQLite.
    """
    if not user.has_role(Role.social_worker):
        raise Forbidden()
    postgres = db.dialect() == "postgres"
    version_only, with_rows = _STATEMENTS[postgres]
    params = [user.id if postgres else str(user.id), CaseStatus.open.value]
    conn = connections.get("default")
    answer = _ANSWERS.get(user.id)
    if answer is not None and answer.today == today:
        _, [(current,)] = await conn.execute_query(version_only, params)
        if _version(current) != answer.version:
            answer = None
    else:
        answer = None
    if answer is None:
        rows: list[dict[str, Any]] = await conn.execute_query_dict(with_rows, params)
        version = _version(rows[0]["version"])
        rows = [r for r in rows if r["id"] is not None]
        answer = _Answer(
            version=version,
            today=today,
            body=encode(rows, today),
            client_ids=[str(r["id"]) for r in rows],
        )
        _ANSWERS[user.id] = answer
        if len(_ANSWERS) > MEMO_SIZE:
            _ANSWERS.popitem(last=False)
    _ANSWERS.move_to_end(user.id)
    # Polled by every worker's phone: concurrent read audits share one commit, and the answer
    # does not wait for it (a crash may lose the last milliseconds of read audits, never a write).
    _READ_AUDIT.insert_soon(
        audit.entry(
            action="list",
            resource_type="client",
            resource_id=None,
            detail={"client_ids": list(answer.client_ids)},
        )
    )
    return answer.body
