"""Limits on what a request may carry, shared by the web boundary and the validation layer: database ids within
the integer range of every supported database, text the database can store, JSON of a sane shape."""
from __future__ import annotations

import re
from typing import Any

DB_ID_MAX = 2**31 - 1  # PostgreSQL `integer`; larger ids overflow the column type (and SQLite past 2^63)
MAX_JSON_DEPTH = 32  # no form or API body nests deeper than a few levels
# NUL cannot be stored by PostgreSQL; a lone surrogate cannot be encoded as UTF-8 (every later page showing it fails)
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def parse_id(value: Any) -> int | None:
    """A database id from a JSON integer or a string of ASCII digits, within 1..DB_ID_MAX; None otherwise.

    Never raises: booleans, floats, full-width or superscript digits (which str.isdigit and int() accept), signs and
    out-of-range numbers are all "not an id"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 10 or not (text.isascii() and text.isdigit()):
            return None
        number = int(text)
    else:
        return None
    return number if 1 <= number <= DB_ID_MAX else None


def has_bad_char(text: str) -> bool:
    return _BAD_CHAR.search(text) is not None


class UnsafeInput(Exception):
    """A request value the application refuses to look at (bad characters, absurd nesting)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


BAD_CHAR_REASON = "含有不允许的字符（空字符或不成对的 Unicode 代理字符）"
TOO_DEEP_REASON = f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层"


def check_value(value: Any, field: str = "") -> None:
    """Walk a decoded value (JSON or form data) without recursion; raise UnsafeInput at the first string (key or
    value) with a NUL or a lone surrogate, or when it nests deeper than MAX_JSON_DEPTH."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if has_bad_char(item):
                raise UnsafeInput(path or "_body", BAD_CHAR_REASON)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise UnsafeInput(path or "_body", TOO_DEEP_REASON)
            if isinstance(item, dict):
                for key, child in item.items():
                    name = f"{path}.{key}" if path else str(key)
                    if isinstance(key, str) and has_bad_char(key):
                        raise UnsafeInput(safe_name(name), BAD_CHAR_REASON)
                    stack.append((child, name, depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def safe_name(name: str) -> str:
    """A field name fit to echo back in an error message."""
    return _BAD_CHAR.sub("\ufffd", name)[:100]
