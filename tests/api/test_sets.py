"""Security Event Tokens through the RFC 8936 poll endpoint, verified with PyJWT."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from flask import Flask
from werkzeug.test import TestResponse

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.store.changes import ChangeRepository
from tests.conftest import ScimClient, close_app, make_client

POLL = "/api/v1/sets/poll"
P = "urn:ietf:params:scim:event:"
BASE_URL = "https://scim.test/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def poll(scim: ScimClient, body: Any, **headers: str) -> TestResponse:
    return scim.client.post(
        POLL,
        json=body,
        headers={"Authorization": f"Bearer {scim.token}", **headers},
    )


@dataclass(frozen=True)
class Pinned:
    """What a receiver pins for its stream: issuer, audience and the issuer's keys."""

    issuer: str
    audience: str
    keys: jwt.PyJWKSet


def pinned(scim: ScimClient) -> Pinned:
    """The stream's issuer and audience, and the JWKS published under the issuer (fetched
    without a token, as a receiver would)."""
    stream = scim.client.get(
        "/api/v1/sets/stream", headers={"Authorization": f"Bearer {scim.token}"}
    ).get_json()
    assert stream["jwks_uri"] == stream["iss"] + "/jwks.json"
    jwks = scim.client.get(urlsplit(stream["jwks_uri"]).path).get_json()
    return Pinned(stream["iss"], stream["aud"], jwt.PyJWKSet.from_dict(jwks))


