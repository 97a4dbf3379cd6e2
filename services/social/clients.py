"""Clients (服务对象): registering, correcting and finding them; identity numbers kept encrypted."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from grassroots import clock
from grassroots.errors import Forbidden, Invalid
from grassroots.settings import Settings
from models.org import Role, User
from models.social import (
    CaseStatus,
    Client,
    ClientCategory,
    RiskLevel,
)
from services import audit
from services.identity import (
    REASON_TEXTS,
    IdentityCipher,
    InvalidIdNumber,
    mask_id_number,
    validate_id_number,
)
from services.social import messages  # noqa: F401  (registers the codes raised here)
from services.social.access import CLIENT_ROLES, can_coordinate, org_unit_in_scope, visible_clients
from services.social.cadence import visit_due_on
from services.social.caseloads import assign_locked

CATEGORY_NAMES_ZH: Final[dict[ClientCategory, str]] = {
    ClientCategory.community_correction: "社区矫正对象",
    ClientCategory.released_prisoner: "刑释解教人员",
    ClientCategory.drug_rehab: "吸毒人员",
    ClientCategory.at_risk_youth: "闲散青少年",
}


@lru_cache(maxsize=4)
def _cipher_for(secret: str) -> IdentityCipher:
    return IdentityCipher(secret)


def identity_cipher(settings: Settings) -> IdentityCipher:
    """The identity-number cipher, keyed by `identity_key` or a key derived from `secret_key`."""
    return _cipher_for(settings.identity_secret())


def check_id_number(value: str, *, loc: Sequence[str | int] = ("body", "id_number")) -> str:
    """The normalised identity number, or a 422 `invalid_id_number` naming the failed check."""
    try:
        return validate_id_number(value)
    except InvalidIdNumber as exc:
        zh, en = REASON_TEXTS[exc.reason]
        raise Invalid(
            "invalid_id_number",
            message_zh=f"身份证号码无效：{zh}",
            message_en=f"The identity number is invalid: {en}",
            errors=[{"loc": list(loc), "msg": f"invalid identity number: {exc.reason}"}],
        ) from None


# Fields a client always has: a PATCH cannot clear them.
REQUIRED_FIELDS: Final = frozenset({"full_name", "address", "risk_level"})


def _check_home(home_lon: float | None, home_lat: float | None) -> None:
    if (home_lon is None) != (home_lat is None):
        raise Invalid(
            "location_incomplete",
            errors=[{"loc": ["body", "home_lon"], "msg": "location_incomplete"}],
        )


async def create_client(
    *,
    user: User,
    full_name: str,
    category: ClientCategory,
    id_number: str | None,
    phone: str | None,
    address: str,
    home_lon: float | None,
    home_lat: float | None,
    risk_level: RiskLevel,
    org_unit_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Client:
    """A new client in the caller's subtree; a social worker who creates one takes the case."""
    if not user.has_role(*CLIENT_ROLES):
        raise Forbidden()
    _check_home(home_lon, home_lat)
    cipher_fields: dict[str, Any] = {}
    if id_number is not None:
        number = check_id_number(id_number)
        cipher = identity_cipher(settings)
        cipher_fields = {
            "id_number_cipher": cipher.encrypt(number),
            "id_number_hash": cipher.search_hash(number),
            "id_number_masked": mask_id_number(number),
        }
    unit = await org_unit_in_scope(user=user, org_unit_id=org_unit_id)
    now = now or clock.now()
    takes_case = user.has_role(Role.social_worker) and not user.has_role(
        Role.admin, Role.supervisor
    )
    async with in_transaction():
        client = await Client.create(
            full_name=full_name,
            category=category,
            phone=phone,
            address=address,
            home_lon=home_lon,
            home_lat=home_lat,
            risk_level=risk_level,
            org_unit=unit,
            org_path=unit.path,
            **cipher_fields,
        )
        if takes_case:
            await assign_locked(client=client, worker=user, actor=user, settings=settings, now=now)
    await audit.record(action="create", resource_type="client", resource_id=client.id)
    return client


async def update_client(
    *,
    user: User,
    client: Client,
    changes: dict[str, Any],
    settings: Settings,
) -> Client:
    """Change a client's contact, home or risk level (managers and the client's worker).

    A closed case may still be corrected (records are kept); it stays closed with no visit due.
    """
    if not can_coordinate(user, client):
        raise Forbidden()
    # A required field sent as null is left as it is (PATCH semantics: null clears optional ones).
    changes = {
        name: value
        for name, value in changes.items()
        if not (name in REQUIRED_FIELDS and value is None)
    }
    if "id_number" in changes:
        raw = changes.pop("id_number")
        if raw is None:
            changes.update(id_number_cipher=None, id_number_hash=None, id_number_masked=None)
        else:
            number = check_id_number(raw)
            cipher = identity_cipher(settings)
            changes.update(
                id_number_cipher=cipher.encrypt(number),
                id_number_hash=cipher.search_hash(number),
                id_number_masked=mask_id_number(number),
            )
    home_lon = changes.get("home_lon", client.home_lon)
    home_lat = changes.get("home_lat", client.home_lat)
    _check_home(home_lon, home_lat)
    for name, value in changes.items():
        setattr(client, name, value)
    client.visit_due_on = visit_due_on(
        risk_level=client.risk_level,
        last_visit_at=client.last_visit_at,
        assigned_at=client.assigned_at if client.social_worker_id else None,
        tz=settings.tz,
        reopened_at=client.reopened_at,
    )
    if client.status == CaseStatus.closed:
        client.visit_due_on = None  # a closed record may be corrected, but no visit falls due
    await client.save()
    await audit.record(
        action="update",
        resource_type="client",
        resource_id=client.id,
        detail={"fields": sorted(k for k in changes if not k.startswith("id_number"))},
    )
    return client


async def list_clients(
    *,
    user: User,
    today: date,
    category: ClientCategory | None = None,
    org_unit_id: uuid.UUID | None = None,
    social_worker_id: uuid.UUID | None = None,
    risk_level: RiskLevel | None = None,
    id_number: str | None = None,
    status: CaseStatus | None = None,
    settings: Settings,
) -> QuerySet[Client]:
    """Clients in scope matching the filters; `id_number` is an exact match on the keyed hash.

    Without `status` the list holds open and closed cases alike: records are kept, and a search
    must find a closed case so that it is reopened rather than registered twice.
    """
    qs = await visible_clients(user=user, today=today)
    if category is not None:
        qs = qs.filter(category=category)
    if org_unit_id is not None:
        qs = qs.filter(org_unit_id=org_unit_id)
    if social_worker_id is not None:
        qs = qs.filter(social_worker_id=social_worker_id)
    if risk_level is not None:
        qs = qs.filter(risk_level=risk_level)
    if status is not None:
        qs = qs.filter(status=status)
    if id_number is not None:
        number = check_id_number(id_number)
        qs = qs.filter(id_number_hash=identity_cipher(settings).search_hash(number))
    return qs


async def audit_list_read(*, clients: Sequence[Client]) -> None:
    """One audit entry for a list of client records shown to the caller."""
    await audit.record(
        action="list",
        resource_type="client",
        resource_id=None,
        detail={"client_ids": [str(c.id) for c in clients]},
    )
