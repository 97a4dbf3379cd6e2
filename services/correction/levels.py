"""Obligation rules and levels: an office's rule set, what a level implies, the level in force."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import services.correction.messages  # noqa: F401  (registers the codes raised here)
from grassroots.errors import Invalid
from models.correction import ObligationConfig, Supervision
from models.org import OrgUnit
from services import audit
from services.correction.rules import (
    DEFAULT_RULES,
    InvalidRules,
    ObligationKind,
    RuleSet,
    SupervisionLevel,
    rule_segments,
    rules_from_dict,
    rules_to_dict,
)
from services.org import ancestor_paths

KIND_NAMES_ZH = {
    "location": "定位签到",
    "report": "报到",
    "thought_report": "思想汇报",
    "service_hours": "公益活动",
    "study": "教育学习",
    "home_visit": "走访",
}


def rule_set(supervision: Supervision) -> RuleSet:
    """The rule set a supervision started with."""
    return rules_from_dict(supervision.rules)


def history(supervision: Supervision) -> list[tuple[date, SupervisionLevel]]:
    """The supervision's level decisions, oldest first, as (decided on, level)."""
    return [
        (date.fromisoformat(entry["decided_on"]), SupervisionLevel(entry["level"]))
        for entry in supervision.level_history
    ]


def obligations_of(*, rules: Mapping[str, Any], level: str) -> list[dict[str, Any]]:
    """What a level implies under a stored rule set: [{kind, interval, required, unit}]."""
    parsed = rules_from_dict(rules)
    return [
        {
            "kind": r.kind.value,
            "interval": r.interval.value,
            "required": r.required,
            "unit": r.unit.value,
        }
        for r in parsed[SupervisionLevel(level)]
    ]


async def rules_for_org_path(*, org_path: str) -> dict[str, Any]:
    """The rule set of the nearest office on the path that configured one, else the defaults."""
    configs = await ObligationConfig.filter(org_path__in=ancestor_paths(org_path))
    if configs:
        nearest = max(configs, key=lambda c: len(c.org_path))
        return dict(nearest.rules)
    return rules_to_dict(DEFAULT_RULES)


async def put_obligation_config(*, org_unit: OrgUnit, rules: Mapping[str, Any]) -> dict[str, Any]:
    """Set an office's obligation rules (validated); new supervisions there use them."""
    if not isinstance(rules, Mapping):
        raise Invalid("rules_invalid", params={"reason": "not an object"})
    try:
        parsed = rules_from_dict(rules)
    except InvalidRules as exc:
        raise Invalid("rules_invalid", params={"reason": str(exc)}) from None
    stored = rules_to_dict(parsed)
    config = await ObligationConfig.get_or_none(org_unit_id=org_unit.id)
    if config is None:
        config = await ObligationConfig.create(
            org_unit=org_unit, org_path=org_unit.path, rules=stored
        )
    else:
        config.rules = stored
        await config.save()
    await audit.record(action="update", resource_type="obligation_config", resource_id=org_unit.id)
    return stored


def level_in_force(*, supervision: Supervision, day: date) -> SupervisionLevel:
    """The level whose location rule governs `day` (levels switch at each rule's interval end)."""
    start = supervision.starts_on
    end = supervision.ends_on
    probe = min(max(day, start), end)
    segments = rule_segments(
        kind=ObligationKind.LOCATION,
        rules=rule_set(supervision),
        history=history(supervision),
        supervision_starts_on=start,
        supervision_ends_on=end,
    )
    for segment in segments:
        if segment.starts_on <= probe <= segment.ends_on:
            return segment.level
    return SupervisionLevel(supervision.level)
