"""Index rows of an update: only the changed attributes' rows, enough to reach the new index."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from scimserver.schema.model import ENTERPRISE_USER, ResourceType
from scimserver.schema.registry import default_schema_dir, load_registry
from scimserver.scim.values import IndexedValue, changed_values, index_values

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_USER = load_registry([default_schema_dir()]).resource_type("User")
assert _USER is not None
USER: ResourceType = _USER

Keyed = dict[tuple[str, int], IndexedValue]


def _bjensen() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "rfc7643" / "user_full.json").read_text())
    for key in ("password", "id", "meta", "groups"):
        doc.pop(key, None)
    doc[ENTERPRISE_USER] = {"employeeNumber": "701984", "department": "Tour Operations"}
    return doc


def _keyed(rows: Sequence[IndexedValue]) -> Keyed:
    return {(v.path, v.ordinal): v for v in rows}


def _applied(stored: Keyed, before: Keyed, after: Keyed) -> Keyed:
    """What the repository does with an update's rows: delete what differs, insert the new."""
    rows = {k: v for k, v in stored.items() if k not in before or after.get(k) == v}
    rows.update({k: v for k, v in after.items() if before.get(k) != v})
    return rows


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *outer, last = path.split("/")
        target = doc
        for key in outer:
            target = target.setdefault(key, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value

    return change


def _reorder_emails(doc: dict[str, Any]) -> None:
    doc["emails"] = list(reversed(doc["emails"]))


CHANGES = {
    "given name": _set("name/givenName", "Babs"),
    "deactivate": _set("active", False),
    "external id": _set("externalId", "new-ext"),
    "add an email": lambda d: d["emails"].append({"value": "b@example.org", "type": "other"}),
    "drop every email": _set("emails", None),
    "reorder emails": _reorder_emails,
    "title removed": _set("title", None),
    "extension attribute": _set(f"{ENTERPRISE_USER}/department", "Sales"),
    "extension removed": _set(ENTERPRISE_USER, None),
    "userName case": _set("userName", "BJENSEN@example.com"),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_the_changed_rows_turn_the_stored_index_into_the_new_one(name: str) -> None:
    old = _bjensen()
    new = copy.deepcopy(old)
    CHANGES[name](new)
    before, after = changed_values(USER, old, new)
    stored = _keyed(index_values(USER, old))
    assert _applied(stored, _keyed(before), _keyed(after)) == _keyed(index_values(USER, new))
    assert len(before) + len(after) < 2 * len(stored)  # the unchanged attributes stay out


def test_an_unchanged_document_has_no_rows_to_write() -> None:
    assert changed_values(USER, _bjensen(), _bjensen()) == ([], [])


def test_a_new_extension_adds_its_schema_rows() -> None:
    old = _bjensen()
    old.pop(ENTERPRISE_USER)
    before, after = changed_values(USER, old, _bjensen())
    assert ("schemas", 1) in _keyed(after)
    assert ("schemas", 1) not in _keyed(before)
