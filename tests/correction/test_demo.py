"""The demo step loads subjects at three levels with a violation and an approved leave."""

from __future__ import annotations

from models.alerts import Alert
from models.correction import CheckIn, LeaveRequest, Supervision
from services import demo


async def test_demo_loads_correction_data(db, settings):
    assert await demo.load_if_empty(settings=settings)
    assert {s.level.value for s in await Supervision.all()} == {"strict", "normal", "lenient"}
    assert await CheckIn.filter(status="violation").count() == 1
    assert await Alert.filter(kind="outside_permitted_area").count() == 1
    assert await LeaveRequest.filter(status="approved").count() == 1
    assert (
        await CheckIn.filter(
            on_approved_leave=True, inside_permitted_area=False, status="ok"
        ).count()
        >= 1
    )
