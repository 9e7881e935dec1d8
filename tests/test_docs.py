"""docs/ and the README stay true: the settings and commands they name exist, every
command the CLI has is in the reference, their links resolve, and the app developer's
feed loop and curl session run as written (tests/test_readme.py runs the README's)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from scimserver.cli import main as cli
from scimserver.config import Settings
from tests.live import LiveServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATIONS = ROOT / "docs" / "operations.md"
APPS = ROOT / "docs" / "apps.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL = {"sh", "bash", "console", ""}


def text(path: Path) -> str:
    return path.read_text()


def prose(markdown: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", markdown)


def section(markdown: str, heading: str) -> str:
    """From ``heading`` to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = markdown.index(f"\n{heading}\n")
    rest = markdown[start + len(heading) + 2 :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


# --- settings -------------------------------------------------------------------------

SETTING = re.compile(r"\b(SCIMSERVER_[A-Z0-9_]*[A-Z0-9])\b(?:`?\s*/\s*`(_[A-Z0-9_]+)`)?")


def named_settings(markdown: str) -> set[str]:
    """Every SCIMSERVER_* name, with shorthands expanded: `SCIMSERVER_A_B_C` / `_D_E` also
    names SCIMSERVER_A_D_E (the shorthand replaces as many trailing words as it has)."""
    names = set()
    for full, short in SETTING.findall(markdown):
        names.add(full)
        if short:
            words = full.split("_")
            names.add("_".join(words[: len(words) - short.count("_")]) + short)
    return names


def settings() -> set[str]:
    return {f"SCIMSERVER_{f.name.upper()}" for f in fields(Settings)}


def test_every_setting_named_in_the_docs_exists() -> None:
    """A SCIMSERVER_* name is a field of scimserver.config.Settings, or a SCIMSERVER_TEST_*
    variable the tests read."""
    tests_source = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    known = settings()
    for path in [*DOCS, ROOT / "Dockerfile"]:
        for name in sorted(named_settings(text(path))):
            if name.startswith("SCIMSERVER_TEST_"):
                assert f'"{name}"' in tests_source, f"{path.name}: no test reads {name}"
            else:
                assert name in known, f"{path.name} names {name}, which Settings does not have"


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section(text(OPERATIONS), "## Configuration")
    rows = [line for line in table.splitlines() if line.startswith("| `SCIMSERVER_")]
    documented = set().union(*(named_settings(row.split(" | ")[0]) for row in rows))
    missing = settings() - documented
    assert not missing, f"docs/operations.md's Configuration table lacks {sorted(missing)}"


# --- commands -------------------------------------------------------------------------


def options_of(command: click.Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def resolve(words: list[str]) -> tuple[list[tuple[str, ...]], set[str], list[str]]:
    """Walk ``scimserver`` ``words`` through the click CLI: the command paths reached, the
    options given, and what does not exist. In the command reference ``A | B`` is an
    alternative: a word after ``|`` is a sibling command, an option one of the same."""
    path: tuple[str, ...] = ()
    command: click.Command = cli
    paths: list[tuple[str, ...]] = []
    given: set[str] = set()
    problems: list[str] = []
    sibling = False
    for raw in words:
        word = raw.strip("[]()")
        if not word or word == "...":
            continue
        if word == "|":
            sibling = True
            continue
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            given.add(option)
            if option not in options_of(command):
                problems.append(f"scimserver {' '.join(path)} has no option {option}")
            sibling = False
            continue
        if sibling and path:
            parent = cli
            for name in path[:-1]:
                parent = parent.commands[name]  # type: ignore[attr-defined]
            path, command = path[:-1], parent
        sibling = False
        if isinstance(command, click.Group) and not word.isupper():
            sub = command.commands.get(word)
            if sub is None:
                problems.append(f"scimserver {' '.join(path)} has no command {word!r}")
                break
            path, command = (*path, word), sub
            if not isinstance(sub, click.Group):
                paths.append(path)
    return paths, given, problems


def invocations(line: str, reference: bool) -> Iterator[list[str]]:
    """The words after each ``scimserver`` in a shell line (up to a pipe, ``&&``, ``;``
    or a comment); in the command reference ``|`` separates alternatives instead."""
    line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
    separators = r"&&|;" if reference else r"&&|;|\$\(|\)|\s\|\s"
    for segment in re.split(separators, line):
        words = segment.split()
        for i, word in enumerate(words):
            if word == "scimserver" or word.endswith("/scimserver"):
                yield words[i + 1 :]
                break


def shown_commands() -> Iterator[tuple[str, list[str], bool]]:
    """(file, words) for every scimserver command in a shell block or an inline code span."""
    for path in DOCS:
        markdown = text(path)
        for language, block in FENCE.findall(markdown):
            if language not in SHELL:
                continue
            reference = language == ""
            for line in block.replace("\n ", " ").splitlines():
                for words in invocations(line, reference):
                    yield path.name, words, reference
        for span in re.findall(r"`([^`]+)`", prose(markdown)):
            for words in invocations(" ".join(span.split()), False):
                yield path.name, words, False


def test_every_scimserver_command_shown_exists() -> None:
    shown = list(shown_commands())
    assert len(shown) > 40, "the docs show fewer scimserver commands than expected"
    problems = [f"{name}: {p}" for name, words, _ in shown for p in resolve(words)[2]]
    assert not problems, "\n".join(problems)


def cli_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> dict[Any, Any]:
    """Every runnable command's path, and the command."""
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= cli_commands(command, (*path, name))
        else:
            found[(*path, name)] = command
    return found


def test_the_command_reference_has_every_command_and_option() -> None:
    """Each option counts as documented under either of its spellings (--x / --no-x)."""
    block = section(text(OPERATIONS), "## Command reference")
    listed: dict[tuple[str, ...], set[str]] = {}
    for language, code in FENCE.findall(block):
        assert language == ""
        for line in re.sub(r"\n\s+", " ", code).splitlines():
            for words in invocations(line, True):
                paths, given, problems = resolve(words)
                assert not problems, problems
                for path in paths:
                    listed.setdefault(path, set()).update(given)
    for path, command in cli_commands().items():
        assert path in listed, f"the command reference lacks scimserver {' '.join(path)}"
        for param in command.params:
            spellings = {*param.opts, *param.secondary_opts}
            if any(o.startswith("-") for o in spellings):
                assert spellings & listed[path], (
                    f"the command reference lacks {param.opts[0]} of scimserver {' '.join(path)}"
                )


def test_the_lock_command_shown_is_the_lock_header_command() -> None:
    header = re.search(r"^#\s+(uv pip compile .*)$", text(ROOT / "requirements.lock"), re.M)
    assert header is not None
    assert f".venv/bin/{header.group(1)}" in text(OPERATIONS)


# --- links ----------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.*)$", prose(text(path)), re.MULTILINE)}


def test_every_relative_link_resolves() -> None:
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", prose(text(path))):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            assert linked.exists(), f"{path.name} links to {target}, which does not exist"
            if anchor:
                assert anchor in anchors(linked), f"{path.name}: no heading for {target}"


def test_the_readme_links_every_guide() -> None:
    readme = text(ROOT / "README.md")
    for name in ("operations", "performance", "apps", "architecture"):
        assert f"](docs/{name}.md)" in readme, f"the README does not link docs/{name}.md"


# --- the app developer's feed loop and curl session -------------------------------------


class Followed(Exception):
    """Raised by the test's handle(): the loop delivered a change."""


class GaveUp(Exception):
    """Raised by the test's time.sleep(): enough retries seen."""


def feed_loop() -> str:
    after = text(APPS).split("A follower's loop, in Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match is not None
    return match.group(1)


def run_feed_loop(
    monkeypatch: pytest.MonkeyPatch,
    base: str,
    token: str,
    on_sleep: Callable[[int], None] = lambda n: None,
    max_sleeps: int = 3,
) -> tuple[list[dict[str, Any]], list[float]]:
    """Run docs/apps.md's loop as written, against ``base``: its ``time.sleep`` returns at
    once (after ``on_sleep``) and ends the loop at the ``max_sleeps``-th call; ``handle``
    ends it at the first change."""
    code = feed_loop()
    placeholder = 'BASE = "http://127.0.0.1:8000/api/v1"'
    assert placeholder in code
    code = code.replace(placeholder, f"BASE = {base!r}", 1)
    handled: list[dict[str, Any]] = []
    sleeps: list[float] = []

    def handle(change: dict[str, Any]) -> None:
        handled.append(change)
        raise Followed

    real_sleep, loop_thread = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() != loop_thread:  # the server's own threads sleep as ever
            real_sleep(seconds)
            return
        sleeps.append(seconds)
        on_sleep(len(sleeps))
        if len(sleeps) >= max_sleeps:
            raise GaveUp

    monkeypatch.setattr(time, "sleep", sleep)
    with pytest.raises((Followed, GaveUp)):
        exec(compile(code, str(APPS), "exec"), {"token": token, "handle": handle})
    return handled, sleeps


@pytest.fixture(scope="module")
def feed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One worker, one wait per token: a second concurrent wait from a token gets 429."""
    tmp = tmp_path_factory.mktemp("feed")
    env = {
        "SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp / 'f.db'}",
        "SCIMSERVER_WAITS_PER_TOKEN": "1",
    }
    with LiveServer(env, workers=1, cwd=tmp, log_dir=tmp) as server:
        yield server


def create_user(server: LiveServer, user_name: str) -> None:
    created = httpx.post(
        f"{server.scim_url}/Users",
        headers={"Authorization": f"Bearer {server.token}"},
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name},
        timeout=10,
    )
    assert created.status_code == 201, created.text


@pytest.mark.slow
def test_the_feed_loop_waits_out_a_wrong_token(
    feed_server: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 is logged and retried with a growing pause, never a KeyError."""
    caplog.set_level(logging.WARNING)
    handled, sleeps = run_feed_loop(monkeypatch, f"{feed_server.url}/api/v1", "scim_wrong")
    assert handled == []
    assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4, sleeps
    assert all("change feed: 401" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.slow
def test_the_feed_loop_honours_retry_after_and_delivers(
    feed_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another wait of the same token holds the one slot: the loop's long poll gets 429 with
    Retry-After, sleeps that long, and after a write gets the change."""
    server, token = feed_server, feed_server.token
    assert token is not None
    headers = {"Authorization": f"Bearer {token}"}
    changes = f"{server.url}/api/v1/changes"
    head = httpx.get(f"{changes}/head", headers=headers, timeout=10).json()["next"]
    wait = {"after": head, "wait": 30}

    def blocking() -> threading.Thread:
        kwargs = {"params": wait, "headers": headers, "timeout": 40}
        thread = threading.Thread(target=httpx.get, args=(changes,), kwargs=kwargs, daemon=True)
        thread.start()
        return thread

    blocker = blocking()
    for _ in range(20):  # until the blocker holds the slot: a second wait is refused
        time.sleep(0.2)
        if not blocker.is_alive():  # the probe had the slot when it came: again
            blocker = blocking()
            continue
        probe = httpx.get(changes, params={**wait, "wait": 1}, headers=headers, timeout=10)
        if probe.status_code == 429:
            break
    else:
        pytest.fail("the blocking wait never held the token's slot")

    def write_once(n: int) -> None:
        if n == 1:
            create_user(server, "followed@example.com")  # ends the blocker's wait too

    handled, sleeps = run_feed_loop(
        monkeypatch, f"{server.url}/api/v1", token, on_sleep=write_once, max_sleeps=10
    )
    assert sleeps[0] == 30, sleeps  # Retry-After: the wait asked for
    assert [c["type"] for c in handled] == ["user.created"]
    assert handled[0]["resource"]["userName"] == "followed@example.com"
    blocker.join(timeout=40)


class Stub(BaseHTTPRequestHandler):
    """Answers each path from a script of (status, headers, body), recording queries."""

    script: dict[str, list[tuple[int, dict[str, str], Any]]] = {}
    seen: list[str] = []

    def do_GET(self) -> None:
        path, _, _ = self.path.partition("?")
        Stub.seen.append(self.path)
        status, headers, body = Stub.script[path].pop(0)
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_feed_loop_rides_out_server_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """503 without Retry-After: a short random pause; 502 with one: that long."""
    error = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "503"}
    change = {"seq": 8, "type": "user.deactivated", "resource": {"type": "User", "id": "u"}}
    Stub.seen = []
    Stub.script = {
        "/api/v1/changes/head": [(503, {}, error), (200, {}, {"next": "7"})],
        "/api/v1/changes": [
            (502, {"Retry-After": "3"}, error),
            (200, {}, {"changes": [change], "next": "8"}),
        ],
    }
    stub = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        handled, sleeps = run_feed_loop(
            monkeypatch, f"http://127.0.0.1:{stub.server_port}/api/v1", "t"
        )
    finally:
        stub.shutdown()
    assert handled == [change]
    assert 0.5 <= sleeps[0] <= 1 and sleeps[1] == 3, sleeps
    assert "after=7" in Stub.seen[-1] and "wait=30" in Stub.seen[-1]


@pytest.mark.slow
def test_the_feed_curl_session_works_verbatim(feed_server: LiveServer) -> None:
    """docs/apps.md's curl session: head, then a long poll that a write ends."""
    after = text(APPS).split("## Webhooks", 1)[0]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match is not None
    script = match.group(1).replace("http://127.0.0.1:8000", feed_server.url)
    session = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "TOKEN": feed_server.token or ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writes = 0
    while session.poll() is None and writes < 30:  # a write a second until its poll answers
        time.sleep(1)
        writes += 1
        create_user(feed_server, f"curl-followed-{writes}@example.com")
    stdout, stderr = session.communicate(timeout=60)
    assert session.returncode == 0, stderr
    page = json.loads(stdout)
    names = [c["resource"]["userName"] for c in page["changes"]]
    assert names and all(n.startswith("curl-followed-") for n in names), page
