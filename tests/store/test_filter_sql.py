"""The SQL translation of filters selects exactly what the pure evaluator matches.

Every test runs on SQLite (a temporary file) and on a throwaway PostgreSQL database.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlalchemy import Engine, create_engine, delete, event, insert, select
from sqlalchemy.orm import Session

from scimserver.schema.model import CORE_GROUP, CORE_USER, ENTERPRISE_USER, AttrRef, ResourceType
from scimserver.schema.registry import Registry, default_schema_dir, load_registry
from scimserver.scim import values
from scimserver.scim.filter import matches, parse_filter
from scimserver.scim.values import index_values, typed
from scimserver.store.filter_sql import filter_clause, sort_key
from scimserver.store.models import (
    STR_KEY_LENGTH,
    AttributeValue,
    Base,
    Membership,
    Resource,
    Tenant,
)
from scimserver.store.repository import value_rows

T = TypeVar("T")
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REGISTRY: Registry = load_registry([default_schema_dir(), FIXTURES / "custom_schemas"])


def _resource_type(name: str) -> ResourceType:
    found = REGISTRY.resource_type(name)
    assert found is not None
    return found


USER = _resource_type("User")
GROUP = _resource_type("Group")

# --- Databases -------------------------------------------------------------------------


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.close()

    return engine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = _sqlite_engine(tmp_path_factory.mktemp("filter_sql") / "scim.db")
        Base.metadata.create_all(made)
        yield made
        made.dispose()
        return
    name = f"scimtest_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    made = create_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        Base.metadata.create_all(made)
        yield made
    finally:
        made.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- Corpora: stored rows plus the canonical documents `matches` sees ------------------

_tenants = itertools.count(1)


@dataclass
class Corpus:
    """Resources of one tenant: their canonical documents, by resource type."""

    tenant_id: int
    documents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @cached_property
    def strings(self) -> list[str]:
        """Every string in the documents, plus the shared pools: the values filters use."""
        found: set[str] = set(WORDS) | set(TYPES) | set(SCHEMA_URNS) | set(DOMAINS)
        for docs in self.documents.values():
            for doc in docs:
                _collect_strings(doc, found)
        return sorted(found)

    def expected(self, resource_type: ResourceType, text: str) -> set[str]:
        node = parse_filter(text, resource_type)
        return {d["id"] for d in self.documents[resource_type.id] if matches(node, d)}

    def selected(self, engine: Engine, resource_type: ResourceType, text: str) -> set[str]:
        node = parse_filter(text, resource_type)
        query = select(Resource.id).where(
            Resource.tenant_id == self.tenant_id,
            Resource.resource_type == resource_type.id,
            filter_clause(node, resource_type, self.tenant_id),
        )
        with Session(engine) as session:
            return set(session.scalars(query))


@dataclass
class Draft:
    """A resource before storing: its client data and its place in the membership graph."""

    resource_type: ResourceType
    id: str
    data: dict[str, Any]
    created: datetime
    members: list[str] = field(default_factory=list)


def _display(draft: Draft) -> str | None:
    """displayName, else userName: the service's display_name, and the members' display
    as a client such as Okta sends it (stored per membership)."""
    shown = draft.data.get("displayName") or draft.data.get("userName")
    return shown if isinstance(shown, str) else None


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _document(draft: Draft, drafts: dict[str, Draft]) -> dict[str, Any]:
    doc = copy.deepcopy(draft.data)
    modified = draft.created + timedelta(seconds=5)
    doc["id"] = draft.id
    doc["meta"] = {
        "resourceType": draft.resource_type.id,
        "created": _iso(draft.created),
        "lastModified": _iso(modified),
    }
    if draft.resource_type.id == "Group":
        doc["members"] = [_ref(drafts[m], drafts[m].resource_type.id) for m in draft.members]
    else:
        owners = [d for d in drafts.values() if draft.id in d.members]
        doc["groups"] = [_ref(g, "direct") for g in owners]
    return doc


def _ref(draft: Draft, kind: str) -> dict[str, Any]:
    element = {"value": draft.id, "type": kind}
    display = _display(draft)
    if display:
        element["display"] = display
    return element


def store(engine: Engine, drafts: list[Draft]) -> Corpus:
    """Insert drafts (resources, value index, memberships) into a new tenant."""
    corpus = Corpus(next(_tenants))
    by_id = {d.id: d for d in drafts}
    with Session(engine) as session, session.begin():
        session.add(
            Tenant(id=corpus.tenant_id, name=f"t{corpus.tenant_id}", created=datetime.now())
        )
        session.flush()
        for draft in drafts:
            session.add(_resource(corpus.tenant_id, draft))
        session.flush()
        _insert_values(session, corpus.tenant_id, drafts)
        _insert_members(session, corpus.tenant_id, drafts, by_id)
    for draft in drafts:
        doc = _document(draft, by_id)
        corpus.documents.setdefault(draft.resource_type.id, []).append(doc)
    corpus.documents.setdefault("User", [])
    corpus.documents.setdefault("Group", [])
    return corpus


def remove(engine: Engine, corpus: Corpus) -> None:
    """Delete a tenant's rows, so a replayed example can store the same ids again."""
    with Session(engine) as session, session.begin():
        tenant = corpus.tenant_id
        session.execute(delete(Membership).where(Membership.tenant_id == tenant))
        session.execute(delete(AttributeValue).where(AttributeValue.tenant_id == tenant))
        session.execute(delete(Resource).where(Resource.tenant_id == tenant))
        session.execute(delete(Tenant).where(Tenant.id == tenant))


