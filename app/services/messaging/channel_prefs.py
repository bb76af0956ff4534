"""A user's notification channels (/account/notifications): in-app always; e-mail, 企业微信, 钉钉 on or off."""
from __future__ import annotations

from typing import Any

from flask import current_app

from ...extensions import db
from ..people.access import get_user
from ..security import audit
from .channels import CHANNEL_LABELS, CHANNELS, enabled_channels, user_channels, wecom_userid


def preferences(user_id: int) -> dict[str, Any]:
    user = get_user(user_id)
    chosen = user_channels(user)
    configured = enabled_channels() | ({"email"} if current_app.config.get("MAIL_SERVER") else set())
    address = {"email": user.email, "wecom": wecom_userid(user), "dingtalk": user.phone}
    return {"channels": [{"key": c, "label": CHANNEL_LABELS[c], "on": c in chosen, "configured": c in configured,
                          "address": address[c]} for c in CHANNELS]}


def set_preferences(user_id: int, wanted: list[str]) -> set[str]:
    """Store the channels (unknown names are ignored); the change is audited."""
    user = get_user(user_id)
    chosen = {c for c in wanted if c in CHANNELS}
    before = user_channels(user)
    user.notify_channels = ",".join(c for c in CHANNELS if c in chosen)
    if chosen != before:
        audit.record("notify_channels", user_id=user.id, detail={"before": sorted(before), "after": sorted(chosen)})
    db.session.commit()
    return chosen
