"""Run the real ``scimserver serve`` (gunicorn) as a subprocess for end-to-end tests.

This module holds helpers only, no tests::

    with LiveServer({"SCIMSERVER_DATABASE_URL": url}, workers=2) as server:
        httpx.get(f"{server.scim_url}/Users", headers={"Authorization": f"Bearer {server.token}"})

Every server binds to 127.0.0.1 on a free port, writes its stdout and stderr to files
(``.logs()`` reads them back), and is stopped on exit: SIGTERM to its process group,
then SIGKILL after 10 s. Startup is bounded (30 s) and fails with the captured logs.
Crash tests find the gunicorn master (``.pid``) and workers (``.worker_pids()``) and
``.kill()`` the lot at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

import httpx

from tests.conftest import PostgresDatabases

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_GRACE = 10.0
# Inherited variables that would make a subprocess test something other than what it says:
# a stray SCIMSERVER_* setting, or a PYTHONPATH that lets an installed copy import the repo.
_SCRUBBED_PREFIXES = ("SCIMSERVER_",)
_SCRUBBED_NAMES = frozenset({"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"})


class LiveServerError(RuntimeError):
    """The server did not come up (or misbehaved); the message carries its logs."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def default_executable() -> Path:
    """The ``scimserver`` console script of the virtualenv running the tests."""
    return Path(sys.executable).parent / "scimserver"


def secrets_in(output: str) -> list[str]:
    """Every bearer-token secret (a line starting with ``scim_``) printed in ``output``."""
    return [line.strip() for line in output.splitlines() if line.strip().startswith("scim_")]


class LiveServer:
    """``scimserver serve --bind 127.0.0.1:<port> --workers N`` as a context manager.

    ``env`` is laid over the current environment (minus any inherited ``SCIMSERVER_*``,
    ``PYTHONPATH``, ``PYTHONHOME`` and ``VIRTUAL_ENV``); set at least
    ``SCIMSERVER_DATABASE_URL``. ``executable`` defaults to this venv's ``scimserver``.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 2,
        executable: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.env = dict(env)
        self.workers = workers
        self.executable = Path(executable) if executable is not None else default_executable()
        self.cwd = Path(cwd) if cwd is not None else None
        self.log_dir = (
            Path(log_dir)
            if log_dir is not None
            else Path(tempfile.mkdtemp(prefix="scimserver-live-"))
        )
        self.port = port if port is not None else free_port()
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.stdout_path = self.log_dir / f"server-{self.port}.stdout.log"
        self.stderr_path = self.log_dir / f"server-{self.port}.stderr.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # -- addresses and output ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def scim_url(self) -> str:
        """The SCIM base URL, ``http://127.0.0.1:<port>/scim/v2``."""
        return f"{self.url}/scim/v2"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def logs(self) -> str:
        """Both captured streams, labelled, for assertion messages."""
        return (
            f"--- {self.executable} serve on {self.url}: stdout ---\n{self.stdout()}"
            f"--- stderr ---\n{self.stderr()}"
        )

    @property
    def printed_tokens(self) -> list[str]:
        """Every token secret the server printed at startup (one, or none if it had tokens)."""
        return secrets_in(self.stdout())

    @property
    def token(self) -> str | None:
        """The first write token printed at startup, or None if the database already had one."""
        tokens = self.printed_tokens
        return tokens[0] if tokens else None

    # -- lifecycle -----------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            str(self.executable),
            "serve",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]

    def _environment(self) -> dict[str, str]:
        inherited = {
            key: value
            for key, value in os.environ.items()
            if key not in _SCRUBBED_NAMES and not key.startswith(_SCRUBBED_PREFIXES)
        }
        return {**inherited, **self.env}

    def start(self) -> LiveServer:
        """Start the server and wait until ``/healthz`` answers 200 (bounded)."""
        if self.process is not None:
            raise LiveServerError("server already started")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self._environment(),
                cwd=self.cwd,
                start_new_session=True,  # its own process group, so gunicorn's workers stop too
            )
        try:
            self._wait_healthy(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_healthy(self, started: float) -> None:
        assert self.process is not None
        deadline = started + self.startup_timeout
        last_error = "no attempt"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    raise LiveServerError(
                        f"server exited with {code} before answering /healthz\n{self.logs()}"
                    )
                try:
                    response = client.get(f"{self.url}/healthz")
                except httpx.TransportError as exc:
                    last_error = repr(exc)
                else:
                    if response.status_code == 200:
                        return
                    last_error = f"/healthz answered {response.status_code}: {response.text[:200]}"
                time.sleep(0.1)
        raise LiveServerError(
            f"/healthz did not answer 200 within {self.startup_timeout:.0f} s "
            f"({last_error})\n{self.logs()}"
        )

    def stop(self) -> int | None:
        """SIGTERM the process group, SIGKILL it after 10 s; return the exit code."""
        process = self.process
        if process is None:
            return None
        pgid = process.pid  # start_new_session: the leader's pid is the group id
        if process.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                process.wait(timeout=STOP_GRACE)
        # gunicorn reaps its workers before it exits; this only catches stragglers.
        _signal_group(pgid, signal.SIGKILL)
        return process.returncode

    # -- processes, for crash tests ------------------------------------------------------

    @property
    def pid(self) -> int:
        """The gunicorn master's pid (``scimserver serve`` execs gunicorn in place)."""
        if self.process is None:
            raise LiveServerError("server not started")
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The pids of the master's live children: its gunicorn workers (Linux ``/proc``)."""
        return sorted(pid for pid, parent in _parents().items() if parent == self.pid)

    def kill(self) -> int | None:
        """SIGKILL the master and every worker at once, as a crash would; return the exit code."""
        process = self.process
        if process is None:
            return None
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE)
        return process.returncode

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BareGunicorn(LiveServer):
    """``gunicorn -w N scimserver.wsgi:app``, as the README runs it (no ``serve``)."""

    def command(self) -> list[str]:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        bind = f"{HOST}:{self.port}"
        options = ["-w", str(self.workers), "-b", bind, "--no-control-socket", *self.extra_args]
        return [str(gunicorn), *options, "scimserver.wsgi:app"]


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _parents() -> dict[int, int]:
    """Every live, non-zombie process's parent pid, read from ``/proc/<pid>/stat``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process exited while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            parents[int(entry.name)] = int(ppid)
    return parents


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A freshly created PostgreSQL database URL, dropped ``WITH (FORCE)`` afterwards.

    Uses the test suite's local server (``SCIMSERVER_TEST_POSTGRES_URL``, default
    ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth).
    """
    databases = PostgresDatabases()
    try:
        yield databases.create()
    finally:
        databases.drop_all()


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database for a server in another process: a SQLite file in ``directory``,
    or a throwaway PostgreSQL database (see ``throwaway_postgres``)."""
    if backend == "postgresql":
        with throwaway_postgres() as url:
            yield url
    else:
        yield f"sqlite:///{directory / 'scim.db'}"
