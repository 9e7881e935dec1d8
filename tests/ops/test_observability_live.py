"""Metrics and logs of the real ``scimserver serve``: two gunicorn workers, one total."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.observing import value
from tests.live import LiveServer

pytestmark = pytest.mark.slow
BATCH = 40
MAX_REQUESTS = 400


def writers(temp: Path) -> set[str]:
    """The counter files in the server's samples directory: one per worker that counted."""
    return {p.name for p in temp.glob("scimserver-metrics-*/counter_*.db")}


def get_users(server: LiveServer) -> int:
    # A connection per request, so the workers share them.
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.get(f"{server.scim_url}/Users", headers=headers, timeout=10).status_code


def test_metrics_sum_every_worker_and_each_request_is_one_json_line(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "TMPDIR": str(temp)}
    with LiveServer(env, workers=2, log_dir=tmp_path) as server:
        assert server.token is not None
        sent = 0
        # Until both workers have answered some (each writes its own samples file; the
        # start-up's /healthz probes may have made both already: one batch at least).
        while sent == 0 or (sent < MAX_REQUESTS and len(writers(temp)) < 2):
            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(lambda _: get_users(server), range(BATCH))) == {200}
            sent += BATCH
        assert len(writers(temp)) == 2, f"one worker answered all {sent} requests"
        for _ in range(6):  # whichever worker answers the scrape sums both
            text = httpx.get(f"{server.url}/metrics", timeout=10).text
            assert value(text, "scimserver_requests_total", route="/scim/v2/Users") == sent
        token, stdout, stderr = server.token, server.stdout(), server.stderr()
    assert not list(temp.glob("scimserver-metrics-*")), "gunicorn's on_exit hook removes it"
    assert token in stdout and token not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    users = [line for line in lines if line.get("route") == "/scim/v2/Users"]
    assert len(users) == sent
    assert {line["client"] for line in users} == {"initial"}
    assert not any('"GET /scim/v2/Users HTTP/1.1"' in line for line in stderr.splitlines())


def test_text_logs_for_development(tmp_path: Path) -> None:
    env = {
        "SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SCIMSERVER_LOG_FORMAT": "text",
    }
    with LiveServer(env, workers=1, log_dir=tmp_path) as server:
        assert get_users(server) == 200
        stderr = server.stderr()
    [line] = [line for line in stderr.splitlines() if "GET /scim/v2/Users 200" in line]
    assert " INFO scimserver.request: " in line and not line.startswith("{")