def _resource(tenant_id: int, draft: Draft) -> Resource:
    user_name = draft.data.get("userName")
    return Resource(
        id=draft.id,
        tenant_id=tenant_id,
        resource_type=draft.resource_type.id,
        user_name_key=user_name.casefold() if isinstance(user_name, str) else None,
        display_name=_display(draft),
        version=1,
        created=draft.created,
        last_modified=draft.created + timedelta(seconds=5),
        data=draft.data,
    )


def _insert_values(session: Session, tenant_id: int, drafts: list[Draft]) -> None:
    rows = [
        row
        for draft in drafts
        for row in value_rows(tenant_id, draft.id, index_values(draft.resource_type, draft.data))
    ]
    if rows:
        session.execute(insert(AttributeValue), rows)


def _insert_members(
    session: Session, tenant_id: int, drafts: list[Draft], by_id: dict[str, Draft]
) -> None:
    rows = [
        {
            "group_id": group.id,
            "member_id": member,
            "member_type": by_id[member].resource_type.id,
            "tenant_id": tenant_id,
            "display": _display(by_id[member]),
            "display_key": (_display(by_id[member]) or "").casefold() or None,
        }
        for group in drafts
        for member in group.members
    ]
    if rows:
        session.execute(insert(Membership), rows)


# --- Value pools shared by documents and filters -----------------------------------------

WORDS = [
    "alice",
    "Alice",
    "ALICE",
    "bob",
    "Bob",
    "straße",
    "STRASSE",
    "strasse",
    "élan",
    "ÉLAN",
    "a%b",
    "a_b",
    "ab",
    "50%",
    "x/y",
    "x_y",
    "O'Malley",
    "o'malley",
    "zed",
    "İstanbul",
    "ǅemal",
    "work",
    "Work",
    "home",
    "",
]
DOMAINS = ["example.com", "EXAMPLE.org", "foo.com", "x%y.com", "a_b.org"]
TYPES = ["work", "WORK", "home", "other", "direct", "User", "group", "indirect"]
BASE_TIME = datetime(2021, 3, 4, 5, 6, 7, 123456)
MOMENTS = [
    BASE_TIME + timedelta(days=d, microseconds=u) for d in (-400, -1, 0, 2, 30) for u in (0, 1)
]
SCHEMA_URNS = [CORE_USER, ENTERPRISE_USER, ACME, CORE_GROUP, ENTERPRISE_USER.upper()]


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _maybe(rng: random.Random, value: T, chance: float = 0.7) -> T | None:
    return value if rng.random() < chance else None


