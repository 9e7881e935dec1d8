"""Malformed requests of every kind get a SCIM error, and nothing is written."""

from __future__ import annotations

import io

import pytest
from flask import Flask

from tests.conftest import ScimClient, assert_scim_error


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b'{"userName": "x",}',
        b"",
        b"   ",
        b'{"userName": NaN}',
        b"[" * 100_000,
        b'{"userName": "\xff\xfe"}',
        b'{"a": ' + b"1" * 5000 + b"}",
    ],
)
def test_malformed_json_is_400_invalid_syntax(scim: ScimClient, raw: bytes) -> None:
    response = scim.open(
        "POST", "/Users", data=raw, headers={"Content-Type": "application/scim+json"}
    )
    assert_scim_error(response, 400, "invalidSyntax")
    assert scim.get("/Users").get_json()["totalResults"] == 0


def test_wrong_content_type_is_415(scim: ScimClient) -> None:
    response = scim.open(
        "POST",
        "/Users",
        data="userName=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_scim_error(response, 415)


def test_body_too_large_is_413(scim: ScimClient, app: Flask) -> None:
    limit = app.extensions["scimserver"].settings.max_body_bytes
    big = b'{"userName": "' + b"x" * (limit + 10) + b'"}'
    response = scim.open(
        "POST", "/Users", data=big, headers={"Content-Type": "application/scim+json"}
    )
    assert_scim_error(response, 413)
    assert scim.get("/Users").get_json()["totalResults"] == 0


def test_chunked_body_too_large_is_413_not_a_json_error(scim: ScimClient, app: Flask) -> None:
    """Without Content-Length the limit is found while reading; a cut-off body is no 400."""
    limit = app.extensions["scimserver"].settings.max_body_bytes
    big = b'{"userName": "' + b"x" * (limit + 10) + b'"}'
    response = scim.client.open(
        "/scim/v2/Users",
        method="POST",
        input_stream=io.BytesIO(big),
        headers={
            "Authorization": f"Bearer {scim.token}",
            "Content-Type": "application/scim+json",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_scim_error(response, 413, "tooLarge")
    assert scim.get("/Users").get_json()["totalResults"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/Users"), ("PUT", "/Users"), ("POST", "/Users/some-id"), ("PATCH", "/Groups")],
)
def test_unsupported_method_is_405(scim: ScimClient, method: str, path: str) -> None:
    assert_scim_error(scim.open(method, path, {"x": 1}), 405)


@pytest.mark.parametrize("path", ["/Nope", "/Users/a/b", "/Schemas/urn:nope"])
def test_unknown_route_is_404(scim: ScimClient, path: str) -> None:
    assert_scim_error(scim.get(path), 404)


def test_unknown_route_outside_scim_is_scim_404(app: Flask) -> None:
    assert_scim_error(app.test_client().get("/nothing-here"), 404)


@pytest.mark.parametrize("query", ["startIndex=abc", "count=x", "sortOrder=sideways"])
def test_bad_query_parameters_are_400(scim: ScimClient, query: str) -> None:
    assert_scim_error(scim.get(f"/Users?{query}"), 400, "invalidValue")


def test_unexpected_error_is_generic_500_with_request_id(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from scimserver.service import reading

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(reading.ResourceReader, "get", boom)
    from tests.conftest import make_client

    client = make_client(app)
    response = client.get("/Users/x")
    assert_scim_error(response, 500)
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text and "RuntimeError" not in text
    request_id = response.headers["X-Request-Id"]
    assert request_id in response.get_json()["detail"]
    assert request_id in caplog.text
    assert client.token not in caplog.text
