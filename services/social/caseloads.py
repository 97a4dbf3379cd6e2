"""Caseloads: assigning a case to a social worker under the cap, delegations, my caseload."""

from __future__ import annotations

import asyncio
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
_NO_ROWS: Final = b""


def _rows_sql(worker_test: str, status: str) -> str:
    return (
        f"SELECT {', '.join(CASELOAD_FIELDS)} FROM {Client._meta.db_table} "
        f"WHERE social_worker_id {worker_test} AND status = {status}"
    )


def _version_sql(rows_sql: str, *, postgres: bool, per_worker: bool = False) -> str:
    """The version of the rows of `rows_sql`, or of each worker's among them: null for no rows.

    Every field of every row, each written so that no two different contents read the same:
    PostgreSQL's binary record (each field's type, length and bytes), hashed there (32 bytes come
    back; its text form costs the database a third more); on SQLite a JSON array of each
    row with the floats as `quote()` writes them (lossless, where JSON rounds), hashed here.
    So any write shows, whether or not it touched `updated_at`.
    """
    if postgres:
        aggregate = f"sha256(string_agg(record_send(mine), ''::bytea ORDER BY {_ORDER}))"
    else:
        values = ", ".join(
            f"quote({f})" if f in ("home_lon", "home_lat") else f for f in CASELOAD_FIELDS
        )
        aggregate = f"json_group_array(json_array({values}))"
    if per_worker:
        return (
            f"SELECT mine.social_worker_id, {aggregate} FROM ({rows_sql}) AS mine "
            "GROUP BY mine.social_worker_id"
        )
    return f"SELECT {aggregate} FROM ({rows_sql}) AS mine"


def _with_rows(*, postgres: bool) -> str:
    """My caseload's version with its rows, in one statement and so one snapshot.

    The join keeps one row (of nulls) for an empty caseload, to carry the version.
    """
    rows = _rows_sql("= $1", "$2") if postgres else _rows_sql("= ?1", "?2")
    version = _version_sql(rows, postgres=postgres)
    return (
        f"SELECT v.version, mine.* FROM (SELECT ({version}) AS version) AS v "
        f"LEFT JOIN ({rows}) AS mine ON true ORDER BY {_ORDER}"
    )


def _versions_sql(*, postgres: bool, workers: int) -> str:
    """The versions of several workers' caseloads: a row for each worker with an open case."""
    if postgres:
        rows = _rows_sql("= ANY($2::uuid[])", "$1")
    else:
        rows = _rows_sql(f"IN ({', '.join(['?'] * workers)})", "?")
    return _version_sql(rows, postgres=postgres, per_worker=True)


_WITH_ROWS: Final = {True: _with_rows(postgres=True), False: _with_rows(postgres=False)}


def _digest(value: bytes | str | None) -> bytes:
    if value is None:
        return _NO_ROWS
    return value if isinstance(value, bytes) else hashlib.sha256(value.encode()).digest()


class _VersionReads:
    """The versions of the caseloads asked for meanwhile, read in one query.

    As the group commit batches writes: while one query runs, the reads that arrive wait for the
    next, which starts after they asked, so each still sees every write committed before it.
    A query's round trip is dear: in a served B5 read (bench/b5, py-spy --native) the write of
    the version query to the database's socket took as much of the process as sending the answer.
    """

    def __init__(self) -> None:
        self._pending: dict[uuid.UUID, list[asyncio.Future[bytes]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def version(self, worker_id: uuid.UUID) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending.setdefault(worker_id, []).append(future)
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    found = await _read_versions(list(batch))
                except Exception as exc:  # noqa: BLE001 - handed to every read of the batch
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for worker_id, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(worker_id, _NO_ROWS))
        finally:
            self._task = None


async def _read_versions(worker_ids: list[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    postgres = db.dialect() == "postgres"
    sql = _versions_sql(postgres=postgres, workers=len(worker_ids))
    params: list[Any] = (
        [CaseStatus.open.value, worker_ids]
        if postgres
        else [*(str(w) for w in worker_ids), CaseStatus.open.value]
    )
    _, rows = await connections.get("default").execute_query(sql, params)
    return {uuid.UUID(str(worker)): _digest(version) for worker, version in rows}


@dataclass(frozen=True, slots=True)
class _Answer:
    version: bytes
    today: date
    body: bytes
    client_ids: list[str]


_ANSWERS: OrderedDict[uuid.UUID, _Answer] = OrderedDict()
_VERSIONS = _VersionReads()


async def my_caseload(
    *,
    user: User,
    today: date,
    encode: Callable[[list[dict[str, Any]], date], bytes],
) -> bytes:
    """My open cases, most urgent first, as `encode(rows, today)` writes them.

    Phones poll this list and it seldom changes between two polls, so a worker's answer is
    remembered with the version of the rows it was written from: a read asks the database for
    the version alone (one short row, shared with the reads of the moment) and decodes and
    encodes the 50 rows only when it changed. `encode` must depend on the rows and `today` only.
    The rows are plain (one query, no joins, no models): times come back as datetimes on
    PostgreSQL and as ISO text on SQLite.
    """
    if not user.has_role(Role.social_worker):
        raise Forbidden()
    answer = _ANSWERS.get(user.id)
    if answer is not None and (
        answer.today != today or await _VERSIONS.version(user.id) != answer.version
    ):
        answer = None
    if answer is None:
        postgres = db.dialect() == "postgres"
        rows: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
            _WITH_ROWS[postgres], [user.id if postgres else str(user.id), CaseStatus.open.value]
        )
        version = _digest(rows[0]["version"])
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
