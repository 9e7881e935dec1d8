"""Bulk planning (RFC 7644 §3.7) without a server: parsing, order, cycles, the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from scimserver import errors
from scimserver.schema import load_registry
from scimserver.schema.registry import default_schema_dir
from scimserver.scim.bulk import (
    BULK_REQUEST,
    BulkLimits,
    BulkRequest,
    Ledger,
    Outcome,
    Step,
    address,
    parse_request,
    plan,
)
from scimserver.scim.patch import PATCH_OP

REGISTRY = load_registry([default_schema_dir()])
LIMITS = BulkLimits(max_operations=10, max_payload_bytes=1_000_000)


def _request(*operations: dict[str, Any], **extra: Any) -> BulkRequest:
    return parse_request(
        {"schemas": [BULK_REQUEST], "Operations": list(operations), **extra}, LIMITS
    )


def _post(bulk_id: str, path: str = "/Users", **data: Any) -> dict[str, Any]:
    return {"method": "POST", "path": path, "bulkId": bulk_id, "data": data}


def _group(bulk_id: str, *members: str) -> dict[str, Any]:
    return _post(bulk_id, "/Groups", displayName=bulk_id, members=[{"value": m} for m in members])


# -- parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], errors.InvalidSyntax),
        ({"schemas": ["urn:wrong"], "Operations": []}, errors.InvalidValue),
        ({"schemas": [BULK_REQUEST]}, errors.InvalidSyntax),
        ({"Operations": [{}] * 11}, errors.PayloadTooLarge),
        ({"Operations": [_post("a"), _post("a")]}, errors.InvalidValue),
        ({"Operations": [], "failOnErrors": -1}, errors.InvalidValue),
        ({"Operations": [], "failOnErrors": True}, errors.InvalidValue),
    ],
)
def test_a_bad_envelope_fails_the_whole_request(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_request(body, LIMITS)


def test_fail_on_errors_zero_means_unset() -> None:
    assert _request(failOnErrors=0).fail_on_errors is None
    assert _request(failOnErrors=2).fail_on_errors == 2


@pytest.mark.parametrize(
    "item",
    [
        "not an object",
        {"method": "GET", "path": "/Users"},
        {"method": "POST", "path": "/"},
        {"method": "POST", "path": "/Users"},
        {"method": "DELETE", "path": "/Users/1", "version": 3},
        {"method": "POST", "path": "/Users", "bulkId": ""},
    ],
)
def test_a_malformed_operation_carries_its_own_error(item: Any) -> None:
    (operation,) = _request(item).operations
    assert isinstance(operation.error, errors.ScimError)
    with pytest.raises(errors.ScimError):
        plan([operation]).check(operation)


def test_too_deep_data_is_refused_without_recursion() -> None:
    data: dict[str, Any] = {}
    for _ in range(40):
        data = {"x": data}
    (operation,) = _request({"method": "POST", "path": "/Users", "data": data}).operations
    assert isinstance(operation.error, errors.InvalidSyntax)


def test_method_is_upper_cased_and_references_are_collected() -> None:
    patch = {
        "method": "patch",
        "path": "/Groups/bulkId:g",
        "data": {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": 'members[value eq "bulkId:u"]'}],
        },
    }
    (operation,) = _request(patch).operations
    assert operation.method == "PATCH"
    assert operation.refs == {"g", "u"}


# -- the plan -------------------------------------------------------------------------


def test_a_post_runs_before_its_first_referrer() -> None:
    request = _request(_group("g", "bulkId:u"), _post("u"), _post("v"))
    assert plan(request.operations).steps == [Step(1), Step(0), Step(2)]


def test_a_member_cycle_is_broken_and_completed_later() -> None:
    request = _request(_group("a", "bulkId:b"), _group("b", "bulkId:a"))
    the_plan = plan(request.operations)
    assert the_plan.deferred == {1: {"a"}}
    assert the_plan.circular == set()
    assert the_plan.steps == [Step(1), Step(0), Step(1, complete=True)]


def test_a_cycle_outside_members_answers_409() -> None:
    first = _post("a", displayName="bulkId:b")
    second = _post("b", displayName="bulkId:a")
    request = _request(first, second)
    the_plan = plan(request.operations)
    assert the_plan.circular == {1}
    with pytest.raises(errors.Conflict):
        the_plan.check(request.operations[1])


# -- what a path names ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/Users/42", "/scim/v2/Users/42", "https://h/scim/v2/Users/42"])
def test_a_path_under_the_base_url_names_the_same_resource(path: str) -> None:
    operation = _request({"method": "DELETE", "path": path}).operations[0]
    found = address(REGISTRY, operation, path)
    assert (found.resource_type.id, found.resource_id) == ("User", "42")


def test_unknown_endpoints_and_wrong_shapes() -> None:
    delete, post = _request({"method": "DELETE", "path": "/x"}, _post("a")).operations
    with pytest.raises(errors.NotFound):
        address(REGISTRY, delete, "/Nothing/1")
    with pytest.raises(errors.MethodNotAllowed):
        address(REGISTRY, delete, "/Users")
    with pytest.raises(errors.MethodNotAllowed):
        address(REGISTRY, post, "/Users/1")


# -- the ledger -----------------------------------------------------------------------


def test_references_resolve_to_created_ids() -> None:
    request = _request(_post("u"), _group("g", "bulkId:u"))
    ledger = Ledger(request)
    user, group = request.operations
    ledger.record(user, Outcome(201, "https://h/Users/7"))
    assert ledger.data_of(group, set())["members"] == [{"value": "7"}]


def test_an_undeclared_reference_is_400_and_a_failed_one_409() -> None:
    request = _request(_post("u"), _group("g", "bulkId:u"), _group("h", "bulkId:nope"))
    ledger = Ledger(request)
    user, group, other = request.operations
    with pytest.raises(errors.Conflict, match="circular"):
        ledger.data_of(group, set())
    ledger.record(user, Outcome(409, error=errors.Conflict("taken")))
    with pytest.raises(errors.Conflict, match="failed"):
        ledger.data_of(group, set())
    with pytest.raises(errors.InvalidValue):
        ledger.data_of(other, set())


def test_a_held_group_is_completed_with_the_members_it_left_out() -> None:
    request = _request(_group("a", "bulkId:b"), _group("b", "bulkId:a"))
    ledger = Ledger(request)
    a, b = request.operations
    assert ledger.data_of(b, {"a"})["members"] == []
    ledger.hold(b, Outcome(201, "https://h/Groups/2", 'W/"1"'))
    ledger.record(a, Outcome(201, "https://h/Groups/1", 'W/"1"'))
    assert ledger.completion(b, {"a"})["Operations"] == [
        {"op": "add", "path": "members", "value": [{"value": "1"}]}
    ]
    ledger.complete(b, 'W/"2"')
    assert ledger.response()["Operations"][1] == {
        "method": "POST",
        "bulkId": "b",
        "location": "https://h/Groups/2",
        "version": 'W/"2"',
        "status": "201",
    }


def test_fail_on_errors_stops_after_the_nth_failure() -> None:
    request = _request(_post("a"), _post("b"), _post("c"), failOnErrors=2)
    ledger = Ledger(request)
    first, second, _ = request.operations
    ledger.record(first, Outcome(409, error=errors.Conflict("taken")))
    assert not ledger.stopped()
    ledger.fail_cycle(second, errors.Conflict("member failed"))
    assert ledger.stopped()
    response = ledger.response()
    assert [op["status"] for op in response["Operations"]] == ["409", "409"]
    assert response["Operations"][1]["response"]["detail"].endswith("member failed")
