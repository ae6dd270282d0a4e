"""Shared helpers of the reliability tests: role runs, a normalised snapshot of what the servers hold,
and the security check of the gateway."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import requests

from tests.integration.ansible_run import PlaybookRun
from tests.integration.role_support import am, apim
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(os.environ.get("MCPGATE_RELIABILITY_RESULTS") or REPO_ROOT / "tests" / "output" / "reliability")
# The full fault matrix (every write x every kind) runs under `make reliability`; `make test` runs one kind per write.
FULL = os.environ.get("MCPGATE_RELIABILITY") == "full"

ALL_PLAN_STATUSES = "STAGING,PUBLISHED,DEPRECATED,CLOSED"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|MODULE FAILURE|Exception:")


def first_failure(run: PlaybookRun):
    """The failure a person reads: the role's report of it (its rescue names the role variable), else the first failed
    task whose message is shown (a no_log task's error is repeated by the task after it)."""
    failed = [r for r in run.results if r.failed and "censored" not in r.result]
    report = [r for r in failed if r.task.endswith("Failed run | Report the failure")]
    return (report or failed)[0]


def no_traceback(run: PlaybookRun) -> bool:
    return not TRACEBACK.search(run.stdout + run.stderr + "".join(r.msg for r in run.results))


# --- reading the servers -----------------------------------------------------------------------------
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
