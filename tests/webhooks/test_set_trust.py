"""SETs a receiver can trust: bound to one tenant, with an issuer from configuration only.

The cross-tenant forgery of issue #29, scripted: an admin of tenant ``acme`` names a
token after tenant ``beta``'s push URL, subscribes beta's URL, writes a user carrying
beta's ``externalId``, deletes it, and polls with ``Host:`` set to beta's issuer. None of
what acme gets (polled or pushed) verifies under what beta's receiver pinned: beta's
key set, beta's issuer, beta's audience. Checked with PyJWT, not the signer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import jwt
import pytest
from flask import Flask

from scimserver.app import create_app
from scimserver.service.sets import IssuerMissing
from scimserver.service.webhooks import WebhookError
from tests.api.test_sets import Pinned, pinned, poll, start, verify_with
from tests.conftest import ScimClient, assert_scim_error, close_app, make_client
from tests.webhooks.conftest import Hooks, drain, make_hooks
from tests.webhooks.receiver import Receiver

P = "urn:ietf:params:scim:event:"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def tenant_pin(hooks: Hooks, audience: str) -> Pinned:
    """What a push receiver of ``hooks``' tenant pins: its issuer, its public JWKS, its URL."""
    stream = pinned(hooks.scim)
    return Pinned(stream.issuer, audience, stream.keys)


def pushed(hooks: Hooks, receiver: Receiver, subscription_id: str) -> list[str]:
    def done() -> bool:
        head = hooks.feed()[-1]["seq"]
        return bool(hooks.info(subscription_id).cursor == head)

    drain(hooks.worker(), done)
    return [r.body.decode() for r in receiver.requests]


def refused(pin: Pinned, token: str) -> bool:
    """True when PyJWT refuses ``token`` under ``pin``, whichever of the pinned keys it
    tries (not only the one its kid names)."""
    for key in pin.keys.keys:
        try:
            jwt.decode(token, key, algorithms=["ES256"], audience=pin.audience, issuer=pin.issuer)
        except jwt.InvalidTokenError:
            continue
        return False
    return True


def test_one_tenants_sets_never_verify_as_anothers(app: Flask) -> None:
    beta = make_hooks(app)
    acme = make_hooks(app)
    deactivate = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    try:
        with Receiver(lambda _r, _n: 202) as beta_receiver:
            beta_url = beta_receiver.url
            beta_info, _ = beta.add(beta_url, fmt="set")
            genuine = beta.scim.create_user("genuine", externalId="beta-ext-1")
            (beta_set,) = pushed(beta, beta_receiver, beta_info.id)
            beta_pin = tenant_pin(beta, beta_url)
            assert verify_with(beta_pin, beta_set)["sub_id"]["id"] == genuine["id"]

            # acme's admin: a token named after beta's URL, a subscription to beta's URL,
            # a user with beta's externalId, deactivated and deleted.
            _, secret = app.extensions["scimserver"].tokens.create(beta_url, acme.scim.tenant)
            forger = ScimClient(app.test_client(), secret, acme.scim.tenant, beta_url)
            start(forger)
            acme_info, _ = acme.add(beta_url, fmt="set")
            user = acme.scim.create_user("forged", externalId="beta-ext-1")
            assert acme.scim.patch(f"/Users/{user['id']}", deactivate).status_code == 200
            assert acme.scim.delete(f"/Users/{user['id']}").status_code == 204
            forged_push = pushed(acme, beta_receiver, acme_info.id)[1:]
        host = {"Host": beta_pin.issuer.split("/")[2]}
        body = poll(forger, {"returnImmediately": True}, **host).get_json()
        forged_poll = list(body["sets"].values())
    finally:
        for hooks in (beta, acme):
            for subscription_id in hooks.added:
                hooks.service.remove(subscription_id)

    assert len(forged_push) == 3 and len(forged_poll) == 3
    beta_kids = {k.key_id for k in beta_pin.keys.keys}
    for token in forged_push + forged_poll:
        assert refused(beta_pin, token)
        assert jwt.get_unverified_header(token)["kid"] not in beta_kids
    # acme's own pins verify acme's SETs: the forgery failed, not the signing.
    acme_pin = pinned(forger)
    polled = [verify_with(acme_pin, t) for t in forged_poll]
    pushed_claims = [verify_with(replace(acme_pin, audience=beta_url), t) for t in forged_push]
    assert {c["iss"] for c in polled + pushed_claims} == {acme_pin.issuer}
    assert acme_pin.issuer != beta_pin.issuer
    assert {c["aud"] for c in polled} == {acme_pin.audience} != {beta_url}
    assert [list(c["events"]) for c in polled][1:] == [
        [P + "prov:patch:notice", P + "prov:deactivate"],
        [P + "prov:delete"],
    ]


