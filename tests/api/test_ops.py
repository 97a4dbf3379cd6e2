"""Health, readiness, metrics, offline docs and the audit log."""

from __future__ import annotations

from models.audit import AuditEntry
from models.org import Role


async def test_healthz_and_readyz(app):
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_readyz_says_503_when_the_database_is_down(app, monkeypatch):
    import httpx

    from grassroots import db

    async def down() -> bool:
        return False

    monkeypatch.setattr(db, "ping", down)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "database_unavailable"


async def test_metrics_count_requests_per_route_template(app, client, make_unit, make_user, auth):
    import httpx

    unit = await make_unit()
    user = await make_user(Role.patrol, unit=unit)
    admin = await make_user(Role.admin, unit=unit)
    await client.get("/me", headers=auth(user))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        text = (await c.get("/metrics", headers=auth(admin))).text
    assert 'grassroots_requests_total{method="GET",route="/api/v1/me",status="200"}' in text
    assert "grassroots_request_duration_seconds_bucket" in text


async def test_docs_are_served_from_this_server(app):
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = (await c.get("/docs")).text
        assert "/static/swagger-ui/swagger-ui-bundle.js" in page
        assert "cdn" not in page.lower()
        js = await c.get("/static/swagger-ui/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert (await c.get("/static/swagger-ui/swagger-ui.css")).status_code == 200


async def test_audit_is_for_admins_and_records_writes(client, make_unit, make_user, auth):
    unit = await make_unit()
    admin = await make_user(Role.admin, unit=unit)
    supervisor = await make_user(Role.supervisor, unit=unit)
    r = await client.post(
        "/org-units", json={"name": "城东街道", "parent_id": str(unit.id)}, headers=auth(supervisor)
    )
    assert r.status_code == 201
    entry = await AuditEntry.get(resource_type="org_unit", resource_id=r.json()["id"])
    assert entry.user_id == supervisor.id and entry.action == "create" and entry.address
    assert (await client.get("/audit", headers=auth(supervisor))).status_code == 403
    listed = await client.get("/audit", params={"resource_type": "org_unit"}, headers=auth(admin))
    assert [e["resource_id"] for e in listed.json()["items"]] == [r.json()["id"]]


async def test_a_served_app_settles_its_heap_once_started(settings, db):
    """A served process freezes its start-up heap and collects the young less often (the p99)."""
    import gc

    from api.app import create_app

    before = gc.get_threshold()
    try:
        quiet = create_app(settings, manage_db=False)
        async with quiet.router.lifespan_context(quiet):
            assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
        served = create_app(settings, manage_db=False, settle_heap=True)
        async with served.router.lifespan_context(served):
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold()[0] == 50_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_metrics_answer_only_the_metrics_token_or_an_admin(
    app, make_unit, make_user, auth, settings, monkeypatch
):
    import httpx
    from pydantic import SecretStr

    monkeypatch.setattr(settings, "metrics_token", SecretStr("prometheus-scrape-token-0123456789"))
    unit = await make_unit()
    admin = await make_user(Role.admin, unit=unit)
    supervisor = await make_user(Role.supervisor, unit=unit)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": "Bearer prometheus-scrape-token-012345678"},
            auth(supervisor),
        ):
            refused = await c.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"] == "application/problem+json"
            assert "grassroots_requests_total" not in refused.text
        scrape = {"Authorization": "Bearer prometheus-scrape-token-0123456789"}
        for headers in (scrape, auth(admin)):
            allowed = await c.get("/metrics", headers=headers)
            assert allowed.status_code == 200
            assert "# TYPE grassroots_requests_total counter" in allowed.text


async def test_metrics_without_a_configured_token_take_only_an_admin(app, settings, monkeypatch):
    import httpx

    monkeypatch.setattr(settings, "metrics_token", None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        # An empty bearer never matches an unset token.
        assert (await c.get("/metrics", headers={"Authorization": "Bearer "})).status_code == 401
