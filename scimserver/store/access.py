"""Access rules, each person's announced access, and the settling of access in writes.

A write that may move someone's effective access notes it (:func:`note_members` when
memberships of users move, :func:`note_document` when a user's document changes); the
write's last step, just before its changes are appended (``changes.before_append``),
settles the noted people: for each one whose access differs from what was announced, it
stores the new access and logs one ``identity.access_changed`` change, in the write's
transaction. Only people in a group the rules name, or whose ``active`` or admin
attribute moved, are read: a write that touches nobody's access costs one small read
in a tenant that has never had rules, the tenant's rules (two more) in one that has.

Announced access, per person: the ``identity_access`` row once there is one; before that,
what the rules as they were before any edit still being settled (the oldest pending
job's ``before``) give. Each person's settling runs with their user row locked (a
membership change bumps it, a document change holds it, a job batch locks it), so two
writers never settle one person from the same announced state: each change of access
is announced once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, or_, select, union
from sqlalchemy.orm import Session

from scimserver.scim.changes import ACCESS_CHANGED, MEMBER_ADDED, RULES_CHANGED, ChangeRecord
from scimserver.scim.identity import (
    SINGLE,
    Access,
    AccessRules,
    AppMapping,
    access_inputs,
    access_of,
    email_key,
)
from scimserver.scim.versions import now
from scimserver.store import changes
from scimserver.store.features import features_of
from scimserver.store.models import (
    STR_KEY_LENGTH,
    AccessJob,
    AccessMapping,
    AccessRuleSet,
    AttributeValue,
    IdentityAccess,
    Membership,
    Resource,
)
from scimserver.store.prepared import Prepared

_JOURNAL = "scim_access"
_CHUNK = 500
_ANY_RULES = Prepared(
    select(AccessRuleSet.tenant_id)
    .where(AccessRuleSet.tenant_id == bindparam("tenant"))
    .union_all(
        select(AccessMapping.tenant_id).where(AccessMapping.tenant_id == bindparam("tenant"))
    )
    .limit(1)
)


def has_rules(connection: Connection, tenant_id: int) -> bool:
    """Whether the tenant has ever had access rules: until then no write can move anyone's
    access, and a user's update needs no settling (it keeps its one-statement path)."""
    return _ANY_RULES.first(connection, {"tenant": tenant_id}) is not None


PENDING = "pending"
EMAIL_PATH = "emails.value"
"""The value-index path of users' email addresses (lowercase, as ``AttrRef.key``)."""


@dataclass
class _Noted:
    """What one write did that may move access, per user of one tenant."""

    user_type: str
    first_moves: dict[str, dict[str, str]] = field(default_factory=dict)
    """user → group → the first membership event of this write (its state before)."""
    old_documents: dict[str, Mapping[str, Any]] = field(default_factory=dict)


def note_members(
    session: Session, tenant_id: int, user_type: str, group_id: str, kind: str, users: Iterable[str]
) -> None:
    """Users' memberships of ``group_id`` moved (``kind``: member added or removed)."""
    noted = _noted(session, tenant_id, user_type)
    for user in users:
        noted.first_moves.setdefault(user, {}).setdefault(group_id, kind)


def note_document(
    session: Session, tenant_id: int, user_type: str, user_id: str, old: Mapping[str, Any]
) -> None:
    """A user's document is being changed from ``old``."""
    _noted(session, tenant_id, user_type).old_documents.setdefault(user_id, old)


def _noted(session: Session, tenant_id: int, user_type: str) -> _Noted:
    journal: dict[int, _Noted] = session.info.setdefault(_JOURNAL, {})
    if not journal:
        changes.before_append(session, _JOURNAL, settle)
    return journal.setdefault(tenant_id, _Noted(user_type))


