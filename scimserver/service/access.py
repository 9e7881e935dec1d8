"""Access rules and the identity view: the use cases of ``scimserver access``, the
console's access page, ``/api/v1/identities`` and the worker's settling of rules edits.

The rules themselves are pure (``scim.identity``); reading and storing them, and settling
people's access, is the store's (``store.access``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scimserver.errors import InvalidValue, NotFound
from scimserver.schema.model import ResourceType
from scimserver.scim.identity import (
    MODES,
    AccessRules,
    AppMapping,
    access_of,
    identity,
)
from scimserver.scim.versions import etag, timestamp
from scimserver.service.retry import reading
from scimserver.store.access import AccessRepository, identity_page, identity_rows
from scimserver.store.changes import Origin
from scimserver.store.db import Database
from scimserver.store.repository import MembershipRepository, Session

BATCH = 500
"""People one batch of a rules edit settles, in one transaction."""
MAX_NAME = 100


class AccessError(ValueError):
    """A refused edit of the rules, said in one line (the CLI's and the console's)."""


@dataclass(frozen=True)
class MappingInfo:
    app_group: str
    group_id: str
    group_name: str | None
    """The IdP group's displayName now; None once the group is deleted."""
    priority: int


@dataclass(frozen=True)
class RulesInfo:
    """The rules with the IdP groups' names, as ``access list`` and the console show them."""

    mappings: list[MappingInfo]
    mode: str
    default_role: str | None
    admin_attribute: str | None
    admin_group_id: str | None
    admin_group_name: str | None
    pending_jobs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "mappings": [
                {
                    "appGroup": m.app_group,
                    "idpGroup": {"id": m.group_id, "displayName": m.group_name},
                    "priority": m.priority,
                }
                for m in self.mappings
            ],
            "mode": self.mode,
            "defaultRole": self.default_role,
            "admin": {
                "attribute": self.admin_attribute,
                "idpGroup": {"id": self.admin_group_id, "displayName": self.admin_group_name}
                if self.admin_group_id
                else None,
            },
            "settling": self.pending_jobs,
        }


class AccessService:
    """One tenant's access rules: read, edited (each edit logged and settled)."""

    def __init__(
        self,
        db: Database,
        users: ResourceType,
        groups: ResourceType,
        tenant_id: int,
        actor: str = "admin",
    ) -> None:
        self.db = db
        self.users = users
        self.groups = groups
        self.tenant_id = tenant_id
        self.actor = actor

    def rules(self) -> RulesInfo:
        with self.db.read() as session:
            repo = AccessRepository(session, self.tenant_id)
            rules = repo.rules()
            names = repo.group_names(rules.groups)
            pending = repo.pending_jobs()
        mappings = [
            MappingInfo(m.app_group, m.group_id, names.get(m.group_id), m.priority)
            for m in rules.ordered
        ]
        admin_group = rules.admin_group_id
        return RulesInfo(
            mappings,
            rules.mode,
            rules.default_role,
            rules.admin_attribute,
            admin_group,
            names.get(admin_group) if admin_group else None,
            pending,
        )

    def map(self, app_group: str, idp_group: str, priority: int | None = None) -> AppMapping:
        """Feed ``app_group`` from the IdP group ``idp_group`` names (id, externalId or
        displayName), replacing the group it was fed from: one IdP group per app group."""
        name = _name(app_group, "An app group")
        with self._editing() as (_, repo, rules):
            group_id = self._group(repo, idp_group)
            old = {m.app_group: m for m in rules.mappings}
            if priority is None:
                kept = old.get(name)
                priority = (
                    kept.priority
                    if kept
                    else 1 + max((m.priority for m in rules.mappings), default=0)
                )
            mapping = AppMapping(name, group_id, priority)
            mappings = (*(m for m in rules.mappings if m.app_group != name), mapping)
            self._replace(repo, rules, replace(rules, mappings=mappings))
        return mapping

    def unmap(self, app_group: str) -> None:
        with self._editing() as (_, repo, rules):
            if not any(m.app_group == app_group for m in rules.mappings):
                raise AccessError(f"No app group {app_group!r} is mapped.")
            mappings = tuple(m for m in rules.mappings if m.app_group != app_group)
            self._replace(repo, rules, replace(rules, mappings=mappings))

    def admin(self, attribute: str | None = None, idp_group: str | None = None) -> None:
        """Where ``isAdmin`` comes from: a boolean attribute of users, an IdP group, or
        both ("" clears one)."""
        with self._editing() as (_, repo, rules):
            changed = rules
            if attribute is not None:
                changed = replace(changed, admin_attribute=self._attribute(attribute) or None)
            if idp_group is not None:
                group = self._group(repo, idp_group) if idp_group else None
                changed = replace(changed, admin_group_id=group)
            self._replace(repo, rules, changed)

    def default_role(self, role: str | None) -> None:
        name = _name(role, "A role") if role else None
        with self._editing() as (_, repo, rules):
            self._replace(repo, rules, replace(rules, default_role=name))

    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise AccessError(f"The mode is one of {', '.join(MODES)}, not {mode!r}.")
        with self._editing() as (_, repo, rules):
            self._replace(repo, rules, replace(rules, mode=mode))

    @contextmanager
    def _editing(self) -> Iterator[tuple[Session, AccessRepository, AccessRules]]:
        """A write transaction with the rules read and locked: one edit at a time."""
        with self.db.write(Origin(self.actor, "", "ACCESS")) as session:
            repo = AccessRepository(session, self.tenant_id)
            yield session, repo, repo.lock_rules()

    def _replace(self, repo: AccessRepository, before: AccessRules, after: AccessRules) -> None:
        if after != before:
            repo.replace_rules(before, after)

    def _group(self, repo: AccessRepository, wanted: str) -> str:
        found = repo.group_ids(self.groups.id, wanted)
        if not found:
            raise AccessError(f"No IdP group has the id, externalId or displayName {wanted!r}.")
        if len(found) > 1:
            raise AccessError(f"{len(found)} IdP groups are named {wanted!r}; give its id.")
        return found[0]

    def _attribute(self, path: str) -> str:
        if not path:
            return ""
        ref = self.users.resolve(path)
        if ref is None or ref.attribute.multi_valued or ref.leaf.type != "boolean":
            raise AccessError(
                f"{path!r} is no boolean attribute of {self.users.name}: the admin attribute "
                "must be one (e.g. an extension's isAdmin)."
            )
        return ref.dotted

    def run_jobs(self, batches: int = 1_000, size: int = BATCH) -> int:
        """Settle pending rules edits of this tenant, ``size`` people per transaction, at
        most ``batches`` transactions; returns how many people's access moved."""
        moved = 0
        for _ in range(batches):
            with self.db.read() as session:
                due = AccessRepository(session, self.tenant_id).next_job()
            if due is None:
                break
            job_id, actor = due
            # Its changes name the edit's actor, and the job as their request.
            with self.db.write(Origin(actor, f"access/{job_id}", "ACCESS")) as session:
                moved += AccessRepository(session, self.tenant_id).run_batch(
                    job_id, self.users.id, size
                )
        return moved


