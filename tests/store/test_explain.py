"""The common lookups use indexes on both databases, at a realistic size.

The store is seeded with a few thousand users and memberships and ANALYZEd, so the
planners choose with real statistics. ``docs/queries.md`` shows the resulting plans.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Select, func, insert, select, text

from scimserver.scim.filter import parse_filter
from scimserver.scim.values import index_values
from scimserver.store.access import email_candidates
from scimserver.store.changes import history_query
from scimserver.store.filter_sql import filter_clause
from scimserver.store.models import AttributeValue, Change, Membership, Resource
from scimserver.store.paging import selection
from scimserver.store.repository import ResourceRepository, page_query
from scimserver.store.tokens import _BY_PREFIX
from tests.conftest import make_client

SEED_USERS = 3000

CASES = {
    'userName eq "user-17@example.com"': ("User", r"uq_resources_user_name|user_name_key=\?"),
    'externalId eq "ext-17"': ("User", r"ix_attribute_values_lookup"),
    'emails.value eq "user-17@example.com"': ("User", r"ix_attribute_values_lookup"),
    'members.value eq "{member}"': (
        "Group",
        r"(memberships_pkey|ix_memberships_member"
        r"|SEARCH memberships USING)",
    ),
}
FULL_SCANS = re.compile(
    r"Seq Scan on (memberships|attribute_values)|SCAN (memberships|attribute_values)\b"
)


def seed(app: Flask, tenant_id: int) -> str:
    """Insert users with emails and externalIds, and groups with members; returns one member."""
    server = app.extensions["scimserver"]
    user_type = server.registry.resource_type("User")
    now = datetime.now(UTC).replace(tzinfo=None)
    resources, values, members = [], [], []
    groups = [str(uuid.uuid4()) for _ in range(50)]
    for i in range(SEED_USERS):
        rid = str(uuid.uuid4())
        data = {
            "schemas": [user_type.schema.id],
            "userName": f"user-{i}@example.com",
            "externalId": f"ext-{i}",
            "emails": [{"value": f"user-{i}@example.com"}],
        }
        resources.append(
            {
                "id": rid,
                "tenant_id": tenant_id,
                "resource_type": "User",
                "user_name_key": data["userName"],
                "display_name": data["userName"],
                "version": 1,
                "created": now,
                "last_modified": now,
                "data": data,
            }
        )
        values += [
            {
                "resource_id": rid,
                "tenant_id": tenant_id,
                "path": v.path,
                "ordinal": v.ordinal,
                "str_key": v.str_value,
                "str_value": v.str_value,
            }
            for v in index_values(user_type, data)
        ]
        members.append(
            {
                "group_id": groups[i % len(groups)],
                "member_id": rid,
                "member_type": "User",
                "tenant_id": tenant_id,
            }
        )
    resources += [
        {
            "id": g,
            "tenant_id": tenant_id,
            "resource_type": "Group",
            "display_name": g,
            "version": 1,
            "created": now,
            "last_modified": now,
            "data": {"displayName": g},
        }
        for g in groups
    ]
    with server.db.write() as session:
        session.execute(insert(Resource), resources)
        session.execute(insert(AttributeValue), values)
        session.execute(insert(Membership), members)
    analyze(app)
    return str(members[17]["member_id"])


def analyze(app: Flask) -> None:
    """ANALYZE, then close the pool's idle connections: a SQLite connection reads the
    statistics when it opens, so one opened before would plan without them."""
    engine = app.extensions["scimserver"].db.engine
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()


def explain(app: Flask, query: Select[Any]) -> str:
    db = app.extensions["scimserver"].db
    with db.read() as session:
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN" if db.features.name == "sqlite" else "EXPLAIN"
        rows = session.execute(text(f"{prefix} {compiled}"))
        return "\n".join(str(r[-1]) for r in rows)


@pytest.fixture(scope="module")
def seeded(app: Flask) -> tuple[int, str]:
    scim = make_client(app)
    tenant_id = app.extensions["scimserver"].tokens.authenticate(scim.token).tenant_id
    return tenant_id, seed(app, tenant_id)


@pytest.mark.parametrize("expression", list(CASES))
def test_lookup_uses_an_index(app: Flask, seeded: tuple[int, str], expression: str) -> None:
    tenant_id, member = seeded
    type_id, index = CASES[expression]
    server = app.extensions["scimserver"]
    resource_type = server.registry.resource_type(type_id)
    node = parse_filter(expression.format(member=member), resource_type)
    with server.db.read() as session:
        repo = ResourceRepository(session, tenant_id, type_id)
        query = repo.query(filter_clause(node, resource_type, tenant_id))
    plan = explain(app, query)
    print(f"\n{server.db.engine.dialect.name}: {expression}\n{plan}")
    assert re.search(index, plan), plan
    assert not FULL_SCANS.search(plan), plan


def test_token_lookup_can_use_both_prefix_indexes(app: Flask, seeded: tuple[int, str]) -> None:
    """Every request looks its token up by current or previous (rotated) prefix.

    A server has few tokens, so PostgreSQL rightly scans them; with scans priced out,
    the plan shows both unique indexes serve the OR.
    """
    db = app.extensions["scimserver"].db
    query = _BY_PREFIX.params(prefix="0123456789ab")
    with db.engine.begin() as connection:  # a transaction: SET LOCAL lasts until its end
        if db.features.name != "sqlite":
            connection.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN" if db.features.name == "sqlite" else "EXPLAIN"
        plan = "\n".join(str(r[-1]) for r in connection.execute(text(f"{prefix} {compiled}")))
    assert re.search(r"sqlite_autoindex_tokens|tokens_prefix_key", plan), plan
    assert "ix_tokens_previous_prefix" in plan, plan
    assert not re.search(r"SCAN tokens\b", plan), plan


def test_user_history_uses_the_resource_and_member_indexes(
    app: Flask, seeded: tuple[int, str]
) -> None:
    """The console's user page: a user's own changes OR the member events naming it."""
    tenant_id, member = seeded
    now = datetime.now(UTC).replace(tzinfo=None)
    with app.extensions["scimserver"].db.write() as session:
        start = int(session.scalar(select(func.coalesce(func.max(Change.seq), 0))) or 0)
        rows = [
            {
                "tenant_id": tenant_id,
                "seq": start + n + 1,
                "id": str(uuid.uuid4()),
                "type": "group.member_added" if n % 3 == 0 else "user.updated",
                "operation": "PATCH",
                "resource_type": "User",
                "resource_id": f"resource-{n % 500}",
                "member_id": f"member-{n}" if n % 3 == 0 else None,
                "actor": "test",
                "request_id": "r",
                "time": now,
            }
            for n in range(SEED_USERS)
        ]
        session.execute(insert(Change), rows)
    analyze(app)
    plan = explain(app, history_query(tenant_id, member, 10_000))
    assert "ix_changes_resource" in plan and "ix_changes_member" in plan, plan
    assert not re.search(r"Seq Scan on changes|SCAN changes\b", plan), plan


def test_an_identity_by_email_reads_users_by_id(app: Flask, seeded: tuple[int, str]) -> None:
    """``/api/v1/identities?email=``: the userName and address indexes give the candidates,
    which are then read by primary key, never by walking the tenant's users."""
    tenant_id, _ = seeded
    plan = explain(app, email_candidates(tenant_id, "User", "user-17@example.com"))
    assert "ix_attribute_values_lookup" in plan, plan
    assert re.search(r"uq_resources_user_name|user_name_key=\?", plan), plan
    assert re.search(r"sqlite_autoindex_resources_1 \(id=\?\)|resources_pkey", plan), plan
    assert not re.search(r"ix_resources_listing|Seq Scan on resources|SCAN resources\b", plan)


