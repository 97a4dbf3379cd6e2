"""Scope fixes found while writing the authorization matrix, each pinned by a test."""

from __future__ import annotations

from typing import Any

from models.org import Role
from models.social import CareGroupMember, Client, ClientCategory, RiskLevel


async def test_care_group_helper_must_belong_to_the_clients_place(
    client: Any, make_unit: Any, make_user: Any, auth: Any
) -> None:
    """A care-group member reads the client, so a social worker cannot open a youth's record
    to someone of another district or a sibling community (422 user_outside_scope)."""
    city = await make_unit("南通市")
    district = await make_unit("崇川区", parent=city)
    community = await make_unit("和平桥社区", parent=district)
    sibling = await make_unit("城东社区", parent=district)
    other_district = await make_unit("海门区", parent=city)
    worker = await make_user(Role.social_worker, unit=community)
    youth = await Client.create(
        full_name="吴某某",
        category=ClientCategory.at_risk_youth,
        address="濠西路 1 号",
        risk_level=RiskLevel.medium,
        org_unit=community,
        org_path=community.path,
        social_worker=worker,
    )
    url = f"/clients/{youth.id}/care-group"
    for outsider_unit in (other_district, sibling):
        outsider = await make_user(Role.patrol, unit=outsider_unit)
        r = await client.post(
            url, json={"user_id": str(outsider.id), "role": "volunteer"}, headers=auth(worker)
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "user_outside_scope"
        assert (await client.get(f"/clients/{youth.id}", headers=auth(outsider))).status_code == 403
    # People of the place, at the community or above it (the district's officer), may join.
    for insider in (
        await make_user(Role.patrol, unit=community),
        await make_user(Role.officer, unit=district),
    ):
        r = await client.post(
            url, json={"user_id": str(insider.id), "role": "volunteer"}, headers=auth(worker)
        )
        assert r.status_code == 201, r.text
    assert await CareGroupMember.filter(client_id=youth.id).count() == 2
