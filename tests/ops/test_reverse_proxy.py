"""The nginx configuration in docs/operations.md, run unprivileged in front of a real
``scimserver serve``: trickling clients never reach gunicorn, long polls pass through,
and the forwarded headers give the public ``https`` origin.

nginx is Debian's (``nginx-light``), installed with apt-get where it is missing and the
tests run as root (as the browser tests install Chromium); without it the test fails
under CI and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scimserver.service.tokens import TokenService
from scimserver.store.db import Database
from tests.browser import chromium
from tests.live import HOST, LiveServer, free_port

pytestmark = pytest.mark.slow
DOC = Path(__file__).parents[2] / "docs" / "operations.md"
TRICKLERS = 70
LOOKUPS = 100
NOBODY = 65534

MAIN = """daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/scimserver.conf;
}}
"""


def nginx_executable() -> Path:
    path = f"{os.environ.get('PATH', '')}:/usr/sbin"
    found = shutil.which("nginx", path=path)
    if found is None:
        reason = chromium.cannot_install() or chromium.apt_install(["nginx-light"])
        found = shutil.which("nginx", path=path)
        if found is None:
            if os.environ.get("CI"):
                pytest.fail(f"CI must run the proxy test: nginx is missing; {reason}")
            pytest.skip(f"nginx is missing: {reason}")
    return Path(found)


def documented_config() -> str:
    (block,) = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    return block


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/operations.md's nginx block lost {old!r}"
    return text.replace(old, new)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory nginx's workers can use when the tests run as root (they drop to
    nobody): pytest's own temporary directories are private to the user."""
    directory = Path(tempfile.mkdtemp(prefix="scimserver-nginx-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def start_nginx(
    executable: Path, directory: Path, upstream: int, port: int
) -> subprocess.Popen[bytes]:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    config = documented_config()
    config = replace_once(config, "server 127.0.0.1:8000;", f"server {HOST}:{upstream};")
    config = replace_once(config, "listen 443 ssl;", f"listen {HOST}:{port} ssl;")
    config = replace_once(config, "/etc/ssl/scim.example.com.crt", str(directory / "cert.pem"))
    config = replace_once(config, "/etc/ssl/scim.example.com.key", str(directory / "key.pem"))
    (directory / "scimserver.conf").write_text(config)
    (directory / "nginx.conf").write_text(MAIN.format(d=directory))
    command = [str(executable), "-p", str(directory), "-c", str(directory / "nginx.conf")]
    if os.geteuid() == 0:  # run it as an unprivileged user would
        for path in [directory, *directory.iterdir()]:
            os.chown(path, NOBODY, NOBODY)
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return process
    process.kill()
    _, err = process.communicate(timeout=5)
    log = directory / "error.log"
    raise AssertionError(f"nginx did not start: {err!r} {log.read_text() if log.exists() else ''}")


def trickle(port: int, stop: threading.Event, opened: threading.Semaphore) -> None:
    """A slowloris client: after the TLS handshake, its headers one byte every half
    second, never finished."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((HOST, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(b"GET /scim/v2/Users HTTP/1.1\r\nHost: localhost\r\n")
        opened.release()
        while not stop.wait(0.5):
            try:
                sock.sendall(b"X")
            except OSError:
                return


def test_the_documented_nginx_config_buffers_clients_and_forwards_the_origin(
    tmp_path: Path, workdir: Path
) -> None:
    executable = nginx_executable()
    url = f"sqlite:///{tmp_path / 'scim.db'}"
    env = {"SCIMSERVER_DATABASE_URL": url, "SCIMSERVER_TRUSTED_PROXIES": HOST}
    with LiveServer(env, workers=2, cwd=tmp_path, log_dir=tmp_path) as server:
        db = Database(url)
        try:
            _, reader = TokenService(db).create("app", "default", "read")
        finally:
            db.dispose()
        port = free_port()
        nginx = start_nginx(executable, workdir, server.port, port)
        stop = threading.Event()
        opened = threading.Semaphore(0)
        tricklers = [
            threading.Thread(target=trickle, args=(port, stop, opened), daemon=True)
            for _ in range(TRICKLERS)
        ]
        try:
            for thread in tricklers:
                thread.start()
            for _ in tricklers:
                assert opened.acquire(timeout=10)
            public = f"https://localhost:{port}"
            idp = {"Authorization": f"Bearer {server.token}"}
            with httpx.Client(base_url=public, headers=idp, verify=False, timeout=10) as http:
                user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}
                created = http.post("/scim/v2/Users", json=user)
                assert created.status_code == 201, created.text
                assert created.json()["meta"]["location"].startswith(f"{public}/scim/v2/Users/")
                times = []
                for _ in range(LOOKUPS):
                    began = time.monotonic()
                    found = http.get("/scim/v2/Users", params={"filter": 'userName eq "x"'})
                    times.append((time.monotonic() - began) * 1000)
                    assert found.json()["totalResults"] == 1
                head = http.get(
                    "/api/v1/changes/head", headers={"Authorization": f"Bearer {reader}"}
                ).json()["next"]
                began = time.monotonic()
                waited = http.get(
                    "/api/v1/changes",
                    params={"after": head, "wait": 2},
                    headers={"Authorization": f"Bearer {reader}"},
                )
                assert waited.json() == {"changes": [], "next": head}
                assert 1.9 < time.monotonic() - began < 5
        finally:
            stop.set()
            nginx.terminate()
            nginx.wait(timeout=10)
            for thread in tricklers:
                thread.join(timeout=5)
    p99 = statistics.quantiles(times, n=100)[98]
    print(
        f"through nginx beside {TRICKLERS} trickling clients: lookups p50 "
        f"{statistics.median(times):.1f} ms, p99 {p99:.1f} ms"
    )
    assert p99 < 100
