"""The worker's jobs of community correction: closing ended obligation intervals (alerting the
missed ones) and the reminder source for subjects whose interval ends soon.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.correction import COUNTING_STATUSES, CheckIn, ClosedInterval, Supervision
from models.org import OrgUnit
from services import alerts
from services.correction import levels
from services.correction.compliance import checkins_between, tally
from services.correction.dates import local_date, local_zone, next_month
from services.correction.levels import KIND_NAMES_ZH
from services.correction.rules import (
    HOURS_KINDS,
    DueObligation,
    Interval,
    IntervalKind,
    ObligationKind,
    Unit,
    interval_bounds_utc,
    obligations_for_month,
)
from services.jobs import isolated, job
from services.notices import Notice, notice_source

# One slice closes at most this many days of one supervision's intervals. A supervision
# entered late (or a worker long down) catches up slice by slice, each a short savepoint and a
# short turn of the event loop: closing six years of 32 supervisions in the job's one
# transaction held the database (and every request's write behind it) for 67 s (bench/b3).
SLICE_DAYS = 31


# --- closing intervals ------------------------------------------------------------------------


def _months_between(first: date, last: date) -> Iterable[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = next_month(month)


async def close_supervision_intervals(
    *, supervision: Supervision, through: date, tz: ZoneInfo, slice_days: int | None = None
) -> tuple[int, int]:
    """Close every interval ending after `closed_through` up to `through`; alert each missed one.

    With `slice_days`, only the intervals ending in the next `slice_days` days are closed and
    `closed_through` moves to the slice's last day (call again until it reaches `through`).
    Returns (closed, missed). The stored outcome and the alert's dedup key both name the
    supervision, the kind and the interval, so nothing is closed or raised twice.
    """
    from_on = (
        supervision.closed_through + timedelta(days=1)
        if supervision.closed_through is not None
        else supervision.starts_on
    )
    to_on = min(through, supervision.ends_on)
    if to_on < from_on:
        supervision.closed_through = through
        await supervision.save(update_fields=["closed_through", "updated_at"])
        return 0, 0
    closed_through = through
    if slice_days is not None and (from_on + timedelta(days=slice_days - 1)) < to_on:
        to_on = closed_through = from_on + timedelta(days=slice_days - 1)
    rules = levels.rule_set(supervision)
    history = levels.history(supervision)
    due: list[DueObligation] = []
    for month in _months_between(from_on, to_on):
        for item in obligations_for_month(
            rules=rules,
            history=history,
            month=month,
            supervision_starts_on=supervision.starts_on,
            supervision_ends_on=supervision.ends_on,
        ):
            if from_on <= item.interval.ends_on <= to_on:
                due.append(item)
    closed = missed = 0
    if due:
        lo = min(interval_bounds_utc(interval=d.interval, tz=tz)[0] for d in due)
        hi = max(interval_bounds_utc(interval=d.interval, tz=tz)[1] for d in due)
        rows = await checkins_between(supervision.id, lo, hi)
        # Known outcomes in one query and new ones in one statement, not two per interval.
        stored = set(
            await ClosedInterval.filter(
                supervision_id=supervision.id,
                starts_on__gte=min(d.interval.starts_on for d in due),
                starts_on__lte=max(d.interval.starts_on for d in due),
            ).values_list("kind", "starts_on")
        )
        new_rows: list[ClosedInterval] = []
        unit: OrgUnit | None = None
        for item, done, _end in tally(due, rows, tz):
            met = done >= item.rule.required
            kind = item.rule.kind.value
            if (kind, item.interval.starts_on) not in stored:
                stored.add((kind, item.interval.starts_on))
                new_rows.append(
                    ClosedInterval(
                        supervision_id=supervision.id,
                        kind=kind,
                        starts_on=item.interval.starts_on,
                        ends_on=item.interval.ends_on,
                        required=item.rule.required,
                        done=done,
                        met=met,
                    )
                )
            if met or item.interval.ends_on < through - timedelta(days=ALERT_WINDOW_DAYS):
                # An old miss (a supervision entered late, or a worker long down) is recorded
                # for compliance but not alerted: a flood of stale alerts helps no officer.
                continue
            key = f"{supervision.id}:{kind}:{item.interval.starts_on.isoformat()}"
            unit = unit or await OrgUnit.get(id=supervision.org_unit_id)  # type: ignore[attr-defined]
            raised = await alerts.raise_alert(
                kind="missed_checkin",
                subject_type="supervision",
                subject_id=supervision.id,
                org_unit=unit,
                recipients=[supervision.officer_id],  # type: ignore[attr-defined]
                title=f"矫正对象未按期完成{KIND_NAMES_ZH.get(kind, kind)}",
                dedup_key=key,
                detail={
                    "obligation": kind,
                    "starts_on": item.interval.starts_on.isoformat(),
                    "ends_on": item.interval.ends_on.isoformat(),
                    "required": item.rule.required,
                    "done": done,
                },
                once=True,
            )
            missed += raised is not None
        if new_rows:
            await ClosedInterval.bulk_create(new_rows)
            closed = len(new_rows)
    supervision.closed_through = closed_through
    await supervision.save(update_fields=["closed_through", "updated_at"])
    return closed, missed


# Misses of intervals that ended longer ago than this are recorded without an alert.
ALERT_WINDOW_DAYS = 35


async def recount_closed_intervals(*, checkin: CheckIn, tz: ZoneInfo) -> int:
    """Count again the closed intervals holding a check-in that began to count after they were
    closed (one uploaded after its day ended, a late one the officer confirmed): each stored
    outcome takes the new tally, and the missed-check-in alert of an interval now met resolves,
    as alerts do when their cause is fixed. Returns how many intervals became met.
    """
    day = local_date(checkin.occurred_at, tz)
    kind = checkin.kind.value
    supervision_id: uuid.UUID = checkin.supervision_id  # type: ignore[attr-defined]
    closed = await ClosedInterval.filter(
        supervision_id=supervision_id,
        kind=kind,
        starts_on__lte=day,
        ends_on__gte=day,
    )
    became_met = 0
    for row in closed:
        start_at, end_at = interval_bounds_utc(
            interval=Interval(starts_on=row.starts_on, ends_on=row.ends_on), tz=tz
        )
        rows = await checkins_between(supervision_id, start_at, end_at)
        counting = [c for c in rows if c["kind"] == kind and c["status"] in COUNTING_STATUSES]
        hours = ObligationKind(kind) in HOURS_KINDS
        done = sum(float(c["hours"] or 0.0) if hours else 1.0 for c in counting)
        met = done >= row.required
        if done == row.done and met == row.met:
            continue
        became_met += met and not row.met
        row.done, row.met = done, met
        await row.save(update_fields=["done", "met", "updated_at"])
        if met:
            key = f"{supervision_id}:{kind}:{row.starts_on.isoformat()}"
            await alerts.resolve_cause(
                kind="missed_checkin", subject_id=supervision_id, dedup_key=key
            )
    return became_met


# Supervisions closed per slice: each slice is one transaction (a savepoint per supervision),
# read, closed and committed before the next, with the event loop free in between; a slice's
# rows and their JSON rules cost the loop a few milliseconds. A run goes on slice after slice
# until nothing is pending or RUN_BUDGET_S has passed (well inside the job's 300 s lease).
CLOSE_SLICE = 25
RUN_BUDGET_S = 240.0


@job("correction.close_intervals", every_s=300, transactional=False)
async def close_intervals(now: datetime) -> str:
    """Close the obligation intervals that ended before today (local) and alert the missed ones.

    `CLOSE_SLICE` supervisions a transaction, each closing at most `SLICE_DAYS` days in a
    savepoint of its own (a failing one is rolled back alone, skipped for the rest of the run and
    retried by the next); the event loop runs requests between slices. A supervision still
    behind after its slice is read again by the next pass, until it is caught up or the run's
    budget is spent.
    """
    tz = local_zone()
    through = local_date(now, tz) - timedelta(days=1)
    started = monotonic()
    closed = missed = 0
    seen_ids: set[uuid.UUID] = set()
    # Keyset on id; a supervision that failed is not read again in the same run.
    failed_ids: set[uuid.UUID] = set()
    after: uuid.UUID | None = None
    while monotonic() - started < RUN_BUDGET_S:
        pending = Supervision.filter(
            Q(starts_on__lte=through),
            Q(closed_through__isnull=True)
            | (Q(closed_through__lt=through) & Q(closed_through__lt=F("ends_on"))),
        )
        if after is not None:
            pending = pending.filter(id__gt=after)
        if failed_ids:
            pending = pending.exclude(id__in=failed_ids)
        behind = False
        async with in_transaction():
            rows = await pending.order_by("id").limit(CLOSE_SLICE)
            for supervision in rows:
                # Bound at each turn: one slice of the row's work, in a savepoint of its own.
                async def work(row: Supervision = supervision) -> tuple[int, int]:
                    return await close_supervision_intervals(
                        supervision=row, through=through, tz=tz, slice_days=SLICE_DAYS
                    )

                done = await isolated(
                    job_name="correction.close_intervals", row_id=supervision.id, work=work
                )
                if done is None:
                    failed_ids.add(supervision.id)
                    continue
                seen_ids.add(supervision.id)
                closed += done[0]
                missed += done[1]
                if supervision.closed_through is not None and supervision.closed_through < through:
                    behind = True  # a long history: its next slice comes in the next pass
        if not behind:
            if len(rows) < CLOSE_SLICE:
                break
            after = rows[-1].id
        # Behind: the same keyset start again; caught-up supervisions drop out of `pending`.
        await asyncio.sleep(0)  # requests in between slices
    failures = f", {len(failed_ids)} failed" if failed_ids else ""
    return f"{len(seen_ids)} supervisions, {closed} intervals closed, {missed} missed{failures}"


# --- reminders ----------------------------------------------------------------------------------

SUBJECT_OBLIGATIONS = (
    ObligationKind.LOCATION,
    ObligationKind.REPORT,
    ObligationKind.THOUGHT_REPORT,
    ObligationKind.SERVICE_HOURS,
    ObligationKind.STUDY,
)
# How long before an interval's end the subject is reminded, by interval length.
REMIND_BEFORE_DAYS = {
    IntervalKind.DAY: 0,
    IntervalKind.WEEK: 1,
    IntervalKind.TWO_WEEKS: 2,
}
REMIND_BEFORE_DAYS_DEFAULT = 3
DAILY_REMINDER_FROM = time(18, 0)
NOTICE_BATCH = 5000


def _due_soon(
    *, supervision: Supervision, local_now: datetime, tz: ZoneInfo
) -> list[DueObligation]:
    """The subject's obligations of a running interval that ends soon enough to remind."""
    today = local_now.date()
    rules, history = levels.rule_set(supervision), levels.history(supervision)
    this_month = today.replace(day=1)
    out: list[DueObligation] = []
    for month in (this_month, next_month(this_month)):
        if month > supervision.ends_on:
            continue
        for item in obligations_for_month(
            rules=rules,
            history=history,
            month=month,
            supervision_starts_on=supervision.starts_on,
            supervision_ends_on=supervision.ends_on,
        ):
            if item.rule.kind not in SUBJECT_OBLIGATIONS:
                continue
            if not item.interval.starts_on <= today <= item.interval.ends_on:
                continue
            lead = REMIND_BEFORE_DAYS.get(item.rule.interval, REMIND_BEFORE_DAYS_DEFAULT)
            if (item.interval.ends_on - today).days > lead:
                continue
            if item.rule.interval is IntervalKind.DAY and local_now.time() < DAILY_REMINDER_FROM:
                continue
            # The interval's instants must exist (a date near year 1 or 9999 has none).
            interval_bounds_utc(interval=item.interval, tz=tz)
            out.append(item)
    return out


