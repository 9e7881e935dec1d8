"""``scimserver webhook …`` and ``scimserver audit`` as an operator sees them."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result
from flask import Flask
from standardwebhooks import Webhook

from scimserver.cli import main
from tests.conftest import make_client
from tests.webhooks.receiver import Receiver


def run(app: Flask, *args: str, code: int = 0) -> Result:
    env = {"SCIMSERVER_DATABASE_URL": app.extensions["scimserver"].settings.database_url}
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def secret_in(output: str) -> str:
    return next(line.strip() for line in output.splitlines() if line.strip().startswith("whsec_"))


def test_webhook_commands(app: Flask) -> None:
    tenant = make_client(app).tenant
    with Receiver() as receiver:
        added = run(
            app,
            "webhook",
            "add",
            receiver.url,
            "--tenant",
            tenant,
            "--events",
            "user.deleted,user.deactivated",
            # The receiver listens on http://127.0.0.1: both allowances, said out loud.
            "--insecure-http",
            "--allow-private-network",
        )
        secret = secret_in(added.stdout)
        hook_id = added.stdout.split()[1]
        assert f"WARNING: webhook {hook_id} is insecure-http" in added.output
        listing = run(app, "webhook", "list", "--tenant", tenant)
        header, row = listing.stdout.splitlines()
        assert header.split() == [
            "ID",
            "TENANT",
            "FORMAT",
            "EVENTS",
            "STATE",
            "LAG",
            "ATTEMPTS",
            "DEAD_LETTERS",
            "FLAGS",
            "URL",
        ]
        cells = row.split()
        assert cells[0] == hook_id and cells[-1] == receiver.url
        assert cells[3:9] == [
            "user.deactivated,user.deleted",
            "active",
            "0",
            "0/8",
            "0",
            "INSECURE-HTTP,PRIVATE-NETWORK",
        ]
        assert f"WARNING: webhook {hook_id} is insecure-http" in listing.stderr
        assert f"WARNING: webhook {hook_id} may reach the private network" in listing.stderr
        assert "whsec_" not in listing.output
        assert "Receiver answered HTTP 204" in run(app, "webhook", "test", hook_id).output
        (request,) = receiver.requests
        Webhook(secret).verify(request.body, request.headers)
        assert request.event["type"] == "webhook.test"
        rotated = run(app, "webhook", "rotate-secret", hook_id, "--overlap", "1h").stdout
        assert secret_in(rotated) != secret
        run(app, "webhook", "test", hook_id)
        Webhook(secret_in(rotated)).verify(receiver.requests[1].body, receiver.requests[1].headers)
    assert "Queued 0 parked change(s)" in run(app, "webhook", "redeliver", hook_id).output
    assert "not accepted" in run(app, "webhook", "test", hook_id, code=1).output  # receiver gone
    assert f"Removed webhook {hook_id}." in run(app, "webhook", "remove", hook_id).output
    assert "No webhook" in run(app, "webhook", "remove", hook_id, code=1).output


def test_webhook_add_rejects_what_it_cannot_deliver(app: Flask) -> None:
    tenant = make_client(app).tenant
    bad_event = run(
        app,
        "webhook",
        "add",
        "http://127.0.0.1:1/x",
        "--tenant",
        tenant,
        "--events",
        "user.exploded",
        code=2,
    )
    assert "Unknown event type(s) user.exploded" in bad_event.output
    assert "https://" in run(app, "webhook", "add", "ftp://x", "--tenant", tenant, code=2).output
    assert (
        "No tenant" in run(app, "webhook", "add", "https://x/", "--tenant", "nope", code=1).output
    )


def test_audit_tells_who_deactivated_a_user_and_when(app: Flask) -> None:
    scim = make_client(app)
    user = scim.create_user("Grace")
    group = scim.create_group("admins", members=[user["id"]])
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    response = scim.patch(f"/Users/{user['id']}", patch, headers={"X-Request-Id": "req-42"})
    assert response.status_code == 200
    table = run(app, "audit", "--user", "grace", "--tenant", scim.tenant).stdout
    lines = table.splitlines()
    assert lines[0].split() == ["TIME", "TYPE", "CHANGED", "ACTOR", "REQUEST"]
    assert [line.split()[2] for line in lines[1:]] == [
        "user.created",
        "group.member_added",
        "user.deactivated",
    ]
    assert lines[3].split()[3:] == ["active", "test", "req-42"]
    assert "in group admins" in lines[2]
    history = json.loads(
        run(app, "audit", "--user", user["id"], "--tenant", scim.tenant, "--json").stdout
    )
    assert history[-1]["type"] == "user.deactivated"
    assert history[-1]["actor"] == "test"
    assert history[-1]["attributes"] == ["active"]
    by_group = json.loads(
        run(app, "audit", "--group", "admins", "--tenant", scim.tenant, "--json").stdout
    )
    assert [c["type"] for c in by_group] == ["group.created", "group.member_added"]
    assert by_group[0]["resource"]["id"] == group["id"]
    run(app, "audit", "--user", "x", "--group", "y", code=2)
    assert (
        "No history"
        in run(app, "audit", "--user", "nobody", "--tenant", scim.tenant, code=1).output
    )


def test_webhook_add_refuses_targets_inside_the_network_and_credentials(app: Flask) -> None:
    tenant = make_client(app).tenant
    refused = {
        "https://169.254.169.254/latest/meta-data/": "is a cloud metadata address",
        "https://[fd00:ec2::254]/": "is a cloud metadata address",
        "https://0x7f000001/hook": "is a loopback address",
        "https://2130706433/hook": "is a loopback address",
        "https://127.1/hook": "is a loopback address",
        "https://[::ffff:127.0.0.1]/hook": "is an IPv6 form of a loopback address",
        "https://localhost/hook": "(127.0.0.1) is a loopback address",  # resolved at add
        "https://10.1.2.3/hook": "is a private address",
        "https://[fe80::1]/hook": "is a link-local address",
        "http://hooks.example.com/": "--insecure-http",
        "https://ops:hunter2@hooks.example.com/": "must not carry credentials",
    }
    for url, reason in refused.items():
        output = run(app, "webhook", "add", url, "--tenant", tenant, code=2).output
        assert reason in output, (url, output)
        assert "hunter2" not in output
    assert run(app, "webhook", "list", "--tenant", tenant).stdout.splitlines()[1:] == []


def test_the_worker_refuses_a_deadline_longer_than_its_lease(app: Flask) -> None:
    env = {
        "SCIMSERVER_DATABASE_URL": app.extensions["scimserver"].settings.database_url,
        "SCIMSERVER_WEBHOOK_TIMEOUT_MS": "5000",
        "SCIMSERVER_WEBHOOK_LEASE_SECONDS": "5",
    }
    result = CliRunner().invoke(main, ["worker"], env=env)
    assert result.exit_code == 1
    assert "SCIMSERVER_WEBHOOK_TIMEOUT_MS must be shorter than" in result.output