def _pruned(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _email(rng: random.Random) -> dict[str, Any]:
    element = {
        "value": _maybe(rng, f"{rng.choice(WORDS)}@{rng.choice(DOMAINS)}", 0.9),
        "type": _maybe(rng, rng.choice(TYPES[:4])),
        "primary": _maybe(rng, rng.random() < 0.5, 0.5),
    }
    return _pruned(element)


def _enterprise(rng: random.Random, ids: list[str]) -> dict[str, Any] | None:
    manager = {
        "value": _maybe(rng, rng.choice(ids)),
        "displayName": _maybe(rng, rng.choice(WORDS)),
    }
    data = {
        "employeeNumber": _maybe(rng, rng.choice(["001", "42", "a_b", "ABC", ""])),
        "manager": _maybe(rng, _pruned(manager)),
    }
    return _maybe(rng, _pruned(data), 0.6)


def _acme(rng: random.Random) -> dict[str, Any] | None:
    hired = rng.choice(MOMENTS) + timedelta(hours=rng.choice([0, 0, 2]))
    offset = rng.choice(["Z", "+02:00", "-05:30"])
    local = hired.replace(tzinfo=UTC).astimezone(
        datetime.fromisoformat(f"2000-01-01T00:00:00{offset}").tzinfo
    )
    data = {
        "badgeNumber": _maybe(rng, rng.choice(WORDS)),
        "clearanceLevel": _maybe(rng, rng.randint(-2, 4)),
        "hireDate": _maybe(rng, local.isoformat().replace("+00:00", "Z")),
        "remote": _maybe(rng, rng.random() < 0.5),
        "projects": _maybe(rng, [_project(rng) for _ in range(rng.randint(0, 3))]),
    }
    return _maybe(rng, _pruned(data), 0.6)


def _project(rng: random.Random) -> dict[str, Any]:
    project = {"name": _maybe(rng, rng.choice(WORDS)), "role": _maybe(rng, rng.choice(TYPES))}
    return _pruned(project)


def user_data(rng: random.Random, index: int, ids: list[str]) -> dict[str, Any]:
    schemas = [CORE_USER]
    data: dict[str, Any] = {
        "userName": f"{rng.choice(WORDS[:-1])}-{index}",
        "displayName": _maybe(rng, rng.choice(WORDS)),
        "name": _maybe(rng, _pruned({"givenName": _maybe(rng, rng.choice(WORDS))})),
        "title": _maybe(rng, rng.choice(WORDS), 0.5),
        "active": _maybe(rng, rng.random() < 0.6),
        "externalId": _maybe(rng, rng.choice(WORDS), 0.5),
        "emails": _maybe(rng, [_email(rng) for _ in range(rng.randint(0, 3))]),
    }
    if data["name"] is not None:
        data["name"]["familyName"] = rng.choice(WORDS)
    for urn, ext in ((ENTERPRISE_USER, _enterprise(rng, ids)), (ACME, _acme(rng))):
        if ext is not None:
            data[urn] = ext
            schemas.append(urn)
    data["schemas"] = schemas
    return _pruned(data)


def build_drafts(seed: int, users: int, groups: int) -> list[Draft]:
    """Users and groups with memberships (groups may contain groups)."""
    rng = random.Random(seed)
    ids = [_new_id(rng) for _ in range(users + groups)]
    drafts = [
        Draft(USER, ids[i], user_data(rng, i, ids), rng.choice(MOMENTS)) for i in range(users)
    ]
    for g in range(groups):
        data = {"schemas": [CORE_GROUP], "displayName": rng.choice(WORDS[:-1])}
        data = _pruned({**data, "externalId": _maybe(rng, rng.choice(WORDS), 0.4)})
        members = rng.sample(ids[: users + g], rng.randint(0, min(6, users + g)))
        drafts.append(Draft(GROUP, ids[users + g], data, rng.choice(MOMENTS), members))
    return drafts


@pytest.fixture(scope="module")
def corpus(engine: Engine) -> Corpus:
    """A fixed corpus, after a decoy tenant whose rows must never be selected."""
    store(engine, build_drafts(seed=99, users=12, groups=3))
    return store(engine, build_drafts(seed=7, users=30, groups=8))


# --- Filter generation -------------------------------------------------------------------


def _collect_strings(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_strings(item, found)


STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
ORDER_OPS = ["eq", "ne", "gt", "ge", "lt", "le"]
ENT = ENTERPRISE_USER
USER_PATHS: dict[str, list[str]] = {
    "string": [
        "userName",
        "USERNAME",
        "displayName",
        "name.givenName",
        "title",
        "emails.value",
        "Emails.Type",
        "emails",
        "employeeNumber",
        f"{ENT}:manager.value",
        "externalId",
        "id",
        "meta.resourceType",
        "groups.value",
        "groups.display",
        "groups.type",
        "groups",
        "schemas",
        f"{ACME}:badgeNumber",
        "projects.name",
        f"{CORE_USER}:userName",
    ],
    "boolean": ["active", "emails.primary", "remote"],
    "integer": ["clearanceLevel"],
    "dateTime": ["meta.created", "meta.lastModified", "hireDate"],
    "complex": ["emails", "name", "groups", "projects", "manager", f"{ENT}:manager"],
}
USER_VALUE_PATHS: dict[str, dict[str, str]] = {
    "emails": {"value": "string", "type": "string", "primary": "boolean", "display": "string"},
    "groups": {"value": "string", "display": "string", "type": "string"},
    "projects": {"name": "string", "role": "string"},
    "name": {"givenName": "string", "familyName": "string"},
    f"{ENT}:manager": {"value": "string", "displayName": "string"},
}
GROUP_PATHS: dict[str, list[str]] = {
    "string": [
        "displayName",
        "members",
        "members.value",
        "members.type",
        "members.display",
        "externalId",
        "id",
        "schemas",
    ],
    "dateTime": ["meta.created"],
    "complex": ["members"],
}
GROUP_VALUE_PATHS = {"members": {"value": "string", "type": "string", "display": "string"}}
VOCABULARY = {"User": (USER_PATHS, USER_VALUE_PATHS), "Group": (GROUP_PATHS, GROUP_VALUE_PATHS)}


CASE_CHANGES: list[Callable[[str], str]] = [str, str, str.upper, str.lower, str.swapcase]


def _case(draw: st.DrawFn, text: str) -> str:
    return draw(st.sampled_from(CASE_CHANGES))(text)


WILDCARDS = ["%", "_", "/", "a_b", "_b", "%b", "x/", "a%", "ß", "ss"]


def _string_value(draw: st.DrawFn, pool: list[str]) -> str:
    text = draw(st.sampled_from(WILDCARDS if draw(st.integers(0, 4)) == 0 else pool))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(text)))
        text = text[start : draw(st.integers(start, len(text)))]
    return _case(draw, text)


