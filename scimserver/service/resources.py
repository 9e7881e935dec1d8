"""Create, read, replace, patch, delete and list resources of one type in one tenant."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from scimserver.errors import (
    InvalidCount,
    InvalidValue,
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
from scimserver.scim.cursors import Cursor, CursorCodec, fingerprint
from scimserver.scim.dialects import normalise_resource
from scimserver.scim.filter import And, named_by, parse_filter, text_search
from scimserver.scim.projection import ElementProjection, Projection, project, split
from scimserver.scim.render import Groups, Links, MemberRow, Members
from scimserver.scim.values import changed_values, index_values
from scimserver.scim.versions import etag, matches_any, now
from scimserver.service.observed import note_ignored, note_normalisations, note_subject
from scimserver.service.passwords import hash_password
from scimserver.service.retry import reading, retrying
from scimserver.service.streamed import Document, HeldRead, Streamed
from scimserver.store import single
from scimserver.store.changes import Origin
from scimserver.store.db import Database
from scimserver.store.models import Resource
from scimserver.store.paging import Selection, selection
from scimserver.store.repository import (
    Found,
    Lock,
    MembershipRepository,
    NewMember,
    ResourceRepository,
    Session,
    describe,
    identified,
    identified_with_groups,
    named,
)

log = logging.getLogger(__name__)

EVERYTHING = Projection()
"""No attributes or excludedAttributes given: return the default set."""
_NAMES = frozenset({"userName", "displayName"})
"""The attributes that name a resource to a person (noted for the activity log)."""
_Related = tuple[Members | None, Groups | None]
"""The member rows and the group rows (by resource id) a response shows; None: not shown."""

STREAM_MEMBERS_ABOVE = 1_000
"""A read whose groups hold more members than this in all streams them (see ``streamed``)."""
MEMBER_CHUNK = 1_000
"""Members read, encoded and sent at a time when streaming."""


@dataclass(frozen=True)
class ListQuery:
    filter: str | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    start_index: int = 1
    count: int | None = None
    projection: Projection = field(default_factory=Projection)
    cursor: str | None = None
    """None: index paging; "" asks for the first cursor page (RFC 9865)."""
    text: str | None = None
    """Plain words to find in userName, displayName or emails (the console's search box)."""

    @property
    def descending(self) -> bool:
        return (self.sort_order or "").lower() == "descending"


@dataclass(frozen=True)
class ListResult:
    total: int
    start_index: int | None
    resources: Sequence[Document]
    next_cursor: str | None = None
    previous_cursor: str | None = None


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
    """The use cases for one resource type, in one tenant, behind one database."""

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
    ) -> None:
        self.db = db
        self.type = resource_type
        self.marshaller = marshaller
        self.tenant_id = tenant_id
        self.links = links
        self.cursors = cursors
        self.default_count, self.max_count = page_size
        self.client = client
        """The calling token's name, so logs say which IdP needed which dialect rule."""
        self.request_id = request_id
        self.has_members = resource_type.has_members
        self.has_groups = resource_type.has_groups
        self.writes_alone = not (self.has_members or self._unique_checked())
        """Creates and updates skip the ORM session and the locked read (``store.single``):
        a type without members (they are written in the transaction) and no attribute but
        userName unique (its index refuses a clash; others are checked by a read)."""

    # -- reads ------------------------------------------------------------------------

    @reading
    def get(self, resource_id: str, projection: Projection = EVERYTHING) -> Document:
        """The resource as projected; a large group comes as a :class:`Streamed`."""
        with self._held_read() as held:
            resource = self._repo(held.session).find(resource_id)
            if resource is None:
                raise NotFound(f"{self.type.name} {resource_id} not found.")
            note_subject(self.type.name_of(resource.data))
            return self._render(held, [resource], projection)[0]

    @reading
    def members(self, group_id: str, offset: int, limit: int) -> list[MemberRow]:
        """A page of a group's members from the memberships table (never the whole list)."""
        with self.db.read() as session:
            return self._memberships(session).page(group_id, offset, limit)

    @reading
    def search(self, query: ListQuery) -> ListResult:
        chosen = self._selection(query)
        count = self.default_count if query.count is None else query.count
        count = min(max(count, 0), self.max_count)
        start = max(query.start_index, 1)
        plain = query.cursor is None and count > 0 and not self.has_members
        if chosen.user_name is not None and plain:
            return self._named(chosen.user_name, start, count, query.projection)
        with self._held_read() as held:
            repo = self._repo(held.session)
            if query.cursor is not None:
                return self._cursor_page(held, query, chosen, count)
            if count == 0:
                return ListResult(repo.count(chosen), start, [])
            rows = repo.page(chosen, query.descending, start - 1, count)
            total = _total_from_page(start, count, len(rows))
            if total is None:
                total = repo.count(chosen)
            return ListResult(total, start, self._render(held, rows, query.projection))

    def _named(self, key: str, start: int, count: int, projection: Projection) -> ListResult:
        """An IdP's ``userName eq`` lookup: at most one resource (userName is unique), read
        with its groups in one statement on a plain connection, with no transaction."""
        with self.db.connect() as connection:
            found = named(
                connection, self.tenant_id, self.type.id, key, self._shows_groups(projection)
            )
        if found is None:
            return ListResult(0, start, [])
        row, groups = found
        shown = [] if start > 1 else [row]
        by_id = None if groups is None else {row.id: groups}
        documents = [project(self.type, self._document(r, None, by_id), projection) for r in shown]
        return ListResult(1, start, documents)

    def _held_read(self) -> HeldRead:
        """The read transaction of a get or search: one snapshot when members are read
        (their list and the group's version must agree), kept open while they stream."""
        return HeldRead(self.db, snapshot=self.has_members)

    def _selection(self, query: ListQuery) -> Selection:
        """The query's filter and sortBy, resolved against this type and compiled."""
        node = None
        if query.filter is not None and query.filter.strip():
            node = parse_filter(query.filter, self.type)
            note_subject(named_by(node, _NAMES))
        if query.text:
            words = text_search(query.text, self.type)
            node = words if node is None else And(node, words)
        sort_by = None
        if query.sort_by:
            sort_by = self.type.resolve(query.sort_by)
            if sort_by is None:
                raise InvalidValue(
                    f"sortBy names no attribute of {self.type.name}: {query.sort_by!r}."
                )
        return selection(self.type, self.tenant_id, node, sort_by)

    def _cursor_page(
        self, held: HeldRead, query: ListQuery, chosen: Selection, count: int
    ) -> ListResult:
        """One page of keyset (cursor) paging: page 1,000 costs what page 1 costs.

        The COUNT for ``totalResults`` runs on the first page only (and not even there
        when that page is the last); later pages report the total their cursor carries,
        the size of the result when the walk began.
        """
        if query.count is not None and query.count < 1:
            raise InvalidCount(f"count must be between 1 and {self.max_count}.")
        name = fingerprint(
            self.tenant_id, self.type.id, query.filter, query.sort_by, query.descending
        )
        position = self.cursors.decode(query.cursor, name) if query.cursor else None
        backwards = position is not None and position.backwards
        after = position.keys if position is not None else None
        repo = self._repo(held.session)
        rows = repo.keyed_page(chosen, query.descending != backwards, after, count + 1)
        more = len(rows) > count
        rows = rows[:count][::-1] if backwards else rows[:count]
        if position is not None and position.total is not None:
            total = position.total
        elif position is None and not more:
            total = len(rows)
        else:
            total = repo.count(chosen)
        result = ListResult(total, None, self._render(held, [r for r, _ in rows], query.projection))
        if not rows:
            return result
        (first, first_key), (last, last_key) = rows[0], rows[-1]
        has_next = True if backwards else more  # walking back, we came from the next page
        has_previous = more if backwards else position is not None
        return replace(
            result,
            next_cursor=self.cursors.encode(Cursor((last_key, last.id), False, total), name)
            if has_next
            else None,
            previous_cursor=self.cursors.encode(Cursor((first_key, first.id), True, total), name)
            if has_previous
            else None,
        )

    # -- writes -----------------------------------------------------------------------

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
                wanted = self._member_types(session, members)
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
                moved = self._replace_members(session, resource, members or [])
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
            moved = self._apply_member_changes(session, resource, planned.patch.members)
            if moved and not changed:
                self._repo(session).touch(resource, now())
            if projection is None:
                return Written(None, resource.version, self._location(resource.id))
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
        groups_shown = projection is not None and self._shows_groups(projection)
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
            return Written(None, shown.version, self._location(shown.id))
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
        self._store_document(resource, diff.document, diff.password_hash)
        self._check_unique(session, resource)
        self._bump(resource)
        change = describe(resource, diff.kind, attributes=diff.paths, data=diff.document)
        self._repo(session).update(resource, diff.old_values, diff.new_values, change)
        return True

    def _origin(self, operation: str) -> Origin:
        return Origin(self.client or "unknown", self.request_id, operation)

    # -- helpers ----------------------------------------------------------------------

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

    def _check_immutable(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for attribute in self.type.schema.attributes:
            if attribute.mutability != "immutable" or attribute.name not in old:
                continue
            if attribute.name in new and new[attribute.name] != old[attribute.name]:
                raise Mutability(f"{attribute.name} is immutable and cannot be changed.")

    def _member_types(self, session: Session, members: Sequence[Any]) -> dict[str, NewMember]:
        """Members by id with their resource types; unknown ids are 400 invalidValue."""
        displays: dict[str, str | None] = {}
        for member in members:
            value = member.get("value") if isinstance(member, Mapping) else None
            if not isinstance(value, str) or not value:
                raise InvalidValue("Every member needs a 'value' with the member's id.")
            display = member.get("display")
            displays[value] = display if isinstance(display, str) and display else None
        types = self._memberships(session).types_of(displays)
        missing = sorted(displays.keys() - types.keys())
        if missing:
            raise InvalidValue(f"No such member: {', '.join(missing[:10])}.")
        return {i: NewMember(types[i], d) for i, d in displays.items()}

    def _replace_members(self, session: Session, group: Resource, members: Sequence[Any]) -> bool:
        memberships = self._memberships(session)
        wanted = self._member_types(session, members)
        moment = now()
        current = set(memberships.member_ids(group.id))
        removed = memberships.remove(group, current - wanted.keys(), moment)
        added = memberships.add(group, wanted, moment)
        return bool(removed or added)

    def _apply_member_changes(
        self, session: Session, group: Resource, changes: scim_patch.MemberChanges
    ) -> bool:
        if not self.has_members:
            return False
        memberships = self._memberships(session)
        moment = now()
        changed = False
        if changes.replace is not None:
            changed |= self._replace_members(session, group, changes.replace)
        if changes.remove_all:
            changed |= memberships.clear(group, moment) > 0
        if changes.remove:
            changed |= memberships.remove(group, changes.remove, moment) > 0
        if changes.add:
            wanted = self._member_types(session, changes.add)
            changed |= memberships.add(group, wanted, moment) > 0
        return changed

    def _location(self, resource_id: str) -> str:
        return self.links.location(self.type.id, resource_id)

    def _related_written(
        self, session: Session, resource: Resource, projection: Projection, new: bool = False
    ) -> _Related:
        """The member and group rows a write's response shows, read in its transaction;
        the document is rendered after the commit, outside SQLite's write lock. A resource
        just created (``new``) is in no group yet."""
        session.flush()
        return self._related(session, [resource.id], projection, in_groups=not new)

    def _written(
        self, resource: Resource | Found, related: _Related, projection: Projection
    ) -> Written:
        rendered = project(self.type, self._document(resource, *related), projection)
        return Written(rendered, resource.version, self._location(resource.id))

    def _render(
        self, held: HeldRead, rows: Sequence[Resource | Found], projection: Projection
    ) -> Sequence[Document]:
        """The rows as returned; when their members are many, every row is streamed in
        the held transaction (their members are not read here)."""
        if self.has_members and self._wants(projection, "members"):
            members = self._memberships(held.session).members_of(
                [r.id for r in rows], at_most=STREAM_MEMBERS_ABOVE
            )
            if members is None:
                return self._streamed(held, rows, projection)
            return self._built(held.session, rows, projection, members)
        return self._built(held.session, rows, projection, {})

    def _built(
        self,
        session: Session,
        rows: Sequence[Resource | Found],
        projection: Projection,
        members: Members | None = None,
    ) -> list[dict[str, Any]]:
        """The rows as returned, built in memory; ``members`` None: read them all here."""
        related = self._related(session, [r.id for r in rows], projection, members)
        return [project(self.type, self._document(row, *related), projection) for row in rows]

    def _related(
        self,
        session: Session,
        ids: Sequence[str],
        projection: Projection,
        members: Members | None = None,
        in_groups: bool = True,
    ) -> _Related:
        """The member and group rows of ``ids`` that ``projection`` shows (None: not shown);
        ``members`` already read are kept, ``in_groups`` False: known to be in none."""
        memberships = self._memberships(session)
        if members is None and self.has_members and self._wants(projection, "members"):
            members = memberships.members_of(ids)
        groups = None
        if in_groups and self._shows_groups(projection):
            groups = memberships.groups_of(ids)
        return members, groups

    def _shows_groups(self, projection: Projection) -> bool:
        return self.has_groups and self._wants(projection, "groups")

    def _streamed(
        self, held: HeldRead, rows: Sequence[Resource | Found], projection: Projection
    ) -> list[Document]:
        memberships = self._memberships(held.session)
        groups = None
        if self._shows_groups(projection):
            groups = memberships.groups_of([r.id for r in rows])
        close = held.keep()
        out: list[Document] = []
        for row in rows:
            document = self._document(row, None, groups, streams_members=True)
            parts = split(self.type, document, "members", projection)
            assert parts is not None  # members are wanted, or we would not stream
            chunks = self._member_chunks(memberships, row.id, parts.element)
            out.append(Streamed(parts.head, parts.name, chunks, parts.tail, close))
        return out

    def _member_chunks(
        self, memberships: MembershipRepository, group_id: str, element: ElementProjection
    ) -> Iterator[list[dict[str, Any]]]:
        for chunk in memberships.member_chunks(group_id, MEMBER_CHUNK):
            yield [kept for row in chunk if (kept := element(self.links.member(row)))]

    def _wants(self, projection: Projection, name: str) -> bool:
        ref = self.type.resolve(name)
        return ref is not None and projection.wants(ref)

    def _document(
        self,
        row: Resource | Found,
        members: Members | None,
        groups: Groups | None,
        streams_members: bool = False,
    ) -> dict[str, Any]:
        return self.links.document(self.type, row, members, groups, streams_members)


def _hashed(password: str | None) -> str | None:
    """The slow salted hash of a password an IdP sent (scrypt: kept out of transactions)."""
    return hash_password(password) if password is not None else None


def _total_from_page(start: int, count: int, returned: int) -> int | None:
    """``totalResults`` when a short page already tells it; None when a COUNT is needed.

    A page that holds fewer rows than asked is the last one, so the total is the rows
    before it plus its own; an empty page only says so when it is the first. This spares
    the COUNT for nearly every lookup (an IdP's ``userName eq`` finds 0 or 1 rows), and
    it reads the same snapshot as the page, so it equals what the COUNT would say.
    """
    if returned >= count or (returned == 0 and start > 1):
        return None
    return start - 1 + returned
