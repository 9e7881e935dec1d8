"""Query parameters and request headers read into plain values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scimserver.errors import InvalidValue
from scimserver.schema.model import ResourceType
from scimserver.scim.keys import value_of
from scimserver.scim.projection import Projection, parse_projection
from scimserver.service.reading import ListQuery

_LARGEST = 2**62
"""Integers are clamped to this magnitude: past it, a page is empty anyway, and the
databases' 64-bit OFFSET/LIMIT would overflow."""


def _param(params: Mapping[str, Any], name: str) -> Any:
    """A parameter by name, matched case-insensitively (clients vary: ``startindex``)."""
    return value_of(params, name)


_DIGITS = re.compile(r"[+-]?[0-9]{1,30}")


def _integer(params: Mapping[str, Any], name: str, body: bool) -> int | None:
    """An integer parameter: in a query string, ASCII digits with an optional sign; in a
    ``.search`` body, a JSON integer (not a boolean, a string or a number with a fraction
    or exponent). Clamped to ``_LARGEST``."""
    raw = _param(params, name)
    if raw is None or (raw == "" and not body):
        return None
    if body:
        valid = isinstance(raw, int) and not isinstance(raw, bool)
    else:
        valid = isinstance(raw, str) and _DIGITS.fullmatch(raw) is not None
    if not valid:
        raise InvalidValue(f"{name} must be an integer.")
    return max(-_LARGEST, min(int(raw), _LARGEST))


def _text(params: Mapping[str, Any], name: str) -> str | None:
    raw = _param(params, name)
    if isinstance(raw, bool):
        raise InvalidValue(f"{name} must be a string.")
    if raw is None:
        return None
    if isinstance(raw, list):
        raw = ",".join(str(r) for r in raw)
    if not isinstance(raw, str):
        raise InvalidValue(f"{name} must be a string.")
    return raw


def projection(resource_type: ResourceType, params: Mapping[str, Any]) -> Projection:
    return parse_projection(
        resource_type, _text(params, "attributes"), _text(params, "excludedAttributes")
    )


def list_query(
    resource_type: ResourceType, params: Mapping[str, Any], body: bool = False
) -> ListQuery:
    """A list/search request from query parameters, or from a ``.search`` body."""
    sort_order = _text(params, "sortOrder")
    if sort_order is not None and sort_order.lower() not in {"ascending", "descending"}:
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'.")
    return ListQuery(
        filter=_text(params, "filter"),
        sort_by=_text(params, "sortBy"),
        sort_order=sort_order,
        start_index=_integer(params, "startIndex", body) or 1,
        count=_integer(params, "count", body),
        projection=projection(resource_type, params),
        cursor=_text(params, "cursor"),
    )


def wants_body(params: Mapping[str, Any]) -> bool:
    """Whether the client named attributes to see in a write response."""
    return (
        _param(params, "attributes") is not None or _param(params, "excludedAttributes") is not None
    )
