"""The browser harness itself: a machine without Chromium says so loudly (or fails, under
CI) instead of passing quietly. Each case runs a real browser test in an inner pytest
session (in this process: a child process would spend seconds importing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import EXECUTABLE_ENV
from tests.browser.tab import ARTIFACTS_ENV, ROOT

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

TEST = "tests/browser/test_console.py::test_keyboard_only_sign_in"
"""A browser test; without Chromium it stops at the session's first fixture, before any
server starts."""


def run_without_chromium(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, ci: bool
) -> pytest.RunResult:
    monkeypatch.setenv(EXECUTABLE_ENV, str(tmp_path / "no-chromium"))
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "artifacts"))
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    monkeypatch.chdir(ROOT)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", TEST)


def test_without_chromium_the_tests_are_skipped_with_a_banner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = run_without_chromium(pytester, monkeypatch, tmp_path, ci=False)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(skipped=1)
    output = result.stdout.str()
    reason = f"{EXECUTABLE_ENV}={tmp_path / 'no-chromium'} is not an executable file"
    assert f"BROWSER TESTS SKIPPED: {reason}" in output
    assert "!! BROWSER TESTS SKIPPED !!" in output  # the banner, not only the skip line


def test_without_chromium_ci_fails_the_browser_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = run_without_chromium(pytester, monkeypatch, tmp_path, ci=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "CI must run the browser tests" in output
    assert "BROWSER TESTS SKIPPED" not in output
