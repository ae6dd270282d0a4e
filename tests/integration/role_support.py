"""What the tests of the secure_mcp role share: running it against a simulator, and reading the servers back."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.ansible_run import PlaybookRun, run_tasks

APIM_ENV = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
AM_DOMAINS = "/management/organizations/DEFAULT/environments/DEFAULT/domains"


def role_vars(sim, context_path="/weather-mcp", **overrides) -> dict[str, Any]:
    """The role's variables for a simulator; probes retry briefly (the simulated gateway deploys at once).
    An override of None leaves that variable out."""
    variables = {
        "secure_mcp_context_path": context_path,
        "secure_mcp_server_url": sim.urls["mcp"] + "/mcp",
        "secure_mcp_apim_gateway_url": sim.urls["apim_gateway"],
        "secure_mcp_am_gateway_url": sim.urls["am_gateway"],
        "secure_mcp_am_domain": "mcp",
        "secure_mcp_probe_delay": 1,
        "secure_mcp_probe_retries": 2,
        **overrides,
    }
    return {name: value for name, value in variables.items() if value is not None}


def run_role(sim, check=False, diff=False, verbosity=0, extra_env=None, connection_env=True, **overrides) -> PlaybookRun:
    tasks = [{"name": "secure_mcp", "ansible.builtin.include_role": {"name": "mcpgate.gravitee.secure_mcp"}}]
    return run_tasks(
        sim, tasks, check=check, diff=diff, verbosity=verbosity, extra_env=extra_env,
        extra_vars=role_vars(sim, **overrides), connection_env=connection_env,
    )


def run_role_on_hosts(sim, hosts: dict[str, dict[str, Any]], check=False, diff=False, **shared) -> PlaybookRun:
    """The role on several inventory hosts (one MCP server each), as a fleet is secured in one play."""
    tasks = [{"name": "secure_mcp", "ansible.builtin.include_role": {"name": "mcpgate.gravitee.secure_mcp"}}]
    return run_tasks(sim, tasks, check=check, diff=diff, extra_vars=shared, hosts={
        name: role_vars(sim, **host_vars) for name, host_vars in hosts.items()
    })


def failures(run: PlaybookRun) -> list[str]:
    return [f"{r.task}: {r.msg}" for r in run.results if r.failed]


def changed(run: PlaybookRun) -> list[str]:
    return [r.task for r in run.results if r.changed]


def apim(sim, path, method="GET", **kwargs):
    """A call to the simulated APIM Management API v2 of the DEFAULT environment, as admin."""
    response = requests.request(method, sim.urls["apim"] + APIM_ENV + path, auth=("admin", "admin"), timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def am(sim, path, method="GET", **kwargs):
    """A call under the AM domains of the DEFAULT environment, as admin."""
    token = requests.post(sim.urls["am"] + "/management/auth/token", auth=("admin", "adminadmin"), timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    response = requests.request(method, sim.urls["am"] + AM_DOMAINS + path, headers=headers, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def add_mcp_server(sim, name, client_id, identifier):
    """An MCP server made in the AM domain "mcp" by another tool (or by hand), before the role runs."""
    domain_id = am(sim, "/_hrid/mcp")["id"]
    body = {"name": name, "type": "MCP_SERVER", "clientId": client_id, "resourceIdentifiers": [identifier]}
    return am(sim, f"/{domain_id}/protected-resources", method="POST", json=body)
