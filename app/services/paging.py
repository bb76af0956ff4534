"""Pages of long lists: one LIMIT/OFFSET window, and the filters' search words."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationFailed

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 100_000  # keeps OFFSET inside every database's integer range
MAX_QUERY = 100


@dataclass
class Page:
    """One page of a list; total is None where counting would grow with history (then has_next says more)."""

    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int | None = None
    has_next: bool = False
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def link_args(self) -> dict[str, Any]:
        """Query arguments that keep the filters (and a non-default page size) on the other pages' links."""
        kept = {k: v for k, v in self.filters.items() if v not in (None, "", False)}
        if self.per_page != DEFAULT_PER_PAGE:
            kept["per_page"] = self.per_page
        return kept

    def meta(self) -> dict[str, Any]:
        return {"page": self.page, "per_page": self.per_page, "total": self.total, "pages": self.pages,
                "has_next": self.has_next}


def window(page: Any = None, per_page: Any = None) -> tuple[int, int]:
    """(page, per_page) from user input: page ≥ 1, 1 ≤ per_page ≤ 200 (default 50); anything else is a 422."""
    errors = {}
    values = []
    for name, raw, default, high in (("page", page, 1, MAX_PAGE), ("per_page", per_page, DEFAULT_PER_PAGE,
                                                                     MAX_PER_PAGE)):
        if raw in (None, ""):
            values.append(default)
            continue
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= high:
            errors[name] = f"{'页码' if name == 'page' else '每页条数'}应为 1 至 {high} 之间的整数"
            values.append(default)
            continue
        values.append(int(text))
    if errors:
        raise ValidationFailed(errors, message="；".join(errors.values()))
    return values[0], values[1]


def search_words(raw: Any) -> str | None:
    """A search box's text, trimmed; at most 100 characters."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if len(text) > MAX_QUERY:
        message = f"搜索内容不能超过 {MAX_QUERY} 个字符"
        raise ValidationFailed({"q": message}, message=message)
    return text


def request_number(text: str | None) -> int | None:
    """'#123' or '123' as a request number (within the integer range), else None."""
    if not text:
        return None
    digits = text.removeprefix("#").strip()
    if digits.isascii() and digits.isdigit() and len(digits) <= 9:
        return int(digits)
    return None
