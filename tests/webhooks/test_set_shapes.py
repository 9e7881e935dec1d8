"""One SET per resource per transaction, describing the final state (RFC 9967 §2), for
each write shape in tests/webhooks/set_cases.py: what a push receiver (notice and full
subscriptions) and a poll receiver (notice and full streams) of the same tenant get for
the same write: the exact events, ``attributes``, ``data``, ``version`` and ``txn`` of
every SET, each verified with PyJWT against the tenant's JWKS."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api.test_sets import drain as polled
from tests.api.test_sets import full_app, start
from tests.conftest import make_client
from tests.webhooks.conftest import Hooks, drain
from tests.webhooks.receiver import Receiver
from tests.webhooks.set_cases import CASES, Case, documented, normalised, table
from tests.webhooks.test_set_push import head, verify

__all__ = ["full_app"]  # test_sets' full-mode app: the poll stream in full mode


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_write_shape_pushed_and_polled(hooks: Hooks, full_app: Flask, case: Case) -> None:
    scim = hooks.scim
    names = case.prepare(scim)
    full_stream = make_client(full_app, tenant=scim.tenant)
    start(scim)
    start(full_stream)
    with Receiver(lambda _r, _n: 202) as notice, Receiver(lambda _r, _n: 202) as full:
        notice_info, _ = hooks.add(notice.url, fmt="set")
        full_info, _ = hooks.add(full.url, fmt="set", full=True)
        names |= case.act(scim, names)
        subscriptions = (notice_info.id, full_info.id)
        drain(
            hooks.worker(), lambda: all(hooks.info(s).cursor == head(hooks) for s in subscriptions)
        )
        pushed_notice = [verify(hooks, r, notice.url) for r in notice.requests]
        pushed_full = [verify(hooks, r, full.url) for r in full.requests]
    polled_notice, polled_full = polled(scim), polled(full_stream)

    assert normalised(scim, names, pushed_notice) == case.notice
    assert normalised(scim, names, pushed_full) == case.full
    assert normalised(scim, names, polled_notice) == case.notice
    assert normalised(scim, names, polled_full) == case.full
    every = pushed_notice + pushed_full + polled_notice + polled_full
    assert len({claims["txn"] for claims in every}) == 1  # one write, one txn, every copy
    assert len({claims["jti"] for claims in every}) == len(every)
    assert "Secret" not in str(every)


def test_the_docs_table_is_rendered_from_these_cases() -> None:
    assert documented() == table(), "docs/events.md: run python -m tests.webhooks.set_cases"