def test_host_header_changes_no_signed_claim(scim: ScimClient) -> None:
    start(scim)
    scim.create_user()
    plain = poll(scim, {"returnImmediately": True}).get_json()["sets"]
    evil = poll(scim, {"returnImmediately": True}, Host="evil.example").get_json()["sets"]
    assert plain == evil  # the same unacknowledged SET, byte for byte
    scim.create_user()
    acked = {"returnImmediately": True, "ack": list(plain)}
    (token,) = poll(scim, acked, Host="evil.example").get_json()["sets"].values()
    claims = verify_with(pinned(scim), token)
    assert claims["iss"].startswith("https://scim.test/api/v1/tenants/")
    assert "evil" not in token and "evil" not in str(claims)
    stream = scim.client.get(
        "/api/v1/sets/stream",
        headers={"Authorization": f"Bearer {scim.token}", "Host": "evil.example"},
    ).get_json()
    assert stream["iss"] == claims["iss"]
    assert stream["aud"] == claims["aud"]
    assert stream["aud"].startswith("urn:scimserver:stream:")


def test_poll_and_push_of_one_change_carry_the_same_issuer_and_txn(hooks: Hooks) -> None:
    start(hooks.scim)
    with Receiver(lambda _r, _n: 202) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set")
        hooks.scim.create_user("both", headers={"X-Request-Id": "client-chosen"})
        (pushed_set,) = pushed(hooks, receiver, info.id)
    (polled_set,) = poll(hooks.scim, {"returnImmediately": True}).get_json()["sets"].values()
    push = verify_with(tenant_pin(hooks, receiver.url), pushed_set)
    polled = verify_with(pinned(hooks.scim), polled_set)
    assert push["iss"] == polled["iss"] == f"https://scim.test/api/v1/tenants/{hooks.tenant_id}"
    assert push["txn"] == polled["txn"] != "client-chosen"
    assert push["jti"] != polled["jti"]
    assert push["aud"] == receiver.url and polled["aud"].startswith("urn:scimserver:stream:")


def test_two_writes_with_one_request_id_have_two_txns(scim: ScimClient) -> None:
    start(scim)
    for _ in range(2):
        scim.create_user(headers={"X-Request-Id": "same-id"})
    sets = poll(scim, {"returnImmediately": True}).get_json()["sets"].values()
    pin = pinned(scim)
    assert len({verify_with(pin, t)["txn"] for t in sets}) == 2


@pytest.fixture(scope="module")
def unconfigured(app: Flask) -> Iterator[Flask]:
    """A second app on the same database with no SCIMSERVER_BASE_URL."""
    settings = app.extensions["scimserver"].settings
    other = create_app(replace(settings, base_url=""))
    yield other
    close_app(other)


def test_without_a_base_url_the_poll_answers_503(unconfigured: Flask) -> None:
    scim = make_client(unconfigured)
    for path, method in (("/api/v1/sets/poll", "POST"), ("/api/v1/sets/stream", "GET")):
        response = scim.client.open(
            path,
            method=method,
            json={"returnImmediately": True},
            headers={"Authorization": f"Bearer {scim.token}"},
        )
        assert_scim_error(response, 503)
        assert "SCIMSERVER_BASE_URL" in response.get_json()["detail"]


def test_without_a_base_url_the_worker_pushes_no_set(unconfigured: Flask, app: Flask) -> None:
    hooks = make_hooks(unconfigured)
    try:
        with Receiver(lambda _r, _n: 202) as receiver:
            info, _ = hooks.add(receiver.url, fmt="set")
            with pytest.raises(WebhookError, match="SCIMSERVER_BASE_URL"):
                hooks.service.test(info.id)
            hooks.scim.create_user()
            worker = hooks.worker()
            try:
                with pytest.raises(IssuerMissing):
                    worker.step()
            finally:
                worker.close()
            assert receiver.requests == []
            assert hooks.info(info.id).cursor < hooks.feed()[-1]["seq"]  # it waits
            configured = make_hooks(app)
            client = ScimClient(app.test_client(), hooks.scim.token, hooks.scim.tenant)
            late = Hooks(configured.server, client, hooks.tenant_id, configured.service, [])
            (token,) = pushed(late, receiver, info.id)
    finally:
        for subscription_id in hooks.added:
            hooks.service.remove(subscription_id)
    claims = verify_with(tenant_pin(late, receiver.url), token)
    assert P + "prov:create:notice" in claims["events"]
