"""Find Debian's Chromium, installing it with apt-get where it is missing and we may.

CI runs the README's test command on a fresh machine, so nothing installed by hand
survives: the tests install ``chromium`` and ``chromium-driver`` themselves (as root,
where apt-get exists), once, under a file lock so parallel sessions do not race.
Playwright drives that binary; its own browser download is never used.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_EXECUTABLE = Path("/usr/bin/chromium")
EXECUTABLE_ENV = "SCIMSERVER_TEST_CHROMIUM"
"""Points the tests at another Chromium binary (and then nothing is installed)."""
PACKAGES = ("chromium", "chromium-driver")
UPDATE_TIMEOUT = 300.0
INSTALL_TIMEOUT = 900.0
LOCK_PATH = Path(tempfile.gettempdir()) / "scimserver-chromium-install.lock"
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class Found:
    """The Chromium to drive, or why there is none (``executable`` is then None)."""

    executable: Path | None
    reason: str = ""


def find() -> Found:
    """The configured or default Chromium, installed with apt-get if missing and possible."""
    override = os.environ.get(EXECUTABLE_ENV)
    if override:
        path = Path(override)
        if _runnable(path):
            return Found(path)
        return Found(None, f"{EXECUTABLE_ENV}={override} is not an executable file")
    if _runnable(DEFAULT_EXECUTABLE):
        return Found(DEFAULT_EXECUTABLE)
    refusal = cannot_install()
    if refusal:
        return Found(None, f"{DEFAULT_EXECUTABLE} is missing and {refusal}")
    LOCK_PATH.touch(exist_ok=True)
    with LOCK_PATH.open("r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel session may be installing it right now
        try:
            if not _runnable(DEFAULT_EXECUTABLE):
                failure = apt_install(PACKAGES)
                if failure:
                    return Found(None, f"{DEFAULT_EXECUTABLE} is missing: {failure}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if _runnable(DEFAULT_EXECUTABLE):
        return Found(DEFAULT_EXECUTABLE)
    return Found(None, f"apt-get installed {' '.join(PACKAGES)} but {DEFAULT_EXECUTABLE} is absent")


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def cannot_install() -> str:
    """Why apt-get cannot install it here, or "" if it can."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install it"
    if os.geteuid() != 0:
        return "installing it with apt-get needs root"
    return ""


def apt_install(packages: Sequence[str]) -> str:
    """Run apt-get update, then install ``packages``; "" on success, else what went wrong.

    A failed update (one unreachable list) need not doom the install, so it is only
    reported when the install fails too.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = _run(["apt-get", "update"], UPDATE_TIMEOUT, env)
    install = _run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages], INSTALL_TIMEOUT, env
    )
    if not install:
        return ""
    return f"{update}; {install}" if update else install


def _run(command: list[str], timeout: float, env: dict[str, str]) -> str:
    """Run ``command`` with its output captured; "" if it succeeded, else why not."""
    try:
        result = subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`{' '.join(command)}` did not finish within {timeout:g} s"
    if result.returncode == 0:
        return ""
    tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
    return f"`{' '.join(command)}` exited {result.returncode}: {' / '.join(tail)}"
