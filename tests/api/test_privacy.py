"""Admin export of everything held about a client, and erasure where the law allows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models.audit import AuditEntry
from models.correction import CheckIn, Supervision
from models.org import Role, User
from models.social import CaseClosure, Client, Visit
from services import demo


async def _demo_world(settings):
    await demo.load_if_empty(settings=settings)
    admin = await User.get(username="admin")
    return admin


async def test_export_holds_everything_and_is_audited(client, settings, auth):
    admin = await _demo_world(settings)
    person = await Client.filter(category="community_correction").first()
    supervision = await Supervision.get(client_id=person.id)
    r = await client.get(f"/admin/clients/{person.id}/export", headers=auth(admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["client"]["full_name"] == person.full_name
    assert len(body["client"]["id_number"]) == 18  # in clear for the admin, never elsewhere
    assert "id_number_cipher" not in body["client"] and "request_hash" not in str(body)
    assert body["supervisions"][0]["id"] == str(supervision.id)
    assert len(body["checkins"]) == await CheckIn.filter(supervision_id=supervision.id).count()
    assert len(body["visits"]) == await Visit.filter(client_id=person.id).count()
    assert await AuditEntry.filter(action="export", resource_id=str(person.id)).exists()


async def test_only_admins_export_or_erase(client, settings, auth):
    await _demo_world(settings)
    person = await Client.first()
    supervisor = await User.get(username="supervisor")
    assert (
        await client.get(f"/admin/clients/{person.id}/export", headers=auth(supervisor))
    ).status_code == 403
    assert (
        await client.post(f"/admin/clients/{person.id}/erase", headers=auth(supervisor))
    ).status_code == 403


async def test_erasure_is_refused_during_supervision_and_done_after(client, settings, auth):
    admin = await _demo_world(settings)
    person = await Client.filter(category="community_correction").first()
    supervision = await Supervision.get(client_id=person.id)
    r = await client.post(f"/admin/clients/{person.id}/erase", headers=auth(admin))
    assert r.status_code == 409 and r.json()["code"] == "erasure_not_allowed"
    assert (await Client.get(id=person.id)).full_name == person.full_name
    ended = datetime.now(UTC).date() - timedelta(days=2)
    await Supervision.filter(id=supervision.id).update(ends_on=min(ended, date.today()))
    r = await client.post(f"/admin/clients/{person.id}/erase", headers=auth(admin))
    assert r.status_code == 200, r.text
    erased = await Client.get(id=person.id)
    assert erased.full_name == "已删除" and erased.id_number_cipher is None
    assert erased.phone is None and erased.home_lon is None and erased.address == ""
    assert not await CheckIn.filter(supervision_id=supervision.id, lon__isnull=False).exists()
    assert not await Visit.filter(client_id=person.id).exclude(notes="").exists()
    assert await AuditEntry.filter(action="erase", resource_id=str(person.id)).exists()


async def test_a_client_without_supervision_can_be_erased(client, settings, auth):
    admin = await _demo_world(settings)
    person = await Client.filter(category="at_risk_youth").first()
    r = await client.post(f"/admin/clients/{person.id}/erase", headers=auth(admin))
    assert r.status_code == 200
    assert r.json()["client_id"] == str(person.id)
    assert Role.admin in admin.roles


async def test_a_closed_case_is_exported_and_its_closing_notes_erased(client, settings, auth):
    admin = await _demo_world(settings)
    person = await Client.get(status="closed")
    r = await client.get(f"/admin/clients/{person.id}/export", headers=auth(admin))
    [closure] = r.json()["case_closures"]
    assert closure["reason"] == "moved_away" and closure["note"]
    r = await client.post(f"/admin/clients/{person.id}/erase", headers=auth(admin))
    assert r.status_code == 200 and r.json()["case_closures"] == 1
    stored = await CaseClosure.get(client_id=person.id)
    assert stored.note == "" and stored.reopen_note == ""
    assert stored.reason == "moved_away"  # that the case was closed, and why, is kept
