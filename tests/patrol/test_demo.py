"""The demo data set's patrol step: zones, checkpoints, a shift and a believable finished round."""

from __future__ import annotations

from models.alerts import Alert
from models.patrol import Assignment, Round, RoundStatus, Zone
from services import demo
from services.patrol import analysis


async def test_demo_loads_patrol_zones_and_a_finished_round(db, settings, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_MODULES", ["services.patrol.demo"])
    monkeypatch.setattr(settings, "demo_password", "demo-password-123")
    assert await demo.load_if_empty(settings=settings)
    zones = await Zone.all()
    assert len(zones) == 3
    for zone in zones:
        lon, lat = zone.geometry["coordinates"][0][0]
        assert 120.85 <= lon <= 120.90 and 31.98 <= lat <= 32.03
        assert 100_000 < zone.area_m2 < 2_000_000
    assert await Assignment.filter(user__username="patrol1").count() == 1
    good = await Round.get(user__username="patrol1")
    assert good.status == RoundStatus.ended
    summary = await analysis.round_summary(round=good)
    assert summary.points > 100 and summary.good_points == summary.points
    assert 1500 < summary.distance_m < 3000
    assert summary.in_zone_ratio == 1.0 and summary.exits == []
    assert summary.missed == []
    assert 0.2 < summary.coverage_ratio < 1.0
    # patrol2's round missed its zone's one required checkpoint: the supervisor is alerted.
    short = await Round.get(user__username="patrol2")
    assert short.status == RoundStatus.ended
    missed = (await analysis.round_summary(round=short)).missed
    assert [c.name for c in missed] == ["文峰塔治安卡口"]
    [alert] = await Alert.all()
    assert alert.kind == "missed_checkpoint" and "文峰塔治安卡口" in alert.title
