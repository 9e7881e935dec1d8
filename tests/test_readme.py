"""The README stays true and short: CI runs its test command verbatim, its curl session
works, and it fits in 250 lines (the rest is in docs/, checked by tests/test_docs.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_has_serve_and_test_commands() -> None:
    serve, test = readme_commands()
    assert serve.endswith("scimserver serve")
    assert test.endswith("pytest")


def test_readme_is_short_and_names_the_port_option_and_the_test_time() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "scimserver serve --bind 127.0.0.1:PORT" in quickstart
    assert re.search(r"about \d+ minutes", quickstart)


def test_ci_runs_the_readme_test_command() -> None:
    _, test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci


def walk_through() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A walk-through with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def json_documents(output: str) -> list[Any]:
    """The JSON documents printed one after another, then whatever text follows them."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while output[position:].lstrip().startswith("{"):
        position += len(output[position:]) - len(output[position:].lstrip())
        document, position = decoder.raw_decode(output, position)
        documents.append(document)
    return [*documents, output[position:].strip()]


@pytest.mark.slow
def test_the_curl_walk_through_works_verbatim(tmp_path: Path) -> None:
    """The README's curl session against a real server: only the token and port differ."""
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'walk.db'}"}
    with LiveServer(env, workers=1, cwd=tmp_path, log_dir=tmp_path) as server:
        script = walk_through()
        for placeholder, value in (
            ("TOKEN=scim_...", f"TOKEN={server.token}"),
            ("BASE=http://127.0.0.1:8000/scim/v2", f"BASE={server.scim_url}"),
        ):
            assert placeholder in script
            script = script.replace(placeholder, value, 1)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    created, read, found, group, patched, deleted = json_documents(result.stdout)
    assert created["userName"] == read["userName"] == "bjensen@example.com"
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    assert [m["value"] for m in group["members"]] == [created["id"]]
    assert patched["active"] is False
    assert deleted == "204"


def section_command(heading: str, document: str = "README.md") -> str:
    """The first ```sh block under a heading of ``document``."""
    section = (ROOT / document).read_text().split(heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.slow
def test_the_sqlite_backup_command_copies_a_live_database(tmp_path: Path) -> None:
    """Run verbatim in the server's directory while it serves; the copy serves the same data."""
    env = {"SCIMSERVER_DATABASE_URL": "sqlite:///scimserver.db"}
    with LiveServer(env, workers=1, cwd=tmp_path, log_dir=tmp_path / "logs") as server:
        headers = {"Authorization": f"Bearer {server.token}"}
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kept"}
        created = httpx.post(f"{server.scim_url}/Users", json=body, headers=headers)
        assert created.status_code == 201
        command = section_command("## Backup and restore (SQLite)", "docs/operations.md")
        subprocess.run(["bash", "-euc", command], cwd=tmp_path, check=True, timeout=60)
    restored = tmp_path / "restored"
    restored.mkdir()
    (tmp_path / "backup.db").rename(restored / "scimserver.db")
    with LiveServer(env, workers=1, cwd=restored, log_dir=tmp_path / "logs2") as server:
        read = httpx.get(f"{server.scim_url}/Users/{created.json()['id']}", headers=headers)
        assert read.status_code == 200 and read.json()["userName"] == "kept"
