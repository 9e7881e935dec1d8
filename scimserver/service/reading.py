"""Read and list resources of one type in one tenant, as a client sees them.

Reads run on the request's one connection (``Database.read``); a group whose members are
many is streamed from a read transaction kept open while the answer is sent
(``service.streamed``). Rendering itself is pure (``scim.render``): this module reads the
rows it needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scimserver.errors import InvalidCount, InvalidValue, NotFound
from scimserver.schema.model import ResourceType
from scimserver.scim.cursors import Cursor, CursorCodec, fingerprint
from scimserver.scim.filter import And, named_by, parse_filter, text_search
from scimserver.scim.projection import ElementProjection, Projection, project, split
from scimserver.scim.render import Groups, Links, MemberRow, Members
from scimserver.service.observed import note_subject
from scimserver.service.retry import reading
from scimserver.service.streamed import Document, HeldRead, Streamed
from scimserver.store.db import Database
from scimserver.store.models import Resource
from scimserver.store.paging import Selection, selection
from scimserver.store.repository import (
    Found,
    MembershipRepository,
    ResourceRepository,
    Session,
    named,
)

EVERYTHING = Projection()
"""No attributes or excludedAttributes given: return the default set."""
_NAMES = frozenset({"userName", "displayName"})
"""The attributes that name a resource to a person (noted for the activity log)."""
Related = tuple[Members | None, Groups | None]
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


class ResourceReader:
    """The reads of one resource type, in one tenant, behind one database."""

    def __init__(
        self,
        db: Database,
        resource_type: ResourceType,
        tenant_id: int,
        links: Links,
        cursors: CursorCodec,
        page_size: tuple[int, int] = (100, 1000),
    ) -> None:
        self.db = db
        self.type = resource_type
        self.tenant_id = tenant_id
        self.links = links
        self.cursors = cursors
        self.default_count, self.max_count = page_size
        self.has_members = resource_type.has_members
        self.has_groups = resource_type.has_groups

    def repo(self, session: Session) -> ResourceRepository:
        return ResourceRepository(session, self.tenant_id, self.type.id)

    def location(self, resource_id: str) -> str:
        return self.links.location(self.type.id, resource_id)

    def shown(
        self, resource: Resource | Found, related: Related, projection: Projection
    ) -> dict[str, Any]:
        """A written resource as its response shows it (``related``: see :meth:`related`)."""
        return project(self.type, self.document(resource, *related), projection)

    @reading
    def get(self, resource_id: str, projection: Projection = EVERYTHING) -> Document:
        """The resource as projected; a large group comes as a :class:`Streamed`."""
        with self._held_read() as held:
            resource = self.repo(held.session).find(resource_id)
            if resource is None:
                raise NotFound(f"{self.type.name} {resource_id} not found.")
            note_subject(self.type.name_of(resource.data))
            return self.render(held, [resource], projection)[0]

    @reading
    def members(self, group_id: str, offset: int, limit: int) -> list[MemberRow]:
        """A page of a group's members from the memberships table (never the whole list)."""
        with self.db.read() as session:
            return MembershipRepository(session, self.tenant_id).page(group_id, offset, limit)

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
            repo = self.repo(held.session)
            if query.cursor is not None:
                return self._cursor_page(held, query, chosen, count)
            if count == 0:
                return ListResult(repo.count(chosen), start, [])
            rows = repo.page(chosen, query.descending, start - 1, count)
            total = _total_from_page(start, count, len(rows))
            if total is None:
                total = repo.count(chosen)
            return ListResult(total, start, self.render(held, rows, query.projection))

    def _named(self, key: str, start: int, count: int, projection: Projection) -> ListResult:
        """An IdP's ``userName eq`` lookup: at most one resource (userName is unique), read
        with its groups in one statement on a plain connection, with no transaction."""
        found = named(self.db, self.tenant_id, self.type.id, key, self.shows_groups(projection))
        if found is None:
            return ListResult(0, start, [])
        row, groups = found
        shown = [] if start > 1 else [row]
        by_id = None if groups is None else {row.id: groups}
        documents = [project(self.type, self.document(r, None, by_id), projection) for r in shown]
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
        repo = self.repo(held.session)
        rows = repo.keyed_page(chosen, query.descending != backwards, after, count + 1)
        more = len(rows) > count
        rows = rows[:count][::-1] if backwards else rows[:count]
        if position is not None and position.total is not None:
            total = position.total
        elif position is None and not more:
            total = len(rows)
        else:
            total = repo.count(chosen)
        result = ListResult(total, None, self.render(held, [r for r, _ in rows], query.projection))
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

    def render(
        self, held: HeldRead, rows: Sequence[Resource | Found], projection: Projection
    ) -> Sequence[Document]:
        """The rows as returned; when their members are many, every row is streamed in
        the held transaction (their members are not read here)."""
        if self.has_members and self.wants(projection, "members"):
            members = MembershipRepository(held.session, self.tenant_id).members_of(
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
        related = self.related(session, [r.id for r in rows], projection, members)
        return [project(self.type, self.document(row, *related), projection) for row in rows]

    def related(
        self,
        session: Session,
        ids: Sequence[str],
        projection: Projection,
        members: Members | None = None,
        in_groups: bool = True,
    ) -> Related:
        """The member and group rows of ``ids`` that ``projection`` shows (None: not shown);
        ``members`` already read are kept, ``in_groups`` False: known to be in none."""
        memberships = MembershipRepository(session, self.tenant_id)
        if members is None and self.has_members and self.wants(projection, "members"):
            members = memberships.members_of(ids)
        groups = None
        if in_groups and self.shows_groups(projection):
            groups = memberships.groups_of(ids)
        return members, groups

    def shows_groups(self, projection: Projection) -> bool:
        return self.has_groups and self.wants(projection, "groups")

    def _streamed(
        self, held: HeldRead, rows: Sequence[Resource | Found], projection: Projection
    ) -> list[Document]:
        memberships = MembershipRepository(held.session, self.tenant_id)
        groups = None
        if self.shows_groups(projection):
            groups = memberships.groups_of([r.id for r in rows])
        close = held.keep()
        out: list[Document] = []
        for row in rows:
            document = self.document(row, None, groups, streams_members=True)
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

    def wants(self, projection: Projection, name: str) -> bool:
        ref = self.type.resolve(name)
        return ref is not None and projection.wants(ref)

    def document(
        self,
        row: Resource | Found,
        members: Members | None,
        groups: Groups | None,
        streams_members: bool = False,
    ) -> dict[str, Any]:
        return self.links.document(self.type, row, members, groups, streams_members)


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
