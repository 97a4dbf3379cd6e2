"""The demo data set: a believable team, caseload, visits and six-ones history."""

from __future__ import annotations

from collections import Counter

from models.org import Team, User
from models.social import (
    CareGroupMember,
    CaseAssignment,
    CaseClosure,
    Client,
    Delegation,
    TeamTask,
    Visit,
)
from services import demo
from services.identity import validate_id_number
from services.social.clients import identity_cipher


async def test_demo_social_work(db, settings):
    assert await demo.load_if_empty(settings=settings)
    team = await Team.get(name="和平桥街道社工站")
    worker1 = await User.get(username="worker1")
    assert team.lead_id == worker1.id
    clients = await Client.filter(status="open")
    assert len(clients) == 12
    assert set(Counter(c.category.value for c in clients).values()) == {3}
    # One closed case in the history: who held it, its visits and its closing are kept.
    [closed] = await Client.filter(status="closed")
    assert closed.close_reason == "moved_away" and closed.visit_due_on is None
    assert closed.social_worker_id == (await User.get(username="worker2")).id
    assert await Visit.filter(client_id=closed.id).count() == 9
    closure = await CaseClosure.get(client_id=closed.id)
    assert closure.closed_on == closed.closed_on and closure.reopened_at is None
    assert await CaseAssignment.filter(client_id=closed.id, ends_at__isnull=True).count() == 0
    cipher = identity_cipher(settings)
    for c in clients:
        assert c.full_name.endswith("某") and c.social_worker_id is not None
        number = cipher.decrypt(c.id_number_cipher)
        assert validate_id_number(number) == number
        assert c.id_number_masked == number[:4] + "*" * 10 + number[-4:]
    assert await Visit.all().count() > 40
    assert await Visit.filter(location_verified=True).exists()
    assert await CaseAssignment.all().count() == 15  # a transfer, and the closed case's
    assert await CareGroupMember.all().count() == 3
    assert await Delegation.all().count() == 1
    done = await TeamTask.filter(completed_at__isnull=False).count()
    # Every task since January last year but the two most recent past ones: at least a year's
    # 29 less two (exactly that on 1 January).
    assert done >= 27
    assert await TeamTask.filter(completed_at__isnull=True).count() >= 2
