"""The console's activity reads use request_log's indexes on both databases, at size."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from scimserver.service.recorder import Activity
from scimserver.store import activity as store
from tests.conftest import make_client
from tests.store.test_explain import explain

RECORDS = 20_000
FULL_SCAN = re.compile(r"Seq Scan on request_log|SCAN request_log\b(?! USING)")


@pytest.fixture(scope="module")
def tenant(app: Flask) -> int:
    """A tenant with RECORDS requests to 2,000 users, other tenants' rows beside it."""
    server = app.extensions["scimserver"]
    ids = [server.tokens.authenticate(make_client(app).token).tenant_id for _ in range(3)]
    at = time.time()
    rows: list[dict[str, Any]] = [
        Activity(
            tenant_id=ids[n % 3],
            at=at,
            request_id=f"r{n}",
            client="okta",
            method="GET",
            path=f"/scim/v2/Users/u{n % 2000}",
            status=404 if n % 50 == 0 else 200,
            duration_ms=1.0,
            resource_type="User",
            resource_id=f"u{n % 2000}",
            subject=f"User{n % 2000}@example.com",
        ).row()
        for n in range(RECORDS)
    ]
    with server.db.write() as session:
        store.append(session, rows)
    with server.db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    return int(ids[0])


@pytest.mark.parametrize(
    ("filters", "indexes"),
    [
        ({}, [r"ix_request_log_tenant|request_log_pkey"]),
        (
            {"user": ("u17", "user17@example.com")},
            [r"ix_request_log_resource", r"ix_request_log_subject"],
        ),
        ({"before": 1000}, [r"ix_request_log_tenant|request_log_pkey"]),
    ],
)
def test_recent_uses_an_index(
    app: Flask, tenant: int, filters: dict[str, Any], indexes: list[str]
) -> None:
    params: dict[str, Any] = {"statuses": None, "user": None, "before": None, "limit": 50}
    plan = explain(app, store.recent_query(tenant, **{**params, **filters}))
    print(f"\n{filters}\n{plan}")
    for index in indexes:
        assert re.search(index, plan), plan
    assert not FULL_SCAN.search(plan), plan
