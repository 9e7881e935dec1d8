"""Per-token rate limits: 429 with Retry-After and a SCIM error, counted across processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.service.ratelimit import RateLimiter
from tests.conftest import assert_scim_error, close_app, make_client

LIMIT = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # the start of a 60 s window

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(backend: str, database_url_factory: Any) -> Iterator[tuple[Flask, Clock]]:
    settings = Settings(database_url=database_url_factory(backend), rate_limit=LIMIT)
    app = create_app(settings)
    clock = Clock()
    server = app.extensions["scimserver"]
    app.extensions["scimserver"] = replace(server, limiter=RateLimiter(server.db, LIMIT, 60, clock))
    yield app, clock
    close_app(app)
    server.jobs.stop()  # the runner the app's requests started is the built Server's


def test_the_request_over_the_limit_is_429_with_retry_after(
    limited: tuple[Flask, Clock],
) -> None:
    app, clock = limited
    scim = make_client(app)
    for _ in range(LIMIT):
        assert scim.get("/Users").status_code == 200
    clock.now += 15
    refused = scim.get("/Users")
    assert_scim_error(refused, 429)
    assert refused.headers["Retry-After"] == "45"
    other = make_client(app)  # another token has its own budget
    assert other.get("/Users").status_code == 200
    clock.now += 45  # the next window
    assert scim.get("/Users").status_code == 200


def test_processes_share_the_count(limited: tuple[Flask, Clock]) -> None:
    app, clock = limited
    scim = make_client(app)
    server = app.extensions["scimserver"]
    other_process = RateLimiter(server.db, LIMIT, 60, clock)
    token_id = server.tokens.authenticate(scim.token).token_id
    admitted = [other_process.admit(token_id) for _ in range(3)]
    assert admitted == [None, None, None]
    assert scim.get("/Users").status_code == 200
    assert scim.get("/Users").status_code == 200
    assert_scim_error(scim.get("/Users"), 429)
    assert other_process.admit(token_id) is not None


def test_no_limit_by_default(app: Flask) -> None:
    scim = make_client(app)
    for _ in range(30):
        assert scim.get("/ServiceProviderConfig").status_code == 200
