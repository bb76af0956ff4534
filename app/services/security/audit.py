"""Writing audit rows. Callers commit; the row is hash-chained and inserted at that commit (see audit_chain)."""
from __future__ import annotations

from typing import Any

from ...models import AuditLog
from ...models.types import utcnow
from . import audit_chain

ACTION_LABELS = {
    "return_to": "退回", "withdraw": "撤回申请", "recall": "收回",
    "submit": "提交申请", "complete": "办理", "claim": "签收", "release": "退回任务池", "deploy": "部署流程",
    "end": "流程结束", "login": "登录", "token": "生成 API 令牌", "urge": "催办", "timer": "定时器触发",
    "notify_reminder": "系统催办提醒", "notify_overdue": "逾期通知", "deadline_moved": "期限重新计算",
    "calendar_change": "工作日历变更", "error": "流程出错", "retry": "重试", "retry_failed": "重试失败",
    "process_started": "自动发起", "start": "发起",
    "grant": "登记授权", "suspend": "暂停", "resume": "恢复", "cancel": "取消",
    "migrate": "迁移版本", "audit_verify": "校验审计日志",
    "login_failed": "登录失败", "account_locked": "账号锁定", "logout": "退出登录", "password_change": "修改密码",
    "password_change_failed": "修改密码失败", "password_set": "管理员设置密码", "user_disabled": "停用账号",
    "user_enabled": "启用账号", "token_revoked": "吊销 API 令牌",
    "user_provisioned": "开通账号", "user_updated": "更新用户信息", "user_deactivated": "同步停用账号",
    "department_created": "新建部门", "department_renamed": "部门更名", "org_sync": "组织机构同步",
    "cas_single_logout": "统一身份认证单点退出",
    "transfer": "转办", "cc": "抄送",
    "form_create": "新建表单", "form_save": "保存表单新版本", "form_import": "导入表单",
    "add_signer": "加签", "sign_answer": "加签意见", "sign_cancel": "撤销加签",
    "delegate": "设置委托", "delegation_revoked": "撤销委托",
    "attachment_upload": "上传附件", "attachment_cleanup": "清理未使用的附件",
    "catalog_create": "补录数据资源", "catalog_update": "更新数据资源", "catalog_retire": "删除数据资源",
    "catalog_duplicate_source": "说明一数一源", "catalog_class_requested": "申请变更共享类型",
    "catalog_class_changed": "变更共享类型",
    "notification_retry": "重发通知", "notify_channels": "修改通知方式",
}


def record(action: str, *, user_id: int | None = None, instance_id: int | None = None, task_id: int | None = None,
           step: str = "", opinion: str | None = None, detail: dict[str, Any] | None = None) -> AuditLog:
    row = AuditLog(at=utcnow(), action=action, user_id=user_id, instance_id=instance_id, task_id=task_id, step=step,
                   opinion=opinion, detail=detail or {})
    audit_chain.park(row)
    return row
