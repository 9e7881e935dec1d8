"""The browser harness itself: a machine without Chromium says so loudly (or fails, under
CI) instead of passing quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.chromium import EXECUTABLE_ENV
from tests.browser.tab import ARTIFACTS_ENV, ROOT

pytestmark = pytest.mark.slow


MODES = ("local", "ci")
TEST = "tests/browser/test_console.py::test_keyboard_only_sign_in"
"""A browser test; without Chromium it stops at the session's first fixture, before any
server starts."""


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str
    missing: Path


@pytest.fixture(scope="module")
def without_chromium(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """One browser test in two child pytests whose Chromium is a missing file, with and
    without ``CI`` set, run side by side (each spends seconds importing)."""
    runs = {mode: _start_child(tmp_path_factory.mktemp(mode), mode == "ci") for mode in MODES}
    results = {}
    for mode, (child, missing) in runs.items():
        output, _ = child.communicate(timeout=120)
        results[mode] = Result(child.returncode, output, missing)
    return results


def _start_child(directory: Path, ci: bool) -> tuple[subprocess.Popen[str], Path]:
    missing = directory / "no-chromium"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update({EXECUTABLE_ENV: str(missing), ARTIFACTS_ENV: str(directory / "artifacts")})
    if ci:
        env["CI"] = "true"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            TEST,
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return child, missing


def test_without_chromium_the_tests_are_skipped_with_a_banner(
    without_chromium: dict[str, Result],
) -> None:
    result = without_chromium["local"]
    assert result.returncode == 0, result.output
    assert "1 skipped" in result.output
    reason = f"{EXECUTABLE_ENV}={result.missing} is not an executable file"
    assert f"BROWSER TESTS SKIPPED: {reason}" in result.output
    assert "!! BROWSER TESTS SKIPPED !!" in result.output  # the banner, not only the skip line


def test_without_chromium_ci_fails_the_browser_tests(without_chromium: dict[str, Result]) -> None:
    result = without_chromium["ci"]
    assert result.returncode == 1, result.output
    assert "CI must run the browser tests" in result.output
    assert "1 error" in result.output
    assert "BROWSER TESTS SKIPPED" not in result.output