def _sorted_rows(node: dict[str, Any]) -> Iterator[tuple[float, int]]:
    """(rows, width) of every Sort in a PostgreSQL JSON plan."""
    if node["Node Type"] == "Sort":
        yield node["Plan Rows"], node["Plan Width"]
    for child in node.get("Plans", []):
        yield from _sorted_rows(child)


@pytest.mark.parametrize("descending", [False, True])
def test_a_deep_index_page_sorts_no_documents(
    app: Flask, seeded: tuple[int, str], descending: bool
) -> None:
    """``startIndex`` far into the list: the rows before the page are skipped as ids, and
    only the page's own rows are read whole. (Asked for whole rows, PostgreSQL sorted
    every user's document to skip them: with 5,000 users 15 ms, spilling to disk.)"""
    tenant_id, _ = seeded
    server = app.extensions["scimserver"]
    chosen = selection(server.registry.resource_type("User"), tenant_id, None, None)
    query = page_query(chosen, descending).params(
        tenant=tenant_id, type="User", offset=SEED_USERS - 100, limit=100
    )
    if server.db.features.name == "sqlite":
        plan = explain(app, query)
        assert "COVERING INDEX ix_resources_listing" in plan, plan
        assert "sqlite_autoindex_resources_1 (id=?)" in plan, plan
        return
    with server.db.read() as session:
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        (tree,) = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
    sorts = list(_sorted_rows(tree["Plan"]))
    assert all(width < 100 for rows, width in sorts if rows > 100), (sorts, tree)
