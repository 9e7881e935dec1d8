"""GET /metrics as Prometheus scrapes it: counters with bounded labels, database totals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from scimserver.api.metrics import StoreCollector
from scimserver.service.stats import StatsService
from scimserver.store.db import Database
from tests.api.observing import LEGACY_ENTERPRISE, app_with, client_named, samples, value
from tests.conftest import assert_scim_error

REQUESTS = "scimserver_requests_total"


@pytest.fixture(scope="module")
def observed(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    """An app of this module's own, so its metrics count only this module's requests."""
    with app_with(database_url_factory(backend)) as application:
        yield application


def scrape(app: Flask, **headers: str) -> str:
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_requests_are_counted_by_route_template_status_class_and_client(observed: Flask) -> None:
    scim = client_named(observed, "okta-prod")
    user = scim.create_user()
    for _ in range(3):
        assert scim.get(f"/Users/{user['id']}").status_code == 200
    assert scim.get("/Users/no-such-id").status_code == 404
    text = scrape(observed)
    route = "/scim/v2/Users/<resource_id>"
    common = {"route": route, "method": "GET", "client": "okta-prod"}
    assert value(text, REQUESTS, status="2xx", **common) == 3
    assert value(text, REQUESTS, status="4xx", **common) == 1
    assert value(text, REQUESTS, route="/scim/v2/Users", method="POST", status="2xx") >= 1
    histogram = "scimserver_request_duration_seconds_count"
    assert value(text, histogram, route=route, method="GET") >= 4


def test_requests_without_a_token_count_as_anonymous(observed: Flask) -> None:
    client = observed.test_client()
    client.get("/scim/v2/Users", headers={"Authorization": "Bearer scim_wrong_secret"})
    client.get("/no/such/route")
    text = scrape(observed)
    assert value(text, REQUESTS, route="/scim/v2/Users", status="4xx", client="anonymous") >= 1
    assert value(text, REQUESTS, route="unmatched", status="4xx", client="anonymous") >= 1
    assert "scim_wrong_secret" not in text


def test_normalisations_are_counted_by_rule_and_client(observed: Flask) -> None:
    name = f"onelogin-{uuid.uuid4().hex[:6]}"
    scim = client_named(observed, name)
    scim.create_user(**{LEGACY_ENTERPRISE: {"department": "Sales"}})
    text = scrape(observed)
    found = value(text, "scimserver_normalisations_total", rule="legacy-extension-urn", client=name)
    assert found == 1


def test_no_label_carries_an_id_a_path_or_a_tenant(observed: Flask) -> None:
    scim = client_named(observed)
    ids = [scim.create_user()["id"] for _ in range(3)]
    for resource_id in ids:
        scim.get(f"/Users/{resource_id}")
        scim.patch(f"/Users/{resource_id}", {"Operations": []})
    scim.get("/Users?filter=userName%20eq%20%22someone%22")
    text = scrape(observed)
    labels = {v for s in samples(text) for v in s.labels.values()}
    for resource_id in ids:
        assert not any(resource_id in label for label in labels)
    assert not any("someone" in label or scim.tenant in label for label in labels)
    assert all("tenant" not in s.labels for s in samples(text))


def test_change_feed_and_webhooks_are_totals_read_at_scrape_time(observed: Flask) -> None:
    before = value(scrape(observed), "scimserver_changes_head")
    scim = client_named(observed)
    scim.create_user()
    scim.create_user()
    text = scrape(observed)
    assert value(text, "scimserver_changes_head") == before + 2
    assert value(text, "scimserver_database_up") == 1
    for name in ("scimserver_webhook_dead_letters", "scimserver_webhook_max_lag"):
        assert any(s.name == name for s in samples(text)), name


def test_webhook_lag_is_how_far_a_subscription_is_behind(observed: Flask) -> None:
    server = observed.extensions["scimserver"]
    scim = client_named(observed)
    scim.create_user()
    tenant_id = server.tokens.authenticate(scim.token).tenant_id
    server.webhooks().add("https://receiver.test/hook", tenant_id, "json", None, False)
    for _ in range(3):
        scim.create_user()
    assert value(scrape(observed), "scimserver_webhook_max_lag") >= 3


def test_an_unexpected_database_error_is_counted(
    observed: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.service import reading

    def locked(*_: object, **__: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    before = value(scrape(observed), "scimserver_unexpected_errors_total", kind="database")
    monkeypatch.setattr(reading.ResourceReader, "get", locked)
    assert_scim_error(client_named(observed).get("/Users/x"), 500)
    text = scrape(observed)
    assert value(text, "scimserver_unexpected_errors_total", kind="database") == before + 1
    assert value(text, REQUESTS, route="/scim/v2/Users/<resource_id>", status="5xx") >= 1


def test_metrics_are_outside_scim_and_need_no_scim_token(observed: Flask) -> None:
    client = observed.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/scim/v2/metrics").status_code in (401, 404)


def test_metrics_token_is_required_when_set(backend: str, database_url_factory: Any) -> None:
    with app_with(database_url_factory(backend), metrics_token="m3trics-s3cret") as app:
        client = app.test_client()
        scim = client_named(app)
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "m3trics-s3cret"},
            {"Authorization": f"Bearer {scim.token}"},
        ):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert "scimserver_requests" not in response.get_data(as_text=True)
        assert scrape(app, Authorization="Bearer m3trics-s3cret")


def test_tenant_labels_only_when_asked(backend: str, database_url_factory: Any) -> None:
    with app_with(database_url_factory(backend), metrics_tenant_labels=True) as app:
        scim = client_named(app)
        scim.create_user()
        tenant_id = str(app.extensions["scimserver"].tokens.authenticate(scim.token).tenant_id)
        text = scrape(app)
        assert value(text, REQUESTS, route="/scim/v2/Users", tenant=tenant_id) == 1
        assert value(text, "scimserver_changes_head", tenant=tenant_id) == 1


def test_the_exposition_parses(observed: Flask) -> None:
    names = {f.name for f in text_string_to_metric_families(scrape(observed))}
    assert {"scimserver_requests", "scimserver_request_duration_seconds"} <= names


def test_a_database_that_does_not_answer_is_database_up_0(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    families = list(StoreCollector(StatsService(database), tenant_labels=False).collect())
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [
        ("scimserver_database_up", [0])
    ]