def _name(value: str | None, what: str) -> str:
    name = (value or "").strip()
    if not name or len(name) > MAX_NAME:
        raise AccessError(f"{what} is named by 1 to {MAX_NAME} characters.")
    return name


def run_all_jobs(db: Database, users: ResourceType, groups: ResourceType, batches: int) -> int:
    """One round of the worker: settle up to ``batches`` batches in each tenant with
    pending rules edits; how many people's access moved."""
    with db.read() as session:
        tenants = AccessRepository.tenants_with_jobs(session)
    return sum(AccessService(db, users, groups, t).run_jobs(batches) for t in tenants)


IDENTITY_PAGE = 100
MAX_IDENTITY_PAGE = 1000


@dataclass(frozen=True)
class IdentityPage:
    identities: list[dict[str, Any]]
    next: str | None


class IdentityService:
    """The identity view of one tenant's users (``scim.identity``)."""

    def __init__(self, db: Database, users: ResourceType, tenant_id: int) -> None:
        self.db = db
        self.users = users
        self.tenant_id = tenant_id

    @reading
    def get(self, user_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            found = self._views(session, [user_id])
        if not found:
            raise NotFound(f"Identity {user_id} not found.")
        return found[0]

    @reading
    def by_email(self, email: str) -> IdentityPage:
        with self.db.read() as session:
            ids = AccessRepository(session, self.tenant_id).users_by_email(
                self.users.id, email.strip().casefold()
            )
            return IdentityPage(self._views(session, ids), None)

    @reading
    def page(self, cursor: str | None, limit: int) -> IdentityPage:
        after = _decode(cursor) if cursor else None
        with self.db.read() as session:
            rows = identity_page(session, self.tenant_id, self.users.id, after, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            views = self._views(session, [i for i, _ in rows])
        return IdentityPage(views, _encode(rows[-1]) if more else None)

    def _views(self, session: Session, ids: list[str]) -> list[dict[str, Any]]:
        rows = identity_rows(session, self.tenant_id, self.users.id, ids)
        if not rows:
            return []
        found = [r[0] for r in rows]
        repo = AccessRepository(session, self.tenant_id)
        rules = repo.rules()
        known = repo.known_admin(found) if rules.admin_attribute or rules.admin_group_id else {}
        groups = MembershipRepository(session, self.tenant_id).groups_of(found)
        views = []
        for user_id, version, updated, document in rows:
            member_of = groups.get(user_id, [])
            access = access_of(rules, document, [g.value for g in member_of], known.get(user_id))
            shown = [(g.value, g.display) for g in member_of]
            views.append(
                identity(user_id, document, etag(version), timestamp(updated), shown, access)
            )
        return views


def _encode(row: tuple[str, datetime]) -> str:
    user_id, created = row
    raw = f"{created.isoformat()}|{user_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, user_id = raw.split("|", 1)
        return datetime.fromisoformat(created), user_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidValue("cursor must be a 'next' from this list.") from exc