def settle(session: Session) -> None:
    """Announce the access the noted people have now (``changes.before_append``)."""
    journal: dict[int, _Noted] = session.info.pop(_JOURNAL, {})
    session.flush()
    for tenant_id, noted in sorted(journal.items()):
        if not has_rules(session.connection(), tenant_id):
            continue  # one statement, where reading the rules takes two
        repo = AccessRepository(session, tenant_id)
        rules = repo.rules()
        if rules == AccessRules():
            continue
        baseline = repo.baseline() or rules
        watched = rules.groups | baseline.groups
        moved = {u for u, groups in noted.first_moves.items() if groups.keys() & watched}
        documents = repo.documents(noted.user_type, set(noted.old_documents) | moved)
        edited = {
            u
            for u, old in noted.old_documents.items()
            if u in documents and access_inputs(rules, old) != access_inputs(rules, documents[u][1])
        }
        repo.settle_people(rules, baseline, documents, moved | edited, noted)


class AccessRepository:
    """One tenant's access rules, announced access and settling jobs."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # The rules

    def rules(self, lock: bool = False) -> AccessRules:
        found = self._rule_set(lock)
        query = select(AccessMapping).where(AccessMapping.tenant_id == self.tenant_id)
        mappings = tuple(
            AppMapping(m.app_group, m.group_id, m.priority) for m in self.session.scalars(query)
        )
        if found is None:
            return AccessRules(mappings)
        return AccessRules(
            mappings, found.mode, found.default_role, found.admin_attribute, found.admin_group_id
        )

    def _rule_set(self, lock: bool) -> AccessRuleSet | None:
        query = select(AccessRuleSet).where(AccessRuleSet.tenant_id == self.tenant_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def lock_rules(self) -> AccessRules:
        """The rules, locked for this transaction (one edit of a tenant's rules at a time)."""
        if self._rule_set(lock=True) is None:
            upsert = features_of(self.session).upsert
            self.session.execute(
                upsert(AccessRuleSet)
                .values(tenant_id=self.tenant_id, id=str(uuid.uuid4()), mode=SINGLE)
                .on_conflict_do_nothing()
            )
        return self.rules(lock=True)

    def replace_rules(self, before: AccessRules, after: AccessRules) -> None:
        """Store ``after`` over ``before`` (read with :meth:`lock_rules`): log the edit
        and queue the settling of the people it may move."""
        rule_set = self._rule_set(lock=False)
        assert rule_set is not None
        rule_set.mode = after.mode
        rule_set.default_role = after.default_role
        rule_set.admin_attribute = after.admin_attribute
        rule_set.admin_group_id = after.admin_group_id
        self.session.execute(delete(AccessMapping).where(AccessMapping.tenant_id == self.tenant_id))
        for m in after.mappings:
            self.session.add(
                AccessMapping(
                    tenant_id=self.tenant_id,
                    app_group=m.app_group,
                    group_id=m.group_id,
                    priority=m.priority,
                )
            )
        data = {"before": before.to_json(), "after": after.to_json()}
        change = ChangeRecord(RULES_CHANGED, "AccessRules", rule_set.id, data=data)
        changes.record(self.session, self.tenant_id, change)
        for group_id in moved_groups(before, after):
            self._queue(group_id, before)

    def _queue(self, group_id: str | None, before: AccessRules) -> None:
        origin = changes.origin_of(self.session)
        self.session.add(
            AccessJob(
                id=str(uuid.uuid4()),
                tenant_id=self.tenant_id,
                group_id=group_id,
                before=before.to_json(),
                after_id="",
                state=PENDING,
                actor=origin.actor[:100],
                created=now(),
            )
        )

    def baseline(self) -> AccessRules | None:
        """The rules before the oldest edit still being settled, if any."""
        query = (
            select(AccessJob.before)
            .where(AccessJob.tenant_id == self.tenant_id, AccessJob.state == PENDING)
            .order_by(AccessJob.created, AccessJob.id)
            .limit(1)
        )
        found = self.session.execute(query).scalar()
        return None if found is None else AccessRules.from_json(found)

    def group_ids(self, group_type: str, wanted: str) -> list[str]:
        """The groups ``wanted`` names: by id, else externalId, else displayName (any case)."""
        scope = (Resource.tenant_id == self.tenant_id, Resource.resource_type == group_type)
        by_id = list(self.session.scalars(select(Resource.id).where(*scope, Resource.id == wanted)))
        if by_id:
            return by_id
        external = select(AttributeValue.resource_id).where(
            AttributeValue.tenant_id == self.tenant_id,
            AttributeValue.path == "externalid",
            AttributeValue.str_key == wanted[:STR_KEY_LENGTH],
            AttributeValue.str_value == wanted,
        )
        query = select(Resource.id).where(*scope, Resource.id.in_(external))
        by_external = list(self.session.scalars(query))
        if by_external:
            return by_external
        named = select(Resource.id, Resource.display_name).where(
            *scope, func.lower(Resource.display_name) == wanted.lower()
        )
        folded = wanted.casefold()
        return [i for i, d in self.session.execute(named) if (d or "").casefold() == folded]

    def group_names(self, ids: Iterable[str]) -> dict[str, str | None]:
        wanted = list(set(ids))
        query = select(Resource.id, Resource.display_name).where(
            Resource.tenant_id == self.tenant_id, Resource.id.in_(wanted)
        )
        return {i: d for i, d in self.session.execute(query)}

    # People

    def documents(
        self, user_type: str, ids: Iterable[str]
    ) -> dict[str, tuple[int, dict[str, Any]]]:
        """The version and document of each of these users that exists."""
        wanted = sorted(set(ids))
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for start in range(0, len(wanted), _CHUNK):
            query = select(Resource.id, Resource.version, Resource.data).where(
                Resource.tenant_id == self.tenant_id,
                Resource.resource_type == user_type,
                Resource.id.in_(wanted[start : start + _CHUNK]),
            )
            found.update({i: (v, d) for i, v, d in self.session.execute(query)})
        return found

    def stored(self, ids: Iterable[str]) -> dict[str, IdentityAccess]:
        wanted = sorted(set(ids))
        found: dict[str, IdentityAccess] = {}
        for start in range(0, len(wanted), _CHUNK):
            query = select(IdentityAccess).where(
                IdentityAccess.user_id.in_(wanted[start : start + _CHUNK])
            )
            found.update({row.user_id: row for row in self.session.scalars(query)})
        return found

    def known_admin(self, ids: Iterable[str]) -> dict[str, bool | None]:
        """The admin value last known for each of these users (absent: none known)."""
        return {i: row.admin_known for i, row in self.stored(ids).items()}

    def memberships(self, ids: Iterable[str], groups: Iterable[str]) -> dict[str, set[str]]:
        """Which of ``groups`` each of these users is a direct member of now."""
        wanted, among = sorted(set(ids)), sorted(set(groups))
        found: dict[str, set[str]] = {}
        if not among:
            return found
        for start in range(0, len(wanted), _CHUNK):
            query = select(Membership.member_id, Membership.group_id).where(
                Membership.member_id.in_(wanted[start : start + _CHUNK]),
                Membership.group_id.in_(among),
            )
            for member, group in self.session.execute(query):
                found.setdefault(member, set()).add(group)
        return found

    def settle_people(
        self,
        rules: AccessRules,
        baseline: AccessRules,
        documents: Mapping[str, tuple[int, dict[str, Any]]],
        ids: Iterable[str],
        noted: _Noted | None = None,
    ) -> int:
        """Store and announce the access of these people where it moved; how many moved."""
        people = sorted(i for i in set(ids) if i in documents)
        if not people:
            return 0
        stored = self.stored(people)
        groups = self.memberships(people, rules.groups | baseline.groups)
        moved = 0
        for user_id in people:
            version, document = documents[user_id]
            current = groups.get(user_id, set())
            row = stored.get(user_id)
            if row is not None:
                before = Access(
                    tuple(row.app_groups), tuple(row.roles), row.is_admin, row.admin_known
                )
            else:
                old = noted.old_documents.get(user_id, document) if noted else document
                firsts = noted.first_moves.get(user_id, {}) if noted else {}
                before = access_of(baseline, old, _before(current, firsts), None)
            after = access_of(rules, document, current, before.admin_known)
            if row is None or after != before or after.admin_known != before.admin_known:
                self._store(user_id, after)
            if after != before:
                moved += 1
                self._announce(user_id, version, document, before, after)
        return moved

    def _store(self, user_id: str, access: Access) -> None:
        values = {
            "app_groups": list(access.app_groups),
            "roles": list(access.roles),
            "is_admin": access.is_admin,
            "admin_known": access.admin_known,
        }
        upsert = features_of(self.session).upsert(IdentityAccess)
        self.session.execute(
            upsert.values(
                user_id=user_id, tenant_id=self.tenant_id, **values
            ).on_conflict_do_update(index_elements=[IdentityAccess.user_id], set_=values)
        )

    def _announce(
        self, user_id: str, version: int, document: Mapping[str, Any], before: Access, after: Access
    ) -> None:
        external = document.get("externalId")
        name = document.get("userName")
        change = ChangeRecord(
            ACCESS_CHANGED,
            "User",
            user_id,
            external if isinstance(external, str) else None,
            name if isinstance(name, str) else None,
            attributes=tuple(_moved_fields(before, after)),
            data={"before": before.to_json(), "after": after.to_json()},
        )
        changes.record(self.session, self.tenant_id, change, version)

    # Settling an edit of the rules

    def next_job(self) -> tuple[str, str] | None:
        """The id and actor of this tenant's oldest pending job."""
        query = (
            select(AccessJob.id, AccessJob.actor)
            .where(AccessJob.tenant_id == self.tenant_id, AccessJob.state == PENDING)
            .order_by(AccessJob.created, AccessJob.id)
            .limit(1)
        )
        row = self.session.execute(query).first()
        return None if row is None else (row[0], row[1])

    def pending_jobs(self) -> int:
        query = select(func.count()).where(
            AccessJob.tenant_id == self.tenant_id, AccessJob.state == PENDING
        )
        return int(self.session.execute(query).scalar() or 0)

    def run_batch(self, job_id: str, user_type: str, size: int) -> int:
        """Settle the next ``size`` people of a job, their rows locked; the job is done
        when fewer were left (and forgotten). Returns how many people's access moved."""
        query = select(AccessJob).where(AccessJob.id == job_id, AccessJob.state == PENDING)
        job = self.session.scalars(query.with_for_update()).first()
        if job is None:
            return 0  # another worker finished it meanwhile
        ids = list(self.session.scalars(self._people(job, user_type).limit(size)))
        if ids:
            lock = select(Resource.id).where(Resource.id.in_(ids)).order_by(Resource.id)
            self.session.execute(lock.with_for_update(key_share=True)).all()
            job.after_id = ids[-1]
        rules = self.rules()
        before = AccessRules.from_json(job.before)
        if len(ids) < size:
            self.session.delete(job)
        self.session.flush()  # the job done is no longer the baseline of later ones
        return self.settle_people(rules, before, self.documents(user_type, ids), ids)

    def _people(self, job: AccessJob, user_type: str) -> Select[Any]:
        """The people a job settles next, by id: the members of its group, or every user."""
        if job.group_id is None:
            return (
                select(Resource.id)
                .where(
                    Resource.tenant_id == self.tenant_id,
                    Resource.resource_type == user_type,
                    Resource.id > job.after_id,
                )
                .order_by(Resource.id)
            )
        return (
            select(Membership.member_id)
            .where(
                Membership.group_id == job.group_id,
                Membership.member_type == user_type,
                Membership.member_id > job.after_id,
            )
            .order_by(Membership.member_id)
        )

    @staticmethod
    def tenants_with_jobs(session: Session) -> list[int]:
        query = select(AccessJob.tenant_id).where(AccessJob.state == PENDING).distinct()
        return sorted(session.scalars(query))

    # Emails

    def email_taken(self, user_type: str, key: str, exclude_id: str | None) -> bool:
        """Whether another user's email (``scim.identity.email_of``) is ``key`` (case-folded).

        As ``ResourceRepository.value_taken``: on PostgreSQL the email is locked for the
        rest of the transaction first (an advisory lock on its hash), so two writers
        cannot both find it free; SQLite's writers are serialised already."""
        if features_of(self.session).advisory_locks:
            name = f"{self.tenant_id}\0email\0{key}".encode()
            lock = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)
            self.session.execute(select(func.pg_advisory_xact_lock(lock)))
        return any(i != exclude_id for i in self.users_by_email(user_type, key))

    def users_by_email(self, user_type: str, key: str) -> list[str]:
        """The users whose email is ``key`` (case-folded), by id. The candidates hold it as
        an address or a userName (both indexed); the rule then picks their email."""
        rows = self.session.execute(email_candidates(self.tenant_id, user_type, key))
        return [i for i, data in rows if email_key(data) == key]


