"""Outbox depth, oldest age and delivery outcomes by provider, as /metrics shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from models.org import Role
from notifications import figures, outbox
from tests.notifications.test_delivery import add_device, notify


@pytest.fixture
async def people(make_unit, make_user):
    street = await make_unit("和平桥街道")
    return {
        "patrol": await make_user(Role.patrol, unit=street),
        "worker": await make_user(Role.social_worker, unit=street),
    }


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# /metrics answers Prometheus's own bearer token (GRASSROOTS_METRICS_TOKEN) or an admin's.
METRICS_TOKEN = "metrics-test-token-0123456789-abcdefgh"


@pytest.fixture(autouse=True)
def metrics_token(monkeypatch, settings):
    from pydantic import SecretStr

    monkeypatch.setattr(settings, "metrics_token", SecretStr(METRICS_TOKEN))


async def scrape(app) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        return (await c.get("/metrics", headers=headers)).text


async def test_outbox_depth_oldest_age_and_outcomes_by_provider(app, people, fcm_sender, fake_fcm):
    now = datetime.now(UTC).replace(hour=4)  # 12:00 in Nantong: outside quiet hours
    good = await add_device(people["patrol"], "good")
    dead = await add_device(people["worker"], "dead")
    fake_fcm.unregistered(dead.token)
    await notify([people["patrol"].id, people["worker"].id], at=now - timedelta(minutes=5))

    text = await scrape(app)
    assert 'grassroots_outbox_depth{status="queued"} 2.0' in text
    assert sample("grassroots_outbox_oldest_age_seconds") >= 0  # the gauge is exported
    depth, age = await figures.outbox_figures(now=now)
    assert depth == {"queued": 2, "held": 0} and 299 <= age <= 301

    sent_before = sample("grassroots_deliveries_total", provider="fcm", outcome="sent")
    dead_before = sample("grassroots_deliveries_total", provider="fcm", outcome="unregistered")
    await outbox.deliver_batch(sender=fcm_sender, now=now)

    assert sample("grassroots_deliveries_total", provider="fcm", outcome="sent") == sent_before + 1
    assert (
        sample("grassroots_deliveries_total", provider="fcm", outcome="unregistered")
        == dead_before + 1
    )
    assert fake_fcm.sent_to(good.token)
    text = await scrape(app)
    assert 'grassroots_outbox_depth{status="queued"} 0.0' in text
    assert "grassroots_outbox_oldest_age_seconds 0.0" in text
