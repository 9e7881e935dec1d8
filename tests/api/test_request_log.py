"""One JSON log line per request, as an operator's log pipeline reads it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from scimserver.api.logs import JsonFormatter, configure_logging
from tests.api.observing import LEGACY_ENTERPRISE, app_with, client_named
from tests.conftest import assert_scim_error

FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "tenant",
    "client",
    "user_agent",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "normalisations",
}
PASSWORD = "Corr3ct-Horse-Battery"


@pytest.fixture(scope="module")
def observed(backend: str, database_url_factory: Any) -> Iterator[Flask]:
    with app_with(database_url_factory(backend)) as application:
        yield application


def read(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(r) for r in caplog.records if r.name.startswith("scimserver")]


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in read(caplog)]
    return [p for p in parsed if p["logger"] == "scimserver.request"]


def test_a_request_is_one_json_line_with_who_what_and_how_long(
    observed: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scimserver")
    scim = client_named(observed, "onelogin-eu")
    response = scim.post(
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "password": PASSWORD,
            LEGACY_ENTERPRISE: {"department": "Maths"},
        },
        headers={"User-Agent": "OneLogin-SCIM/1.2 (provisioning)"},
    )
    assert response.status_code == 201
    [line] = request_lines(caplog)
    assert set(line) == FIELDS
    tenant_id = observed.extensions["scimserver"].tokens.authenticate(scim.token).tenant_id
    assert line["level"] == "INFO"
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["tenant"], line["client"]) == (tenant_id, "onelogin-eu")
    assert line["user_agent"] == "OneLogin-SCIM"
    assert (line["method"], line["route"], line["path"]) == (
        "POST",
        "/scim/v2/Users",
        "/scim/v2/Users",
    )
    assert line["status"] == 201
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["normalisations"] == ["legacy-extension-urn"]


def test_no_secret_password_or_authorization_reaches_the_log(
    observed: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scimserver")
    scim = client_named(observed)
    user = scim.create_user(password=PASSWORD, **{LEGACY_ENTERPRISE: {"department": "x"}})
    scim.put(f"/Users/{user['id']}", {**user, "password": PASSWORD, "bogus": "y"})
    scim.get(f"/Users?filter=userName%20eq%20%22{PASSWORD}%22")
    observed.test_client().get("/scim/v2/Users", headers={"Authorization": "Bearer scim_x_nope"})
    text = "\n".join(read(caplog))
    assert len(request_lines(caplog)) == 4
    secret_part = scim.token.split("_", 2)[2]  # scim_<prefix>_<secret>; the secret may hold "_"
    for secret in (scim.token, secret_part, PASSWORD, "scim_x_nope", "Bearer"):
        assert secret not in text


def test_a_4xx_is_info_without_a_traceback(
    observed: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scimserver")
    client_named(observed).get("/Users/no-such-id")
    [line] = request_lines(caplog)
    assert (line["status"], line["level"]) == (404, "INFO")
    assert line["route"] == "/scim/v2/Users/<resource_id>"
    assert "traceback" not in line


def test_a_5xx_is_one_error_record_with_the_traceback(
    observed: Flask, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimserver.service import reading

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("internal detail")

    caplog.set_level(logging.INFO, logger="scimserver")
    monkeypatch.setattr(reading.ResourceReader, "get", boom)
    response = client_named(observed).get("/Users/x")
    assert_scim_error(response, 500)
    records = [json.loads(line) for line in read(caplog)]
    assert [r["logger"] for r in records] == ["scimserver.request"]
    [line] = records
    assert (line["status"], line["level"]) == (500, "ERROR")
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert "RuntimeError: internal detail" in line["traceback"]


def test_records_logged_inside_a_request_carry_its_id(observed: Flask) -> None:
    record = logging.makeLogRecord({"name": "scimserver.x", "msg": "inside", "rule": "r1"})
    with observed.test_request_context(headers={"X-Request-Id": "req-42"}):
        inside = json.loads(JsonFormatter().format(record))
    assert (inside["request_id"], inside["rule"], inside["message"]) == ("req-42", "r1", "inside")


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json or text"):
        configure_logging("INFO", "xml")
