"""Headless Chromium against a real ``scimserver serve``: one browser per session, one
server per module, one fresh browser context and tab per test.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``chromium.find()`` where missing).
If it cannot be had, the browser tests fail when ``CI`` is set (CI must run them) and are
otherwise skipped with a banner in the terminal summary, not just an ``s``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from tests.browser import chromium
from tests.browser.console import ADMIN, PASSWORD, Console
from tests.browser.scim import Idp
from tests.browser.tab import Tab, artifacts_dir, file_stem
from tests.live import LiveServer, fresh_database

SKIPPED = pytest.StashKey[str]()
FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def chromium_executable(pytestconfig: pytest.Config) -> Path:
    """Debian's Chromium; fails under CI and skips (loudly) elsewhere when it cannot be had."""
    found = chromium.find()
    if found.executable is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {found.reason}", pytrace=False)
        pytestconfig.stash[SKIPPED] = found.reason
        pytest.skip(f"BROWSER TESTS SKIPPED: {found.reason}")
    return found.executable


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    reason = config.stash.get(SKIPPED, None)
    if reason is not None:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"BROWSER TESTS SKIPPED: {reason}", red=True, bold=True)
        terminalreporter.write_line(
            "The admin console was not tested in a browser; CI (CI=true) fails instead.",
            red=True,
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed test body, so its tab can screenshot where it stopped."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="session")
def playwright_driver(chromium_executable: Path) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, chromium_executable: Path) -> Iterator[Browser]:
    """One headless Chromium for the session; Playwright gives it a fresh temporary profile."""
    launched = playwright_driver.chromium.launch(
        executable_path=str(chromium_executable), headless=True, args=list(chromium.ARGS)
    )
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def live_server(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """``scimserver serve`` on a fresh database for one test module: SQLite and 2 workers
    (so sessions and CSRF tokens must hold across workers), or what the module's
    ``BACKEND`` and ``WORKERS`` say."""
    directory = tmp_path_factory.mktemp("console")
    backend = getattr(request.module, "BACKEND", "sqlite")
    workers = getattr(request.module, "WORKERS", 2)
    with fresh_database(backend, directory) as url:
        env = {"SCIMSERVER_DATABASE_URL": url}
        with LiveServer(env, workers=workers, cwd=directory, log_dir=directory) as server:
            yield server
    keep_logs(directory, file_stem(request.module.__name__))


def keep_logs(directory: Path, prefix: str) -> None:
    """Copy the server's stderr and any worker's log into the artifacts (not its stdout,
    which shows the bootstrap token)."""
    logs = artifacts_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob(f"{prefix}-*.log"):
        old.unlink()
    for log in [*directory.glob("server-*.stderr.log"), *directory.glob("worker.log")]:
        shutil.copy(log, logs / f"{prefix}-{log.name}")


@pytest.fixture(scope="module")
def console(live_server: LiveServer) -> Console:
    """The module's server with admin alice, created by ``scimserver admin create``."""
    made = Console(live_server)
    made.cli("admin", "create", ADMIN, "--password-stdin", stdin=PASSWORD + "\n")
    return made


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    yield opened
    opened.close()


@pytest.fixture
def tab(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Tab]:
    """A tab whose pages must log no console error and throw nothing, checked at teardown."""
    opened = Tab(context.new_page(), request.node.name)
    yield opened
    if request.node.stash.get(FAILED, False):
        opened.shot("failed")
    assert opened.errors == [], "\n".join(opened.errors)


@pytest.fixture
def idp_clients(console: Console) -> Iterator[Callable[[str], Idp]]:
    """Makes SCIM clients of the module's server (one per token); closed after the test."""
    made: list[Idp] = []

    def make(token: str) -> Idp:
        made.append(Idp(console.server.scim_url, token))
        return made[-1]

    yield make
    for idp in made:
        idp.close()
