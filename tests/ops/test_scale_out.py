"""Two `scimserver serve` instances on one PostgreSQL act as one service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scimserver.service.tokens import TokenService
from scimserver.store.db import Database
from tests.live import LiveServer, throwaway_postgres

pytestmark = pytest.mark.slow
LIMIT = 20
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    workdir: Path = tmp_path_factory.mktemp("scale")
    with throwaway_postgres() as url:
        env = {"SCIMSERVER_DATABASE_URL": url, "SCIMSERVER_RATE_LIMIT": str(LIMIT)}
        with (
            LiveServer(env, workers=2, cwd=workdir, log_dir=workdir) as first,
            LiveServer(env, workers=2, cwd=workdir, log_dir=workdir) as second,
        ):
            yield first, second, url


def tokens(url: str) -> TokenService:
    return TokenService(Database(url))


def client(server: LiveServer, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=server.scim_url, headers=headers, timeout=10)


def test_writes_through_one_are_read_through_the_other(
    pair: tuple[LiveServer, LiveServer, str],
) -> None:
    first, second, url = pair
    _, token = tokens(url).create("both", "scale")
    with client(first, token) as a, client(second, token) as b:
        created = a.post("/Users", json={"schemas": [USER], "userName": "twin@example.com"})
        assert created.status_code == 201
        user_id = created.json()["id"]
        read = b.get(f"/Users/{user_id}")
        assert read.status_code == 200 and read.json()["userName"] == "twin@example.com"
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        }
        assert b.patch(f"/Users/{user_id}", json=body).status_code == 200
        assert a.get(f"/Users/{user_id}").json()["active"] is False
        feed = httpx.get(
            f"{first.url}/api/v1/changes", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert [c["type"] for c in feed["changes"]] == ["user.created", "user.deactivated"]


def test_new_and_revoked_tokens_take_effect_on_both(
    pair: tuple[LiveServer, LiveServer, str],
) -> None:
    first, second, url = pair
    service = tokens(url)
    _, token = service.create("revoked-later", "scale-tokens")
    for server in (first, second):
        with client(server, token) as http:
            assert http.get("/Users").status_code == 200
    assert service.revoke("revoked-later", "scale-tokens").name == "revoked-later"
    for server in (first, second):
        with client(server, token) as http:
            assert http.get("/Users").status_code == 401


def test_rate_limits_are_shared(pair: tuple[LiveServer, LiveServer, str]) -> None:
    first, second, url = pair
    _, token = tokens(url).create("limited", "scale-limits")
    statuses = []
    with client(first, token) as a, client(second, token) as b:
        for _ in range(LIMIT // 2 + 3):
            statuses += [a.get("/Users").status_code, b.get("/Users").status_code]
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == len(statuses) - LIMIT
