"""Webhook fixtures: one migrated database per backend (the shared ``app``), a tenant
per test, in-process workers with tiny backoff, and subscriptions removed afterwards so
one test's dead receiver never keeps another test's worker busy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from scimserver.scim.targets import Reach
from scimserver.service.delivery import Sender
from scimserver.service.server import Server
from scimserver.service.tokens import TenantService
from scimserver.service.webhooks import SubscriptionInfo, WebhookService
from scimserver.service.worker import Policy, Worker
from tests.conftest import ScimClient, make_client

LOCAL_RECEIVER = Reach(insecure_http=True, private_network=True)
"""The test receivers listen on http://127.0.0.1: plain http on the loopback address,
which a subscription reaches only when added with both allowances (--insecure-http
--allow-private-network). The defaults stay https-only and public-only."""

FAST = Policy(
    backoff_base=0.01,
    backoff_cap=0.05,
    lease=timedelta(seconds=5),
    poll=0.02,
    retention=timedelta(days=30),
)


@dataclass
class Hooks:
    server: Server
    scim: ScimClient
    tenant_id: int
    service: WebhookService
    added: list[str]

    def add(
        self,
        url: str,
        events: list[str] | None = None,
        fmt: str = "json",
        full: bool = False,
        reach: Reach = LOCAL_RECEIVER,
    ) -> tuple[SubscriptionInfo, str]:
        info, secret = self.service.add(url, self.tenant_id, fmt, events, full, reach)
        self.added.append(info.id)
        return info, secret

    def info(self, subscription_id: str) -> SubscriptionInfo:
        return next(i for i in self.service.listing(self.tenant_id) if i.id == subscription_id)

    def worker(self, policy: Policy = FAST) -> Worker:
        return Worker(self.server.db, self.server.formatters(), Sender(2.0), policy)

    def feed(self) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.scim.token}"}
        response = self.scim.client.get("/api/v1/changes?after=0&limit=1000", headers=headers)
        changes: list[dict[str, Any]] = response.get_json()["changes"]
        return changes


def make_hooks(app: Flask, max_attempts: int = 4) -> Hooks:
    server: Server = app.extensions["scimserver"]
    scim = make_client(app)
    tenant_id = TenantService(server.db).find(scim.tenant)
    assert tenant_id is not None
    service = WebhookService(server.db, server.formatters(), max_attempts, 2.0)
    return Hooks(server, scim, tenant_id, service, [])


@pytest.fixture
def hooks(app: Flask) -> Iterator[Hooks]:
    made = make_hooks(app)
    yield made
    for subscription_id in made.added:
        made.service.remove(subscription_id)


def drain(worker: Worker, done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run the worker's rounds until ``done()`` (bounded in time)."""
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "the worker did not finish in time"
            if not worker.step():
                time.sleep(0.01)
    finally:
        worker.close()
