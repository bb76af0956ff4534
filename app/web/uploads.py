"""A posted task or start form with its files: the shape task_forms.parse_post reads."""
from __future__ import annotations

from typing import Any

from flask import request


def posted() -> dict[str, list[Any]]:
    """request.form and request.files as one MultiDict.to_dict(flat=False) (file fields get FileStorage objects)."""
    return {**request.form.to_dict(flat=False), **request.files.to_dict(flat=False)}
