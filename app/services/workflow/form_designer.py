"""The form designer's pages (/admin/forms): the draft preview, the designer's data and the modeler's pickers."""
from __future__ import annotations

import json
from typing import Any

from ...models.org import ROLE_LABELS, Role
from ..people import org
from . import form_definitions, task_forms
from .requests import catalogue

BLANK = {"key": "", "title": "", "basis": "", "opinion_field": "opinion",
         "fields": [{"name": "decision", "label": "审核意见", "type": "radio", "required": True,
                     "options": [{"value": "approve", "label": "同意"}, {"value": "return", "label": "退回"}]},
                    {"name": "opinion", "label": "审批意见", "type": "textarea", "max_length": 1000,
                     "required_if": {"decision": "return"}}]}


def preview(definition: Any) -> dict[str, Any]:
    """A draft as its users will see it: checked first (ValidationFailed naming the field), then prepared the way a
    task page prepares it (departments, resources and the catalogue filled in). Stores nothing."""
    if isinstance(definition, str | bytes):
        definition = form_definitions.parse_text(definition)
    form = task_forms.prepare(form_definitions.check(definition))
    has_resources = any(f["type"] == "resources" for f in form["fields"])
    return {"form": form, "catalogue": catalogue() if has_resources else None}


def editor(key: str | None, version: int | None = None) -> dict[str, Any]:
    """What the designer page shows: the definition (a blank one for a new form) as JSON text, and the history."""
    definition = form_definitions.get(key, version) if key else BLANK
    return {"key": key, "text": json.dumps(definition, ensure_ascii=False, indent=2),
            "history": form_definitions.history(key) if key else [], "types": form_definitions.TYPE_LABELS}


def modeler_options() -> dict[str, Any]:
    """The modeler's pickers: forms (key, title), candidate roles and departments with their Chinese names."""
    return {"forms": form_definitions.options(),
            "roles": [{"value": r.value, "label": ROLE_LABELS.get(r, r.value)} for r in Role],
            "departments": [{"value": code, "label": name} for code, name in org.department_codes()]}
