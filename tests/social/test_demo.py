"""The demo data set: a believable team, caseload, visits and six-ones history."""

from __future__ import annotations

from collections import Counter

from models.org import Team, User
from models.social import CareGroupMember, CaseAssignment, Client, Delegation, TeamTask, Visit
from services import demo
from services.identity import validate_id_number
from services.social import identity_cipher


async def test_demo_social_work(db, settings):
    assert await demo.load_if_empty(settings=settings)
    team = await Team.get(name="和平桥街道社工站")
    worker1 = await User.get(username="worker1")
    assert team.lead_id == worker1.id
    clients = await Client.all()
    assert len(clients) == 12
    assert set(Counter(c.category.value for c in clients).values()) == {3}
    cipher = identity_cipher(settings)
    for c in clients:
        assert c.full_name.endswith("某") and c.social_worker_id is not None
        number = cipher.decrypt(c.id_number_cipher)
        assert validate_id_number(number) == number
        assert c.id_number_masked == number[:4] + "*" * 10 + number[-4:]
    assert await Visit.all().count() > 40
    assert await Visit.filter(location_verified=True).exists()
    assert await CaseAssignment.all().count() == 14  # one transfer with a second worker
    assert await CareGroupMember.all().count() == 3
    assert await Delegation.all().count() == 1
    done = await TeamTask.filter(completed_at__isnull=False).count()
    assert done > 29
    assert await TeamTask.filter(completed_at__isnull=True).count() >= 2
