"""Bearer tokens, scopes and tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from scimserver.store.models import Token
from tests.conftest import ScimClient, assert_scim_error, make_client, statements_run


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer scim_0000_wrong", "Bearer x"],
)
def test_missing_or_wrong_token_is_401_with_challenge(app: Flask, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = app.test_client().get("/scim/v2/Users", headers=headers)
    assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(app: Flask) -> None:
    client = make_client(app)
    assert client.get("/Users").status_code == 200
    tokens = app.extensions["scimserver"].tokens
    prefix = client.token.split("_")[1]
    assert tokens.revoke(prefix, client.tenant).prefix == prefix
    assert_scim_error(client.get("/Users"), 401)


def test_expired_token_is_401(app: Flask) -> None:
    client = make_client(app)
    prefix = client.token.split("_")[1]
    db = app.extensions["scimserver"].db
    with db.write() as session:
        created = session.scalar(select(Token.created).where(Token.prefix == prefix))
        session.execute(
            update(Token)
            .where(Token.prefix == prefix)
            .values(expires_at=created - timedelta(seconds=1))
        )
    assert_scim_error(client.get("/Users"), 401)


def test_secret_is_stored_only_as_a_hash_and_last_use_recorded(app: Flask) -> None:
    client = make_client(app)
    client.get("/Users")
    with app.extensions["scimserver"].db.read() as session:
        row = session.scalar(select(Token).where(Token.prefix == client.token.split("_")[1]))
    assert row is not None
    assert client.token not in (row.secret_hash, row.prefix, row.name)
    assert len(row.secret_hash) == 64
    assert row.last_used_at is not None


def test_read_token_can_read_and_search_but_not_write(app: Flask) -> None:
    writer = make_client(app)
    user = writer.create_user()
    reader = make_client(app, scope="read", tenant=writer.tenant)
    assert reader.get(f"/Users/{user['id']}").status_code == 200
    assert reader.post("/Users/.search", {"filter": "userName pr"}).status_code == 200
    assert_scim_error(reader.post("/Users", {"userName": "nope"}), 403)
    assert_scim_error(reader.put(f"/Users/{user['id']}", {"userName": "x"}), 403)
    assert_scim_error(reader.delete(f"/Users/{user['id']}"), 403)
    assert writer.get("/Users").get_json()["totalResults"] == 1


def test_tenants_are_isolated(app: Flask) -> None:
    a, b = make_client(app), make_client(app)
    user = a.create_user("shared-name@example.com")
    group = a.create_group("A group", [user["id"]])
    assert_scim_error(b.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(b.get(f"/Groups/{group['id']}"), 404)
    assert_scim_error(b.put(f"/Users/{user['id']}", {"userName": "stolen"}), 404)
    assert_scim_error(b.delete(f"/Users/{user['id']}"), 404)
    assert b.get("/Users").get_json()["totalResults"] == 0
    assert (
        b.get("/Users", query_string={"filter": f'id eq "{user["id"]}"'}).get_json()["totalResults"]
        == 0
    )
    # the same userName is free in another tenant, and a member must be in the same tenant
    assert b.post("/Users", {"userName": "shared-name@example.com"}).status_code == 201
    assert_scim_error(
        b.post("/Groups", {"displayName": "x", "members": [{"value": user["id"]}]}),
        400,
        "invalidValue",
    )
    assert a.get(f"/Users/{user['id']}").get_json()["userName"] == "shared-name@example.com"


def test_scim_client_fixture_isolated(scim: ScimClient) -> None:
    assert scim.get("/Groups").get_json()["totalResults"] == 0


def test_the_token_lookup_is_one_statement_outside_any_transaction(
    scim: ScimClient, app: Flask
) -> None:
    user = scim.create_user()
    path = f"/Users/{user['id']}"
    statements = statements_run(app, lambda: scim.get(path))
    assert sum("FROM tokens" in s for s in statements) == 1
    # SQLite's read of the resource is one transaction (one BEGIN); the token's is none.
    # (PostgreSQL reads run in autocommit: no BEGIN at all.)
    begins = [s for s in statements if s.strip().upper().startswith("BEGIN")]
    assert len(begins) == (1 if app.extensions["scimserver"].db.features.name == "sqlite" else 0)
    assert scim.get(path).status_code == 200
