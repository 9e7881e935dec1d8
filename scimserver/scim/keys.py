"""Member lookup in JSON objects by attribute name, which RFC 7643 §2.1 makes case-insensitive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def lookup(mapping: Mapping[str, Any], name: str) -> tuple[str | None, Any]:
    """The key spelling ``name`` (exactly, else case-insensitively) and its value."""
    if name in mapping:
        return name, mapping[name]
    lowered = name.lower()
    key = next((k for k in mapping if isinstance(k, str) and k.lower() == lowered), None)
    return key, None if key is None else mapping[key]


def value_of(mapping: Mapping[str, Any], name: str) -> Any:
    """The value under ``name`` in any letter case, or None."""
    return lookup(mapping, name)[1]


def has(mapping: Mapping[str, Any], name: str) -> bool:
    return lookup(mapping, name)[0] is not None
