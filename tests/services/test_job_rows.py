"""Jobs isolated per row: a reminder whose stored rule is broken fires no more, the others do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.notifications import Reminder
from models.org import Role
from services import jobs as worker
from services import reminders


async def test_a_broken_reminder_is_skipped_and_the_next_one_fires(make_unit, make_user):
    unit = await make_unit("崇川区")
    scheduler = await make_user(Role.scheduler, unit=unit)
    now = datetime(2026, 3, 2, 2, tzinfo=UTC)

    async def reminder(rrule: str | None, minutes_ago: int) -> Reminder:
        due = now - timedelta(minutes=minutes_ago)
        return await Reminder.create(
            created_by=scheduler,
            org_path=unit.path,
            title="月度例会",
            body="请按时参加",
            audience={"user_ids": [str(scheduler.id)]},
            first_at=due,
            rrule=rrule,
            next_at=due,
        )

    # Stored before rules were checked (or by hand): the job reads it first, by next_at.
    broken = await reminder("FREQ=NEVER;COUNT=x", minutes_ago=10)
    good = await reminder(None, minutes_ago=5)
    before = worker.ROWS_FAILED["reminders.fire"]
    summary = await reminders.fire_due_reminders(now)
    assert "fired 2 reminders to 1 inboxes" in summary, summary
    assert (await Reminder.get(id=good.id)).fired == 1
    assert (await Reminder.get(id=broken.id)).fired == 0
    assert worker.ROWS_FAILED["reminders.fire"] == before + 1
