"""The console's words in Chinese (default) and English. Missing keys show the key itself."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "执法记录仪采集站", "en": "Body-camera station"},
    "wall": {"zh-CN": "采集墙", "en": "Dock wall"},
    "no_docks": {"zh-CN": "暂无插入的执法记录仪", "en": "No camera docked"},
    "do_not_undock": {"zh-CN": "正在采集，请勿拔出", "en": "Copying: do not undock"},
    "safe_to_undock": {"zh-CN": "采集完成，可以拔出", "en": "Done: safe to undock"},
    "dock_again": {"zh-CN": "采集未完成：请重新插入", "en": "Incomplete: dock again"},
    "refused": {"zh-CN": "未知设备，已拒绝", "en": "Unknown device: refused"},
    "officer": {"zh-CN": "执法人员", "en": "Officer"},
    "device": {"zh-CN": "设备", "en": "Device"},
    "files": {"zh-CN": "文件", "en": "Files"},
    "speed": {"zh-CN": "速度", "en": "Speed"},
    "time_left": {"zh-CN": "剩余时间", "en": "Time left"},
    "clock_warning": {"zh-CN": "设备时钟偏差：请校准时间 (R5)", "en": "Camera clock is off: "
                      "calibrate it (R5)"},
    "login": {"zh-CN": "登录", "en": "Log in"},
    "logout": {"zh-CN": "退出", "en": "Log out"},
    "login_name": {"zh-CN": "账号", "en": "Account"},
    "password": {"zh-CN": "密码", "en": "Password"},
    "totp": {"zh-CN": "动态验证码", "en": "One-time code"},
    "login_failed": {"zh-CN": "账号或密码错误", "en": "Wrong account or password"},
    "locked": {"zh-CN": "登录失败次数过多，请稍后再试", "en": "Too many failed logins; try "
               "again later"},
    "my_recordings": {"zh-CN": "我的录像", "en": "My recordings"},
    "recordings": {"zh-CN": "录像", "en": "Recordings"},
    "start": {"zh-CN": "开始时间", "en": "Start"},
    "duration": {"zh-CN": "时长", "en": "Duration"},
    "continuity": {"zh-CN": "连续性", "en": "Continuity"},
    "clean": {"zh-CN": "连续", "en": "clean"},
    "findings": {"zh-CN": "发现问题", "en": "findings"},
    "not analyzed": {"zh-CN": "未分析", "en": "not analyzed"},
    "labelling_due": {"zh-CN": "标注期限", "en": "Label by"},
    "labelled": {"zh-CN": "已标注", "en": "Labelled"},
    "not_labelled": {"zh-CN": "未标注", "en": "Not labelled"},
    "missed": {"zh-CN": "已逾期", "en": "missed"},
    "due_soon": {"zh-CN": "即将到期", "en": "due soon"},
    "ok": {"zh-CN": "正常", "en": "on time"},
    "case_number": {"zh-CN": "案号", "en": "Case number"},
    "party": {"zh-CN": "当事人", "en": "Party"},
    "party_kind": {"zh-CN": "当事人类型", "en": "Party kind"},
    "person": {"zh-CN": "自然人", "en": "person"},
    "organisation": {"zh-CN": "单位", "en": "organisation"},
    "matter": {"zh-CN": "执法事项", "en": "Matter"},
    "location": {"zh-CN": "地点", "en": "Location"},
    "officers": {"zh-CN": "执法人员（姓名:证号）", "en": "Officers (name:certificate)"},
    "note": {"zh-CN": "备注", "en": "Note"},
    "reason": {"zh-CN": "原因", "en": "Reason"},
    "save_label": {"zh-CN": "保存标注", "en": "Save label"},
    "explain": {"zh-CN": "说明原因", "en": "Explain"},
    "explained": {"zh-CN": "已说明", "en": "explained"},
    "play": {"zh-CN": "播放", "en": "Play"},
    "viewing_copy": {"zh-CN": "浏览副本（H.264）：原始文件未改动", "en": "Viewing copy "
                     "(H.264): the original is untouched"},
    "original_digest": {"zh-CN": "原始文件 SHA-256", "en": "Original's SHA-256"},
    "timeline": {"zh-CN": "时间线", "en": "Timeline"},
    "back": {"zh-CN": "返回", "en": "Back"},
    "saved": {"zh-CN": "已保存", "en": "Saved"},
    "language": {"zh-CN": "English", "en": "中文"},
    "statistics": {"zh-CN": "统计", "en": "Statistics"},
    "since": {"zh-CN": "起始日期", "en": "From"},
    "until": {"zh-CN": "截止日期（不含）", "en": "Until (exclusive)"},
    "show": {"zh-CN": "查询", "en": "Show"},
    "unit": {"zh-CN": "单位", "en": "Unit"},
    "hours": {"zh-CN": "时长（小时）", "en": "Hours"},
    "export_share": {"zh-CN": "24小时内导出", "en": "Exported within 24 h"},
    "labelling_share": {"zh-CN": "按期标注", "en": "Labelled on time"},
    "unexplained": {"zh-CN": "未说明的问题", "en": "Unexplained findings"},
    "storage": {"zh-CN": "存储", "en": "Storage"},
    "total": {"zh-CN": "合计", "en": "Total"},
}


def translate(key: str, language: str) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    return entry.get(language) or entry["en"]
