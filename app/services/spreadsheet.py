"""Cells for Excel exports that open as text, never as a formula (OWASP "CSV injection")."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# A spreadsheet treats a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|..., @SUM(...)).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet shows as typed: a leading formula character gets a ' before it (Excel's own text
    marker), and control characters openpyxl cannot store are dropped. Numbers, dates and None pass unchanged."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def append_row(sheet: Any, values: Iterable[Any]) -> None:
    """sheet.append with every string cell made safe; the only way the exports write rows."""
    sheet.append([safe_cell(v) for v in values])
