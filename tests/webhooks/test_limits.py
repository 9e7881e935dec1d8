"""The sender's limits as a receiver meets them: one deadline for the whole attempt, at
most 64 KB of an answer read, no redirect followed, and only checked addresses reached
(name resolution stubbed: nothing here leaves 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from scimserver.scim.targets import Address, Reach
from scimserver.service.delivery import MAX_ANSWER_BYTES, Sender
from scimserver.service.webhooks import WebhookError, WebhookService
from scimserver.service.worker import Worker
from scimserver.store.models import Subscription
from tests.webhooks.conftest import FAST, Hooks, drain
from tests.webhooks.hostile import Flood, Trickler
from tests.webhooks.receiver import Received, Receiver
from tests.webhooks.test_worker_process import wait_until

PUBLIC = ipaddress.ip_address("93.184.215.14")  # only ever answered by the stub, never dialled
LOOPBACK = ipaddress.ip_address("127.0.0.1")
METADATA = ipaddress.ip_address("169.254.169.254")
SHORT_LEASE = replace(FAST, lease=timedelta(seconds=1))


class StubResolver:
    """Answers host names from a script of answers, one per lookup; the last repeats."""

    def __init__(self, *answers: list[Address]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, _port: int) -> list[Address]:
        self.asked.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def worker(hooks: Hooks, deadline: float = 2.0, resolver: StubResolver | None = None) -> Worker:
    sender = Sender(deadline, resolver) if resolver else Sender(deadline)
    return Worker(hooks.server.db, hooks.server.formatters(), sender, FAST)


def stubbed(hooks: Hooks, resolver: StubResolver) -> WebhookService:
    return WebhookService(hooks.server.db, hooks.server.formatters(), 4, 2.0, resolver)


def test_a_trickling_receiver_is_cut_off_at_the_deadline(hooks: Hooks) -> None:
    with Trickler(interval=2.0) as trickler:
        info, _ = hooks.add(trickler.url)
        hooks.scim.create_user()
        runner = worker(hooks, deadline=3.0)
        started = time.monotonic()
        drain(runner, lambda: len(hooks.service.attempts(info.id)) >= 1, timeout=10)
        took = time.monotonic() - started
    (attempt,) = hooks.service.attempts(info.id)
    assert attempt.outcome == "retry" and attempt.status is None
    assert attempt.error == "DeadlineExceeded: no answer within 3 s"
    assert 2.9 <= attempt.duration_ms / 1000 <= 3.5
    assert took < 4.5
    assert trickler.sent == 2  # bytes at 0 s and 2 s; the third would have come at 4 s


def test_a_huge_answer_is_read_only_to_64_kb(hooks: Hooks) -> None:
    with Flood(status=200) as flood:
        info, _ = hooks.add(flood.url)
        hooks.scim.create_user()
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor > 0, timeout=10)
    (attempt,) = hooks.service.attempts(info.id)
    assert (attempt.outcome, attempt.status) == ("delivered", 200)
    assert attempt.duration_ms < 2000
    assert flood.sent < 150 * 1024 * 1024 // 10  # what the socket buffers took, no more
    assert MAX_ANSWER_BYTES == 64 * 1024


def test_a_redirect_is_not_followed(hooks: Hooks) -> None:
    with Receiver() as elsewhere:
        moved = {"location": elsewhere.url}
        with Receiver(lambda _request, _count: (307, b"", moved)) as receiver:
            info, _ = hooks.add(receiver.url)
            hooks.scim.create_user()
            drain(hooks.worker(), lambda: len(hooks.service.attempts(info.id)) >= 1)
    assert elsewhere.requests == []
    first = hooks.service.attempts(info.id)[0]
    assert (first.status, first.outcome) == (307, "retry")


def test_a_name_rebound_to_loopback_after_add_is_refused_at_send(hooks: Hooks) -> None:
    resolver = StubResolver([PUBLIC], [LOOPBACK])
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        url = f"http://rebind.example:{port}/hook"
        info, _ = stubbed(hooks, resolver).add(
            url, hooks.tenant_id, "json", None, reach=Reach(insecure_http=True)
        )
        hooks.added.append(info.id)
        hooks.scim.create_user()
        runner = worker(hooks, resolver=resolver)
        drain(runner, lambda: len(hooks.service.attempts(info.id)) >= 2)
    assert receiver.requests == []
    assert resolver.asked[:3] == ["rebind.example"] * 3  # at add, then at each attempt
    for attempt in hooks.service.attempts(info.id)[:2]:
        assert attempt.outcome == "retry" and attempt.status is None
        assert attempt.error is not None
        assert attempt.error.startswith("TargetRefused: rebind.example (127.0.0.1) is a loopback")


def test_every_resolved_address_is_checked_before_any_is_dialled(hooks: Hooks) -> None:
    resolver = StubResolver([PUBLIC], [PUBLIC, METADATA])
    info, _ = stubbed(hooks, resolver).add(
        "https://mixed.example/hook", hooks.tenant_id, "json", None
    )
    hooks.added.append(info.id)
    hooks.scim.create_user()
    drain(worker(hooks, resolver=resolver), lambda: len(hooks.service.attempts(info.id)) >= 1)
    error = hooks.service.attempts(info.id)[0].error
    assert error is not None and "(169.254.169.254) is a cloud metadata address" in error


def test_names_resolving_inside_the_network_are_refused_at_add(hooks: Hooks) -> None:
    for answer, reason in ((METADATA, "cloud metadata"), (LOOPBACK, "loopback")):
        service = stubbed(hooks, StubResolver([PUBLIC, answer]))
        with pytest.raises(WebhookError, match=f"is a {reason} address.*--allow-private"):
            service.add("https://inside.example/hook", hooks.tenant_id, "json", None)


def test_an_allowed_name_is_dialled_at_the_checked_address_with_its_own_host(
    hooks: Hooks,
) -> None:
    resolver = StubResolver([LOOPBACK])
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        url = f"http://hooks.internal.example:{port}/hook"
        info, _ = stubbed(hooks, resolver).add(
            url, hooks.tenant_id, "json", None, reach=Reach(True, True)
        )
        hooks.added.append(info.id)
        hooks.scim.create_user()
        drain(worker(hooks, resolver=resolver), lambda: len(receiver.requests) >= 1)
    assert receiver.requests[0].headers["host"] == f"hooks.internal.example:{port}"


def test_a_stored_url_with_credentials_is_parked_not_sent(hooks: Hooks) -> None:
    with Receiver() as receiver:
        info, _ = hooks.add(receiver.url)
        with hooks.server.db.write() as session:  # a row from before they were refused
            row = session.get(Subscription, info.id)
            assert row is not None
            row.url = receiver.url.replace("//", "//ops:hunter2@")
        hooks.scim.create_user()
        drain(hooks.worker(), lambda: len(hooks.service.dead_letters(info.id)) >= 1)
    assert receiver.requests == []
    (letter,) = hooks.service.dead_letters(info.id)
    assert letter.reason.startswith("error: TargetRefused: A webhook URL must not carry")
    assert "hunter2" not in letter.reason
    assert "hunter2" not in hooks.info(info.id).url


def test_a_lapsed_lease_fences_out_the_thread_that_held_it(hooks: Hooks) -> None:
    """Leases are per claim: when the same worker claims again a subscription whose lease
    lapsed under a slow attempt, the slow thread's writes fail instead of landing twice."""
    answer = [threading.Event(), threading.Event()]

    def script(_request: Received, count: int) -> int:
        answer[count].wait(5)  # the first POST outlives its 1 s lease
        return 204

    runner = Worker(hooks.server.db, hooks.server.formatters(), Sender(4.0), SHORT_LEASE)
    with Receiver(script) as receiver:
        info, _ = hooks.add(receiver.url)
        hooks.scim.create_user()
        first = threading.Thread(target=runner.step)
        first.start()
        wait_until(lambda: len(receiver.requests) == 1)
        time.sleep(1.2)
        second = threading.Thread(target=runner.step)  # the lease lapsed: claimed again
        second.start()
        wait_until(lambda: len(receiver.requests) == 2)  # the change sent again: at least once
        answer[0].set()
        first.join(timeout=10)  # answered while the second claim holds the lease
        assert lease_owner(hooks, info.id) is not None  # still held: first wrote nothing
        answer[1].set()
        second.join(timeout=10)
    runner.close()
    assert [(a.attempt, a.outcome) for a in hooks.service.attempts(info.id)] == [(1, "delivered")]
    assert lease_owner(hooks, info.id) is None
    assert hooks.info(info.id).cursor == hooks.feed()[-1]["seq"]


def lease_owner(hooks: Hooks, subscription_id: str) -> str | None:
    with hooks.server.db.read() as session:
        row = session.get(Subscription, subscription_id)
        assert row is not None
        return row.lease_owner
