"""The data resource catalogue (Art. 10, 15-18, Attachment 3)."""
from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import Department


class ShareClass(StrEnum):
    unconditional = "unconditional"
    conditional = "conditional"
    not_shared = "not_shared"


SHARE_CLASS_LABELS = {ShareClass.unconditional: "普遍共享类", ShareClass.conditional: "有条件共享类",
                      ShareClass.not_shared: "不共享类"}
DELIVERY_LABELS = {"interface": "数据接口", "sync": "数据同步", "export": "数据导出"}
FREQUENCY_LABELS = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "on_change": "变更时"}


class DataDomain(db.Model):
    __tablename__ = "data_domain"
    id: Mapped[int] = mapped_column(primary_key=True)  # 1..11, Attachment 3
    name: Mapped[str] = mapped_column(String(40), unique=True)
    producers: Mapped[str] = mapped_column(Text, default="")


class DataResource(db.Model):
    __tablename__ = "data_resource"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    domain_id: Mapped[int] = mapped_column(ForeignKey("data_domain.id"), index=True)
    owner_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    share_class: Mapped[str] = mapped_column(String(20))
    fields: Mapped[list] = mapped_column(JSON, default=list)  # [{"name": "xh", "label": "学号"}, ...]
    delivery_methods: Mapped[list] = mapped_column(JSON, default=lambda: ["interface"])  # interface | sync | export
    update_frequency: Mapped[str] = mapped_column(String(20), default="daily")
    retired: Mapped[bool] = mapped_column(default=False)  # deleted from the catalogue (kept for grants and history)
    domain: Mapped[DataDomain] = relationship()
    owner_department: Mapped[Department] = relationship()

    @property
    def share_class_label(self) -> str:
        return SHARE_CLASS_LABELS[ShareClass(self.share_class)]
