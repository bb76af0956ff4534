"""What diagram scripts ask the application to do (`start_process`, `record_grants`, `apply_share_class`).

The engine collects the requests (app/engine/script_env.py); `progress.persist` carries them out in the same
transaction through this registry. The services that implement an action register it here when they are imported
(`create_app` imports them), so progress.py — which they save through — imports none of them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...models import ProcessInstance

# (the instance whose script asked, the action's data, departments holding the open tasks named by `for_open`)
ScriptAction = Callable[[ProcessInstance, dict[str, Any], dict[str, list[str]]], None]
_handlers: dict[str, ScriptAction] = {}


def handles(name: str) -> Callable[[ScriptAction], ScriptAction]:
    """Register the function that carries out script action `name`."""
    def register(handler: ScriptAction) -> ScriptAction:
        _handlers[name] = handler
        return handler
    return register


def perform(instance: ProcessInstance, name: str, data: dict[str, Any], open_departments: dict[str, list[str]]) -> None:
    handler = _handlers.get(name)
    if handler is None:
        raise LookupError(f"unknown script action {name}")
    handler(instance, data, open_departments)
