"""Long polls are capped per token and per worker process: over a cap the feed answers
429 with Retry-After at once, and the RFC 8936 poll returns its empty answer early."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from scimserver.app import create_app
from scimserver.config import Settings
from tests.conftest import ScimClient, assert_scim_error, close_app, make_client

BASE_URL = "https://scim.test/scim/v2"


@pytest.fixture(scope="module")
def capped(app: Flask) -> Iterator[Flask]:
    """An app on the same database that lets 2 waits in all, 1 per token."""
    url = app.extensions["scimserver"].settings.database_url
    other = create_app(Settings(url, base_url=BASE_URL, waits_per_worker=2, waits_per_token=1))
    yield other
    close_app(other)


def feed(scim: ScimClient, wait: float) -> TestResponse:
    """A long poll from the feed's head (a client of its own: requests run in threads)."""
    client = scim.client.application.test_client()
    auth = {"Authorization": f"Bearer {scim.token}"}
    head = client.get("/api/v1/changes/head", headers=auth).get_json()["next"]
    return client.get("/api/v1/changes", query_string={"after": head, "wait": wait}, headers=auth)


def set_poll(scim: ScimClient, body: dict[str, Any]) -> TestResponse:
    client = scim.client.application.test_client()
    return client.post(
        "/api/v1/sets/poll", json=body, headers={"Authorization": f"Bearer {scim.token}"}
    )


def waiting(app: Flask, count: int) -> None:
    """Until ``count`` requests of ``app`` wait on the change log (bounded)."""
    deadline = time.monotonic() + 10
    while (waits := app.extensions["scimserver"].waits) is None or waits.watcher.waiting != count:
        assert time.monotonic() < deadline, "the waits did not start"
        time.sleep(0.02)


def held(
    pool: ThreadPoolExecutor, app: Flask, count: int, call: Callable[[], TestResponse]
) -> Future[TestResponse]:
    answer = pool.submit(call)
    waiting(app, count)
    return answer


def test_a_token_over_its_cap_gets_429_at_once_and_others_still_wait(capped: Flask) -> None:
    reader = make_client(capped, scope="read")
    writer = make_client(capped, tenant=reader.tenant)
    other = make_client(capped, scope="read")
    with ThreadPoolExecutor(2) as pool:
        first = held(pool, capped, 1, lambda: feed(reader, 20))
        began = time.monotonic()
        refused = feed(reader, 20)
        assert time.monotonic() - began < 2
        assert_scim_error(refused, 429)
        assert refused.headers["Retry-After"] == "20"
        assert "This token already holds 1 waiting" in refused.get_json()["detail"]
        second = held(pool, capped, 2, lambda: feed(other, 20))  # another token may wait
        writer.create_user()
        assert [c["type"] for c in first.result(10).get_json()["changes"]] == ["user.created"]
        make_client(capped, tenant=other.tenant).create_user()
        assert second.result(10).status_code == 200
    assert feed(reader, 0.2).get_json()["changes"] == []  # its slot is back


def test_the_process_cap_holds_over_all_tokens(capped: Flask) -> None:
    tenants = [make_client(capped, scope="read") for _ in range(3)]
    with ThreadPoolExecutor(2) as pool:
        answers = [
            held(pool, capped, n + 1, lambda t=t: feed(t, 20)) for n, t in enumerate(tenants[:2])
        ]
        refused = feed(tenants[2], 5)
        assert_scim_error(refused, 429)
        assert refused.headers["Retry-After"] == "5"
        assert "This server process already holds 2 waiting" in refused.get_json()["detail"]
        for tenant in tenants[:2]:
            make_client(capped, tenant=tenant.tenant).create_user()
        assert all(a.result(10).status_code == 200 for a in answers)


def test_a_set_poll_over_the_cap_returns_empty_at_once(capped: Flask) -> None:
    receiver = make_client(capped, scope="read")
    writer = make_client(capped, tenant=receiver.tenant)
    assert set_poll(receiver, {"returnImmediately": True}).status_code == 200  # registers
    with ThreadPoolExecutor(1) as pool:
        first = held(pool, capped, 1, lambda: set_poll(receiver, {"maxEvents": 5}))
        began = time.monotonic()
        early = set_poll(receiver, {"maxEvents": 5})
        assert time.monotonic() - began < 2
        assert early.status_code == 200
        assert early.get_json() == {"sets": {}, "moreAvailable": False}
        writer.create_user()
        assert len(first.result(10).get_json()["sets"]) == 1
