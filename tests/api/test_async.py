"""Asynchronous requests (RFC 9967 §2.5.1, §3): ``Prefer: respond-async`` answers 202 with
``Set-Txn``; the completion is a ``misc:asyncresp`` SET, read by poll and at ``Location``,
verified with PyJWT against the tenant's JWKS."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from werkzeug.test import TestResponse

from tests.api.test_sets import BASE_URL, PATCH_OP, P, pinned, poll, start, verify
from tests.conftest import ScimClient, make_client

ASYNC = {"Prefer": "respond-async"}
ASYNCRESP = P + "misc:asyncresp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def accepted(response: TestResponse) -> str:
    """The 202's ``Set-Txn``, after checking the headers RFC 9967 §2.5.1.1 asks for."""
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_data() == b""
    assert response.headers["Preference-Applied"] == "respond-async"
    txn = response.headers["Set-Txn"]
    assert response.headers["Location"] == f"https://scim.test/api/v1/async/{txn}"
    return txn


def completed(scim: ScimClient, txn: str) -> dict[str, Any]:
    """The status document at the request's Location, once it is done (bounded wait)."""
    path = f"/api/v1/async/{txn}"
    auth = {"Authorization": f"Bearer {scim.token}"}
    for _ in range(200):
        response = scim.client.get(path, headers=auth)
        if response.status_code == 200:
            body: dict[str, Any] = response.get_json()
            assert body["status"] == "done"
            return body
        assert response.status_code == 202, response.get_data(as_text=True)
        assert response.get_json() == {"txn": txn, "status": "pending"}
        time.sleep(0.05)
    raise AssertionError(f"{txn} did not complete")


def location_sets(scim: ScimClient, txn: str) -> list[dict[str, Any]]:
    """The completion SETs at Location, verified against the tenant's pinned issuer and
    JWKS, addressed to that Location."""
    pin = pinned(scim)
    found = []
    for jti, token in completed(scim, txn)["sets"].items():
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "secevent+jwt"
        key = next(k for k in pin.keys.keys if k.key_id == header["kid"])
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            issuer=pin.issuer,
            audience=f"https://scim.test/api/v1/async/{txn}",
        )
        assert claims["jti"] == jti
        found.append(claims)
    return found


def polled(scim: ScimClient) -> list[dict[str, Any]]:
    """The SETs a poll gives, verified, then acknowledged (so they are not sent again)."""
    sets = poll(scim, {"returnImmediately": True, "maxEvents": 100}).get_json()["sets"]
    acked = poll(scim, {"ack": list(sets), "maxEvents": 0, "returnImmediately": True})
    assert acked.get_json() == {"sets": {}, "moreAvailable": False}
    return [verify(scim, token) for token in sets.values()]


def polled_completions(scim: ScimClient) -> list[dict[str, Any]]:
    return [c for c in polled(scim) if ASYNCRESP in c["events"]]


def one_completion(scim: ScimClient, txn: str) -> dict[str, Any]:
    """The request's one completion: the same at Location and by poll."""
    (at_location,) = location_sets(scim, txn)
    (polled,) = polled_completions(scim)
    assert polled["txn"] == at_location["txn"] == txn
    assert polled["events"] == at_location["events"]
    assert polled["sub_id"] == at_location["sub_id"]
    assert set(polled["events"]) == {ASYNCRESP}
    return polled


def user_body(name: str) -> dict[str, Any]:
    return {"schemas": [USER], "userName": name}


def test_post_is_accepted_then_created_and_its_completion_is_a_set(scim: ScimClient) -> None:
    start(scim)
    txn = accepted(scim.post("/Users", user_body("async-post"), headers=ASYNC))
    claims = one_completion(scim, txn)
    payload = claims["events"][ASYNCRESP]
    user_id = payload["location"].rsplit("/", 1)[-1]
    assert payload == {
        "method": "POST",
        "location": f"{BASE_URL}/Users/{user_id}",
        "version": 'W/"1"',
        "status": "201",
    }
    assert claims["sub_id"] == {"format": "scim", "uri": f"/Users/{user_id}", "id": user_id}
    assert scim.get(f"/Users/{user_id}").get_json()["userName"] == "async-post"


def test_put_is_accepted_then_replaced(scim: ScimClient) -> None:
    user = scim.create_user("async-put")
    start(scim)
    body = {"schemas": [USER], "userName": "async-put", "displayName": "Put Later"}
    txn = accepted(scim.put(f"/Users/{user['id']}", body, headers=ASYNC))
    payload = one_completion(scim, txn)["events"][ASYNCRESP]
    assert payload == {
        "method": "PUT",
        "location": f"{BASE_URL}/Users/{user['id']}",
        "version": 'W/"2"',
        "status": "200",
    }
    assert scim.get(f"/Users/{user['id']}").get_json()["displayName"] == "Put Later"


def test_patch_is_accepted_then_applied(scim: ScimClient) -> None:
    user = scim.create_user("async-patch")
    start(scim)
    op = {"op": "replace", "path": "displayName", "value": "Patched Later"}
    txn = accepted(
        scim.patch(
            f"/Users/{user['id']}", {"schemas": [PATCH_OP], "Operations": [op]}, headers=ASYNC
        )
    )
    payload = one_completion(scim, txn)["events"][ASYNCRESP]
    assert (payload["method"], payload["status"], payload["version"]) == ("PATCH", "200", 'W/"2"')
    assert scim.get(f"/Users/{user['id']}").get_json()["displayName"] == "Patched Later"