def _moment_value(draw: st.DrawFn) -> str:
    moment = draw(st.sampled_from(MOMENTS)) + draw(
        st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(hours=-2)])
    )
    zone = draw(st.sampled_from(["Z", "+02:00", "-05:30"]))
    shifted = moment.replace(tzinfo=UTC).astimezone(
        datetime.fromisoformat(f"2000-01-01T00:00{zone}").tzinfo
    )
    return shifted.isoformat().replace("+00:00", "Z")


def _literal(draw: st.DrawFn, kind: str, pool: list[str]) -> str:
    if kind == "string":
        return json.dumps(_string_value(draw, pool), ensure_ascii=draw(st.booleans()))
    if kind == "boolean":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "integer":
        number = draw(st.integers(-3, 5))
        return draw(st.sampled_from([str(number), f"{number}.0", f"{number}e0"]))
    return json.dumps(_moment_value(draw))


def _operators(kind: str) -> list[str]:
    return {"string": STRING_OPS, "boolean": ["eq", "ne"]}.get(kind, ORDER_OPS)


def _attr_expr(draw: st.DrawFn, paths: dict[str, list[str]], pool: list[str]) -> str:
    kind = draw(st.sampled_from(sorted(paths)))
    path = draw(st.sampled_from(paths[kind]))
    if kind == "complex" or draw(st.integers(0, 9)) == 0:
        return draw(
            st.sampled_from([f"{path} pr", f"{path} pr", f"{path} eq null", f"{path} ne null"])
        )
    op = draw(st.sampled_from(_operators(kind))).upper() if draw(st.booleans()) else None
    op = op or draw(st.sampled_from(_operators(kind)))
    return f"{path} {op} {_literal(draw, kind, pool)}"


def _sub_expr(draw: st.DrawFn, subs: dict[str, str], pool: list[str]) -> str:
    return _attr_expr(
        draw, {kind: [n for n, k in subs.items() if k == kind] for kind in set(subs.values())}, pool
    )


