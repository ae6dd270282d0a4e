"""Shared helpers of the reliability tests: role runs, a normalised snapshot of what the servers hold,
and the security check of the gateway."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import requests

from tests.integration.ansible_run import PlaybookRun, run_tasks

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(os.environ.get("MCPGATE_RELIABILITY_RESULTS") or REPO_ROOT / "tests" / "output" / "reliability")
# The full fault matrix (every write x every kind) runs under `make reliability`; `make test` runs one kind per write.
FULL = os.environ.get("MCPGATE_RELIABILITY") == "full"

APIM_ENV = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
AM_DOMAINS = "/management/organizations/DEFAULT/environments/DEFAULT/domains"
ALL_PLAN_STATUSES = "STAGING,PUBLISHED,DEPRECATED,CLOSED"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "reliability", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|MODULE FAILURE|Exception:")


def role_vars(sim, context_path="/weather-mcp", **overrides) -> dict[str, Any]:
    return {
        "secure_mcp_context_path": context_path,
        "secure_mcp_server_url": sim.urls["mcp"] + "/mcp",
        "secure_mcp_apim_gateway_url": sim.urls["apim_gateway"],
        "secure_mcp_am_gateway_url": sim.urls["am_gateway"],
        "secure_mcp_am_domain": "mcp",
        "secure_mcp_probe_delay": 1,
        "secure_mcp_probe_retries": 2,
        **overrides,
    }


def run_role(sim, check=False, diff=False, verbosity=0, extra_env=None, connection_env=True, **overrides) -> PlaybookRun:
    tasks = [{"name": "secure_mcp", "ansible.builtin.include_role": {"name": "mcpgate.gravitee.secure_mcp"}}]
    return run_tasks(
        sim, tasks, check=check, diff=diff, verbosity=verbosity, extra_env=extra_env,
        extra_vars=role_vars(sim, **overrides), connection_env=connection_env,
    )


def failures(run: PlaybookRun) -> list[str]:
    return [f"{r.task}: {r.msg}" for r in run.results if r.failed]


def first_failure(run: PlaybookRun):
    """The first failed task whose message is shown (a no_log task's error is repeated by the task after it)."""
    return next(r for r in run.results if r.failed and "censored" not in r.result)


def changed(run: PlaybookRun) -> list[str]:
    return [r.task for r in run.results if r.changed]


def no_traceback(run: PlaybookRun) -> bool:
    return not TRACEBACK.search(run.stdout + run.stderr + "".join(r.msg for r in run.results))


# --- reading the servers -----------------------------------------------------------------------------
def apim(sim, path, method="GET", **kwargs):
    response = requests.request(method, sim.urls["apim"] + APIM_ENV + path, auth=("admin", "admin"), timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def am(sim, path, method="GET", **kwargs):
    token = requests.post(sim.urls["am"] + "/management/auth/token", auth=("admin", "adminadmin"), timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    response = requests.request(method, sim.urls["am"] + AM_DOMAINS + path, headers=headers, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def all_apis(sim) -> list[dict[str, Any]]:
    found, page = [], 1
    while True:
        answer = apim(sim, "/apis/_search", method="POST", json={"query": ""}, params={"page": page, "perPage": 100})
        found += answer["data"]
        if page >= (answer.get("pagination") or {}).get("pageCount", 1):
            return [apim(sim, f"/apis/{api['id']}") for api in found]
        page += 1


def plans_of(sim, api_id) -> list[dict[str, Any]]:
    return apim(sim, f"/apis/{api_id}/plans", params={"statuses": ALL_PLAN_STATUSES, "perPage": 100})["data"]


def context_paths(api) -> list[str]:
    return [p["path"] for listener in api.get("listeners") or [] for p in listener.get("paths") or []]


def snapshot(sim) -> dict[str, Any]:
    """What a run leaves on the servers, without ids, dates or secrets: equal snapshots are equal states."""
    apis = []
    for api in all_apis(sim):
        apis.append(
            {
                "name": api["name"],
                "type": api.get("type"),
                "paths": context_paths(api),
                "state": api.get("state"),
                "deploymentState": api.get("deploymentState"),
                "targets": [e["configuration"].get("target") for g in api.get("endpointGroups") or [] for e in g["endpoints"]],
                "plans": sorted(
                    (p["name"], p["security"]["type"], p["status"], p.get("security", {}).get("configuration", {}).get("oauthResource"))
                    for p in plans_of(sim, api["id"])
                ),
                "resources": sorted(
                    (r["name"], r["type"], r.get("enabled", True), r["configuration"].get("clientId"), r["configuration"].get("serverURL"),
                     r["configuration"].get("securityDomain"))
                    for r in api.get("resources") or []
                ),
            }
        )
    domain = am(sim, "/_hrid/mcp")
    servers = am(sim, f"/{domain['id']}/protected-resources", params={"type": "MCP_SERVER", "size": 100})["data"]
    registration = domain["oidc"]["clientRegistrationSettings"]
    return {
        "apim_apis": sorted(apis, key=lambda a: a["paths"]),
        "am_mcp_servers": sorted((s["name"], s["clientId"], tuple(s["resourceIdentifiers"])) for s in servers),
        "am_domain": {
            "dcr": registration.get("isDynamicClientRegistrationEnabled"),
            "open": registration.get("isOpenDynamicClientRegistrationEnabled"),
            "localhost": registration.get("allowLocalhostRedirectUri"),
            "http": registration.get("allowHttpSchemeRedirectUri"),
            "register": (domain.get("loginSettings") or {}).get("registerEnabled"),
        },
    }


def clear_faults(sim) -> None:
    requests.delete(sim.admin + "/faults", timeout=10).raise_for_status()


def unauthenticated_status(sim, context_path="/weather-mcp") -> int:
    """What the gateway answers an MCP client without a token (401 challenge; 404 when no API is started there)."""
    response = requests.post(sim.urls["apim_gateway"] + context_path, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
    return response.status_code
