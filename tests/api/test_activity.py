"""Request activity: what the admin console reads about a connection's SCIM requests."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from scimserver.api.context import ACTIVITY
from scimserver.service.activity import ActivityService, InvalidActivityQuery, RequestView
from scimserver.service.recorder import HOUR, Activity, ActivityRecorder, Retention
from scimserver.store import activity as activity_store
from scimserver.store.db import Database
from scimserver.store.models import RequestHour, RequestRecord
from tests.api.observing import app_with
from tests.conftest import ScimClient, make_client, statements_run

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}


@pytest.fixture(scope="module")
def database_url(backend: str, database_url_factory: Any) -> str:
    return str(database_url_factory(backend))


@pytest.fixture(scope="module")
def observed(database_url: str) -> Iterator[Flask]:
    with app_with(database_url) as application:
        # Only flush() writes: the thread's timer never fires within a test.
        recorder(application).interval = 3600
        yield application
        recorder(application).close()


@pytest.fixture
def db(observed: Flask) -> Database:
    """The app's one database, which a recorder made here shares as the app's does."""
    found: Database = observed.extensions["scimserver"].db
    return found


def recorder(app: Flask) -> ActivityRecorder:
    found: ActivityRecorder = app.extensions[ACTIVITY]
    return found


def tenant_of(app: Flask, scim: ScimClient) -> int:
    return int(app.extensions["scimserver"].tokens.authenticate(scim.token).tenant_id)


def activity(app: Flask) -> ActivityService:
    service: ActivityService = app.extensions["scimserver"].activity()
    return service


def recent(app: Flask, scim: ScimClient, **filters: Any) -> list[RequestView]:
    recorder(app).flush()
    return activity(app).recent(tenant_of(app, scim), **filters)


def user_body(user_name: str) -> dict[str, Any]:
    return {"schemas": [USER], "userName": user_name}


def stored_with_request_id(app: Flask, request_id: str) -> int:
    db = app.extensions["scimserver"].db
    with db.read() as session:
        query = select(func.count()).where(RequestRecord.request_id == request_id)
        return int(session.execute(query).scalar_one())


def test_each_request_is_recorded_with_status_resource_subject_and_error(
    observed: Flask,
) -> None:
    scim = make_client(observed)
    created = scim.post("/Users", user_body("Ada.Lovelace"), headers=OKTA)
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    duplicate = scim.post("/Users", user_body("ada.lovelace"), headers=OKTA)
    assert duplicate.status_code == 409
    missing = scim.get("/Users/no-such-user", headers=OKTA)
    assert missing.status_code == 404

    missed, conflict, create = recent(observed, scim)
    assert (create.method, create.path, create.status) == ("POST", "/scim/v2/Users", 201)
    assert (create.resource_type, create.resource_id, create.subject) == (
        "User",
        user_id,
        "Ada.Lovelace",
    )
    assert create.request_id == created.headers["X-Request-Id"]
    assert (create.client, create.user_agent) == (scim.name, "Okta SCIM Client 1.0.0")
    assert (create.scim_type, create.detail) == (None, None)
    assert create.duration_ms > 0
    assert (conflict.status, conflict.scim_type, conflict.subject) == (
        409,
        "uniqueness",
        "ada.lovelace",
    )
    assert conflict.detail == duplicate.get_json()["detail"]
    assert (missed.status, missed.resource_id, missed.subject) == (404, "no-such-user", None)
    assert missed.detail == missing.get_json()["detail"]
    assert missed.path == "/scim/v2/Users/no-such-user"


def test_an_okta_group_rename_records_its_normalisation(observed: Flask) -> None:
    scim = make_client(observed)
    group = scim.create_group("Before")
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"id": group["id"], "displayName": "After"}}],
    }
    assert scim.patch(f"/Groups/{group['id']}", body, headers=OKTA).status_code == 204
    renamed = recent(observed, scim)[0]
    assert (renamed.method, renamed.status, renamed.resource_type) == ("PATCH", 204, "Group")
    assert (renamed.resource_id, renamed.subject) == (group["id"], "After")
    assert renamed.normalisations == ("ignored-read-only-key",)


def test_a_lookup_by_user_name_names_its_subject(observed: Flask) -> None:
    scim = make_client(observed)
    found = scim.get("/Users", query_string={"filter": 'userName eq "grace"'})
    assert found.status_code == 200
    [lookup] = recent(observed, scim)
    assert (lookup.path, lookup.subject, lookup.resource_id) == ("/scim/v2/Users", "grace", None)


def test_filters_by_status_class_code_and_errors(observed: Flask) -> None:
    scim = make_client(observed)
    scim.create_user("linus")
    scim.post("/Users", user_body("linus"))
    scim.get("/Users/missing")
    statuses = {
        "2xx": [201],
        "4xx": [404, 409],
        "errors": [404, 409],
        "409": [409],
        "5xx": [],
        None: [404, 409, 201],
    }
    for status, expected in statuses.items():
        assert [r.status for r in recent(observed, scim, status=status)] == expected, status
    for wrong in ("4xx5", "teapot", "99", "600"):
        with pytest.raises(InvalidActivityQuery, match="status filter"):
            activity(observed).recent(tenant_of(observed, scim), status=wrong)
    assert issubclass(InvalidActivityQuery, ValueError)


def test_filter_by_user_matches_the_id_or_the_user_name_in_any_case(observed: Flask) -> None:
    scim = make_client(observed)
    user = scim.create_user("Margaret")
    scim.patch(
        f"/Users/{user['id']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]},
    )
    scim.create_user("someone-else")
    by_name = recent(observed, scim, user="MARGARET")
    by_id = recent(observed, scim, user=user["id"])
    assert [(r.method, r.resource_id) for r in by_name] == [
        ("PATCH", user["id"]),
        ("POST", user["id"]),
    ]
    assert by_id == by_name


def test_keyset_paging_newest_first(observed: Flask) -> None:
    scim = make_client(observed)
    for n in range(5):
        scim.get(f"/Users/page-{n}")
    first = recent(observed, scim, limit=2)
    second = recent(observed, scim, limit=2, before=first[-1].id)
    third = recent(observed, scim, limit=2, before=second[-1].id)
    paths = [r.resource_id for r in first + second + third]
    assert paths == ["page-4", "page-3", "page-2", "page-1", "page-0"]
    with pytest.raises(InvalidActivityQuery, match="limit"):
        activity(observed).recent(tenant_of(observed, scim), limit=0)


def test_a_bulk_request_is_one_record_with_its_failures(observed: Flask) -> None:
    scim = make_client(observed)
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("bulky")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("bulky")},
    ]
    response = scim.post("/Bulk", {"schemas": [BULK_REQUEST], "Operations": operations})
    assert response.status_code == 200
    [bulk] = recent(observed, scim)
    assert (bulk.method, bulk.path, bulk.status) == ("POST", "/scim/v2/Bulk", 200)
    assert (bulk.resource_type, bulk.subject) == (None, None)
    assert bulk.detail == "1 of 2 operations failed."


def test_summary_counts_the_last_24_hours_and_names_the_idp(observed: Flask, db: Database) -> None:
    scim = make_client(observed)
    tenant = tenant_of(observed, scim)
    service = activity(observed)
    assert service.summary(tenant) == service.summaries([tenant])[tenant]
    nothing = service.summary(tenant)
    assert (nothing.last_request_at, nothing.requests_24h, nothing.idp) == (None, 0, None)
    assert nothing.error_rate == 0.0
    scim.create_user("hopper", headers=OKTA)
    scim.get("/Users/missing", headers=OKTA)
    scim.get("/Users/missing-too", headers=OKTA)
    scim.get("/Users", headers=OKTA)
    direct = ActivityRecorder(db, Retention(timedelta(days=7), 1000))
    direct.record(_direct(tenant, time.time() - 25 * HOUR))
    direct.flush()
    direct.close()
    recorder(observed).flush()
    summary = service.summary(tenant)
    assert (summary.requests_24h, summary.errors_24h) == (4, 2)
    assert summary.error_rate == 0.5
    assert summary.idp == "Okta"
    newest = recent(observed, scim)[0]
    assert summary.last_request_at == newest.at


def test_the_idp_falls_back_to_dialect_rules_then_to_the_raw_agent(observed: Flask) -> None:
    onelogin, unknown = make_client(observed), make_client(observed)
    body = {
        **user_body("legacy"),
        "urn:scim:schemas:extension:enterprise:1.0": {"department": "Ops"},
    }
    onelogin.post("/Users", body, headers={"User-Agent": "python-requests/2.31"})
    unknown.get("/Users", headers={"User-Agent": "acme-sync/7 (linux)"})
    recorder(observed).flush()
    found = activity(observed).summaries([tenant_of(observed, c) for c in (onelogin, unknown)])
    assert [s.idp for s in found.values()] == ["OneLogin", "acme-sync"]


def test_tenants_never_see_each_others_requests(observed: Flask) -> None:
    alice, bob = make_client(observed), make_client(observed)
    alice.get("/Users/alice-only")
    bob.get("/Users/bob-only")
    assert [r.resource_id for r in recent(observed, alice)] == ["alice-only"]
    assert [r.resource_id for r in recent(observed, bob)] == ["bob-only"]
    assert recent(observed, alice, user="bob-only") == []


def test_requests_without_a_token_or_outside_scim_are_not_recorded(observed: Flask) -> None:
    scim = make_client(observed)
    anonymous = observed.test_client().get("/scim/v2/Users")
    assert anonymous.status_code == 401
    feed = observed.test_client().get(
        "/api/v1/changes", headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert feed.status_code == 200
    recorder(observed).flush()
    for response in (anonymous, feed):
        assert stored_with_request_id(observed, response.headers["X-Request-Id"]) == 0
    assert recent(observed, scim) == []


def test_recording_adds_no_statement_to_the_request(observed: Flask) -> None:
    scim = make_client(observed)
    run = statements_run(observed, lambda: scim.get("/Users/nobody"))
    assert not [s for s in run if "request_log" in s or "request_hours" in s]
    assert activity(observed).recent(tenant_of(observed, scim)) == []  # not yet flushed
    assert len(recent(observed, scim)) == 1


def test_activity_log_off_records_nothing(database_url: str) -> None:
    with app_with(database_url, activity_log=False) as quiet:
        assert quiet.extensions[ACTIVITY] is None
        scim = make_client(quiet)
        response = scim.get("/Users/anyone")
        assert response.status_code == 404
        assert stored_with_request_id(quiet, response.headers["X-Request-Id"]) == 0
        assert activity(quiet).summary(tenant_of(quiet, scim)).requests_24h == 0


def test_a_full_buffer_drops_the_oldest_and_counts_them(
    observed: Flask, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = tenant_of(observed, make_client(observed))
    small = ActivityRecorder(db, Retention(timedelta(days=7), 1000), interval=3600, capacity=3)
    for n in range(5):
        small.record(_direct(tenant, time.time(), resource_id=f"r{n}"))
    assert (small.dropped, small.waiting) == (2, 3)
    caplog.set_level(logging.WARNING, logger="scimserver")
    assert small.flush() == 3
    assert "buffer was full; dropped the 2 oldest" in caplog.text
    small.close()
    kept = activity(observed).recent(tenant)
    assert [r.resource_id for r in kept] == ["r4", "r3", "r2"]


def test_a_failing_database_never_breaks_requests_and_retries_boundedly(
    observed: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    scim = make_client(observed)
    rec = recorder(observed)

    def refuse(*_: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(activity_store, "append", refuse)
    caplog.set_level(logging.WARNING, logger="scimserver")
    assert scim.get("/Users/first").status_code == 404
    assert rec.flush() == 0
    assert "database is locked" in caplog.text and "will retry" in caplog.text
    monkeypatch.undo()
    assert rec.flush() == 1
    assert [r.resource_id for r in recent(observed, scim)] == ["first"]

    monkeypatch.setattr(activity_store, "append", refuse)
    dropped = rec.dropped
    assert scim.get("/Users/second").status_code == 404
    for _ in range(rec.attempts):
        assert rec.flush() == 0
    assert (rec.dropped - dropped, rec.waiting) == (1, 0)
    assert "dropped 1 records" in caplog.text
    monkeypatch.undo()
    assert scim.get("/Users/third").status_code == 404
    assert [r.resource_id for r in recent(observed, scim)] == ["third", "first"]


def test_retention_prunes_old_records_and_each_tenants_excess(
    observed: Flask, db: Database
) -> None:
    old_tenant = tenant_of(observed, make_client(observed))
    busy_tenant = tenant_of(observed, make_client(observed))
    strict = ActivityRecorder(db, Retention(timedelta(days=7), max_rows=3, chunk=2), interval=3600)
    long_ago = time.time() - 8 * 24 * HOUR
    for n in range(3):
        strict.record(_direct(old_tenant, long_ago, resource_id=f"old-{n}"))
    for n in range(6):
        strict.record(_direct(busy_tenant, time.time(), resource_id=f"busy-{n}"))
    strict.flush()
    assert strict.prune() >= 3 + 3
    strict.close()
    service = activity(observed)
    assert service.recent(old_tenant) == []
    assert [r.resource_id for r in service.recent(busy_tenant)] == ["busy-5", "busy-4", "busy-3"]
    with db.read() as session:
        hours = select(func.count()).where(RequestHour.tenant_id == old_tenant)
        assert session.execute(hours).scalar_one() == 0


def _direct(tenant_id: int, at: float, resource_id: str = "x") -> Activity:
    return Activity(
        tenant_id=tenant_id,
        at=at,
        request_id=uuid.uuid4().hex,
        client="direct",
        method="GET",
        path=f"/scim/v2/Users/{resource_id}",
        status=200,
        duration_ms=1.0,
        resource_type="User",
        resource_id=resource_id,
    )


def test_the_writer_thread_writes_on_its_timer_and_when_a_batch_is_full(
    observed: Flask, db: Database
) -> None:
    tenant = tenant_of(observed, make_client(observed))
    retention = Retention(timedelta(days=7), 1000)
    timed = ActivityRecorder(db, retention, interval=0.05)
    full = ActivityRecorder(db, retention, interval=3600, batch=2)
    try:
        timed.record(_direct(tenant, time.time(), resource_id="timer"))
        full.record(_direct(tenant, time.time(), resource_id="batch-1"))
        full.record(_direct(tenant, time.time(), resource_id="batch-2"))
        deadline = time.monotonic() + 5
        while (timed.waiting or full.waiting) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (timed.waiting, full.waiting) == (0, 0)
        found = {r.resource_id for r in activity(observed).recent(tenant)}
        assert found == {"timer", "batch-1", "batch-2"}
    finally:
        timed.close()
        full.close()


def test_records_of_a_tenant_deleted_meanwhile_are_dropped_the_others_kept(
    observed: Flask, db: Database
) -> None:
    gone, stays = make_client(observed), make_client(observed)
    gone_id, stays_id = tenant_of(observed, gone), tenant_of(observed, stays)
    rec = ActivityRecorder(db, Retention(timedelta(days=7), 1000), interval=3600)
    rec.record(_direct(gone_id, time.time(), resource_id="orphan"))
    rec.record(_direct(stays_id, time.time(), resource_id="kept"))
    observed.extensions["scimserver"].tenants().delete(gone.tenant, force=True)
    assert rec.flush() == 1
    assert (rec.dropped, rec.waiting) == (1, 0)
    rec.close()
    assert [r.resource_id for r in activity(observed).recent(stays_id)] == ["kept"]
