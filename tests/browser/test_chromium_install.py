"""Where Chromium is missing, the tests install it with apt-get (here a stand-in script
on PATH that records its calls), and say why when they cannot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import chromium

FAKE_APT = """#!/bin/sh
echo "$DEBIAN_FRONTEND $*" >> "{log}"
if [ "$1" = install ]; then
  [ -n "{fail}" ] && {{ echo "E: Unable to locate package chromium" >&2; exit 100; }}
  printf '#!/bin/sh\\n' > "{target}" && /bin/chmod +x "{target}"
fi
"""


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Chromium at the default path, root, and a bin directory first on PATH."""
    monkeypatch.delenv(chromium.EXECUTABLE_ENV, raising=False)
    monkeypatch.setattr(chromium, "DEFAULT_EXECUTABLE", tmp_path / "chromium")
    monkeypatch.setattr(chromium, "LOCK_PATH", tmp_path / "install.lock")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path


def fake_apt(machine: Path, *, fail: bool) -> Path:
    log = machine / "apt.log"
    script = machine / "bin" / "apt-get"
    target = machine / "chromium"
    script.write_text(FAKE_APT.format(log=log, target=target, fail="yes" if fail else ""))
    script.chmod(0o755)
    return log


def test_a_missing_chromium_is_installed_with_apt_get(machine: Path) -> None:
    log = fake_apt(machine, fail=False)
    found = chromium.find()
    assert found.executable == machine / "chromium"
    assert log.read_text().splitlines() == [
        "noninteractive update",
        "noninteractive install -y --no-install-recommends chromium chromium-driver",
    ]


def test_a_failed_install_is_the_reason_given(machine: Path) -> None:
    fake_apt(machine, fail=True)
    found = chromium.find()
    assert found.executable is None
    assert "exited 100: E: Unable to locate package chromium" in found.reason


def test_without_apt_get_nothing_is_tried(machine: Path) -> None:
    found = chromium.find()
    assert found.executable is None
    assert found.reason.endswith("is missing and apt-get is not available to install it")
