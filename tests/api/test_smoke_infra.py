from models.org import Role


async def test_me_answers_for_a_signed_in_user(client, make_unit, make_user, auth):
    unit = await make_unit()
    user = await make_user(Role.patrol, unit=unit, full_name="李强")
    r = await client.get("/me", headers=auth(user))
    assert r.status_code == 200
    assert r.json()["full_name"] == "李强"
    assert r.json()["roles"] == ["patrol"]


async def test_tables_are_empty_between_tests(client, make_unit):
    from models.org import OrgUnit

    assert await OrgUnit.all().count() == 0
