"""An asynchronous request survives a SIGKILL of the server between accept and completion:
after a restart it is completed once, its resource written once, its SET delivered once.

The test holds the job at the worst moment: a trigger refuses the job's completion, so
the server writes the user (that write commits) and then cannot complete the job. The
whole server is SIGKILLed there, the trigger dropped, and the server started again on
the same database.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from tests.live import LiveServer, free_port, fresh_database

pytestmark = pytest.mark.slow

ASYNCRESP = "urn:ietf:params:scim:event:misc:asyncresp"
CREATE_NOTICE = "urn:ietf:params:scim:event:prov:create:notice"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
DEADLINE = 30.0
HOLD_SQLITE = """
CREATE TRIGGER hold_completion BEFORE UPDATE OF state ON async_jobs
WHEN NEW.state = 'done' BEGIN SELECT RAISE(ABORT, 'held by the test'); END
"""
HOLD_POSTGRES = [
    """CREATE FUNCTION hold_completion() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN RAISE EXCEPTION 'held by the test'; END $$""",
    """CREATE TRIGGER hold_completion BEFORE UPDATE ON async_jobs FOR EACH ROW
       WHEN (NEW.state = 'done') EXECUTE FUNCTION hold_completion()""",
]
RELEASE_POSTGRES = [
    "DROP TRIGGER hold_completion ON async_jobs",
    "DROP FUNCTION hold_completion()",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def run_sql(url: str, statements: list[str]) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def until(check: Any, what: str) -> Any:
    """``check()``'s first truthy value, polled for at most :data:`DEADLINE` seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """An RFC 8936 poll receiver that verifies each SET with PyJWT and acknowledges it."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.auth = {"Authorization": f"Bearer {token}"}
        stream = httpx.get(f"{server.url}/api/v1/sets/stream", headers=self.auth).json()
        self.issuer, self.audience = stream["iss"], stream["aud"]
        self.seen: list[dict[str, Any]] = []

    def poll(self, server: LiveServer) -> list[dict[str, Any]]:
        body = {"returnImmediately": True, "maxEvents": 100}
        sets = httpx.post(f"{server.url}/api/v1/sets/poll", json=body, headers=self.auth)
        found = sets.json()["sets"]
        keys = jwt.PyJWKClient(f"{server.url}/api/v1/jwks.json", headers=self.auth)
        claims = [
            jwt.decode(
                token,
                keys.get_signing_key_from_jwt(token),
                algorithms=["ES256"],
                audience=self.audience,
                issuer=self.issuer,
            )
            for token in found.values()
        ]
        ack = {"ack": list(found), "maxEvents": 0, "returnImmediately": True}
        httpx.post(f"{server.url}/api/v1/sets/poll", json=ack, headers=self.auth)
        self.seen += claims
        return claims


def test_a_request_accepted_before_a_crash_is_completed_once(database: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "SCIMSERVER_DATABASE_URL": database,
        "SCIMSERVER_BASE_URL": f"http://127.0.0.1:{port}/scim/v2",
        "SCIMSERVER_ASYNC_LEASE_SECONDS": "2",
        "SCIMSERVER_WORKER_POLL_MS": "200",
    }
    first = LiveServer(env, workers=2, port=port, log_dir=tmp_path / "first")
    with first:
        assert first.token is not None
        token = first.token
        auth = {"Authorization": f"Bearer {token}"}
        receiver = Receiver(first, token)
        assert receiver.poll(first) == []
        sqlite = database.startswith("sqlite")
        run_sql(database, [HOLD_SQLITE] if sqlite else HOLD_POSTGRES)
        body = {"schemas": [USER], "userName": "survivor"}
        accepted = httpx.post(
            f"{first.scim_url}/Users", json=body, headers={**auth, "Prefer": "respond-async"}
        )
        assert accepted.status_code == 202, accepted.text
        txn, location = accepted.headers["Set-Txn"], accepted.headers["Location"]
        search = f'{first.scim_url}/Users?filter=userName eq "survivor"'
        until(lambda: httpx.get(search, headers=auth).json()["totalResults"] == 1, "the write")
        time.sleep(0.5)  # the runner tries to complete, and is refused
        assert httpx.get(location, headers=auth).status_code == 202  # still pending
        first.kill()
    run_sql(database, ["DROP TRIGGER hold_completion"] if sqlite else RELEASE_POSTGRES)

    with LiveServer(env, workers=2, port=port, log_dir=tmp_path / "second") as second:
        done = until(
            lambda: (r := httpx.get(location, headers=auth)).status_code == 200 and r.json(),
            "the completion",
        )
        users = httpx.get(search, headers=auth).json()
        assert users["totalResults"] == 1, users
        user_id = users["Resources"][0]["id"]
        assert len(done["sets"]) == 1
        events = until(lambda: receiver.poll(second), "the SETs") + receiver.poll(second)
        time.sleep(1.0)  # any second completion would have been logged by now
        events += receiver.poll(second)
    completions = [e for e in receiver.seen if ASYNCRESP in e["events"]]
    assert len(completions) == 1, receiver.seen
    (completion,) = completions
    assert completion["txn"] == txn
    assert completion["events"][ASYNCRESP] == {
        "method": "POST",
        "location": f"http://127.0.0.1:{port}/scim/v2/Users/{user_id}",
        "version": 'W/"1"',
        "status": "201",
    }
    assert [e["sub_id"]["id"] for e in receiver.seen if CREATE_NOTICE in e["events"]] == [user_id]
    assert len(receiver.seen) == 2, receiver.seen
