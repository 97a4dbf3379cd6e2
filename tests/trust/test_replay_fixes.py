"""What the attack replay (test_attack_replay.py) found beyond issue 14's list, pinned in process.

The replay runs against a served deployment; these run on the ASGI app with the suite's database
(PostgreSQL in CI's second run, where the race below shows).
"""

from __future__ import annotations

import asyncio
from typing import Any

from models.patrol import Zone
from tests.trust.replay_world import AREA


async def test_concurrent_retries_of_one_zone_import_store_it_once(
    client: Any, make_unit: Any, make_user: Any, auth: Any
) -> None:
    """A console that resubmits an import while the first is still running gets the same zone;
    before imports into a unit took turns, 20 at once stored 10 copies on PostgreSQL."""
    unit = await make_unit("崇川区")
    other = await make_unit("海门区")
    admin = await make_user("admin", unit=unit)
    feature = {"type": "Feature", "properties": {"name": "西片"}, "geometry": AREA}
    collection = {"type": "FeatureCollection", "features": [feature]}

    async def send(unit_id: str) -> Any:
        return await client.post(
            "/zones/import", json=collection, params={"org_unit_id": unit_id}, headers=auth(admin)
        )

    answers = await asyncio.gather(*(send(str(u.id)) for _ in range(10) for u in (unit, other)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    ids = {a.json()["created"][0]["id"] for a in answers}
    assert len(ids) == 2  # one per unit: the same feature in another unit is another zone
    assert await Zone.filter(deleted_at__isnull=True).count() == 2
