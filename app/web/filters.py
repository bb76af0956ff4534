"""Jinja filters: Beijing-time dates, labels."""
from __future__ import annotations

from datetime import datetime

from flask import Flask

from ..models.catalog import DELIVERY_LABELS, FREQUENCY_LABELS, SHARE_CLASS_LABELS
from ..models.org import ROLE_LABELS
from ..models.types import CHINA_TZ


def register_filters(app: Flask) -> None:
    @app.template_filter("bjtime")
    def bjtime(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """Beijing time of a datetime or of an ISO 8601 string kept in process data (naive means Beijing)."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
            if value.tzinfo is None:
                value = value.replace(tzinfo=CHINA_TZ)
        return value.astimezone(CHINA_TZ).strftime(fmt) if value else ""

    app.jinja_env.globals.update(ROLE_LABELS=ROLE_LABELS, SHARE_CLASS_LABELS=SHARE_CLASS_LABELS,
                                 DELIVERY_LABELS=DELIVERY_LABELS, FREQUENCY_LABELS=FREQUENCY_LABELS)

    @app.context_processor
    def unread_notifications():
        from flask_login import current_user

        from ..services.messaging.notify import unread_count

        if current_user.is_authenticated:
            return {"unread_notifications": unread_count(current_user.id)}
        return {"unread_notifications": 0}
