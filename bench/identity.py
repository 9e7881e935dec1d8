"""Identity view lookups beside SCIM lookups, and a membership change in a large mapped
group beside one in a small one. In process (Flask test client), SQLite or PostgreSQL.

    python -m bench.identity [--url sqlite:////tmp/b.db] [--lookups 300] [--large 100000]

Prints lookups per second and the median cost of one member add + remove.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from scimserver.app import create_app
from scimserver.config import Settings

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--large", type=int, default=100_000, help="members of the large group")
    args = parser.parse_args()
    app = create_app(Settings(database_url=args.url, activity_log=False))
    server = app.extensions["scimserver"]
    _, secret = server.tokens.create("bench", "bench", "write")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    def call(method: str, path: str, body: Any = None) -> Any:
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code < 300, response.get_data(as_text=True)
        return response.get_json()

    users = [
        call("POST", "/scim/v2/Users", {"userName": f"u{i}@x.org"})["id"]
        for i in range(args.lookups)
    ]
    for label, path in (
        ("SCIM userName eq", lambda i: f'/scim/v2/Users?filter=userName eq "u{i}@x.org"'),
        ("identity by id", lambda i: f"/api/v1/identities/{users[i]}"),
        ("identity ?email=", lambda i: f"/api/v1/identities?email=u{i}@x.org"),
    ):
        started = time.perf_counter()
        for i in range(args.lookups):
            call("GET", path(i))
        print(f"{label:18s} {args.lookups / (time.perf_counter() - started):8.0f} lookups/s")

    tenant = server.tenants().find("bench")
    small = call(
        "POST",
        "/scim/v2/Groups",
        {"displayName": "small", "members": [{"value": u} for u in users[:100]]},
    )
    large = call("POST", "/scim/v2/Groups", {"displayName": "large"})
    for start in range(0, args.large, 1000):
        chunk = [
            {"value": call("POST", "/scim/v2/Users", {"userName": f"m{i}"})["id"]}
            for i in range(start, min(start + 1000, args.large))
        ]
        add = {"op": "add", "path": "members", "value": chunk}
        call("PATCH", f"/scim/v2/Groups/{large['id']}", {"schemas": [PATCH], "Operations": [add]})
    access = server.access(tenant, "bench")
    access.map("small-app", small["id"])
    access.map("large-app", large["id"])
    access.run_jobs()
    mover = call("POST", "/scim/v2/Users", {"userName": "mover@x.org"})["id"]
    for group in (small, large):
        times = []
        for _ in range(30):
            for op in (
                {"op": "add", "path": "members", "value": [{"value": mover}]},
                {"op": "remove", "path": f'members[value eq "{mover}"]'},
            ):
                started = time.perf_counter()
                call(
                    "PATCH",
                    f"/scim/v2/Groups/{group['id']}",
                    {"schemas": [PATCH], "Operations": [op]},
                )
                times.append(time.perf_counter() - started)
        size = 100 if group is small else args.large
        median = statistics.median(times) * 1000
        print(f"member move in a mapped {size:6d}-member group: {median:.2f} ms median")


if __name__ == "__main__":
    main()