def verify_with(pin: Pinned, token: str) -> dict[str, Any]:
    """The SET's claims, checked by PyJWT (not the signer) against what was pinned."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt"
    key = next(k for k in pin.keys.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["ES256"], audience=pin.audience, issuer=pin.issuer
    )
    return claims


def verify(scim: ScimClient, token: str) -> dict[str, Any]:
    return verify_with(pinned(scim), token)


def start(scim: ScimClient) -> None:
    """Register the token as a receiver: it receives what commits from now on."""
    assert poll(scim, {"returnImmediately": True}).get_json() == {
        "sets": {},
        "moreAvailable": False,
    }


def drain(scim: ScimClient, max_events: int = 100) -> list[dict[str, Any]]:
    body = poll(scim, {"returnImmediately": True, "maxEvents": max_events}).get_json()
    return [verify(scim, token) for token in body["sets"].values()]


def test_jwks_publishes_the_tenants_signing_key(scim: ScimClient) -> None:
    response = scim.client.get(
        "/api/v1/jwks.json", headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/jwk-set+json"
    keys = response.get_json()["keys"]
    assert len(keys) == 1
    assert all(k["kty"] == "EC" and k["alg"] == "ES256" for k in keys)
    assert all("d" not in k for k in keys)
    assert [k.key_id for k in pinned(scim).keys.keys] == [k["kid"] for k in keys]
    assert scim.client.get("/api/v1/jwks.json").status_code == 401


def test_user_lifecycle_becomes_verified_sets(scim: ScimClient) -> None:
    start(scim)
    user = scim.create_user("bjensen", externalId="bj-ext")
    uri = f"/Users/{user['id']}"
    off = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim.patch(uri, off).status_code == 200
    body = {**user, "active": True}
    body.pop("meta")
    assert scim.put(uri, body).status_code == 200
    assert scim.delete(uri).status_code == 204
    created, deactivated, reactivated, deleted = drain(scim)

    assert created["sub_id"] == {
        "format": "scim",
        "uri": uri,
        "id": user["id"],
        "externalId": "bj-ext",
    }
    assert created["events"] == {
        P + "prov:create:notice": {"attributes": ["schemas", "userName", "externalId"]}
    }
    assert deactivated["events"] == {
        P + "prov:patch:notice": {"attributes": ["active"], "version": 'W/"2"'},
        P + "prov:deactivate": {},
    }
    assert reactivated["events"] == {
        P + "prov:put:notice": {"attributes": ["active"], "version": 'W/"3"'},
        P + "prov:activate": {},
    }
    assert deleted["events"] == {P + "prov:delete": {}}
    for claims in (created, deactivated, reactivated, deleted):
        assert "sub" not in claims and "exp" not in claims
        assert claims["txn"] and claims["toe"] <= claims["iat"]
    assert len({c["txn"] for c in (created, deactivated, reactivated, deleted)}) == 4


def test_membership_changes_are_group_patches(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group("crm-users")
    start(scim)
    add = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
    }
    assert scim.patch(f"/Groups/{group['id']}", add).status_code == 204
    (added,) = drain(scim)
    assert added["sub_id"]["uri"] == f"/Groups/{group['id']}"
    assert added["events"] == {
        P + "prov:patch:notice": {"attributes": ["members"], "version": 'W/"2"'}
    }


def deactivate(scim: ScimClient, user_id: str) -> None:
    off = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim.patch(f"/Users/{user_id}", off).status_code == 200


def test_long_poll_returns_when_a_deactivation_commits(scim: ScimClient) -> None:
    user = scim.create_user()
    start(scim)
    writer = threading.Timer(0.3, deactivate, (scim, user["id"]))
    began = time.monotonic()
    writer.start()
    response = poll(scim, {"maxEvents": 10})
    waited = time.monotonic() - began
    writer.join()
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    (token,) = response.get_json()["sets"].values()
    assert P + "prov:deactivate" in verify(scim, token)["events"]
    assert 0.2 < waited < 1.3


def test_unacked_sets_are_redelivered_with_the_same_jti_until_acked(scim: ScimClient) -> None:
    start(scim)
    scim.create_user()
    first = poll(scim, {"returnImmediately": True}).get_json()["sets"]
    again = poll(scim, {"returnImmediately": True}).get_json()["sets"]
    assert again == first and len(first) == 1
    scim.create_user()
    acked = poll(scim, {"returnImmediately": True, "ack": list(first)}).get_json()["sets"]
    assert len(acked) == 1 and not set(acked) & set(first)
    done = poll(scim, {"returnImmediately": True, "ack": list(acked)}).get_json()
    assert done == {"sets": {}, "moreAvailable": False}


def test_max_events_pages_oldest_first_with_more_available(scim: ScimClient) -> None:
    start(scim)
    names = [scim.create_user()["userName"] for _ in range(3)]
    page = poll(scim, {"returnImmediately": True, "maxEvents": 2}).get_json()
    assert page["moreAvailable"] is True and len(page["sets"]) == 2
    body = {"returnImmediately": True, "maxEvents": 2, "ack": list(page["sets"])}
    rest = poll(scim, body).get_json()
    assert rest["moreAvailable"] is False and len(rest["sets"]) == 1
    tokens = [*page["sets"].values(), *rest["sets"].values()]
    paths = [verify(scim, t)["sub_id"]["uri"] for t in tokens]
    ids = [
        scim.get(f'/Users?filter=userName eq "{n}"').get_json()["Resources"][0]["id"] for n in names
    ]
    assert paths == [f"/Users/{i}" for i in ids]


def test_ack_only_poll_returns_at_once(scim: ScimClient) -> None:
    start(scim)
    scim.create_user()
    jtis = list(poll(scim, {"returnImmediately": True}).get_json()["sets"])
    began = time.monotonic()
    body = {"maxEvents": 0, "returnImmediately": True, "ack": jtis}
    assert poll(scim, body).get_json() == {"sets": {}, "moreAvailable": False}
    assert time.monotonic() - began < 1
    assert poll(scim, {"returnImmediately": True}).get_json()["sets"] == {}


def test_set_errs_need_content_language_and_release_the_set(scim: ScimClient) -> None:
    start(scim)
    scim.create_user()
    (jti,) = poll(scim, {"returnImmediately": True}).get_json()["sets"]
    errs = {jti: {"err": "invalid_audience", "description": "not for us"}}
    refused = poll(scim, {"returnImmediately": True, "setErrs": errs})
    assert refused.status_code == 400
    assert refused.get_json()["err"] == "invalid_request"
    assert "Content-Language" in refused.get_json()["description"]
    body = {"returnImmediately": True, "setErrs": errs}
    accepted = poll(scim, body, **{"Content-Language": "en"})
    assert accepted.get_json() == {"sets": {}, "moreAvailable": False}


@pytest.mark.parametrize(
    "body",
    [
        [],
        "poll",
        {"maxEvents": -1},
        {"maxEvents": "5"},
        {"maxEvents": True},
        {"maxEvents": 1.5},
        {"returnImmediately": "yes"},
        {"ack": "jti"},
        {"setErrs": []},
        {"setErrs": {"j": "bad"}},
        {"setErrs": {"j": {"description": "no err"}}},
    ],
)
def test_bad_poll_requests_are_400(scim: ScimClient, body: Any) -> None:
    response = poll(scim, body, **{"Content-Language": "en"})
    assert response.status_code == 400
    assert response.get_json()["err"] == "invalid_request"


def test_ack_ignores_unknown_and_malformed_jtis_and_keeps_the_valid_ones(
    scim: ScimClient, caplog: pytest.LogCaptureFixture
) -> None:
    start(scim)
    scim.create_user()
    scim.create_user()
    first, second = poll(scim, {"returnImmediately": True}).get_json()["sets"]
    junk = [1, "", "x" * 65, None, "no-such-jti", "another-unknown"]
    with caplog.at_level("INFO", logger="scimserver.service.poll"):
        response = poll(scim, {"returnImmediately": True, "ack": [first, *junk]})
    assert response.status_code == 200
    assert list(response.get_json()["sets"]) == [second]  # `first` was released
    (line,) = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert "2 acknowledgement(s) of unknown jtis and 4 that are no jti" in line


def test_malformed_json_is_400_invalid_request(scim: ScimClient) -> None:
    response = scim.client.post(
        POLL,
        data="{not json",
        headers={"Authorization": f"Bearer {scim.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["err"] == "invalid_request"


def test_poll_needs_a_token_and_accepts_read_only_ones(app: Flask) -> None:
    anonymous = app.test_client().post(POLL, json={"returnImmediately": True})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    reader = make_client(app, scope="read")
    assert poll(reader, {"returnImmediately": True}).status_code == 200


def test_receivers_are_per_token_and_per_tenant(app: Flask) -> None:
    tenant_a = make_client(app)
    tenant_b = make_client(app)
    second_a = make_client(app, tenant=tenant_a.tenant)
    for client in (tenant_a, tenant_b, second_a):
        start(client)
    tenant_b.create_user()
    assert poll(tenant_a, {"returnImmediately": True}).get_json()["sets"] == {}
    tenant_a.create_user()
    mine = poll(tenant_a, {"returnImmediately": True}).get_json()["sets"]
    theirs = poll(second_a, {"returnImmediately": True}).get_json()["sets"]
    assert len(mine) == len(theirs) == 1
    assert set(mine) != set(theirs)
    assert [verify(tenant_a, t)["sub_id"] for t in mine.values()] == [
        verify(second_a, t)["sub_id"] for t in theirs.values()
    ]
    assert len(poll(tenant_b, {"returnImmediately": True}).get_json()["sets"]) == 1


def test_service_provider_config_advertises_the_events_sent(scim: ScimClient) -> None:
    assert "securityEvents" not in scim.get("/ServiceProviderConfig").get_json()
    start(scim)
    events = scim.get("/ServiceProviderConfig").get_json()["securityEvents"]
    assert events["asyncRequest"] == "request"
    assert events["eventUris"] == [
        P + "prov:create:notice",
        P + "prov:patch:notice",
        P + "prov:put:notice",
        P + "prov:delete",
        P + "prov:activate",
        P + "prov:deactivate",
        P + "misc:asyncresp",
    ]


def test_schemas_define_security_events(scim: ScimClient) -> None:
    urn = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    schema = scim.get(f"/Schemas/{urn}").get_json()
    found = next(a for a in schema["attributes"] if a["name"] == "securityEvents")
    assert (found["type"], found["multiValued"], found["mutability"]) == (
        "complex",
        False,
        "readOnly",
    )
    subs = {s["name"]: s for s in found["subAttributes"]}
    assert subs["asyncRequest"]["canonicalValues"] == ["none", "long", "request"]
    assert (subs["eventUris"]["type"], subs["eventUris"]["multiValued"]) == ("string", True)
    start(scim)
    config = scim.get("/ServiceProviderConfig").get_json()
    declared = {a["name"] for a in schema["attributes"]}
    assert set(config) - {"schemas", "meta"} <= declared


@pytest.fixture(scope="module")
def full_app(app: Flask) -> Iterator[Flask]:
    """A second app on the same database, sending SETs in full mode."""
    settings = app.extensions["scimserver"].settings
    other = create_app(Settings(settings.database_url, base_url=BASE_URL, poll_full_events=True))
    yield other
    close_app(other)


def test_every_instance_signs_with_the_same_key(app: Flask, full_app: Flask) -> None:
    scim = make_client(app)
    bearer = {"Authorization": f"Bearer {scim.token}"}
    ours = app.test_client().get("/api/v1/jwks.json", headers=bearer).get_json()
    theirs = full_app.test_client().get("/api/v1/jwks.json", headers=bearer).get_json()
    assert ours == theirs and len(ours["keys"]) == 1


def test_full_mode_sends_the_resource_and_the_patch_op(full_app: Flask) -> None:
    scim = make_client(full_app)
    start(scim)
    user = scim.create_user("bjensen", name={"givenName": "Barbara"}, title="Boss")
    change = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": "name.givenName", "value": "Babs"},
            {"op": "remove", "path": "title"},
        ],
    }
    assert scim.patch(f"/Users/{user['id']}", change).status_code == 200
    created, patched = drain(scim)
    data = created["events"][P + "prov:create:full"]["data"]
    assert data["id"] == user["id"] and data["userName"] == "bjensen"
    assert data["meta"]["location"] == user["meta"]["location"]
    assert data["meta"]["version"] == user["meta"]["version"]
    assert "password" not in data
    assert patched["events"] == {
        P + "prov:patch:full": {
            "version": 'W/"2"',
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": "name.givenName", "value": "Babs"},
                    {"op": "remove", "path": "title"},
                ],
            },
        }
    }
    uris = scim.get("/ServiceProviderConfig").get_json()["securityEvents"]["eventUris"]
    assert P + "prov:put:full" in uris


def test_set_issuer_keeps_the_jti_for_a_receiver(app: Flask, scim: ScimClient) -> None:
    user = scim.create_user()
    server = app.extensions["scimserver"]
    tenant = server.tokens.authenticate(scim.token).tenant_id
    with server.db.read() as session:
        (change,) = ChangeRepository(session, tenant).after(0, 10)
    issuer = server.set_issuer(tenant)
    jti, token = issuer.encode([change], "https://app.example/r/1", False, "webhook:1")
    again, _ = issuer.encode([change], "https://app.example/r/1", False, "webhook:1")
    other, _ = issuer.encode([change], "https://app.example/r/2", False, "webhook:2")
    assert jti == again != other
    pin = pinned(scim)
    claims = jwt.decode(
        token,
        pin.keys.keys[0],
        algorithms=["ES256"],
        audience="https://app.example/r/1",
        issuer=pin.issuer,
    )
    assert claims["jti"] == jti and claims["sub_id"]["id"] == user["id"]


def test_the_rfc_8936_figures_in_sequence(scim: ScimClient) -> None:
    """RFC 8936 §2.4's exchange, with its bodies verbatim but for our jtis: poll (Fig. 3),
    acknowledge and poll again (Fig. 5), acknowledge only (Fig. 6), report an error with
    an acknowledgement (Fig. 7)."""
    start(scim)
    for _ in range(3):
        scim.create_user()
    first = poll(scim, {"maxEvents": 10, "returnImmediately": False}).get_json()
    assert first["moreAvailable"] is False and len(first["sets"]) == 3
    one, two, three = first["sets"]
    again = poll(scim, {"ack": [one, two], "returnImmediately": False}).get_json()
    assert list(again["sets"]) == [three]  # the un-acked one, nothing new
    only_ack = poll(scim, {"ack": [], "maxEvents": 0, "returnImmediately": True})
    assert only_ack.get_json() == {"sets": {}, "moreAvailable": True}  # `three` waits
    errors = {
        "ack": [],
        "setErrs": {
            three: {
                "err": "authentication_failed",
                "description": "The SET could not be authenticated",
            }
        },
        "returnImmediately": True,
    }
    reported = poll(scim, errors, **{"Content-Language": "en-US"})
    assert reported.get_json() == {"sets": {}, "moreAvailable": False}
