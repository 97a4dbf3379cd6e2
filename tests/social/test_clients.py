"""Clients: categories, identity numbers at rest, masking, search, scope and audit."""

from __future__ import annotations

from tortoise import connections

from models.audit import AuditEntry
from models.social import CareGroupMember, Client
from services.identity import check_character, validate_id_number
from tests.social.conftest import assign, client_body, create_client, id_number, wrong_check_digit


async def test_create_client_masks_and_encrypts_the_identity_number(client, auth, street):
    number = id_number(7)
    body = await create_client(
        client, auth, street.supervisor, street.street, id_number=number, phone="13812345678"
    )
    assert body["id_number"] == number[:4] + "*" * 10 + number[-4:]
    assert body["category"] == "released_prisoner"
    assert body["social_worker_id"] is None
    assert body["next_visit_due"] is None
    # Nothing in the stored row holds the number in clear.
    rows = await connections.get("default").execute_query_dict(
        "SELECT * FROM social_client WHERE full_name = '张某某'"
    )
    assert len(rows) == 1
    for value in rows[0].values():
        assert number not in str(value)
        assert number[6:14] + number[14:17] not in str(value)
    stored = await Client.get(id=body["id"])
    assert stored.id_number_cipher and stored.id_number_cipher.startswith("v1:")
    # The detail view shows the phone, the list view masks it.
    r = await client.get(f"/clients/{body['id']}", headers=auth(street.supervisor))
    assert r.json()["phone"] == "13812345678"
    assert r.json()["id_number"] == body["id_number"]
    r = await client.get("/clients", headers=auth(street.supervisor))
    assert r.json()["items"][0]["phone"] == "138****5678"
    assert r.json()["items"][0]["id_number"] == body["id_number"]


