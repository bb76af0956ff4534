"""The functions that BPMN expressions and scripts may use (they run in the sandbox: app/engine/sandbox.py).

- add_working_days(start, n): ISO 8601 (+08:00) of office close on the n-th working day after start (timer timeDate).
- now_iso(): the current time, ISO 8601 +08:00.
- notify(event, message, to_open=None, to_department=None, to_role=None, cc=None): ask the application to notify
  people; collected on the script engine and handed to the caller (the engine itself sends nothing).
- record_grants(months, application, delivery): record the delivered resources of a share request as grants
  valid for `months`.
- start_process(process_key, for_open=None, **data): ask the application to start another process (e.g. a
  violation case when a provider misses its deadline, Art. 32(1)); collected the same way.
- apply_share_class(resource_id, share_class): change a catalogue resource's share class once 网信中心 approved.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from .calendar import CHINA_TZ, WorkingCalendar
from .sandbox import RestrictedEnvironment, ScriptError

MAX_REQUESTS = 200  # notify()/action calls one run of the engine may make
MAX_WORKING_DAYS = 1000


@dataclass(frozen=True)
class NotificationRequest:
    """A notify() call from a script: who should hear what. `to_open` names an element whose open tasks' holders
    are the recipients."""

    event: str
    message: str
    to_open: str | None = None
    to_department: str | None = None
    to_role: str | None = None
    cc: str | None = None


@dataclass(frozen=True)
class ActionRequest:
    """Something a script asks the application to do in the same transaction: start_process (once per department
    holding an open task of data['for_open'], as `accused_department`), record_grants, apply_share_class."""

    action: str
    data: dict[str, Any]


def now_iso() -> str:
    return datetime.datetime.now(CHINA_TZ).isoformat(timespec="seconds")


def _parse(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        parsed = datetime.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


class ProcessScriptEngine(PythonScriptEngine):
    """PythonScriptEngine in the sandbox with our functions; keeps the notify() requests of the current run."""

    def __init__(self, calendar: WorkingCalendar | None = None):
        self.calendar = calendar or WorkingCalendar()
        self.notifications: list[NotificationRequest] = []
        self.actions: list[ActionRequest] = []
        super().__init__(environment=RestrictedEnvironment(self._globals()))

    def _globals(self) -> dict[str, Any]:
        return {"add_working_days": self.add_working_days, "now_iso": now_iso,
                "notify": self.notify, "start_process": self.start_process, "record_grants": self.record_grants,
                "apply_share_class": self.apply_share_class}

    def add_working_days(self, start: Any, n: int) -> str:
        days = int(n)
        if not 1 <= days <= MAX_WORKING_DAYS:
            raise ScriptError(f"工作日数应在 1 到 {MAX_WORKING_DAYS} 之间（实际 {days}）")
        return self.calendar.add_working_days(_parse(start), days).isoformat()

    def _count(self) -> None:
        if len(self.notifications) + len(self.actions) >= MAX_REQUESTS:
            raise ScriptError(f"一次运行中通知和动作超过 {MAX_REQUESTS} 个")

    def notify(self, event: str, message: str, to_open: str | None = None, to_department: str | None = None,
               to_role: str | None = None, cc: str | None = None) -> None:
        self._count()
        self.notifications.append(NotificationRequest(str(event)[:40], str(message)[:2000], to_open, to_department,
                                                      to_role, cc))

    def start_process(self, process_key: str, for_open: str | None = None, **data: Any) -> None:
        self._count()
        self.actions.append(ActionRequest("start_process", {"process_key": process_key, "for_open": for_open,
                                                            "data": data}))

    def record_grants(self, months: int, application: dict, delivery: dict) -> None:
        self._count()
        self.actions.append(ActionRequest("record_grants", {"months": int(months), "application": application,
                                                            "delivery": delivery}))

    def apply_share_class(self, resource_id: int, share_class: str) -> None:
        self._count()
        self.actions.append(ActionRequest("apply_share_class", {"resource_id": int(resource_id),
                                                                "share_class": share_class}))

    def drain(self) -> tuple[list[NotificationRequest], list[ActionRequest]]:
        out = (self.notifications, self.actions)
        self.notifications, self.actions = [], []
        return out


def make_script_engine(calendar: WorkingCalendar | None = None) -> ProcessScriptEngine:
    return ProcessScriptEngine(calendar)

