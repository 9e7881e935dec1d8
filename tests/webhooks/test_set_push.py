"""RFC 8935 push (``--format set``): signed SETs as the RFC's receiver sees them."""

from __future__ import annotations

import json
from typing import Any

import jwt

from tests.webhooks.conftest import Hooks, drain
from tests.webhooks.receiver import Received, Receiver

P = "urn:ietf:params:scim:event:"
ORIGIN = "https://scim.test"
DEACTIVATE = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "path": "active", "value": False}],
}


def verify(hooks: Hooks, request: Received, audience: str) -> dict[str, Any]:
    """RFC 8935 §2.1 headers, then the JWS checked by PyJWT against the published JWKS."""
    assert request.headers["content-type"] == "application/secevent+jwt"
    assert request.headers["accept"] == "application/json"
    token = request.body.decode()
    issuer = f"{ORIGIN}/api/v1/tenants/{hooks.tenant_id}"
    jwks = hooks.scim.client.get(f"/api/v1/tenants/{hooks.tenant_id}/jwks.json").get_json()
    keys = jwt.PyJWKSet.from_dict(jwks)
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt"
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["ES256"], audience=audience, issuer=issuer
    )
    return claims


def head(hooks: Hooks) -> int:
    seq: int = hooks.feed()[-1]["seq"]
    return seq


def test_a_deactivation_is_pushed_as_a_signed_set(hooks: Hooks) -> None:
    user = hooks.scim.create_user("grace", externalId="g-1")
    with Receiver(lambda _r, _n: 202) as receiver:  # RFC 8935 §2.2: 202, empty body
        info, _ = hooks.add(receiver.url, fmt="set")
        response = hooks.scim.patch(
            f"/Users/{user['id']}", DEACTIVATE, headers={"X-Request-Id": "deprovision-7"}
        )
        assert response.status_code == 200
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head(hooks))
        (request,) = receiver.requests
    claims = verify(hooks, request, receiver.url)
    assert claims["sub_id"] == {
        "format": "scim",
        "uri": f"/Users/{user['id']}",
        "id": user["id"],
        "externalId": "g-1",
    }
    (change,) = [c for c in hooks.feed() if c["type"] == "user.deactivated"]
    assert change["requestId"] == "deprovision-7"  # the client's id stays in the feed
    assert claims["txn"] != "deprovision-7"  # the SET's txn is the server's own
    assert claims["events"] == {
        f"{P}prov:patch:notice": {"attributes": ["active"], "version": response.headers["ETag"]},
        f"{P}prov:deactivate": {},
    }
    assert "sub" not in claims and "exp" not in claims


def test_retries_keep_the_jti_and_a_rejected_set_is_parked_at_once(hooks: Hooks) -> None:
    def script(_request: Received, count: int) -> int | tuple[int, bytes]:
        if count < 2:
            return 503  # a general fault: retried
        if count == 2:
            error = {"err": "invalid_audience", "description": "not for us"}
            return 400, json.dumps(error).encode()  # RFC 8935 §2.3: retrying cannot help
        return 202

    with Receiver(script) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set")
        first = hooks.scim.create_user()
        second = hooks.scim.create_user()
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head(hooks))
        requests = list(receiver.requests)
    jtis = [verify(hooks, r, receiver.url)["jti"] for r in requests]
    subjects = [verify(hooks, r, receiver.url)["sub_id"]["id"] for r in requests]
    assert subjects == [first["id"]] * 3 + [second["id"]]
    assert len(set(jtis[:3])) == 1  # the same SET, sent three times
    letters = hooks.service.dead_letters(info.id)
    assert [letter.change_seq for letter in letters] == [head(hooks) - 1]


def test_access_denied_is_retried(hooks: Hooks) -> None:
    denied = json.dumps({"err": "access_denied", "description": "later"}).encode()
    with Receiver(lambda _r, n: (400, denied) if n == 0 else 202) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set")
        hooks.scim.create_user()
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head(hooks))
    assert len(receiver.requests) == 2
    assert hooks.service.dead_letters(info.id) == []