@st.composite
def filter_texts(
    draw: st.DrawFn, kind: str, pool: list[str], depth: int = 0, inner: dict[str, str] | None = None
) -> str:
    paths, value_paths = VOCABULARY[kind]
    shape = draw(st.integers(0, 9 if depth < 3 else 4))
    if shape <= 4:
        return _sub_expr(draw, inner, pool) if inner else _attr_expr(draw, paths, pool)
    if shape == 5:
        return f"not ({draw(filter_texts(kind, pool, depth + 1, inner))})"
    if shape == 9 and inner is None:
        name = draw(st.sampled_from(sorted(value_paths)))
        return f"{name}[{draw(filter_texts(kind, pool, depth + 1, value_paths[name]))}]"
    left = draw(filter_texts(kind, pool, depth + 1, inner))
    right = draw(filter_texts(kind, pool, depth + 1, inner))
    joined = f"{left} {draw(st.sampled_from(['and', 'or', 'AND', 'Or']))} {right}"
    return f"({joined})" if draw(st.booleans()) else joined


def _check(corpus: Corpus, engine: Engine, resource_type: ResourceType, text: str) -> None:
    expected = corpus.expected(resource_type, text)
    assert corpus.selected(engine, resource_type, text) == expected, text


# --- The differential tests ------------------------------------------------------------------


@settings(
    max_examples=600, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(data=st.data())
def test_sql_selects_what_matches_accepts(
    engine: Engine, corpus: Corpus, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["User", "User", "User", "Group"]))
    text = data.draw(filter_texts(kind, corpus.strings))
    _check(corpus, engine, USER if kind == "User" else GROUP, text)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32), users=st.integers(0, 6), groups=st.integers(0, 3), data=st.data()
)
def test_sql_matches_on_generated_documents(
    engine: Engine, seed: int, users: int, groups: int, data: st.DataObject
) -> None:
    small = store(engine, build_drafts(seed, users, groups))
    try:
        for _ in range(4):
            kind = data.draw(st.sampled_from(["User", "Group"]))
            text = data.draw(filter_texts(kind, small.strings))
            _check(small, engine, USER if kind == "User" else GROUP, text)
    finally:
        remove(engine, small)


# --- Targeted cases ------------------------------------------------------------------------


def _user(rng_seed: int, **data: Any) -> Draft:
    rng = random.Random(rng_seed)
    return Draft(USER, _new_id(rng), {"schemas": [CORE_USER], **data}, BASE_TIME)


@pytest.fixture(scope="module")
def handmade(engine: Engine) -> Corpus:
    emails = [{"value": "a@work.com", "type": "home"}, {"value": "a@home.com", "type": "work"}]
    alice = _user(1, userName="Alice", emails=emails)
    bob = _user(
        2,
        userName="BOB",
        title="50% off",
        externalId="Ext-1",
        emails=[{"value": "b@x_y.com", "type": "work"}],
    )
    carol = _user(3, userName="straße", title="", displayName="Carol " + "x" * 200)
    dave = _user(4, userName="dave", **{ENTERPRISE_USER: {"employeeNumber": "7"}})
    group = Draft(
        GROUP, _new_id(random.Random(5)), {"displayName": "Admins"}, BASE_TIME, [alice.id, bob.id]
    )
    return store(engine, [alice, bob, carol, dave, group])


