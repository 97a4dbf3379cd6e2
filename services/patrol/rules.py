"""Patrol's limits and messages, and the rules decided here (DESIGN.md leaves them open).

- A member may start a round only in a patrol zone with a shift of theirs whose window, opened an
  hour early, holds `started_at`. A zone never assigned to them is a 404, one assigned at another
  time a 422 `not_assigned`.
- A point is stored when its coordinates are finite and in range, its accuracy and speed are not
  negative, its time is not more than 5 min in the future, not more than 5 min before the round's
  start and, for an ended round, not more than 5 min after its end. Others are `rejected` one by
  one; the rest of the batch is stored.
- Zone exits are judged from the whole sorted track (late points count) by the worker job
  `patrol.zone_exits` and when a round ends, never on the upload's hot path; the nth exit of a
  round raises one alert, ever.
- Missed required checkpoints raise one alert per round when it ends, and one per shift (job
  `patrol.missed_checkpoints`) when no round of that shift already raised it.
"""

from __future__ import annotations

from datetime import timedelta

from grassroots.messages import register_messages

register_messages(
    {
        "batch_too_large": ("一批最多 {limit} 个点", "A batch holds at most {limit} points"),
        "not_assigned": (
            "该时间没有您在此区域的排班",
            "You have no shift in this zone at that time",
        ),
        "zone_not_patrol": ("该区域不是巡逻区域", "The zone is not a patrol zone"),
        "round_already_ended": ("巡逻已结束", "The round has already ended"),
        "invalid_time_range": ("结束时间须晚于开始时间", "The end must come after the start"),
        "shift_too_long": ("一个班次最长 24 小时", "A shift lasts at most 24 hours"),
        "user_not_patrol": (
            "该用户不是巡防队员或不在管辖范围内",
            "The user is not a patrol member in scope",
        ),
        "time_in_future": (
            "时间不能晚于当前时间 5 分钟以上",
            "The time is more than 5 minutes ahead",
        ),
        "checkpoint_not_in_zone": (
            "检查点不属于本次巡逻的区域",
            "The checkpoint is not in this round's zone",
        ),
        "time_outside_round": ("时间不在巡逻时段内", "The time lies outside the round"),
        "too_many_checkpoints": (
            "一个区域最多 {limit} 个检查点",
            "A zone holds at most {limit} checkpoints",
        ),
    }
)

SLACK = timedelta(minutes=5)
ROUND_EARLY_START = timedelta(hours=1)
MAX_SHIFT = timedelta(hours=24)
MAX_BATCH = 1000
MAX_CHECKPOINTS_PER_ZONE = 500
ALERT_GRACE = timedelta(minutes=10)
