"""scim2-tester's RFC 7643/7644 conformance suite against the real server.

The server runs as it does in production (``scimserver serve`` under gunicorn with two
workers) on SQLite and on PostgreSQL. Every check that is not about PATCH must succeed;
the set of failing checks must be exactly ``KNOWN_FAILURES`` so that no regression, and
no fix that should shrink the list, goes unnoticed. ``pytest -s`` prints the results.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from scim2_tester import CheckResult, Status, check_server

from tests.conformance.engine import HttpxSCIMClient
from tests.live import LiveServer

pytestmark = pytest.mark.slow

# Checks that may be skipped, by key (see ``check_key``), with why.
ALLOWED_SKIPS: frozenset[str] = frozenset()

# The exact set of checks, by key, that fail today; only PATCH checks may be listed (any
# other failure fails the test on its own). When one of these starts passing, drop it.
KNOWN_FAILURES: frozenset[str] = frozenset()

PATCH_TAG_PREFIX = "patch"
RUN_BUDGET_SECONDS = 60.0


def check_key(result: CheckResult) -> str:
    """A stable name for a result: ``ResourceType:check_title[attribute]``."""
    key = f"{result.resource_type or '-'}:{result.title or '?'}"
    if isinstance(result.data, dict) and isinstance(result.data.get("urn"), str):
        key += f"[{result.data['urn']}]"
    return key


def is_patch(result: CheckResult) -> bool:
    return any(tag.split(":")[0] == PATCH_TAG_PREFIX for tag in result.tags)


def is_failure(result: CheckResult) -> bool:
    if result.status is Status.SUCCESS:
        return False
    if result.status is Status.SKIPPED:
        # PATCH checks skip when the server announces no PATCH support; others must not.
        return not is_patch(result) and check_key(result) not in ALLOWED_SKIPS
    return True


def summary(results: list[CheckResult]) -> str:
    rows = [("CHECK", "STATUS", "REASON")]
    for r in results:
        reason = " ".join((r.reason or "").split())
        rows.append((check_key(r), r.status.name, reason[:160]))
    width = max(len(row[0]) for row in rows)
    lines = [f"{check:<{width}}  {status:<9}  {reason}" for check, status, reason in rows]
    counts = Counter(r.status.name for r in results)
    lines.append(", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items())))
    return "\n".join(lines)


def test_scim2_tester(database_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with LiveServer(
        {"SCIMSERVER_DATABASE_URL": database_url}, workers=2, cwd=tmp_path, log_dir=tmp_path
    ) as server:
        assert server.token, server.logs()
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.scim_url, headers=headers, timeout=15.0) as http:
            results = check_server(HttpxSCIMClient(http))
        logs = server.logs()
    elapsed = time.monotonic() - started

    table = summary(results)
    print(
        f"\nscim2-tester against {database_url.split(':', 1)[0]} "
        f"({len(results)} results in {elapsed:.1f} s):\n{table}"
    )

    assert results, logs
    failures = [r for r in results if is_failure(r)]
    non_patch = sorted({check_key(r) for r in failures if not is_patch(r)})
    detail = "\n".join(
        f"{check_key(r)}: {r.status.name}: {r.reason}\n    data={r.data!r}" for r in failures
    )
    assert not non_patch, f"non-PATCH checks failed:\n{detail}\n{table}"
    assert frozenset(check_key(r) for r in failures) == KNOWN_FAILURES, f"{detail}\n{table}"
    assert elapsed < RUN_BUDGET_SECONDS, f"conformance run took {elapsed:.1f} s"
