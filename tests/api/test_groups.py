"""Groups: members live in their own table; User.groups is derived from it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from scimserver.store.models import Membership, Resource
from tests.conftest import ScimClient, assert_scim_error, fixture_json, statements_run


def memberships(app: Flask, group_id: str) -> set[str]:
    with app.extensions["scimserver"].db.read() as session:
        query = select(Membership.member_id).where(Membership.group_id == group_id)
        return set(session.scalars(query))


def test_create_group_with_members_stores_them_outside_the_document(
    scim: ScimClient, app: Flask
) -> None:
    alice = scim.create_user("alice@example.com", displayName="Alice")
    bob = scim.create_user("bob@example.com")
    body = {
        "displayName": "Tour Guides",
        "members": [{"value": alice["id"], "display": "Alice J."}, {"value": bob["id"]}],
    }
    response = scim.post("/Groups", body)
    assert response.status_code == 201
    group = response.get_json()
    assert group["meta"]["resourceType"] == "Group"
    members = {m["value"]: m for m in group["members"]}
    assert members.keys() == {alice["id"], bob["id"]}
    assert members[alice["id"]]["display"] == "Alice J."  # as the client sent it
    assert "display" not in members[bob["id"]]
    assert members[alice["id"]]["type"] == "User"
    assert members[alice["id"]]["$ref"] == f"https://scim.test/scim/v2/Users/{alice['id']}"
    assert memberships(app, group["id"]) == {alice["id"], bob["id"]}
    with app.extensions["scimserver"].db.read() as session:
        row = session.get(Resource, group["id"])
        assert row is not None and "members" not in row.data


def test_rfc_group_example_with_nested_group(scim: ScimClient) -> None:
    inner = scim.create_group("Inner")
    user = scim.create_user()
    example = fixture_json("rfc7643/group.json")
    example["members"] = [{"value": user["id"]}, {"value": inner["id"], "type": "Group"}]
    response = scim.post("/Groups", example)
    assert response.status_code == 201
    types = {m["value"]: m["type"] for m in response.get_json()["members"]}
    assert types == {user["id"]: "User", inner["id"]: "Group"}


def test_user_groups_is_derived_and_read_only(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group("Derived", [user["id"]])
    fetched = scim.get(f"/Users/{user['id']}").get_json()
    assert fetched["groups"] == [
        {
            "value": group["id"],
            "$ref": f"https://scim.test/scim/v2/Groups/{group['id']}",
            "type": "direct",
            "display": "Derived",
        }
    ]
    body = {"userName": user["userName"], "groups": [{"value": "elsewhere"}]}
    replaced = scim.put(f"/Users/{user['id']}", body).get_json()
    assert [g["value"] for g in replaced["groups"]] == [group["id"]]


def test_unknown_member_is_400_and_writes_nothing(scim: ScimClient) -> None:
    response = scim.post("/Groups", {"displayName": "Ghosts", "members": [{"value": "nobody"}]})
    assert_scim_error(response, 400, "invalidValue")
    assert scim.get("/Groups").get_json()["totalResults"] == 0


def test_put_replaces_membership_by_difference(scim: ScimClient, app: Flask) -> None:
    a, b, c = (scim.create_user()["id"] for _ in range(3))
    group = scim.create_group("Diff", [a, b])
    body = {"displayName": "Diff", "members": [{"value": b}, {"value": c}]}
    response = scim.put(f"/Groups/{group['id']}", body)
    assert response.status_code == 200
    assert {m["value"] for m in response.get_json()["members"]} == {b, c}
    assert memberships(app, group["id"]) == {b, c}


def test_deleting_a_user_removes_its_memberships(scim: ScimClient, app: Flask) -> None:
    a, b = scim.create_user()["id"], scim.create_user()["id"]
    group = scim.create_group("Cascade", [a, b])
    assert scim.delete(f"/Users/{a}").status_code == 204
    assert memberships(app, group["id"]) == {b}
    assert [m["value"] for m in scim.get(f"/Groups/{group['id']}").get_json()["members"]] == [b]


def test_deleting_a_group_removes_memberships_both_ways(scim: ScimClient, app: Flask) -> None:
    user = scim.create_user()
    outer = scim.create_group("Outer")
    inner = scim.create_group("Inner", [user["id"]])
    scim.put(
        f"/Groups/{outer['id']}", {"displayName": "Outer", "members": [{"value": inner["id"]}]}
    )
    assert scim.delete(f"/Groups/{inner['id']}").status_code == 204
    assert memberships(app, outer["id"]) == set()
    assert "groups" not in scim.get(f"/Users/{user['id']}").get_json()


def test_excluding_members_leaves_them_out(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group("Big", [user["id"]])
    body = scim.get(f"/Groups/{group['id']}?excludedAttributes=members").get_json()
    assert "members" not in body
    assert body["displayName"] == "Big"


def test_group_filters(scim: ScimClient) -> None:
    user = scim.create_user()
    group = scim.create_group("Filtered", [user["id"]], externalId="g-ext")
    scim.create_group("Other")
    for query in (
        'displayName eq "filtered"',
        'externalId eq "g-ext"',
        f'members.value eq "{user["id"]}"',
        f'id eq "{group["id"]}"',
    ):
        body = scim.get("/Groups", query_string={"filter": query}).get_json()
        assert [r["id"] for r in body["Resources"]] == [group["id"]], query


def test_group_without_display_name_is_400(scim: ScimClient) -> None:
    assert_scim_error(scim.post("/Groups", {"members": []}), 400, "invalidValue")


def test_excluding_members_or_groups_skips_loading_them(scim: ScimClient, app: Flask) -> None:
    user = scim.create_user()
    group = scim.create_group("Lazy", [user["id"]])
    reads = {
        f"/Groups/{group['id']}?excludedAttributes=members": False,
        f"/Groups/{group['id']}?attributes=displayName": False,
        "/Groups?excludedAttributes=members": False,
        f"/Users/{user['id']}?excludedAttributes=groups": False,
        f"/Groups/{group['id']}": True,
        f"/Users/{user['id']}": True,
    }
    for path, loads in reads.items():
        statements = statements_run(app, lambda p=path: scim.get(p))
        touched = any("memberships" in s for s in statements)
        assert touched is loads, (path, statements)


def test_a_user_name_lookup_reads_the_user_and_its_groups_in_one_statement(
    scim: ScimClient, app: Flask
) -> None:
    user, other, lone = scim.create_user(), scim.create_user(), scim.create_user()
    groups = [
        scim.create_group("Zeta", [user["id"]]),
        scim.create_group("Alpha", [user["id"], other["id"]]),
    ]
    path = f'/Users?filter=userName eq "{user["userName"].upper()}"'
    statements = statements_run(app, lambda: scim.get(path))
    assert len([s for s in statements if "resources" in s]) == 1, statements

    found = scim.get(path).get_json()
    assert found["totalResults"] == 1
    assert found["Resources"][0]["groups"] == [
        {
            "value": g["id"],
            "$ref": f"https://scim.test/scim/v2/Groups/{g['id']}",
            "type": "direct",
            "display": g["displayName"],
        }
        for g in sorted(groups, key=lambda g: g["id"])
    ]
    assert found["Resources"][0] == scim.get(f"/Users/{user['id']}").get_json()
    alone = scim.get(f'/Users?filter=userName eq "{lone["userName"]}"').get_json()
    assert alone["totalResults"] == 1
    assert "groups" not in alone["Resources"][0]
    excluded = f"{path}&excludedAttributes=groups"
    statements = statements_run(app, lambda: scim.get(excluded))
    assert not any("memberships" in s for s in statements)
    assert "groups" not in scim.get(excluded).get_json()["Resources"][0]


def test_a_list_page_shows_each_user_its_own_groups(scim: ScimClient) -> None:
    """A page's groups are read for all its users at once; each gets exactly its own."""
    users = [scim.create_user() for _ in range(5)]
    first = scim.create_group("First", [u["id"] for u in users[:3]])
    second = scim.create_group("Second", [users[1]["id"], users[4]["id"]])
    expected = {
        users[0]["id"]: [first["id"]],
        users[1]["id"]: sorted([first["id"], second["id"]]),
        users[2]["id"]: [first["id"]],
        users[3]["id"]: [],
        users[4]["id"]: [second["id"]],
    }
    page = scim.get("/Users", query_string={"count": 10}).get_json()["Resources"]
    shown = {r["id"]: [g["value"] for g in r.get("groups", [])] for r in page}
    assert shown == expected
    for user in page:
        assert user == scim.get(f"/Users/{user['id']}").get_json()
