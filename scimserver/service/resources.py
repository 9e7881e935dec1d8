"""Create, replace, patch and delete resources of one type in one tenant: the writes.

Reads and listing are ``service.reading``; a group's members are changed by
``service.memberships``; what a database does differently is the store's business.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from scimserver.errors import (
    Mutability,
    NotFound,
    PreconditionFailed,
    ScimError,
    Uniqueness,
)
from scimserver.schema.marshal import Marshaller, Phase
from scimserver.schema.model import Attribute, ResourceType
from scimserver.scim import patch as scim_patch
from scimserver.scim.changes import PASSWORD, changed_paths, event_type, update_type
from scimserver.scim.cursors import CursorCodec
from scimserver.scim.dialects import normalise_resource
from scimserver.scim.identity import email_key, moves_access
from scimserver.scim.projection import Projection
from scimserver.scim.render import Links
from scimserver.scim.values import changed_values, index_values
from scimserver.scim.versions import etag, matches_any, now
from scimserver.service.memberships import apply_member_changes, member_types, replace_members
from scimserver.service.observed import note_ignored, note_normalisations, note_subject
from scimserver.service.passwords import hash_password
from scimserver.service.reading import EVERYTHING, Related, ResourceReader
from scimserver.service.retry import retrying
from scimserver.store import access, single
from scimserver.store.changes import Origin
from scimserver.store.db import Database
from scimserver.store.models import Resource
from scimserver.store.repository import (
    Found,
    Lock,
    MembershipRepository,
    ResourceRepository,
    Session,
    describe,
    identified,
    identified_with_groups,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    """A written resource as the client sees it, or None when the answer has no body."""

    resource: dict[str, Any] | None
    version: int
    location: str


@dataclass(frozen=True)
class _Diff:
    """A changed document and what changed: its paths, event type, and the index values
    of the changed attributes before and after."""

    document: dict[str, Any]
    password_hash: str | None
    paths: tuple[str, ...]
    kind: str
    old_values: list[Any]
    new_values: list[Any]


@dataclass(frozen=True)
class _Planned:
    """An update worked out against ``version`` of a resource."""

    version: int
    diff: _Diff | None
    patch: scim_patch.PatchResult | None = None


def _current(planned: _Planned | None, resource: Resource) -> _Planned | None:
    """``planned`` if it was made against the version now locked, else None."""
    return planned if planned is not None and planned.version == resource.version else None


class ResourceService:
    """The writes of one resource type, in one tenant, behind one database."""

    def __init__(
        self,
        db: Database,
        resource_type: ResourceType,
        marshaller: Marshaller,
        tenant_id: int,
        links: Links,
        cursors: CursorCodec,
        page_size: tuple[int, int] = (100, 1000),
        client: str = "",
        request_id: str = "",
        unique_email: bool = False,
    ) -> None:
        self.db = db
        self.type = resource_type
        self.marshaller = marshaller
        self.tenant_id = tenant_id
        self.reader = ResourceReader(db, resource_type, tenant_id, links, cursors, page_size)
        """Renders what a write answers (and reads what it shows)."""
        self.client = client
        """The calling token's name, so logs say which IdP needed which dialect rule."""
        self.request_id = request_id
        self.has_members = resource_type.has_members
        self.unique_email = unique_email and resource_type.has_groups
        """``SCIMSERVER_UNIQUE_EMAIL``: a user's email (``scim.identity.email_of``) is
        unique in the tenant, checked as :meth:`_check_unique` checks attributes."""
        self.writes_alone = not (self.has_members or self._unique_checked() or self.unique_email)
        """Creates and updates skip the ORM session and the locked read (``store.single``):
        a type without members (they are written in the transaction) and no attribute but
        userName unique (its index refuses a clash; others are checked by a read)."""

    @retrying
    def create(self, body: Any, projection: Projection = EVERYTHING) -> Written:
        document = self.marshaller.load(self._normalised("POST", body), Phase.CREATE)
        password = document.pop("password", None)
        members = document.pop("members", None) if self.has_members else None
        moment = now()
        resource = Resource(
            id=str(uuid.uuid4()),
            tenant_id=self.tenant_id,
            resource_type=self.type.id,
            version=1,
            created=moment,
            last_modified=moment,
        )
        # Everything that needs no database happens before the write transaction: on
        # SQLite that transaction holds the one write lock every writer waits for.
        self._store_document(resource, document, _hashed(password))
        values = self._values(document)
        kind = event_type(self.type.id, "created")
        paths = changed_paths(self.type, {}, document)
        if password is not None:
            paths = (*paths, PASSWORD)
        change = describe(resource, kind, attributes=paths, data=document)
        if self.writes_alone:
            with self.db.write_alone() as connection:
                single.add(connection, resource, values, change, self._origin("POST"))
            return self._written(resource, (None, None), projection)
        with self.db.write(self._origin("POST")) as session:
            self._check_unique(session, resource)
            self._repo(session).add(resource, values, change)
            if members:
                wanted = member_types(self._memberships(session), members)
                self._memberships(session).add(resource, wanted, moment)
            related = self._related_written(session, resource, projection, new=True)
        return self._written(resource, related, projection)

    @retrying
    def replace(
        self, resource_id: str, body: Any, if_match: str | None, projection: Projection
    ) -> Written:
        document = self.marshaller.load(self._normalised("PUT", body), Phase.REPLACE)
        hashed = _hashed(document.pop("password", None))
        members = document.pop("members", None) if self.has_members else None

        def plan(seen: Resource | Found) -> _Planned:
            return self._replaced(seen, document, hashed)

        if self.writes_alone:
            written = self._updated_alone(resource_id, if_match, plan, "PUT", projection)
            if written is not None:
                return written
        early = self._early(resource_id, plan)
        with self.db.write(self._origin("PUT")) as session:
            resource = self._locked(self._repo(session), resource_id, if_match)
            planned = _current(early, resource) or plan(resource)
            changed = self._update(session, resource, planned.diff)
            if self.has_members:
                moved = replace_members(self._memberships(session), resource, members or [])
                if moved and not changed:
                    self._repo(session).touch(resource, now())
            related = self._related_written(session, resource, projection)
        return self._written(resource, related, projection)

    @retrying
    def patch(
        self, resource_id: str, body: Any, if_match: str | None, projection: Projection | None
    ) -> Written:
        """Apply a PatchOp; ``projection`` None means the caller wants no body back."""
        operations = scim_patch.parse_operations(body)

        def plan(seen: Resource | Found) -> _Planned:
            return self._patched(seen, operations)

        if self.writes_alone:
            written = self._updated_alone(resource_id, if_match, plan, "PATCH", projection)
            if written is not None:
                return written
        early = None
        if not scim_patch.only_members(operations):  # a membership change has nothing to plan
            early = self._early(resource_id, plan)
        with self.db.write(self._origin("PATCH")) as session:
            resource = self._locked(self._repo(session), resource_id, if_match)
            planned = _current(early, resource) or plan(resource)
            assert planned.patch is not None
            self._log_normalisations("PATCH", planned.patch.normalisations)
            changed = self._update(session, resource, planned.diff)
            moved = self.has_members and apply_member_changes(
                self._memberships(session), resource, planned.patch.members
            )
            if moved and not changed:
                self._repo(session).touch(resource, now())
            if projection is None:
                return Written(None, resource.version, self.reader.location(resource.id))
            related = self._related_written(session, resource, projection)
        return self._written(resource, related, projection)

    @retrying
    def delete(self, resource_id: str, if_match: str | None) -> None:
        with self.db.write(self._origin("DELETE")) as session:
            repo = self._repo(session)
            repo.remove(self._locked(repo, resource_id, if_match, "delete"), now())

    def _updated_alone(
        self,
        resource_id: str,
        if_match: str | None,
        plan: Callable[[Found], _Planned],
        operation: str,
        projection: Projection | None,
    ) -> Written | None:
        """The update planned against the version read just now and written without a
        locked read (``store.single``), or None for the locked path to decide: the
        resource was not found, If-Match or the plan refused it, or another writer
        changed it in between. Its groups, if shown, are read with it, in one statement."""
        groups_shown = projection is not None and self.reader.shows_groups(projection)
        with self.db.connect() as connection:
            found = identified_with_groups(
                connection, self.tenant_id, self.type.id, resource_id, groups_shown
            )
            if found is None:
                return None
            seen, groups = found
            if if_match is not None and not matches_any(if_match, seen.version):
                return None
            try:
                planned = plan(seen)
            except ScimError:
                return None
            if planned.diff is not None and self._moves_access(connection, planned.diff):
                return None
        if planned.diff is None:
            note_subject(self.type.name_of(seen.data))
            shown: Resource | Found = seen
        else:
            shown = self._rewritten(seen, planned.diff)
            if not self._stored_alone(shown, seen.version, planned.diff, operation):
                return None
        if planned.patch is not None:
            self._log_normalisations(operation, planned.patch.normalisations)
        if projection is None:
            return Written(None, shown.version, self.reader.location(shown.id))
        return self._written(
            shown, (None, None if groups is None else {seen.id: groups}), projection
        )

    def _stored_alone(self, resource: Resource, read: int, diff: _Diff, operation: str) -> bool:
        """``resource`` written over its version ``read``; False, with nothing written,
        when ``read`` is no longer the stored version."""
        change = describe(resource, diff.kind, attributes=diff.paths, data=diff.document)
        old, new = diff.old_values, diff.new_values
        with self.db.write_alone() as connection:
            origin = self._origin(operation)
            return single.rewrite(connection, resource, read, old, new, change, origin)

    def _rewritten(self, seen: Found, diff: _Diff) -> Resource:
        """The resource ``seen`` as ``diff`` leaves it, one version on (not in a session)."""
        resource = Resource(
            id=seen.id,
            tenant_id=self.tenant_id,
            resource_type=self.type.id,
            version=seen.version,
            created=seen.created,
            last_modified=seen.last_modified,
        )
        self._store_document(resource, diff.document, diff.password_hash)
        self._bump(resource)
        return resource

    def _early(self, resource_id: str, plan: Callable[[Found], _Planned]) -> _Planned | None:
        """``plan`` worked out before the write transaction, where the database wants it
        so (``Database.ahead``), or None.

        The CPU work of an update (applying the PATCH, validating, diffing, indexing,
        hashing) is done against the version read here; the transaction uses it only if
        that version is still the one it locks (:func:`_current`), else it plans again.
        A refusal is decided inside the transaction, on the locked row.
        """

        def ahead(connection: Connection) -> _Planned | None:
            seen = identified(connection, self.tenant_id, self.type.id, resource_id)
            if seen is None:
                return None
            try:
                return plan(seen)
            except ScimError:
                return None

        return self.db.ahead(ahead)

    def _replaced(
        self, resource: Resource | Found, document: dict[str, Any], password_hash: str | None
    ) -> _Planned:
        """A PUT of ``document`` over ``resource``: immutables kept, ``active`` kept if omitted."""
        self._check_immutable(resource.data, document)
        if "active" in resource.data and "active" not in document:
            document = {**document, "active": resource.data["active"]}
        return _Planned(resource.version, self._diff(resource.data, document, password_hash))

    def _patched(
        self, resource: Resource | Found, operations: Sequence[scim_patch.PatchOperation]
    ) -> _Planned:
        result = scim_patch.apply_patch(self.type, resource.data, operations)
        diff = None
        if result.changed or result.password is not None:
            document = self.marshaller.reload(resource.data, result.document)
            document.pop("password", None)
            diff = self._diff(resource.data, document, _hashed(result.password))
        return _Planned(resource.version, diff, result)

    def _diff(
        self, old: dict[str, Any], document: dict[str, Any], password_hash: str | None
    ) -> _Diff | None:
        """What storing ``document`` over ``old`` changes; None for a no-op."""
        paths = changed_paths(self.type, old, document)
        if password_hash is not None:
            paths = (*paths, PASSWORD)
        if not paths:
            return None
        kind = update_type(self.type.id, old, document)
        values = changed_values(self.type, old, document)
        return _Diff(document, password_hash, paths, kind, *values)

    def _update(self, session: Session, resource: Resource, diff: _Diff | None) -> bool:
        """Store the diff's document (False for no diff: a no-op writes nothing)."""
        if diff is None:
            return False
        if self.type.has_groups:  # its access may move: settled before the commit
            access.note_document(session, self.tenant_id, self.type.id, resource.id, resource.data)
        self._store_document(resource, diff.document, diff.password_hash)
        self._check_unique(session, resource)
        self._bump(resource)
        change = describe(resource, diff.kind, attributes=diff.paths, data=diff.document)
        self._repo(session).update(resource, diff.old_values, diff.new_values, change)
        return True

    def _moves_access(self, connection: Connection, diff: _Diff) -> bool:
        """Whether the write may move a person's access (``scim.identity.moves_access``) in
        a tenant that has access rules: then it takes the locked path, whose transaction
        settles access. A deactivation in a tenant without rules keeps its one statement."""
        if not (self.type.has_groups and moves_access(self.type, diff.paths)):
            return False
        return access.has_rules(connection, self.tenant_id)

    def _origin(self, operation: str) -> Origin:
        return Origin(self.client or "unknown", self.request_id, operation)

    def _normalised(self, action: str, body: Any) -> Any:
        normalised, notes = normalise_resource(body)
        self._log_normalisations(action, notes)
        unknown = self.marshaller.unknown_keys(normalised)
        if unknown:
            # Dropped, to stay forgiving of IdP mappings; logged, because a field mapped
            # in the IdP but declared in no schema is lost without an error otherwise.
            log.warning(
                "%s %s from client %r: ignored attributes no schema declares: %s",
                action,
                self.type.name,
                self.client,
                ", ".join(unknown),
                extra={"client": self.client, "ignored": tuple(unknown)},
            )
            note_ignored(unknown)
        return normalised

    def _log_normalisations(self, action: str, names: Sequence[str]) -> None:
        """One INFO line per request that needed dialect rules; ``extra`` lets logs count them."""
        if names:
            note_normalisations(names)
            log.info(
                "%s %s from client %r normalised: %s",
                action,
                self.type.name,
                self.client,
                ", ".join(names),
                extra={"client": self.client, "normalisations": tuple(names)},
            )

    def _repo(self, session: Session) -> ResourceRepository:
        return ResourceRepository(session, self.tenant_id, self.type.id)

    def _memberships(self, session: Session) -> MembershipRepository:
        return MembershipRepository(session, self.tenant_id)

    def _locked(
        self,
        repo: ResourceRepository,
        resource_id: str,
        if_match: str | None,
        lock: Lock = "change",
    ) -> Resource:
        """The row, locked for this transaction, after checking If-Match against it."""
        resource = repo.find(resource_id, lock=lock)
        if resource is None:
            raise NotFound(f"{self.type.name} {resource_id} not found.")
        note_subject(self.type.name_of(resource.data))
        if if_match is not None and not matches_any(if_match, resource.version):
            raise PreconditionFailed(
                f"If-Match {if_match} does not match the current version {etag(resource.version)}."
            )
        return resource

    def _bump(self, resource: Resource) -> None:
        resource.version += 1
        resource.last_modified = now()

    def _store_document(
        self, resource: Resource, document: dict[str, Any], password_hash: str | None
    ) -> None:
        resource.data = document
        note_subject(self.type.name_of(document))
        user_name = document.get("userName")
        resource.user_name_key = user_name.casefold() if isinstance(user_name, str) else None
        resource.display_name = self.type.display_of(document)
        if password_hash is not None:
            resource.password_hash = password_hash

    def _values(self, document: Mapping[str, Any]) -> list[Any]:
        return index_values(self.type, document)

    def _unique_checked(self) -> list[Attribute]:
        """The attributes :meth:`_check_unique` checks: unique ones but userName (which has
        its own index)."""
        return [
            a
            for a in self.type.schema.attributes
            if a.uniqueness != "none" and a.name != "userName"
        ]

    def _check_unique(self, session: Session, resource: Resource) -> None:
        """Uniqueness ``server`` on attributes other than userName (which has its own index)."""
        repo = self._repo(session)
        for attribute in self._unique_checked():
            value = resource.data.get(attribute.name)
            if not isinstance(value, str):
                continue
            ref = self.type.resolve(attribute.name)
            assert ref is not None
            key = value if attribute.case_exact else value.casefold()
            if repo.value_taken(ref.key, key, resource.id):
                raise Uniqueness(f"{attribute.name} {value!r} is already in use.")
        email = email_key(resource.data) if self.unique_email else None
        users = access.AccessRepository(session, self.tenant_id)
        if email is not None and users.email_taken(self.type.id, email, resource.id):
            raise Uniqueness(f"The email {email!r} is already another user's.")

    def _check_immutable(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for attribute in self.type.schema.attributes:
            if attribute.mutability != "immutable" or attribute.name not in old:
                continue
            if attribute.name in new and new[attribute.name] != old[attribute.name]:
                raise Mutability(f"{attribute.name} is immutable and cannot be changed.")

    def _related_written(
        self, session: Session, resource: Resource, projection: Projection, new: bool = False
    ) -> Related:
        """The member and group rows a write's response shows, read in its transaction;
        the document is rendered after the commit, outside SQLite's write lock. A resource
        just created (``new``) is in no group yet."""
        session.flush()
        return self.reader.related(session, [resource.id], projection, in_groups=not new)

    def _written(
        self, resource: Resource | Found, related: Related, projection: Projection
    ) -> Written:
        rendered = self.reader.shown(resource, related, projection)
        return Written(rendered, resource.version, self.reader.location(resource.id))


def _hashed(password: str | None) -> str | None:
    """The slow salted hash of a password an IdP sent (scrypt: kept out of transactions)."""
    return hash_password(password) if password is not None else None
