"""A live console server as the tests use it: its admin, and the CLI on its database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tests.live import LiveServer, default_executable

ADMIN = "alice"
PASSWORD = "correct horse battery staple"


@dataclass
class Console:
    """A live server with an admin account, and the CLI pointed at its database."""

    server: LiveServer
    admin: str = ADMIN
    password: str = PASSWORD

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def log_dir(self) -> Path:
        return self.server.log_dir

    @property
    def sqlite_path(self) -> Path:
        """The server's SQLite file (for tests that read stored state directly)."""
        url = self.server.env["SCIMSERVER_DATABASE_URL"]
        assert url.startswith("sqlite:///"), url
        return Path(url.removeprefix("sqlite:///"))

    def environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        """This environment without ``SCIMSERVER_*``, then the server's settings and ``extra``."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")}
        return {**inherited, **self.server.env, **extra}

    def cli(
        self, *args: str, stdin: str = "", env: Mapping[str, str] = MappingProxyType({})
    ) -> subprocess.CompletedProcess[str]:
        """Run ``scimserver ARGS`` against the server's database; fail with its output."""
        result = subprocess.run(
            [str(default_executable()), *args],
            input=stdin,
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"scimserver {' '.join(args)}: {result.stderr}"
        return result

    @contextmanager
    def worker(self, env: Mapping[str, str]) -> Iterator[None]:
        """``scimserver worker`` running for the ``with`` block, then stopped with SIGTERM."""
        log = self.log_dir / "worker.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(default_executable()), "worker"],
                env=self.environment(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