async def test_search_by_exact_identity_number(client, auth, street):
    first = id_number(11)
    await create_client(client, auth, street.supervisor, street.street, id_number=first)
    await create_client(
        client, auth, street.supervisor, street.street, full_name="李某某", id_number=id_number(12)
    )
    await create_client(client, auth, street.supervisor, street.street, full_name="王某某")
    headers = auth(street.supervisor)
    r = await client.post("/clients/search", json={"id_number": first}, headers=headers)
    assert r.status_code == 200
    assert [c["full_name"] for c in r.json()["items"]] == ["张某某"]
    r = await client.post(
        "/clients/search", json={"id_number": first, "category": "drug_rehab"}, headers=headers
    )
    assert r.json()["items"] == []
    # Surrounding spaces are normalised; a wrong check digit is a 422, not an empty list.
    r = await client.post("/clients/search", json={"id_number": f" {first} "}, headers=headers)
    assert len(r.json()["items"]) == 1
    r = await client.post(
        "/clients/search", json={"id_number": wrong_check_digit(first)}, headers=headers
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_id_number"
    # Another street's supervisor does not find it; the query string never carries the number.
    r = await client.post(
        "/clients/search", json={"id_number": first}, headers=auth(street.other_supervisor)
    )
    assert r.json()["items"] == []
    r = await client.get("/clients", params={"category": "released_prisoner"}, headers=headers)
    assert len(r.json()["items"]) == 3


async def test_invalid_identity_number_is_refused_and_nothing_stored(client, auth, street):
    bad = wrong_check_digit(id_number(3))
    r = await client.post(
        "/clients", json=client_body(street.street, id_number=bad), headers=auth(street.supervisor)
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_id_number"
    assert bad not in r.text
    for wrong in ["12345", "3206021990030700AB", "320602199013070013"]:
        r = await client.post(
            "/clients",
            json=client_body(street.street, id_number=wrong),
            headers=auth(street.supervisor),
        )
        assert r.status_code == 422, wrong
        assert r.json()["code"] == "invalid_id_number"
    assert await Client.all().count() == 0
    assert validate_id_number(id_number(3)) == id_number(3)


async def test_the_422_says_which_part_of_the_number_is_wrong(client, auth, street):
    unknown_province = "990602199003070017"
    unknown_province = unknown_province[:17] + check_character(unknown_province[:17])
    cases = [
        (unknown_province, "address code", "地址码"),
        (
            "320602199002300012"[:17] + check_character("32060219900230001"),
            "birth date",
            "出生日期",
        ),
        (wrong_check_digit(id_number(3)), "check digit", "校验码"),
    ]
    for number, english, chinese in cases:
        for language, words in (("en", english), ("zh-CN", chinese)):
            r = await client.post(
                "/clients",
                json=client_body(street.street, id_number=number),
                headers={**auth(street.supervisor), "Accept-Language": language},
            )
            assert r.status_code == 422, number
            problem = r.json()
            assert problem["code"] == "invalid_id_number"
            assert words in problem["detail"], problem["detail"]
            assert number not in r.text and number[:6] not in r.text and number[-6:] not in r.text
    r = await client.post(
        "/clients/search",
        json={"id_number": unknown_province},
        headers={**auth(street.supervisor), "Accept-Language": "en"},
    )
    assert r.status_code == 422 and "address code" in r.json()["detail"]
    assert await Client.all().count() == 0


async def test_only_the_four_categories_and_no_sensitive_fields(client, auth, street):
    for field, value in [
        ("category", "petitioner"),
        ("risk_level", "extreme"),
        ("religion", "x"),
        ("ethnicity", "x"),
        ("political_status", "x"),
        ("home_lon", 181),
        ("home_lat", -91),
    ]:
        r = await client.post(
            "/clients",
            json=client_body(street.street, **{field: value}),
            headers=auth(street.supervisor),
        )
        assert r.status_code == 422, field
    r = await client.post(
        "/clients", json=client_body(street.street, home_lat=None), headers=auth(street.supervisor)
    )
    assert r.status_code == 422
    assert r.json()["code"] == "location_incomplete"
    assert await Client.all().count() == 0
    columns = set(Client._meta.fields_map)
    assert not {"religion", "ethnicity", "nationality", "political_status"} & columns
    for category in ["community_correction", "released_prisoner", "drug_rehab", "at_risk_youth"]:
        await create_client(client, auth, street.supervisor, street.street, category=category)
    assert await Client.all().count() == 4


async def test_org_unit_outside_scope_is_refused(client, auth, street):
    r = await client.post(
        "/clients", json=client_body(street.other_street), headers=auth(street.supervisor)
    )
    assert r.status_code == 422
    assert r.json()["code"] == "org_unit_outside_scope"
    assert await Client.all().count() == 0


async def test_worker_who_registers_a_client_takes_the_case(client, auth, street):
    body = await create_client(client, auth, street.worker1, street.street, risk_level="high")
    assert body["social_worker_id"] == str(street.worker1.id)
    assert body["next_visit_due"] is not None
    r = await client.get("/me/caseload", headers=auth(street.worker1))
    assert [e["client"]["id"] for e in r.json()] == [body["id"]]


async def test_scope_by_role(client, auth, street):
    mine = await create_client(client, auth, street.supervisor, street.street)
    await assign(client, auth, street.supervisor, mine["id"], street.worker1)
    url = f"/clients/{mine['id']}"
    assert (await client.get(url, headers=auth(street.worker1))).status_code == 200
    assert (await client.get(url, headers=auth(street.supervisor))).status_code == 200
    assert (await client.get(url, headers=auth(street.district_supervisor))).status_code == 200
    assert (await client.get(url, headers=auth(street.admin))).status_code == 200
    # Another worker in the same street, another street's supervisor: not found.
    assert (await client.get(url, headers=auth(street.worker2))).status_code == 404
    assert (await client.get(url, headers=auth(street.other_supervisor))).status_code == 404
    assert (await client.get(url + "/visits", headers=auth(street.worker2))).status_code == 404
    # Roles that never see clients.
    assert (await client.get(url, headers=auth(street.patrol))).status_code == 403
    assert (await client.get("/clients", headers=auth(street.officer))).status_code == 403
    assert (await client.get("/me/caseload", headers=auth(street.patrol))).status_code == 403
    # The worker's list holds only the own caseload.
    await create_client(client, auth, street.supervisor, street.street, full_name="李某某")
    r = await client.get("/clients", headers=auth(street.worker1))
    assert [c["id"] for c in r.json()["items"]] == [mine["id"]]
    r = await client.get("/clients", headers=auth(street.supervisor))
    assert len(r.json()["items"]) == 2
    # Unknown id: 404; not a UUID: 422.
    assert (
        await client.get(
            "/clients/00000000-0000-0000-0000-000000000000", headers=auth(street.worker1)
        )
    ).status_code == 404


async def test_only_managers_reassign(client, auth, street):
    body = await create_client(client, auth, street.supervisor, street.street)
    await assign(client, auth, street.supervisor, body["id"], street.worker1)
    r = await assign(client, auth, street.worker1, body["id"], street.worker2)
    assert r.status_code == 403
    r = await assign(client, auth, street.supervisor, body["id"], street.patrol)
    assert r.status_code == 422
    assert r.json()["code"] == "not_a_social_worker"
    r = await assign(client, auth, street.supervisor, body["id"], street.other_worker)
    assert r.status_code == 422


async def test_reads_and_writes_are_audited_without_identity_numbers(client, auth, street):
    number = id_number(21)
    body = await create_client(client, auth, street.supervisor, street.street, id_number=number)
    await client.get(f"/clients/{body['id']}", headers=auth(street.supervisor))
    await client.get("/clients", headers=auth(street.supervisor))
    entries = await AuditEntry.filter(resource_type="client").order_by("at")
    actions = [(e.action, e.user_id) for e in entries]
    assert ("create", street.supervisor.id) in actions
    assert ("read", street.supervisor.id) in actions
    listed = [e for e in entries if e.action == "list"]
    assert listed and listed[0].detail["client_ids"] == [body["id"]]
    for entry in await AuditEntry.all():
        assert number not in str(entry.detail)


async def test_update_client_changes_cadence_and_refuses_bad_input(client, auth, street):
    body = await create_client(client, auth, street.supervisor, street.street, risk_level="low")
    await assign(client, auth, street.supervisor, body["id"], street.worker1)
    before = (await client.get(f"/clients/{body['id']}", headers=auth(street.worker1))).json()
    r = await client.patch(
        f"/clients/{body['id']}", json={"risk_level": "high"}, headers=auth(street.worker1)
    )
    assert r.status_code == 200
    from datetime import date

    assert (
        date.fromisoformat(before["next_visit_due"])
        - date.fromisoformat(r.json()["next_visit_due"])
    ).days == 23
    r = await client.patch(
        f"/clients/{body['id']}",
        json={"id_number": wrong_check_digit(id_number(5))},
        headers=auth(street.worker1),
    )
    assert r.status_code == 422
    r = await client.patch(
        f"/clients/{body['id']}", json={"category": "x"}, headers=auth(street.worker1)
    )
    assert r.status_code == 422
    r = await client.patch(
        f"/clients/{body['id']}", json={"address": "新地址"}, headers=auth(street.worker2)
    )
    assert r.status_code == 404


async def test_care_group_members_read_and_record_visits(client, auth, street, make_user):
    youth = await create_client(
        client, auth, street.supervisor, street.street, category="at_risk_youth"
    )
    adult = await create_client(client, auth, street.supervisor, street.street, full_name="李某某")
    await assign(client, auth, street.supervisor, youth["id"], street.worker1)
    url = f"/clients/{youth['id']}/care-group"
    # The patrol member cannot see the youth until added to the care group as a volunteer.
    assert (
        await client.get(f"/clients/{youth['id']}", headers=auth(street.patrol))
    ).status_code == 403
    r = await client.post(
        url,
        json={"user_id": str(street.patrol.id), "role": "volunteer"},
        headers=auth(street.worker1),
    )
    assert r.status_code == 201
    assert r.json()["full_name"] == "李强"
    r = await client.post(
        url,
        json={"user_id": str(street.patrol.id), "role": "volunteer"},
        headers=auth(street.worker1),
    )
    assert r.status_code == 200
    r = await client.post(
        url, json={"user_id": str(street.patrol.id), "role": "parent"}, headers=auth(street.worker1)
    )
    assert r.status_code == 409
    r = await client.post(
        url,
        json={"user_id": str(street.officer.id), "role": "police_officer"},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 201
    r = await client.post(
        url,
        json={"user_id": str(street.worker2.id), "role": "teacher"},
        headers=auth(street.worker1),
    )
    assert r.status_code == 422
    assert (await client.get(url, headers=auth(street.worker1))).json()[0]["role"] == "volunteer"
    # Members read the client and record visits, but see no other client.
    assert (
        await client.get(f"/clients/{youth['id']}", headers=auth(street.patrol))
    ).status_code == 200
    assert (
        await client.get(f"/clients/{adult['id']}", headers=auth(street.patrol))
    ).status_code == 404
    r = await client.get("/clients", headers=auth(street.patrol))
    assert [c["id"] for c in r.json()["items"]] == [youth["id"]]
    r = await client.post(
        f"/clients/{youth['id']}/visits",
        json={
            "id": "6a1c0b1e-1111-4000-8000-000000000001",
            "kind": "phone",
            "occurred_at": "2026-01-05T10:00:00+08:00",
            "notes": "电话了解近况",
        },
        headers=auth(street.patrol),
    )
    assert r.status_code == 201, r.text
    # A member may not manage the group; the adult has no care group at all.
    r = await client.delete(f"{url}/{street.officer.id}", headers=auth(street.patrol))
    assert r.status_code == 403
    r = await client.post(
        f"/clients/{adult['id']}/care-group",
        json={"user_id": str(street.patrol.id), "role": "volunteer"},
        headers=auth(street.supervisor),
    )
    assert r.status_code == 422
    assert r.json()["code"] == "care_group_youth_only"
    r = await client.delete(f"{url}/{street.patrol.id}", headers=auth(street.worker1))
    assert r.status_code == 204
    assert (
        await client.delete(f"{url}/{street.patrol.id}", headers=auth(street.worker1))
    ).status_code == 404
    assert (
        await client.get(f"/clients/{youth['id']}", headers=auth(street.patrol))
    ).status_code == 403
    assert await CareGroupMember.all().count() == 1
