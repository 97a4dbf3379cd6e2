"""The problem messages of community correction, registered once when the package is used."""

from __future__ import annotations

from grassroots.messages import register_messages

register_messages(
    {
        "subject_invalid": (
            "矫正对象不存在、不在管辖范围内或不是矫正对象",
            "The subject does not exist, is out of scope or is not a correction subject",
        ),
        "officer_invalid": (
            "司法所工作人员不存在、不在管辖范围内或不是矫正工作人员",
            "The officer does not exist, is out of scope or is not a correction officer",
        ),
        "officer_outside_subject_area": (
            "该工作人员无权管辖此矫正对象所在的单位",
            "The officer's office does not cover the subject's org unit",
        ),
        "permitted_zone_invalid": (
            "活动范围区域不存在、不在管辖范围内或不是活动范围类型",
            "The permitted zone does not exist, is out of scope or is not a permitted area",
        ),
        "client_invalid": (
            "服务对象不存在或不是社区矫正类别",
            "The client does not exist or is not in the community-correction category",
        ),
        "supervision_dates_invalid": (
            "矫正期限无效：日期须在 1900 至 2200 年间，结束不早于开始，期限不超过十年，"
            "开始日期距今不超过十年、不晚于一年后",
            "Invalid period: dates within 1900..2200, the end not before the start, at most 10 "
            "years long, starting at most 10 years ago and at most a year ahead",
        ),
        "supervision_overlaps": (
            "该矫正对象在此期间已有矫正记录",
            "The subject already has a supervision in this period",
        ),
        "supervision_ended": ("矫正期已结束", "The supervision has ended"),
        "ended_on_before_start": (
            "解除/终止日期不能早于矫正开始日期",
            "The end date may not precede the start of the supervision",
        ),
        "ended_on_after_planned_end": (
            "解除/终止日期不能晚于原定矫正期满日期",
            "The end date may not be after the planned end of the supervision",
        ),
        "ended_on_in_future": (
            "解除/终止日期不能晚于今天",
            "The end date may not be in the future",
        ),
        "case_closed": (
            "该服务对象已结案，须先重新开案",
            "The client's case is closed: reopen it first",
        ),
        "not_under_supervision": (
            "该时间不在您的矫正期内",
            "You are not under supervision at that time",
        ),
        "checkin_in_future": ("签到时间不能晚于当前时间", "The check-in time is in the future"),
        "location_required": ("定位签到须提供经纬度", "A location check-in needs lon and lat"),
        "lon_lat_together": ("经度和纬度须同时提供", "Give lon and lat together"),
        "hours_required": (
            "公益活动和教育学习须填写时长（大于 0 小时）",
            "Service and study entries need hours greater than 0",
        ),
        "hours_not_allowed": (
            "只有公益活动和教育学习可以填写时长",
            "Only service and study entries take hours",
        ),
        "hours_over_daily_cap": (
            "同一天的公益活动和教育学习合计不能超过 24 小时",
            "Service and study hours of one local day may not exceed 24 in total",
        ),
        "checkin_not_late": (
            "该签到不是迟交签到，无需确认",
            "The check-in is not late: there is nothing to confirm",
        ),
        "text_required": ("思想汇报须填写内容", "A thought report needs its text"),
        "leave_times_invalid": (
            "请假时间无效：结束须晚于开始，且不能在过去",
            "Invalid leave: it must end after it starts and not be in the past",
        ),
        "leave_too_long": ("单次请假不能超过 90 天", "One leave may last at most 90 days"),
        "leave_overlaps": (
            "与已有的待审批或已批准请假时间重叠",
            "Overlaps a pending or approved leave",
        ),
        "leave_not_pending": ("该请假已处理或已撤销", "The leave request is no longer pending"),
        "leave_already_started": (
            "请假已开始，不能撤销",
            "The leave has already started and cannot be cancelled",
        ),
        "month_invalid": (
            "月份无效：须为 YYYY-MM，且在矫正期内、不晚于本月",
            "Invalid month: use YYYY-MM within the supervision and not after this month",
        ),
        "rules_invalid": ("义务规则配置无效: {reason}", "Invalid obligation rules: {reason}"),
    }
)
