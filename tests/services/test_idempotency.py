"""A request's fingerprint is stored with what it created and compared on every retry: it must
not change from one version of the code to the next, or a retry across a deploy is a 409."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from api.routers.correction.schemas import CheckInCreate
from services.idempotency import fingerprint

OWNER = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_a_check_in_body_keeps_its_fingerprint() -> None:
    body = CheckInCreate.model_validate(
        {
            "id": "00000000-0000-4000-8000-0000000000aa",
            "kind": "location",
            "occurred_at": "2026-12-02T18:30:00.125+08:00",
            "lon": 120.88,
            "lat": 32.0,
            "accuracy_m": 15.0,
        }
    )
    # Computed by the implementation that stored the hashes now in databases (before 2026-12-02).
    assert fingerprint(body, owner=OWNER) == (
        "27f6ba552094ea5cb6b6335c6e6650299650d43c5f2ee18f871576e90af21e8a"
    )


def test_nested_values_keep_their_fingerprint() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    body = {"names": ["甲", "乙"], "at": at, "ids": (OWNER,), "n": {"x": 1.5, 2: None}}
    assert fingerprint(body) == "8c53eac44a2bc757742b896511cb4b45f200b5859ffdb0d4838e326dc6b9d15f"


def test_the_same_instant_in_another_offset_is_the_same_body() -> None:
    utc = {"at": datetime(2026, 1, 1, 19, 4, 5, tzinfo=UTC)}
    beijing = {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))}
    assert fingerprint(utc, owner=OWNER) == fingerprint(beijing, owner=OWNER)
    assert fingerprint(utc, owner=OWNER) != fingerprint(utc, owner=uuid.uuid4())
