"""What gunicorn refuses before the app runs is still a SCIM error, on the real server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import HOST, LiveServer, fresh_database

pytestmark = pytest.mark.slow
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("protocol")
    with (
        fresh_database(request.param, workdir) as url,
        LiveServer(
            {"SCIMSERVER_DATABASE_URL": url}, workers=1, cwd=workdir, log_dir=workdir
        ) as server,
    ):
        yield server


def raw(server: LiveServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers and body of the answer."""
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_scim(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, str]:
    assert status == expected, body
    assert headers["content-type"].startswith("application/scim+json")
    document: dict[str, str] = json.loads(body)
    assert document["schemas"] == [ERROR]
    assert document["status"] == str(expected)
    return document


def test_an_over_long_uri_is_414_with_a_hint(live: LiveServer) -> None:
    long_filter = "a" * 9000
    request = f"GET /scim/v2/Users?filter={long_filter} HTTP/1.1\r\nHost: x\r\n\r\n"
    document = assert_scim(*raw(live, request.encode()), 414)
    assert "POST /.search" in document["detail"]


def test_a_filter_past_gunicorns_default_line_limit_still_works(live: LiveServer) -> None:
    value = "@" * 1500  # %40 each: a request line of about 4.6 KB, above gunicorn's 4094
    response = httpx.get(
        f"{live.scim_url}/Users",
        params={"filter": f'userName eq "{value}"'},
        headers={"Authorization": f"Bearer {live.token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["totalResults"] == 0


def test_over_large_headers_are_431(live: LiveServer) -> None:
    request = b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"
    assert_scim(*raw(live, request), 431)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    assert_scim(*raw(live, b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"), 431)


def test_bad_request_lines_and_methods_are_400(live: LiveServer) -> None:
    for request in (
        b"GARBAGE\r\n\r\n",
        b"G@T /scim/v2/Users HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /scim/v2/Users HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /scim/v2/Users HTTP/1.1\r\nBad Header\r\n\r\n",
    ):
        status, headers, body = raw(live, request)
        assert status in (400, 505), body
        assert_scim(status, headers, body, status)


def test_nul_in_the_path_is_400_on_the_real_server(live: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    for method in ("GET", "DELETE"):
        response = httpx.request(method, f"{live.scim_url}/Users/%00", headers=auth)
        assert response.status_code == 400
        assert response.json()["schemas"] == [ERROR]
