"""Precise locations older than the retention period are erased, and the erasure is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.audit import AuditEntry
from models.correction import CheckIn
from models.social import Visit
from services import demo
from services.retention import erase_old_locations


async def test_old_checkin_and_visit_positions_are_erased_new_ones_kept(db, settings):
    await demo.load_if_empty(settings=settings)
    now = datetime.now(UTC)
    old_checkin = await CheckIn.filter(lon__isnull=False).first()
    old_visit = await Visit.filter(lon__isnull=False).first()
    assert old_checkin is not None and old_visit is not None
    long_ago = now - timedelta(days=settings.retention_days + 1)
    await CheckIn.filter(id=old_checkin.id).update(occurred_at=long_ago)
    await Visit.filter(id=old_visit.id).update(occurred_at=long_ago)
    kept_checkins = await CheckIn.filter(lon__isnull=False).exclude(id=old_checkin.id).count()

    summary = await erase_old_locations(now)

    assert "1 check-ins and 1 visits" in summary
    erased = await CheckIn.get(id=old_checkin.id)
    assert erased.lon is None and erased.lat is None and erased.accuracy_m is None
    assert erased.kind == old_checkin.kind  # the record of the check-in itself stays
    assert (await Visit.get(id=old_visit.id)).lon is None
    assert await CheckIn.filter(lon__isnull=False).count() == kept_checkins
    entry = await AuditEntry.get(action="erase_location")
    assert entry.detail["checkins"] == 1 and entry.detail["visits"] == 1
    # A second run finds nothing more to erase.
    assert "0 check-ins and 0 visits" in await erase_old_locations(now)
