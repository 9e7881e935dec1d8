"""Webhook delivery as a receiver sees it: signed, in order, at least once, retried with
backoff, parked after too many failures and redelivered on request."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from standardwebhooks import Webhook

from tests.live import free_port
from tests.webhooks.conftest import Hooks, drain
from tests.webhooks.receiver import Received, Receiver

DEACTIVATE = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "path": "active", "value": False}],
}


def deactivate(hooks: Hooks, user_id: str) -> None:
    assert hooks.scim.patch(f"/Users/{user_id}", DEACTIVATE).status_code == 200


def test_deactivation_reaches_the_receiver_signed(hooks: Hooks) -> None:
    user = hooks.scim.create_user("ada")
    with Receiver() as receiver:
        info, secret = hooks.add(receiver.url)  # starts at the head: no backfill of "ada"
        deactivate(hooks, user["id"])
        drain(hooks.worker(), lambda: len(receiver.requests) >= 1)
        (request,) = receiver.requests
    feed = hooks.feed()
    assert request.headers["content-type"] == "application/json"
    Webhook(secret).verify(request.body, request.headers)  # raises on a bad signature
    assert request.id == feed[-1]["id"]
    assert request.event["type"] == "user.deactivated"
    assert request.event["data"] == feed[-1]
    assert request.event["data"]["resource"]["userName"] == "ada"
    assert hooks.info(info.id).cursor == feed[-1]["seq"]


def test_only_the_subscribed_event_types_are_sent(hooks: Hooks) -> None:
    with Receiver() as receiver:
        info, _ = hooks.add(receiver.url, ["user.deactivated", "user.deleted"])
        user = hooks.scim.create_user()
        hooks.scim.create_group(members=[user["id"]])
        deactivate(hooks, user["id"])
        assert hooks.scim.delete(f"/Users/{user['id']}").status_code == 204
        head = hooks.feed()[-1]["seq"]
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head)
    assert [e["type"] for e in receiver.events()] == ["user.deactivated", "user.deleted"]


def test_a_failing_receiver_gets_the_event_once_more_when_it_recovers(hooks: Hooks) -> None:
    with Receiver(lambda _request, count: 500 if count < 3 else 204) as receiver:
        info, _ = hooks.add(receiver.url)
        hooks.scim.create_user()
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == hooks.feed()[-1]["seq"])
    assert len(set(receiver.ids())) == 1
    assert len(receiver.requests) == 4
    attempts = hooks.service.attempts(info.id)
    assert [(a.attempt, a.status, a.outcome) for a in attempts] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 500, "retry"),
        (4, 204, "delivered"),
    ]
    assert hooks.info(info.id).attempts == 0


def test_a_receiver_that_was_down_gets_everything_in_order(hooks: Hooks) -> None:
    port = free_port()
    info, _ = hooks.add(f"http://127.0.0.1:{port}/hook")
    names = [f"down-{i}" for i in range(5)]
    for name in names:
        hooks.scim.create_user(name)
    worker = hooks.worker()
    drain(worker, lambda: hooks.info(info.id).attempts >= 2)  # refused twice, still queued
    assert hooks.service.dead_letters(info.id) == []
    with Receiver(port=port) as receiver:
        drain(hooks.worker(), lambda: len(receiver.requests) >= 5)
    sent = [e["data"]["resource"]["userName"] for e in receiver.events()]
    assert sent == names
    failures = [a for a in hooks.service.attempts(info.id) if a.outcome == "retry"]
    assert failures and all(a.status is None and a.error for a in failures)


def test_parked_changes_are_redelivered_in_order_before_newer_ones(hooks: Hooks) -> None:
    healthy = threading.Event()

    def script(request: Received, _count: int) -> int:
        poisoned = request.event["data"]["resource"].get("userName") == "poison"
        return 503 if poisoned and not healthy.is_set() else 204

    with Receiver(script) as receiver:
        info, _ = hooks.add(receiver.url)
        hooks.scim.create_user("poison")
        hooks.scim.create_user("after")
        drain(hooks.worker(), lambda: _names(receiver)[-1:] == ["after"])
        (letter,) = hooks.service.dead_letters(info.id)
        assert _names(receiver) == ["poison"] * 4 + ["after"]  # max_attempts=4, then moved on
        healthy.set()
        hooks.scim.create_user("newest")
        assert hooks.service.redeliver(info.id) == 1
        drain(hooks.worker(), lambda: _names(receiver)[-1:] == ["newest"])
    assert _names(receiver)[5:] == ["poison", "newest"]
    assert receiver.requests[5].id == letter.change_id
    assert hooks.service.dead_letters(info.id) == []


def test_a_rotated_secret_signs_beside_the_old_one(hooks: Hooks) -> None:
    with Receiver() as receiver:
        info, old = hooks.add(receiver.url)
        new = hooks.service.rotate(info.id, timedelta(hours=1))
        hooks.scim.create_user()
        drain(hooks.worker(), lambda: len(receiver.requests) >= 1)
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)


def _names(receiver: Receiver) -> list[Any]:
    return [e["data"]["resource"].get("userName") for e in receiver.events()]
