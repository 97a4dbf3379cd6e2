"""The service's Prometheus metrics, on prometheus_client.

One process: the default registry, with prometheus_client's process and platform collectors.
Several API processes (`grassroots serve --workers N`, or uvicorn's own `--workers`): set
PROMETHEUS_MULTIPROC_DIR to an empty directory shared by the processes (`serve` makes one when
N > 1 and none is set) and any process answers `/metrics` for all of them: counters and
histograms are summed, the event-loop lag is the worst live process, the database figures are
the answering process's own reading. prometheus_client's process collector does not work across
processes, so process metrics are then those of the process that answers.
"""

from __future__ import annotations

import os
import tempfile

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# The exposition format every Prometheus reads (the contract names it); 1.0.0 needs Prometheus 3.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# `_created` samples double the series and no dashboard here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
JOB_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

REQUESTS = Counter(
    "grassroots_requests", "Requests answered, by route and status.", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "grassroots_request_duration_seconds",
    "Time to answer, by route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS_S,
)
# Set by the one lag monitor, grassroots.loop_lag (a timer every 5 ms).
LOOP_LAG = Gauge(
    "grassroots_event_loop_lag_seconds",
    "How late the event loop ran a timer, in the last measurement.",
    multiprocess_mode="livemax",
)
LOOP_LAG_MAX_1M = Gauge(
    "grassroots_event_loop_lag_max_1m_seconds",
    "The longest event-loop stall of the last minute.",
    multiprocess_mode="livemax",
)
LOOP_LAG_SECONDS = Histogram(
    "grassroots_event_loop_lag_observed_seconds",
    "Event-loop lag measurements (a timer every 5 ms).",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
JOB_SECONDS = Histogram(
    "grassroots_job_duration_seconds",
    "Time a worker job run took, by job.",
    ["job"],
    buckets=JOB_BUCKETS_S,
)
JOB_FAILURES = Counter("grassroots_job_failures", "Job runs that raised, by job.", ["job"])
OUTBOX_DEPTH = Gauge(
    "grassroots_outbox_depth",
    "Push deliveries waiting (queued or held), by status.",
    ["status"],
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "grassroots_outbox_oldest_age_seconds",
    "Age of the oldest delivery still waiting that is due now (0 when none).",
    multiprocess_mode="mostrecent",
)
DELIVERIES = Counter(
    "grassroots_deliveries",
    "Push deliveries attempted, by provider and outcome.",
    ["provider", "outcome"],
)
DB_POOL = Gauge(
    "grassroots_db_pool_connections",
    "Database connections of the answering process, by state (in_use, idle, max).",
    ["state"],
    multiprocess_mode="mostrecent",
)


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, or None in one process."""
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> tuple[bytes, str]:
    """The exposition text of this process (or of every process in multiprocess mode)."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(DEFAULT_REGISTRY), CONTENT_TYPE


def share_between_processes(processes: int) -> None:
    """Before starting several API processes: give them one multiprocess directory.

    Called before any process imports prometheus_client's values (uvicorn spawns its workers
    afresh, and they inherit the environment); an operator's own directory is kept.
    """
    if processes > 1 and multiprocess_dir() is None:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="grassroots-metrics-")


def process_exited() -> None:
    """Drop this process's live gauges from the shared directory (multiprocess mode)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def export_pool(figures: dict[str, int]) -> None:
    """Set the pool gauges from `grassroots.db.pool_figures()`."""
    for state, n in figures.items():
        DB_POOL.labels(state=state).set(n)


def observe_job(*, name: str, seconds: float, failed: bool) -> None:
    """Count one job run: its duration, and a failure when it raised."""
    JOB_SECONDS.labels(job=name).observe(seconds)
    if failed:
        JOB_FAILURES.labels(job=name).inc()