@notice_source("correction.checkins_due")
async def checkins_due(now: datetime) -> list[Notice]:
    """Subjects' obligations whose interval ends soon and is not yet met (one notice each)."""
    tz = local_zone()
    local_now = now.astimezone(tz)
    today = local_now.date()
    # An ended supervision reminds no one, even on its last day.
    supervisions = await Supervision.filter(
        starts_on__lte=today, ends_on__gte=today, ended_on__isnull=True
    ).limit(NOTICE_BATCH)
    wanted: list[tuple[Supervision, DueObligation]] = []
    for s in supervisions:

        async def due_soon(row: Supervision = s) -> list[DueObligation]:
            return _due_soon(supervision=row, local_now=local_now, tz=tz)

        items = await isolated(
            job_name="correction.checkins_due", row_id=s.id, work=due_soon, atomic=False
        )
        wanted.extend((s, item) for item in items or ())
    if not wanted:
        return []
    lo = min(interval_bounds_utc(interval=i.interval, tz=tz)[0] for _, i in wanted)
    rows = await CheckIn.filter(
        supervision_id__in=list({s.id for s, _ in wanted}), occurred_at__gte=lo
    ).values("supervision_id", "kind", "occurred_at", "hours", "status")
    by_supervision: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_supervision[row["supervision_id"]].append(row)
    notices: list[Notice] = []
    for s, item in wanted:
        [(_, done, _end)] = tally([item], by_supervision.get(s.id, []), tz)
        if done >= item.rule.required:
            continue
        name = KIND_NAMES_ZH.get(item.rule.kind.value, item.rule.kind.value)
        remaining = item.rule.required - done
        amount = f"{remaining:g} 小时" if item.rule.unit is Unit.HOURS else f"{remaining:g} 次"
        notices.append(
            Notice(
                user_ids=(s.subject_id,),  # type: ignore[attr-defined]
                title=f"请按时完成{name}",
                body=f"本期（{item.interval.starts_on:%m月%d日}至{item.interval.ends_on:%m月%d日}）"
                f"还需完成{name} {amount}。",
                cause_key=f"correction:{s.id}:{item.rule.kind.value}:{item.interval.starts_on.isoformat()}",
                data={"type": "supervision", "id": str(s.id), "kind": item.rule.kind.value},
                collapse_key=f"correction:{s.id}:{item.rule.kind.value}",
                ttl_s=12 * 3600,
            )
        )
    return notices
