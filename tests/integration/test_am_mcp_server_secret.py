"""am_mcp_server_secret around an MCP server that does not exist (yet): absent is already so, check mode predicts the
secret added to the server an earlier task would create (and, with exclusive, AM's own secret deleted), a real run
says to create the server first; none of them writes."""

from __future__ import annotations

import pytest

from tests.integration.am_support import task
from tests.integration.ansible_run import run_tasks


def secret(name, args, **keywords):
    return task("am_mcp_server_secret", name, {"domain": "mcp", "client_id": "weather-mcp", **args}, **keywords)


@pytest.mark.profiles("4.12")
def test_a_missing_mcp_server(sim):
    absent = run_tasks(sim, [secret("absent", {"name": "rotation-1", "state": "absent"})])
    assert absent.rc == 0, absent.stdout
    assert not absent.results[0].changed and absent.results[0].result["mcp_server_id"] is None

    check = run_tasks(sim, [secret("add", {"name": "rotation-1", "exclusive": True})], check=True)
    assert check.rc == 0, check.stdout
    predicted = check.results[0].result
    assert check.results[0].changed and predicted["secret"] == {"name": "rotation-1"}
    assert predicted["deleted"] == ["(the secret AM generates with the MCP server)"]
    assert any("does not exist yet" in w for w in predicted["warnings"])

    real = run_tasks(sim, [secret("add", {"name": "rotation-1"})])
    assert real.rc != 0 and "create it first with mcpgate.gravitee.am_mcp_server" in real.results[0].msg
    assert sim.writes() == []
