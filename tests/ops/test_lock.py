"""requirements.lock, which the image installs from, is what pyproject.toml resolves to;
and pyproject.toml asks for no extra a package does not have (pip warns about those).

The lock is written by ``uv pip compile`` (the command is in its header) with a hash for
every file, universal across the Python versions and platforms pyproject.toml allows, so
the image (Python 3.12) and tests/test_install.py (this interpreter) install the same
pins. Regenerate it with the header's command after changing the dependencies; add
``--upgrade`` to move every pin to the newest release.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent.parent
LOCK = REPO / "requirements.lock"
HEADER_COMMAND = re.compile(r"^#\s+(uv pip compile .*)$", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    """name → the requirement line (version and markers), hashes and comments left out."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = line.removesuffix("\\").strip()
            found[canonicalize_name(Requirement(requirement).name)] = requirement
    return found


def test_every_pin_is_exact_and_hashed() -> None:
    text = LOCK.read_text()
    entries = re.split(r"\n(?=\S)", text)
    requirements = [e for e in entries if e and not e.startswith("#")]
    assert requirements
    for entry in requirements:
        requirement = Requirement(entry.split("\\", 1)[0].strip())
        assert str(requirement.specifier).startswith("=="), entry
        assert "--hash=sha256:" in entry, f"{requirement.name} has no hash"


def test_the_pins_satisfy_pyproject() -> None:
    """Without the network: every runtime dependency is pinned within its range."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    locked = pins(LOCK.read_text())
    for spec in project["dependencies"]:
        wanted = Requirement(spec)
        line = locked.get(canonicalize_name(wanted.name))
        assert line is not None, f"{wanted.name} is not in requirements.lock: regenerate it"
        version = Requirement(line.split(";")[0]).specifier
        pinned = str(version).removeprefix("==")
        assert wanted.specifier.contains(pinned, prereleases=True), (
            f"requirements.lock pins {wanted.name} {pinned}, pyproject.toml wants {wanted}"
        )


def test_the_header_command_run_again_changes_no_pin(tmp_path: Path) -> None:
    """uv keeps the pins of an existing output file unless pyproject.toml rules them out, so a
    stale lock (a dependency added, removed or re-ranged) comes out different here."""
    text = LOCK.read_text()
    command = HEADER_COMMAND.search(text)
    assert command is not None, "requirements.lock's header names no uv pip compile command"
    args = command.group(1).split()
    out = args.index("--output-file")
    again = tmp_path / "requirements.lock"
    shutil.copy2(LOCK, again)
    args[out + 1] = str(again)
    uv = Path(sys.executable).parent / "uv"
    result = subprocess.run(
        [str(uv), *args[1:], "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert pins(again.read_text()) == pins(text), (
        "requirements.lock is stale: run the command in its header"
    )


def test_every_extra_asked_for_exists() -> None:
    """`pip install -e '.[test]'` warned "scim2-tester 0.5.2 does not provide the extra
    'httpx'": every extra pyproject.toml names is one its installed package declares."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    for wanted in map(Requirement, specs):
        if not wanted.extras:
            continue
        declared = {
            canonicalize_name(e)
            for e in metadata.metadata(wanted.name).get_all("Provides-Extra") or []
        }
        for extra in wanted.extras:
            assert canonicalize_name(extra) in declared, f"{wanted.name} has no extra {extra!r}"
