"""A worker whose database connections are all in use answers 503 with Retry-After, soon.

The pool has a connection per thread and ``wiring.SPARE_CONNECTIONS`` more, so only a
process running more threads than it was sized for can wait for one; here the test takes every
connection of an app sized for one thread, and the next request waits ``pool_wait_ms``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask

from scimserver.wiring import SPARE_CONNECTIONS
from tests.api.observing import app_with, client_named, value
from tests.conftest import assert_scim_error

WAIT_MS = 200


@pytest.fixture(scope="module")
def small(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    with app_with(database_url_factory(backend), threads=1, pool_wait_ms=WAIT_MS) as app:
        yield app


def test_no_free_connection_is_a_503_with_retry_after_not_a_stall(
    small: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    scim = client_named(small)
    engine = small.extensions["scimserver"].db.engine
    with ExitStack() as taken:
        for _ in range(1 + SPARE_CONNECTIONS):
            taken.enter_context(engine.connect())
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="scimserver.store.db"):
            response = scim.get("/Users")
        waited = time.monotonic() - began
    assert_scim_error(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert WAIT_MS / 1000 <= waited < 3.0
    assert any("no database connection came free" in r.getMessage() for r in caplog.records)
    metrics = small.test_client().get("/metrics").get_data(as_text=True)
    assert value(metrics, "scimserver_database_busy_total") >= 1
    assert scim.get("/Users").status_code == 200  # the connections are back: served again
