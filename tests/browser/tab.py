"""A browser tab that remembers every console error and screenshots each page it lands on.

Tests call ``tab.visit(path, step)`` to navigate, or ``tab.landed(step)`` after a click or
submit that navigated. Each lands in ``<artifacts>/screenshots/<test>-<nn>-<step>.png``
(full page) after the page's basic accessibility is checked: a non-empty ``<title>``,
exactly one ``<h1>``, a label for every visible input and select. The fixture asserts at
the end of the test that no page logged a console error or threw (a CSP violation is one).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Error, Page, Response

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_ENV = "SCIMSERVER_TEST_ARTIFACTS"

UNLABELLED = """() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter((el) => el.type !== "hidden" && el.type !== "submit" && el.type !== "button")
  .filter((el) => el.getClientRects().length > 0)
  .filter((el) => !(el.labels && el.labels.length)
    && !(el.getAttribute("aria-label") || "").trim()
    && !el.getAttribute("aria-labelledby"))
  .map((el) => el.outerHTML)"""


def artifacts_dir() -> Path:
    """``$SCIMSERVER_TEST_ARTIFACTS``, else ``test-artifacts/`` at the repository root."""
    configured = os.environ.get(ARTIFACTS_ENV)
    return Path(configured) if configured else ROOT / "test-artifacts"


def screenshots_dir() -> Path:
    path = artifacts_dir() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_stem(test_name: str) -> str:
    """A test's node name as a file name: ``test_x[sqlite]`` → ``test_x-sqlite``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")


class Tab:
    """One page of a browser context, for one test."""

    def __init__(self, page: Page, test_name: str) -> None:
        self.page = page
        self.stem = file_stem(test_name)
        self.errors: list[str] = []
        self.shots: list[Path] = []
        self.allowed: set[str] = set()
        """Substrings of console errors a test expects (matched on the source URL and text)."""
        for old in screenshots_dir().glob(f"{self.stem}-[0-9][0-9]-*.png"):
            old.unlink()  # a previous run's, which may have had more steps
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        source = message.location.get("url") or "the page"
        if message.type == "error" and not any(
            a in f"{source} {message.text}" for a in self.allowed
        ):
            self.errors.append(f"console error on {self.page.url} ({source}): {message.text}")

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught exception on {self.page.url}: {error}")

    def visit(self, path: str, step: str) -> Response:
        """Open ``path`` (relative to the context's base URL) and land there."""
        response = self.page.goto(path)
        assert response is not None, path
        self.landed(step)
        return response

    def landed(self, step: str) -> None:
        """Check the page that is now shown and screenshot it."""
        self.page.wait_for_load_state()
        self.check_page()
        self.shot(step)

    def shot(self, step: str) -> Path:
        path = screenshots_dir() / f"{self.stem}-{len(self.shots) + 1:02d}-{file_stem(step)}.png"
        self.page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        return path

    def check_page(self) -> None:
        """A title, one h1, and a label for every visible input and select."""
        url = self.page.url
        assert self.page.title().strip(), f"{url} has no <title>"
        headings = self.page.locator("h1").count()
        assert headings == 1, f"{url} has {headings} <h1> elements"
        unlabelled = self.page.evaluate(UNLABELLED)
        assert unlabelled == [], f"{url} has inputs without a label: {unlabelled}"

    def h1(self) -> str:
        return self.page.locator("h1").inner_text().strip()
