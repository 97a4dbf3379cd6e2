"""Human sentences for every error code, Chinese first, English with Accept-Language: en."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# code -> (zh, en); templates use str.format with the error's params.
MESSAGES: dict[str, tuple[str, str]] = {
    "bad_request": ("请求无法处理", "The request cannot be processed"),
    "not_authenticated": ("未登录或登录已过期", "Missing or expired credentials"),
    "invalid_credentials": ("用户名或密码错误", "Wrong username or password"),
    "invalid_refresh_token": (
        "刷新令牌无效或已使用",
        "The refresh token is invalid or already used",
    ),
    "forbidden": ("当前角色无权执行此操作", "Your role may not do this"),
    "role_not_grantable": ("不能授予自己不具备的角色: {role}", "You may not grant the role {role}"),
    "not_found": ("对象不存在", "Not found"),
    "route_not_found": ("接口不存在", "No such endpoint"),
    "method_not_allowed": ("不支持该请求方法", "Method not allowed"),
    "conflict": ("与现有数据冲突", "Conflicts with the stored state"),
    "id_conflict": (
        "该编号已用于内容不同的记录",
        "This id is already used by a record with a different body",
    ),
    "username_taken": ("用户名已存在", "The username is already taken"),
    "too_large": ("请求体过大", "The request body is too large"),
    "body_too_large": ("请求体超过 {limit} 字节", "The request body exceeds {limit} bytes"),
    "invalid": ("输入不符合规则", "The input breaks a rule"),
    "validation_error": ("请求参数无效", "The request is invalid"),
    "malformed_json": ("JSON 格式错误", "The body is not valid JSON"),
    "invalid_cursor": ("分页游标无效", "The pagination cursor is invalid"),
    "rate_limited": ("尝试次数过多，请稍后再试", "Too many attempts, try again later"),
    "service_unavailable": ("服务暂时不可用", "The service is temporarily unavailable"),
    "database_unavailable": ("数据库暂时不可用", "The database is temporarily unavailable"),
    "internal_error": ("服务器内部错误", "Internal server error"),
    "org_unit_outside_scope": (
        "组织单位不存在或不在管辖范围内",
        "Org unit not found or out of scope",
    ),
    "user_outside_scope": ("用户不存在或不在管辖范围内", "User not found or out of scope"),
    "alert_already_acked": ("告警已确认", "The alert is already acknowledged"),
    "alert_not_yours_to_resolve": (
        "该告警须由负责的主管处理，您只能标记为已读",
        "Only who answers for this alert may resolve it; you can mark it read",
    ),
}


def message_for(code: str, language: str, params: Mapping[str, Any]) -> str:
    """The sentence for `code` in `language`, with params filled in."""
    zh, en = MESSAGES.get(code, MESSAGES["bad_request"])
    template = en if language == "en" else zh
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def register_messages(messages: Mapping[str, tuple[str, str]]) -> None:
    """Add a domain's codes to the catalog (each domain module registers its own)."""
    for code, pair in messages.items():
        if code in MESSAGES and MESSAGES[code] != pair:
            raise ValueError(f"error code {code!r} registered twice with different texts")
        MESSAGES[code] = pair
