"""Request bodies in older or vendor dialects, rewritten to RFC 7643 before validation.

Pure functions over a POST or PUT body. Each rewrite is named so the service can log
which client needed it:

- legacy-extension-urn: SCIM 1.1's ``urn:scim:schemas:extension:enterprise:1.0`` object
  (OneLogin's documented Enterprise User template) becomes the RFC 7643 enterprise
  extension, unless the body carries that one too.
- manager-id-renamed: SCIM 1.1's ``manager.managerId`` becomes ``manager.value``.

Without these the marshaller would drop the legacy object as an unknown key, and with it
the user's department and manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scimserver.scim.keys import has, lookup

ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LEGACY_EXTENSIONS = {"urn:scim:schemas:extension:enterprise:1.0": ENTERPRISE_USER}


def normalise_resource(body: Any) -> tuple[Any, tuple[str, ...]]:
    """``body`` in RFC 7643 form and the names of the rewrites that applied."""
    if not isinstance(body, Mapping):
        return body, ()
    out = dict(body)
    notes: list[str] = []
    for key in list(out):
        target = LEGACY_EXTENSIONS.get(str(key).lower())
        if target is None or has(out, target):
            continue
        notes.append("legacy-extension-urn")
        out[target] = out.pop(key)
    extension = out.get(ENTERPRISE_USER)
    if isinstance(extension, Mapping):
        renamed = _manager_renamed(extension)
        if renamed is not None:
            notes.append("manager-id-renamed")
            out[ENTERPRISE_USER] = renamed
    return out, tuple(dict.fromkeys(notes))


def _manager_renamed(extension: Mapping[str, Any]) -> dict[str, Any] | None:
    """The extension with ``manager.managerId`` as ``manager.value``; None if nothing to do."""
    manager = extension.get("manager")
    if not isinstance(manager, Mapping):
        return None
    key = lookup(manager, "managerId")[0]
    if key is None or has(manager, "value"):
        return None
    fixed = {k: v for k, v in manager.items() if k != key}
    fixed["value"] = manager[key]
    return {**extension, "manager": fixed}
