"""The social domain's problem codes in Chinese and English, registered when imported.

Every module of the domain that raises one of these codes imports this module, so the catalog
holds them whichever module is loaded first.
"""

from __future__ import annotations

from grassroots.messages import register_messages

register_messages(
    {
        "caseload_full": ("该社工的个案已满", "The social worker's caseload is full"),
        "invalid_id_number": ("身份证号码无效", "The identity number is invalid"),
        "not_a_social_worker": (
            "指定用户不是管辖范围内的社工",
            "The user is not a social worker in your scope",
        ),
        "visit_in_future": ("走访时间不能晚于当前时间", "The visit cannot lie in the future"),
        "location_incomplete": (
            "经度和纬度须同时提供",
            "Give both longitude and latitude, or neither",
        ),
        "care_group_youth_only": (
            "只有闲散青少年可以建立关爱小组",
            "Only at-risk youth have a care group",
        ),
        "already_in_care_group": (
            "该用户已在关爱小组中担任其他角色",
            "The user is already in the care group with another role",
        ),
        "invalid_date_range": ("结束日期早于开始日期", "The end date lies before the start date"),
        "range_too_long": ("查询区间过长", "The date range is too long"),
        "delegation_same_unit": (
            "不能委托给服务对象所属的单位",
            "Cannot delegate to the client's own org unit",
        ),
        "delegation_overlaps": (
            "与已有的委托帮教时间重叠",
            "Overlaps an existing delegation",
        ),
        "task_already_completed": (
            "该任务已以不同内容完成",
            "The task was already completed with a different body",
        ),
        "completed_in_future": (
            "完成时间不能晚于当前时间",
            "The completion time lies in the future",
        ),
        "completed_before_period": (
            "完成时间早于任务周期开始",
            "The completion time lies before the task's period",
        ),
        "attendee_not_in_team": ("参加人须为本团队成员", "Attendees must be members of the team"),
        "case_closed": (
            "该服务对象已结案，须先重新开案",
            "The client's case is closed: reopen it first",
        ),
        "case_not_closed": ("该服务对象的个案未结案", "The client's case is not closed"),
        "client_under_supervision": (
            "该服务对象的社区矫正在结案日期后仍在执行，不能结案",
            "The client is under community-correction supervision after the closing date",
        ),
        "closed_on_in_future": (
            "结案日期不能晚于今天",
            "The closing date cannot lie in the future",
        ),
        "closed_on_too_early": (
            "结案日期不能早于 {earliest}（建档、分派或重新开案的日期）",
            "The closing date cannot lie before {earliest} (registration, assignment or reopening)",
        ),
    }
)
