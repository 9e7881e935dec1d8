"""What an identity provider does to the live server, over SCIM with httpx."""

from __future__ import annotations

from typing import Any

import httpx

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


class Idp:
    """A SCIM client holding one bearer token."""

    def __init__(self, scim_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=scim_url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0
        )

    def close(self) -> None:
        self.client.close()

    def create_user(self, user_name: str, **attributes: Any) -> httpx.Response:
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}
        return self.client.post("/Users", json=body)

    def deactivate(self, user_id: str) -> httpx.Response:
        operation = {"op": "replace", "path": "active", "value": False}
        return self.client.patch(
            f"/Users/{user_id}", json={"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        )

    def list_users(self) -> httpx.Response:
        return self.client.get("/Users", params={"count": 1})

    def bulk_users(self, user_names: list[str]) -> list[str]:
        """Create the users with one Bulk request; their ids, in order."""
        operations = [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": f"u{n}",
                "data": {"schemas": [USER_SCHEMA], "userName": name},
            }
            for n, name in enumerate(user_names)
        ]
        response = self.client.post(
            "/Bulk", json={"schemas": [BULK_SCHEMA], "Operations": operations}
        )
        assert response.status_code == 200, response.text[:500]
        results = response.json()["Operations"]
        assert all(r["status"] == "201" for r in results), results[:3]
        return [r["location"].rsplit("/", 1)[1] for r in results]

    def create_group(self, display_name: str, member_ids: list[str]) -> httpx.Response:
        body = {
            "schemas": [GROUP_SCHEMA],
            "displayName": display_name,
            "members": [{"value": member} for member in member_ids],
        }
        return self.client.post("/Groups", json=body)
