"""The identity view and effective access: what a SAML assertion would tell an app, derived
from a user's SCIM document, its groups and the tenant's access rules. Pure functions.

* **email** (:func:`email_of`): the ``value`` of the ``emails`` element marked
  ``primary: true``; else of the first element whose ``type`` is ``work`` (any case);
  else of the first element with a value; else ``userName`` when it is an address
  (``local@domain``, no spaces, a dot in the domain); else null.
* **appGroups**: the app groups whose mapped IdP group the user is a direct member of,
  in priority order (lower number first, then name).
* **role** / **roles**: single-role mode: the first app group, else the default role
  (``roles`` is it as a list, or empty); multi-role mode: every app group, else the
  default role (``role`` is the first of ``roles``).
* **isAdmin**: true if the admin attribute is true or the user is in the admin group;
  else false if the attribute is false or an admin group is set and the user is not in
  it; else (the attribute absent, no admin group) the last value known.
* An inactive user has no access: no app groups, no role, ``isAdmin`` false (the last
  known value is kept for when they are active again).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimserver.schema.model import ResourceType
from scimserver.scim.sets import value_at

SINGLE = "single"
MULTI = "multi"
MODES = (SINGLE, MULTI)
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class AppMapping:
    """One app group fed by one IdP group (its id, resolved once: stable across renames)."""

    app_group: str
    group_id: str
    priority: int


@dataclass(frozen=True)
class AccessRules:
    """A tenant's access rules."""

    mappings: tuple[AppMapping, ...] = ()
    mode: str = SINGLE
    default_role: str | None = None
    admin_attribute: str | None = None
    admin_group_id: str | None = None

    @property
    def ordered(self) -> tuple[AppMapping, ...]:
        return tuple(sorted(self.mappings, key=lambda m: (m.priority, m.app_group)))

    @property
    def groups(self) -> frozenset[str]:
        """The IdP groups whose membership decides access."""
        admin = {self.admin_group_id} if self.admin_group_id else set()
        return frozenset({m.group_id for m in self.mappings} | admin)

    def to_json(self) -> dict[str, Any]:
        return {
            "mappings": [
                {"appGroup": m.app_group, "idpGroup": m.group_id, "priority": m.priority}
                for m in self.ordered
            ],
            "mode": self.mode,
            "defaultRole": self.default_role,
            "admin": {"attribute": self.admin_attribute, "idpGroup": self.admin_group_id},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessRules:
        admin = data.get("admin") or {}
        return cls(
            tuple(
                AppMapping(m["appGroup"], m["idpGroup"], int(m["priority"]))
                for m in data.get("mappings", ())
            ),
            data.get("mode", SINGLE),
            data.get("defaultRole"),
            admin.get("attribute"),
            admin.get("idpGroup"),
        )


@dataclass(frozen=True)
class Access:
    """A person's effective access; ``admin_known``: the last admin value a source gave."""

    app_groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    is_admin: bool | None = None
    admin_known: bool | None = field(default=None, compare=False)

    @property
    def role(self) -> str | None:
        return self.roles[0] if self.roles else None

    def to_json(self) -> dict[str, Any]:
        return {
            "appGroups": list(self.app_groups),
            "role": self.role,
            "roles": list(self.roles),
            "isAdmin": self.is_admin,
        }


def admin_source(
    rules: AccessRules, document: Mapping[str, Any], groups: Iterable[str]
) -> bool | None:
    """What the admin sources say now: True, False, or None (nothing: keep the last)."""
    said: list[bool] = []
    if rules.admin_attribute:
        value = value_at(document, rules.admin_attribute)
        if isinstance(value, bool):
            said.append(value)
    if rules.admin_group_id:
        said.append(rules.admin_group_id in set(groups))
    if not said:
        return None
    return any(said)


def access_of(
    rules: AccessRules,
    document: Mapping[str, Any],
    groups: Iterable[str],
    known: bool | None,
) -> Access:
    """The effective access of a user with ``document`` in ``groups`` (IdP group ids);
    ``known``: the admin value last known for them."""
    member_of = set(groups)
    said = admin_source(rules, document, member_of)
    admin_known = known if said is None else said
    if document.get("active") is False:
        return Access((), (), False, admin_known)
    app_groups = tuple(m.app_group for m in rules.ordered if m.group_id in member_of)
    fallback = (rules.default_role,) if rules.default_role else ()
    roles = (app_groups if rules.mode == MULTI else app_groups[:1]) or fallback
    return Access(app_groups, roles, admin_known, admin_known)


def access_inputs(rules: AccessRules, document: Mapping[str, Any]) -> tuple[Any, Any]:
    """The parts of a user's document that access depends on: a write that leaves them
    alone changes nobody's access (unless it moves memberships)."""
    admin = value_at(document, rules.admin_attribute) if rules.admin_attribute else None
    return document.get("active"), admin


def email_of(document: Mapping[str, Any]) -> str | None:
    """The person's email, by the rule in this module's docstring."""
    emails = document.get("emails")
    found = [
        e
        for e in (emails if isinstance(emails, list) else [])
        if isinstance(e, Mapping) and isinstance(e.get("value"), str) and e["value"]
    ]
    for chosen in (
        next((e for e in found if e.get("primary") is True), None),
        next((e for e in found if str(e.get("type", "")).lower() == "work"), None),
        found[0] if found else None,
    ):
        if chosen is not None:
            return str(chosen["value"])
    user_name = document.get("userName")
    if isinstance(user_name, str) and _ADDRESS.fullmatch(user_name):
        return user_name
    return None


def email_key(document: Mapping[str, Any]) -> str | None:
    """The email as compared for uniqueness: case-folded."""
    email = email_of(document)
    return email.casefold() if email is not None else None


def identity(
    user_id: str,
    document: Mapping[str, Any],
    version: str,
    updated: str,
    groups: Sequence[tuple[str, str | None]],
    access: Access,
) -> dict[str, Any]:
    """The identity view of a user: ``groups`` are (id, displayName) of its groups."""
    name = document.get("name")
    name = name if isinstance(name, Mapping) else {}
    first, last = name.get("givenName"), name.get("familyName")
    display = document.get("displayName") or name.get("formatted")
    if not display and (first or last):
        display = " ".join(str(p) for p in (first, last) if p)
    return {
        "id": user_id,
        "externalId": document.get("externalId"),
        "email": email_of(document),
        "firstName": first,
        "lastName": last,
        "displayName": display or None,
        "active": document.get("active") is not False,
        "groups": [{"id": g, "displayName": d} for g, d in groups],
        **access.to_json(),
        "version": version,
        "updated": updated,
    }


def view_etag(view: Mapping[str, Any]) -> str:
    """A weak ETag of the view's content: it moves whenever anything shown moves (a
    mapping edited, a group renamed), which the user's version alone would not say."""
    digest = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def moves_access(resource_type: ResourceType, paths: Iterable[str]) -> bool:
    """Whether a write changing ``paths`` (``scim.changes.changed_paths`` form) may move
    access: it changes a singular boolean (``active``, an admin flag, an extension's). Such
    a write takes the locked path, where access is settled in its transaction."""
    for path in paths:
        ref = resource_type.resolve(path)
        if ref is not None and not ref.attribute.multi_valued and ref.leaf.type == "boolean":
            return True
    return False