def test_full_mode_subscription_pushes_the_patch_op(hooks: Hooks) -> None:
    user = hooks.scim.create_user()
    group = hooks.scim.create_group("crm-users")
    with Receiver(lambda _r, _n: 202) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set", full=True)
        add = {"op": "add", "path": "members", "value": [{"value": user["id"]}]}
        body = {"schemas": DEACTIVATE["schemas"], "Operations": [add]}
        assert hooks.scim.patch(f"/Groups/{group['id']}", body).status_code == 204
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head(hooks))
        (request,) = receiver.requests
    event = verify(hooks, request, receiver.url)["events"][f"{P}prov:patch:full"]
    assert event["data"]["Operations"] == [
        {
            "op": "add",
            "path": "members",
            "value": [{"value": user["id"], "$ref": f"/Users/{user['id']}"}],
        }
    ]


def test_webhook_test_sends_a_verification_set(hooks: Hooks) -> None:
    with Receiver(lambda _r, _n: 202) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set")
        result = hooks.service.test(info.id)
        (request,) = receiver.requests
    assert result.status == 202
    events = verify(hooks, request, receiver.url)["events"]
    assert list(events) == ["https://schemas.openid.net/secevent/ssf/event-type/verification"]


def test_a_transaction_resumes_at_its_next_set(hooks: Hooks) -> None:
    """A user deleted from two groups is three SETs of one transaction. The first goes
    out, the second fails; a new worker (nothing in memory, as after a crash) sends the
    second again with its jti, then the third: none lost, none sent twice when delivered."""
    user = hooks.scim.create_user()
    groups = [hooks.scim.create_group(members=[user["id"]]) for _ in range(2)]
    with Receiver(lambda _r, n: 503 if n == 1 else 202) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set")
        assert hooks.scim.delete(f"/Users/{user['id']}").status_code == 204
        first = hooks.worker()
        assert first.step()  # one claim: a SET delivered, the next one failed
        first.close()
        assert len(receiver.requests) == 2
        assert hooks.info(info.id).cursor < head(hooks)  # inside the transaction
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head(hooks))
        claims = [verify(hooks, request, receiver.url) for request in receiver.requests]
    jtis = [c["jti"] for c in claims]
    assert len(jtis) == 4 and jtis[1] == jtis[2] and len(set(jtis)) == 3
    assert len({c["txn"] for c in claims}) == 1
    subjects = sorted({c["sub_id"]["uri"] for c in claims})
    assert subjects == sorted([f"/Groups/{g['id']}" for g in groups] + [f"/Users/{user['id']}"])


def test_an_access_change_is_pushed_after_its_membership_patch(hooks: Hooks) -> None:
    """A member added to a mapped group: the group's patch, then the person's access
    change, each a SET of its own in the one transaction, each pushed once."""
    user = hooks.scim.create_user("ann", externalId="ann-1")
    group = hooks.scim.create_group("eng")
    access = hooks.server.access(hooks.tenant_id, "tester")
    access.map("developers", "eng")
    access.run_jobs()
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
    }
    with Receiver(lambda _r, _n: 202) as receiver:
        info, _ = hooks.add(receiver.url, fmt="set")
        assert hooks.scim.patch(f"/Groups/{group['id']}", add).status_code == 204
        drain(hooks.worker(), lambda: hooks.info(info.id).cursor == head(hooks))
        patched, changed = (verify(hooks, r, receiver.url) for r in receiver.requests)
    version = hooks.scim.get(f"/Groups/{group['id']}").get_json()["meta"]["version"]
    assert patched["sub_id"]["uri"] == f"/Groups/{group['id']}"
    assert patched["events"] == {
        f"{P}prov:patch:notice": {"attributes": ["members"], "version": version}
    }
    assert changed["sub_id"] == {
        "format": "scim",
        "uri": f"/Users/{user['id']}",
        "id": user["id"],
        "externalId": "ann-1",
    }
    assert changed["events"] == {
        "urn:scimserver:event:identity:access_changed": {
            "before": {"appGroups": [], "role": None, "roles": [], "isAdmin": None},
            "after": {
                "appGroups": ["developers"],
                "role": "developers",
                "roles": ["developers"],
                "isAdmin": None,
            },
        }
    }
    assert changed["txn"] == patched["txn"] and changed["jti"] != patched["jti"]
