"""/metrics from prometheus_client: requests by route template, event-loop lag, jobs, the
database pool, process figures, and one view over several API processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from models.org import Role
from services import jobs

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# /metrics answers Prometheus's own bearer token (GRASSROOTS_METRICS_TOKEN) or an admin's.
METRICS_TOKEN = "metrics-test-token-0123456789-abcdefgh"


@pytest.fixture(autouse=True)
def metrics_token(monkeypatch, settings):
    from pydantic import SecretStr

    monkeypatch.setattr(settings, "metrics_token", SecretStr(METRICS_TOKEN))


async def scrape(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})


async def test_requests_are_labelled_by_route_template_not_raw_path(
    app, client, make_unit, make_user, auth
):
    user = await make_user(Role.admin, unit=await make_unit())
    await client.get(f"/users/{user.id}", headers=auth(user))
    await client.get("/no/such/path")
    answer = await scrape(app)
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert 'route="/api/v1/users/{id}",status="200"' in text
    assert str(user.id) not in text
    assert 'grassroots_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert (
        sample(
            "grassroots_request_duration_seconds_count", method="GET", route="/api/v1/users/{id}"
        )
        >= 1
    )
    # Process figures come from prometheus_client's own collectors.
    assert "process_cpu_seconds_total" in text and "python_info" in text


async def test_database_pool_use_is_exported(app, db):
    text = (await scrape(app)).text
    assert 'grassroots_db_pool_connections{state="max"}' in text
    if os.environ.get("GRASSROOTS_TEST_DATABASE_URL"):
        assert sample("grassroots_db_pool_connections", state="max") >= 1
        assert sample("grassroots_db_pool_connections", state="in_use") >= 0
    else:
        assert sample("grassroots_db_pool_connections", state="max") == 1


async def test_event_loop_lag_is_measured_while_the_app_runs(settings, db):
    from api.app import create_app

    served = create_app(settings, manage_db=False)

    def stalls_over_half_a_second() -> float:
        return sample("grassroots_event_loop_lag_observed_seconds_count") - sample(
            "grassroots_event_loop_lag_observed_seconds_bucket", le="0.5"
        )

    async with served.router.lifespan_context(served):
        await asyncio.sleep(0.3)
        before = stalls_over_half_a_second()
        # Hold the loop as a CPU-heavy job would, across at least one of the monitor's timers.
        time.sleep(0.6)
        await asyncio.sleep(0.01)
        assert stalls_over_half_a_second() >= before + 1
        assert sample("grassroots_event_loop_lag_max_1m_seconds") >= 0.5
        await asyncio.sleep(0.3)
        assert sample("grassroots_event_loop_lag_seconds") < 0.15  # a free loop is on time
        assert sample("grassroots_event_loop_lag_max_1m_seconds") >= 0.5  # the stall is kept


async def test_job_durations_and_failures_by_job(db):
    async def fine(now: datetime) -> str:
        return "ok"

    async def broken(now: datetime) -> str:
        raise RuntimeError("boom")

    ok_job = jobs.Job(name="test.metrics_ok", every_s=60, func=fine)
    bad_job = jobs.Job(name="test.metrics_broken", every_s=60, func=broken)
    now = datetime.now(UTC)
    assert await jobs.run_job(ok_job, now=now) == "ok"
    assert await jobs.run_job(bad_job, now=now) == "error: RuntimeError"

    assert sample("grassroots_job_duration_seconds_count", job="test.metrics_ok") == 1
    assert sample("grassroots_job_failures_total", job="test.metrics_ok") == 0
    assert sample("grassroots_job_duration_seconds_count", job="test.metrics_broken") == 1
    assert sample("grassroots_job_failures_total", job="test.metrics_broken") == 1


PROCESS = """
import sys
from grassroots import metrics
for _ in range(int(sys.argv[1])):
    metrics.REQUESTS.labels(method="GET", route="/healthz", status=200).inc()
metrics.LOOP_LAG.set(float(sys.argv[2]))
if sys.argv[3] == "render":
    print(metrics.render()[0].decode())
"""


@pytest.mark.slow
def test_several_processes_share_one_view_in_multiprocess_mode(tmp_path):
    env = dict(os.environ) | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", PROCESS, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    run("3", "0.5", "quiet")
    text = run("4", "0.01", "render")
    assert 'grassroots_requests_total{method="GET",route="/healthz",status="200"} 7.0' in text
    # The first process exited without marking itself dead: its lag still counts as live
    # until it is marked, which the app does at shutdown (metrics.process_exited).
    assert "grassroots_event_loop_lag_seconds" in text