def _before(current: set[str], firsts: Mapping[str, str]) -> set[str]:
    """A user's groups before this write, from those now and its first move in each."""
    before = set(current)
    for group_id, kind in firsts.items():
        if kind == MEMBER_ADDED:
            before.discard(group_id)
        else:
            before.add(group_id)
    return before


def _moved_fields(before: Access, after: Access) -> list[str]:
    old, new = before.to_json(), after.to_json()
    return [name for name in ("appGroups", "role", "roles", "isAdmin") if old[name] != new[name]]


def moved_groups(before: AccessRules, after: AccessRules) -> list[str | None]:
    """Whose access an edit may move: None (every user) when the mode, default role or
    admin source changed, else the IdP groups whose mappings changed."""
    if (before.mode, before.default_role, before.admin_attribute, before.admin_group_id) != (
        after.mode,
        after.default_role,
        after.admin_attribute,
        after.admin_group_id,
    ):
        return [None]
    old = {m.app_group: m for m in before.mappings}
    new = {m.app_group: m for m in after.mappings}
    groups: set[str] = set()
    for name in old.keys() | new.keys():
        if old.get(name) != new.get(name):
            groups.update(m.group_id for m in (old.get(name), new.get(name)) if m is not None)
    found: list[str | None] = [*sorted(groups)]
    return found


