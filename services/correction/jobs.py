"""The worker's jobs of community correction: closing ended obligation intervals (alerting the
missed ones) and the reminder source for subjects whose interval ends soon.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ClosingPlan:
    """What closing one supervision's intervals covers: the obligations whose interval ends in
    the days closed, and the day `closed_through` moves to."""

    closed_through: date
    due: tuple[DueObligation, ...]


def plan_closing(
    *, supervision: Supervision, through: date, slice_days: int | None = None
) -> ClosingPlan:
    """The intervals ending after `closed_through` up to `through` (or the slice's last day)."""
    from_on = (
        supervision.closed_through + timedelta(days=1)
        if supervision.closed_through is not None
        else supervision.starts_on
    )
    to_on = min(through, supervision.ends_on)
    closed_through = through
    if to_on < from_on:
        return ClosingPlan(closed_through=through, due=())
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
    return ClosingPlan(closed_through=closed_through, due=tuple(due))


@dataclass
class ClosingReads:
    """What the closing of many supervisions reads, one query each for all of them: their
    check-ins over their due intervals, the outcomes already stored, the missed-interval
    alert keys ever raised and their units."""

    checkins: dict[uuid.UUID, list[dict[str, Any]]]
    stored: dict[uuid.UUID, set[tuple[str, date]]]
    raised: set[str]
    units: dict[uuid.UUID, OrgUnit]


def _alert_key(supervision_id: uuid.UUID, item: DueObligation) -> str:
    return f"{supervision_id}:{item.rule.kind.value}:{item.interval.starts_on.isoformat()}"


async def read_for_closing(
    plans: dict[uuid.UUID, tuple[Supervision, ClosingPlan]], *, tz: ZoneInfo
) -> ClosingReads:
    """One query per kind of read for the supervisions of `plans`, each over its own window
    (supervisions sharing a window share a condition: in a caught-up city, all of them)."""
    by_checkin_window: dict[tuple[datetime, datetime], list[uuid.UUID]] = defaultdict(list)
    by_stored_window: dict[tuple[date, date], list[uuid.UUID]] = defaultdict(list)
    keys: list[str] = []
    unit_ids: set[uuid.UUID] = set()
    for supervision_id, (supervision, plan) in plans.items():
        if not plan.due:
            continue
        bounds = [interval_bounds_utc(interval=d.interval, tz=tz) for d in plan.due]
        lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
        by_checkin_window[(lo, hi)].append(supervision_id)
        starts = [d.interval.starts_on for d in plan.due]
        by_stored_window[(min(starts), max(starts))].append(supervision_id)
        keys.extend(_alert_key(supervision_id, d) for d in plan.due)
        unit_ids.add(supervision.org_unit_id)  # type: ignore[attr-defined]
    reads = ClosingReads(
        checkins=defaultdict(list), stored=defaultdict(set), raised=set(), units={}
    )
    if not keys:
        return reads
    in_window = Q()
    for (lo, hi), ids in by_checkin_window.items():
        in_window |= Q(supervision_id__in=ids, occurred_at__gte=lo, occurred_at__lt=hi)
    for row in await CheckIn.filter(in_window).values(
        "supervision_id", "id", "kind", "occurred_at", "hours", "status", "distance_outside_m"
    ):
        reads.checkins[row.pop("supervision_id")].append(row)
    in_window = Q()
    for (first, last), ids in by_stored_window.items():
        in_window |= Q(supervision_id__in=ids, starts_on__gte=first, starts_on__lte=last)
    for supervision_id, kind, starts_on in await ClosedInterval.filter(in_window).values_list(
        "supervision_id", "kind", "starts_on"
    ):
        reads.stored[supervision_id].add((kind, starts_on))
    reads.raised = await alerts.raised_keys(kind="missed_checkin", dedup_keys=keys)
    reads.units = {u.id: u for u in await OrgUnit.filter(id__in=unit_ids)}
    return reads


async def close_supervision_intervals(
    *, supervision: Supervision, through: date, tz: ZoneInfo, slice_days: int | None = None
) -> tuple[int, int]:
    """Close every interval ending after `closed_through` up to `through`; alert each missed one.

    With `slice_days`, only the intervals ending in the next `slice_days` days are closed and
    `closed_through` moves to the slice's last day (call again until it reaches `through`).
    Returns (closed, missed). The stored outcome and the alert's dedup key both name the
    supervision, the kind and the interval, so nothing is closed or raised twice.
    """
    plan = plan_closing(supervision=supervision, through=through, slice_days=slice_days)
    reads = await read_for_closing({supervision.id: (supervision, plan)}, tz=tz)
    return await close_planned(
        supervision=supervision, plan=plan, reads=reads, through=through, tz=tz
    )


async def close_planned(
    *,
    supervision: Supervision,
    plan: ClosingPlan,
    reads: ClosingReads,
    through: date,
    tz: ZoneInfo,
) -> tuple[int, int]:
    """Store the outcomes of a planned closing and alert the recent misses, from `reads`."""
    closed = missed = 0
    if plan.due:
        rows = reads.checkins.get(supervision.id, [])
        # Known outcomes read once, new ones in one statement, not two queries per interval.
        stored = set(reads.stored.get(supervision.id, ()))
        new_rows: list[ClosedInterval] = []
        for item, done, _end in tally(plan.due, rows, tz):
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
            key = _alert_key(supervision.id, item)
            if key in reads.raised:
                continue  # alerted once already: a missed interval alerts once, ever
            raised = await alerts.raise_alert(
                kind="missed_checkin",
                subject_type="supervision",
                subject_id=supervision.id,
                org_unit=reads.units[supervision.org_unit_id],  # type: ignore[attr-defined]
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
                never_raised=True,
            )
            reads.raised.add(key)  # an interval due in two months' obligations alerts once
            missed += raised is not None
        if new_rows:
            await ClosedInterval.bulk_create(new_rows)
            closed = len(new_rows)
    supervision.closed_through = plan.closed_through
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
            # Each row's slice of work planned (a row whose rules cannot be read fails alone),
            # then the slice's reads in a few queries for all its rows.
            plans: dict[uuid.UUID, tuple[Supervision, ClosingPlan]] = {}
            for supervision in rows:

                async def plan(row: Supervision = supervision) -> ClosingPlan:
                    return plan_closing(supervision=row, through=through, slice_days=SLICE_DAYS)

                planned = await isolated(
                    job_name="correction.close_intervals",
                    row_id=supervision.id,
                    work=plan,
                    atomic=False,
                )
                if planned is None:
                    failed_ids.add(supervision.id)
                else:
                    plans[supervision.id] = (supervision, planned)
                # A plan reads the row's JSON rules (0.8 ms here): requests run in between,
                # as they did when each row's own reads came between the plans.
                await asyncio.sleep(0)
            reads = await read_for_closing(plans, tz=tz)
            for supervision, planned in plans.values():
                # Each row's outcomes and alerts in a savepoint of its own.
                async def work(
                    row: Supervision = supervision,
                    row_plan: ClosingPlan = planned,
                    slice_reads: ClosingReads = reads,
                ) -> tuple[int, int]:
                    return await close_planned(
                        supervision=row, plan=row_plan, reads=slice_reads, through=through, tz=tz
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
