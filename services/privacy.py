"""What is held about one person: an admin export (JSON) and erasure where the law allows.

A client's records span social work (client, case history and closings, delegations, visits, care
group) and, for community-correction clients, supervision (check-ins, leave, assessments). Erasure
keeps the fact that casework happened (dates, kinds, who did it) and removes what identifies the
person: name, identity number, phone, address, home position, free text and positions. It is refused
while a supervision of the client is still running: correction records must be kept until the
supervision ends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Conflict
from grassroots.messages import register_messages
from grassroots.settings import Settings
from models.correction import Assessment, CheckIn, LeaveRequest, Supervision
from models.org import Role
from models.social import CareGroupMember, CaseAssignment, CaseClosure, Client, Delegation, Visit
from services import audit
from services.scope import Access
from services.social.clients import identity_cipher

# Export and erasure of a client's record: admins only, city-wide.
CLIENT_ADMIN_ACCESS = Access(Client, roles=[Role.admin])

register_messages(
    {
        "erasure_not_allowed": (
            "该对象仍在社区矫正期内，依法不能删除其个人信息",
            "The person is still under community correction: the law requires the records be kept",
        ),
    }
)

ERASED_NAME = "已删除"

_SKIP = {"request_hash", "id_number_cipher", "id_number_hash"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    return value


async def _rows(qs: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await qs.values()
    return [{k: _plain(v) for k, v in row.items() if k not in _SKIP} for row in rows]


async def export_client(*, client: Client, settings: Settings) -> dict[str, Any]:
    """Everything held about a client, the identity number in clear (an audited admin act)."""
    record = {k: _plain(v) for k, v in (await Client.filter(id=client.id).values())[0].items()}
    for key in _SKIP:
        record.pop(key, None)
    if client.id_number_cipher:
        record["id_number"] = identity_cipher(settings).decrypt(client.id_number_cipher)
    supervisions = Supervision.filter(client_id=client.id)
    supervision_ids = await supervisions.values_list("id", flat=True)
    export = {
        "exported_at": _plain(clock.now()),
        "client": record,
        "case_assignments": await _rows(CaseAssignment.filter(client_id=client.id)),
        "case_closures": await _rows(CaseClosure.filter(client_id=client.id)),
        "delegations": await _rows(Delegation.filter(client_id=client.id)),
        "visits": await _rows(Visit.filter(client_id=client.id).order_by("occurred_at")),
        "care_group": await _rows(CareGroupMember.filter(client_id=client.id)),
        "supervisions": await _rows(supervisions),
        "checkins": await _rows(
            CheckIn.filter(supervision_id__in=supervision_ids).order_by("occurred_at")
        ),
        "leave_requests": await _rows(LeaveRequest.filter(supervision_id__in=supervision_ids)),
        "assessments": await _rows(Assessment.filter(supervision_id__in=supervision_ids)),
    }
    await audit.record(action="export", resource_type="client", resource_id=client.id)
    return export


async def erase_client(*, client: Client, today: date) -> dict[str, int]:
    """Remove what identifies a client; refused (409) while a supervision is running."""
    if await Supervision.filter(client_id=client.id, ends_on__gte=today).exists():
        raise Conflict("erasure_not_allowed")
    supervision_ids = await Supervision.filter(client_id=client.id).values_list("id", flat=True)
    async with in_transaction():
        await Client.filter(id=client.id).update(
            full_name=ERASED_NAME,
            id_number_cipher=None,
            id_number_hash=None,
            id_number_masked=None,
            phone=None,
            address="",
            home_lon=None,
            home_lat=None,
        )
        visits = await Visit.filter(client_id=client.id).update(
            notes="", lon=None, lat=None, accuracy_m=None
        )
        closures = await CaseClosure.filter(client_id=client.id).update(note="", reopen_note="")
        checkins = await CheckIn.filter(supervision_id__in=supervision_ids).update(
            text=None, lon=None, lat=None, accuracy_m=None
        )
        leaves = await LeaveRequest.filter(supervision_id__in=supervision_ids).update(
            destination="", reason=""
        )
        counts = {
            "visits": visits,
            "case_closures": closures,
            "checkins": checkins,
            "leave_requests": leaves,
        }
        await audit.record(
            action="erase", resource_type="client", resource_id=client.id, detail=counts
        )
    return counts
