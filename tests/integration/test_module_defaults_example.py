"""playbooks/examples/module_defaults.yml against the simulator: the guide step by step with the modules.

The connection reaches the modules only through the play's module_defaults (the action groups): no
GRAVITEE_* variable is set. A first run converges and secures the MCP server, a second changes nothing
and sends no write.
"""

from __future__ import annotations

import requests

from tests.integration.ecosystem_support import REPO_ROOT, run_playbook

PLAYBOOK = REPO_ROOT / "playbooks" / "examples" / "module_defaults.yml"
CONTEXT_PATH = "/weather-mcp"


def example_vars(sim):
    return {
        "gravitee_apim_url": sim.urls["apim"],
        "gravitee_apim_username": "admin",
        "gravitee_apim_password": "admin",
        "gravitee_am_url": sim.urls["am"],
        "gravitee_am_username": "admin",
        "gravitee_am_password": "adminadmin",
        "mcp_server_url": sim.urls["mcp"] + "/mcp",
        "mcp_gateway_url": sim.urls["apim_gateway"],
        "mcp_am_gateway_url": sim.urls["am_gateway"],
        "mcp_client_secret": "Example-Client-Secret-0b9d",
        "mcp_probe_wait": 10,
    }


def test_the_example_converges_secures_the_server_then_changes_nothing(sim):
    no_gravitee_env = {name: "" for name in sim.env()}  # empty: only module_defaults can connect the modules
    first = run_playbook(str(PLAYBOOK), no_gravitee_env, example_vars(sim))
    assert first.rc == 0, [f"{r.task}: {r.msg}" for r in first.results if r.failed] or first.stdout[-3000:] + first.stderr
    assert [r.task for r in first.results if r.failed] == []
    assert "Publish the OAuth2 plan, validating tokens with AM" in [r.task for r in first.results if r.changed]
    assert "Example-Client-Secret-0b9d" not in first.stdout + first.stderr
    response = requests.post(
        sim.urls["apim_gateway"] + CONTEXT_PATH,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
        headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")

    sim.clear_requests()
    second = run_playbook(str(PLAYBOOK), no_gravitee_env, example_vars(sim))
    assert second.rc == 0, [f"{r.task}: {r.msg}" for r in second.results if r.failed] or second.stdout[-3000:]
    assert [r.task for r in second.results if r.changed] == []
    assert sim.writes() == []