def identity_rows(
    session: Session, tenant_id: int, user_type: str, ids: Sequence[str]
) -> list[tuple[str, int, datetime, dict[str, Any]]]:
    """id, version, lastModified and document of these users, in the order asked."""
    query = select(Resource.id, Resource.version, Resource.last_modified, Resource.data).where(
        Resource.tenant_id == tenant_id,
        Resource.resource_type == user_type,
        Resource.id.in_(list(ids)),
    )
    rows = {row[0]: (row[0], row[1], row[2], row[3]) for row in session.execute(query)}
    return [rows[i] for i in ids if i in rows]


def identity_page(
    session: Session, tenant_id: int, user_type: str, after: tuple[datetime, str] | None, limit: int
) -> list[tuple[str, datetime]]:
    """The next ``limit`` users by (created, id), on the listing index: ids and created."""
    query = select(Resource.id, Resource.created).where(
        Resource.tenant_id == tenant_id, Resource.resource_type == user_type
    )
    if after is not None:
        created, last = after
        query = query.where(
            or_(Resource.created > created, (Resource.created == created) & (Resource.id > last))
        )
    rows = session.execute(query.order_by(Resource.created, Resource.id).limit(limit))
    return [(i, c) for i, c in rows]


def email_candidates(tenant_id: int, user_type: str, key: str) -> Select[tuple[str, Any]]:
    """Id and document of (up to 100 of) the users holding ``key`` as an email address or
    as their userName: by id, among two index lookups that are both in the tenant. (An OR
    of the two, or a tenant term on the outer query, had SQLite read all the tenant's users.)"""
    by_address = select(AttributeValue.resource_id).where(
        AttributeValue.tenant_id == tenant_id,
        AttributeValue.path == EMAIL_PATH,
        AttributeValue.str_key == key[:STR_KEY_LENGTH],
        AttributeValue.str_value == key,
    )
    by_name = select(Resource.id).where(
        Resource.tenant_id == tenant_id,
        Resource.resource_type == user_type,
        Resource.user_name_key == key,
    )
    return (
        select(Resource.id, Resource.data)
        .where(Resource.resource_type == user_type, Resource.id.in_(union(by_name, by_address)))
        .order_by(Resource.id)
        .limit(100)
    )
