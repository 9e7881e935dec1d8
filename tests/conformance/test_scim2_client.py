"""scim2-client, the most used Python SCIM client, against the real server on a fresh
tenant: ``discover()`` accepts its discovery documents (scim2-models validates them),
and it creates, reads, replaces, patches and deletes a user and a group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from scim2_models import PatchOp, PatchOperation

from tests.conformance.engine import HttpxSCIMClient
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def crud(client: HttpxSCIMClient, created: Any, change: str, value: str) -> None:
    """Read ``created`` back, replace ``change`` with ``value``, patch it back, delete it."""
    model = type(created)
    read = client.query(model, created.id)
    assert read.id == created.id and read.meta.version == created.meta.version
    setattr(read, change, value)
    replaced = client.replace(read)
    assert getattr(replaced, change) == value
    assert replaced.meta.version != created.meta.version
    path = "displayName"
    patch = PatchOp[model](
        operations=[PatchOperation(op=PatchOperation.Op.replace_, path=path, value="patched")]
    )
    client.modify(model, created.id, patch)
    assert client.query(model, created.id).display_name == "patched"
    assert client.delete(model, created.id) is None
    gone = client.query(model, created.id, expected_status_codes=[404], raise_scim_errors=False)
    assert gone.status == 404


def test_discover_and_crud(database_url: str, tmp_path: Path) -> None:
    env = {"SCIMSERVER_DATABASE_URL": database_url}
    with LiveServer(env, workers=1, cwd=tmp_path, log_dir=tmp_path) as server:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.scim_url, headers=headers, timeout=15.0) as http:
            client = HttpxSCIMClient(http)
            client.discover()
            config = client.provider.config
            assert config is not None and config.patch.supported
            user_model = client.provider.model_for("User")
            group_model = client.provider.model_for("Group")
            user = client.create(user_model(user_name="bjensen", display_name="Barbara"))
            crud(client, user, "display_name", "Babs")
            member = client.create(user_model(user_name="member"))
            group = client.create(group_model(display_name="crm", members=[{"value": member.id}]))
            assert [m.value for m in group.members] == [member.id]
            crud(client, group, "display_name", "crm-2")