def _names(corpus: Corpus, engine: Engine, resource_type: ResourceType, text: str) -> list[str]:
    _check(corpus, engine, resource_type, text)
    chosen = corpus.selected(engine, resource_type, text)
    docs = corpus.documents[resource_type.id]
    return sorted(d.get("userName") or d["displayName"] for d in docs if d["id"] in chosen)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('userName eq "alice"', ["Alice"]),
        ('USERNAME Eq "STRASSE"', ["straße"]),
        ('userName ne "alice"', ["BOB", "dave", "straße"]),
        ('title co "%"', ["BOB"]),
        ('title co "_"', []),
        ('emails.value co "_"', ["BOB"]),
        ('title eq ""', []),
        ('title ne "50% off"', ["Alice", "dave", "straße"]),
        ("not (title pr)", ["Alice", "dave", "straße"]),
        ('externalId eq "ext-1"', []),
        ('externalId eq "Ext-1"', ["BOB"]),
        ('emails[type eq "work" and value co "@work"]', []),
        ('emails[type eq "work" and value co "@home"]', ["Alice"]),
        ('emails.type eq "work" and emails.value co "@work"', ["Alice"]),
        ('emails[type eq "work"].value co "home"', ["Alice"]),
        ('displayName eq "carol ' + "X" * 200 + '"', ["straße"]),
        ('displayName eq "carol ' + "X" * 199 + '"', []),
        ('schemas eq "' + ENTERPRISE_USER + '"', ["dave"]),
        ('employeeNumber eq "7" or emails pr and userName sw "a"', ["Alice", "dave"]),
        ('groups.display eq "admins"', ["Alice", "BOB"]),
        ('groups[display eq "admins"] and not (userName eq "bob")', ["Alice"]),
    ],
)
def test_targeted_user_filters(
    engine: Engine, handmade: Corpus, text: str, names: list[str]
) -> None:
    assert _names(handmade, engine, USER, text) == names


def test_entra_membership_check(engine: Engine, handmade: Corpus) -> None:
    group_doc = handmade.documents["Group"][0]
    alice, bob = (d["id"] for d in handmade.documents["User"][:2])
    carol = handmade.documents["User"][2]["id"]
    text = f'id eq "{group_doc["id"]}" and members eq "{alice.upper()}"'
    assert _names(handmade, engine, GROUP, text) == ["Admins"]
    assert (
        _names(handmade, engine, GROUP, f'id eq "{group_doc["id"]}" and members eq "{carol}"') == []
    )
    assert _names(handmade, engine, GROUP, f'members[value eq "{bob}" and type eq "user"]') == [
        "Admins"
    ]
    assert _names(handmade, engine, GROUP, 'members.display eq "alice"') == ["Admins"]


def test_other_tenants_are_invisible(engine: Engine, corpus: Corpus) -> None:
    every = corpus.selected(engine, USER, "id pr")
    assert every == {d["id"] for d in corpus.documents["User"]}


def test_store_and_index_agree_on_the_key_length() -> None:
    assert values.STR_KEY_LENGTH == STR_KEY_LENGTH


# --- Sorting ---------------------------------------------------------------------------------


def _python_key(ref: AttrRef, doc: dict[str, Any]) -> Any:
    """The smallest typed value at ``ref`` (its ``value`` if complex), or None."""
    if ref.leaf.is_complex:
        ref = replace(ref, sub=ref.attribute.sub("value"))
    container = ref.container(doc) or {}
    found = values.elements(ref.attribute, container.get(ref.attribute.name))
    leaves = [e.get(ref.sub.name) for e in found] if ref.sub is not None else found
    keys: list[Any] = [typed(ref.leaf, v) for v in leaves if not values.is_empty(v)]
    return min((k for k in keys if k is not None), default=None)


@pytest.mark.parametrize(
    "path",
    [
        "name.givenName",
        "emails.value",
        "emails",
        "userName",
        "id",
        "meta.created",
        "clearanceLevel",
        "hireDate",
        "active",
        "title",
        f"{ENT}:manager.value",
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_key_orders_like_python(
    engine: Engine, corpus: Corpus, path: str, descending: bool
) -> None:
    ref = USER.resolve(path)
    assert ref is not None
    key = sort_key(ref, USER)
    nulls = key.is_(None)
    order = (
        [nulls.desc(), key.desc(), Resource.id.desc()]
        if descending
        else [nulls.asc(), key.asc(), Resource.id.asc()]
    )
    query = (
        select(Resource.id)
        .where(Resource.tenant_id == corpus.tenant_id, Resource.resource_type == "User")
        .order_by(*order)
    )
    with Session(engine) as session:
        got = list(session.scalars(query))
    docs = corpus.documents["User"]
    keyed = [(_python_key(ref, d), d["id"]) for d in docs]
    present = sorted((k, i) for k, i in keyed if k is not None)
    absent = sorted(i for k, i in keyed if k is None)
    if descending:
        expected = list(reversed(absent)) + [i for _, i in sorted(present, reverse=True)]
    else:
        expected = [i for _, i in present] + absent
    assert got == expected
