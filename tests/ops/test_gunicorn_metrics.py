"""/metrics under plain gunicorn: with the shipped config file every worker's requests are
summed; without it each worker counts its own, and each worker's log says so."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from scimserver.service.tokens import TokenService
from scimserver.store.db import Database
from tests.api.observing import value
from tests.live import BareGunicorn

pytestmark = pytest.mark.slow
CONFIG = ("-c", "python:scimserver.api.gunicorn_conf")
BATCH = 40
MAX_REQUESTS = 400


def token_for(url: str) -> str:
    db = Database(url)
    try:
        return TokenService(db).create("metrics", "default", "read")[1]
    finally:
        db.dispose()


def test_the_config_file_sums_every_worker(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    env = {"SCIMSERVER_DATABASE_URL": url, "TMPDIR": str(temp)}
    with BareGunicorn(env, workers=2, cwd=tmp_path, log_dir=tmp_path, extra_args=CONFIG) as server:
        headers = {"Authorization": f"Bearer {token_for(url)}"}

        def get_users(_: int) -> int:
            return httpx.get(f"{server.scim_url}/Users", headers=headers, timeout=10).status_code

        sent = 0
        # Until both workers have answered some (each writes its own samples file; the
        # start-up's /healthz probes may have made both already: one batch at least).
        while sent == 0 or (
            sent < MAX_REQUESTS and len(set(temp.glob("scimserver-metrics-*/counter_*"))) < 2
        ):
            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(get_users, range(BATCH))) == {200}
            sent += BATCH
        assert len(set(temp.glob("scimserver-metrics-*/counter_*"))) == 2, "one worker answered"
        for _ in range(6):  # whichever worker answers the scrape sums both
            text = httpx.get(f"{server.url}/metrics", timeout=10).text
            assert value(text, "scimserver_requests_total", route="/scim/v2/Users") == sent
        stderr = server.stderr()
    assert "counts this worker's requests only" not in stderr
    assert not list(temp.glob("scimserver-metrics-*")), "the master removes it as it exits"


def test_without_it_each_worker_says_it_counts_alone(tmp_path: Path) -> None:
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    with BareGunicorn(env, workers=2, cwd=tmp_path, log_dir=tmp_path) as server:
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 200
    warned = [line for line in server.stderr().splitlines() if "requests only" in line]
    assert len(warned) == 2 and "docs/operations.md" in warned[0]