def test_delete_is_accepted_then_deleted(scim: ScimClient) -> None:
    user = scim.create_user("async-delete")
    start(scim)
    txn = accepted(scim.delete(f"/Users/{user['id']}", headers=ASYNC))
    claims = one_completion(scim, txn)
    assert claims["events"][ASYNCRESP] == {"method": "DELETE", "status": "204"}
    assert claims["sub_id"]["uri"] == f"/Users/{user['id']}"
    assert scim.get(f"/Users/{user['id']}").status_code == 404


def test_a_failure_is_completed_with_the_scim_error(scim: ScimClient) -> None:
    start(scim)
    missing = "00000000-0000-0000-0000-000000000000"
    op = {"op": "replace", "path": "displayName", "value": "x"}
    body = {"schemas": [PATCH_OP], "Operations": [op]}
    txn = accepted(scim.patch(f"/Users/{missing}", body, headers=ASYNC))
    payload = one_completion(scim, txn)["events"][ASYNCRESP]
    assert payload["status"] == "404"
    assert payload["response"]["status"] == "404"
    assert payload["response"]["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    txn = accepted(scim.post("/Users", {"schemas": [USER]}, headers=ASYNC))
    claims = one_completion(scim, txn)
    assert claims["events"][ASYNCRESP]["status"] == "400"
    assert claims["sub_id"] == {"format": "scim", "uri": "/Users"}


def test_bulk_completes_each_operation_with_its_index(scim: ScimClient) -> None:
    victim = scim.create_user("bulk-victim")
    start(scim)
    body = {
        "schemas": [BULK_REQUEST],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "q", "data": user_body("bulk-a")},
            {"method": "DELETE", "path": f"/Users/{victim['id']}"},
            {"method": "PATCH", "path": "/Users/nobody", "data": {"schemas": [PATCH_OP]}},
        ],
    }
    txn = accepted(scim.post("/Bulk", body, headers=ASYNC))
    at_location = location_sets(scim, txn)
    polled = polled_completions(scim)
    assert sorted(c["txn"] for c in polled) == [f"{txn}:0", f"{txn}:1", f"{txn}:2"]
    assert sorted(c["txn"] for c in at_location) == sorted(c["txn"] for c in polled)
    by_txn = {c["txn"]: c["events"][ASYNCRESP] for c in polled}
    created = by_txn[f"{txn}:0"]
    assert (created["method"], created["bulkId"], created["status"]) == ("POST", "q", "201")
    assert by_txn[f"{txn}:1"] == {
        "method": "DELETE",
        "location": f"{BASE_URL}/Users/{victim['id']}",
        "status": "204",
    }
    assert by_txn[f"{txn}:2"]["status"] in {"400", "404"}
    assert "response" in by_txn[f"{txn}:2"]
    assert scim.get(f"/Users/{victim['id']}").status_code == 404


def test_wait_answers_as_usual_when_the_work_is_fast(scim: ScimClient) -> None:
    start(scim)
    headers = {"Prefer": "respond-async, wait=10"}
    response = scim.post("/Users", user_body("waited"), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "Set-Txn" not in response.headers
    body = response.get_json()
    assert body["userName"] == "waited"
    assert response.headers["Location"] == f"{BASE_URL}/Users/{body['id']}"
    deleted = scim.delete(f"/Users/{body['id']}", headers=headers)
    assert deleted.status_code == 204
    events = [set(c["events"]) for c in polled(scim)]
    assert events == [{P + "prov:create:notice"}, {P + "prov:delete"}]


def test_wait_answers_errors_as_usual(scim: ScimClient) -> None:
    response = scim.post("/Users", {"schemas": [USER]}, headers={"Prefer": "respond-async,wait=5"})
    assert response.status_code == 400
    assert response.get_json()["status"] == "400"


def test_location_needs_a_token_of_the_same_tenant(scim: ScimClient) -> None:
    txn = accepted(scim.post("/Users", user_body("private"), headers=ASYNC))
    completed(scim, txn)
    path = urlsplit(f"https://scim.test/api/v1/async/{txn}").path
    assert scim.client.get(path).status_code == 401
    other = make_client(scim.client.application)
    response = other.client.get(path, headers={"Authorization": f"Bearer {other.token}"})
    assert response.status_code == 404
    reader = make_client(scim.client.application, "read", tenant=scim.tenant)
    response = reader.client.get(path, headers={"Authorization": f"Bearer {reader.token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "prefer", ["respond-async=;;", "wait=5", "respond-asyncx", '"respond-async"', ",,", "wait=²"]
)
def test_other_or_malformed_preferences_are_ignored(scim: ScimClient, prefer: str) -> None:
    response = scim.post(
        "/Users", user_body(f"plain-{len(prefer)}-{prefer[:3]}"), headers={"Prefer": prefer}
    )
    assert response.status_code in {201, 202}
    if prefer.startswith("respond-async="):
        accepted(response)  # the preference is named; its odd value is ignored
    else:
        assert response.status_code == 201


def test_a_read_token_cannot_write_asynchronously(app: Any) -> None:
    reader = make_client(app, "read")
    response = reader.post("/Users", user_body("nope"), headers=ASYNC)
    assert response.status_code == 403


def test_service_provider_config_advertises_request_mode(scim: ScimClient) -> None:
    start(scim)
    events = scim.get("/ServiceProviderConfig").get_json()["securityEvents"]
    assert events["asyncRequest"] == "request"
    assert ASYNCRESP in events["eventUris"]
