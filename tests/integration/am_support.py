"""What the AM module tests share: task builders, the AM requests a run sent, direct AM API calls for setup."""

from __future__ import annotations

from typing import Any

import requests

TOKEN_PATH = "/management/auth/token"
DOMAINS = "/management/organizations/DEFAULT/environments/DEFAULT/domains"


def task(module: str, name: str, args: dict[str, Any], **keywords: Any) -> dict[str, Any]:
    """One play task calling ``mcpgate.gravitee.<module>`` (keywords: register, no_log, check_mode, ...)."""
    return {"name": name, f"mcpgate.gravitee.{module}": args, **keywords}


def am_requests(sim) -> list[dict[str, Any]]:
    return sim.requests("am")


def am_writes(sim) -> list[dict[str, Any]]:
    """Writes to the AM Management API, without the credentials-for-token exchange (a POST that writes nothing)."""
    return [r for r in sim.writes("am") if r["path"] != TOKEN_PATH]


def successful_writes(sim) -> list[dict[str, Any]]:
    return [r for r in am_writes(sim) if isinstance(r["status"], int) and r["status"] < 400]


def call_shape(recorded: dict[str, Any]) -> tuple[str, str]:
    """``("GET", "/domains/_hrid/mcp?...")``: a recorded request, relative to the environment, for comparisons."""
    path = recorded["path"].replace(DOMAINS, "/domains")
    return recorded["method"], path + ("?" + recorded["query"] if recorded["query"] else "")


def runs_per_task(sim) -> list[list[dict[str, Any]]]:
    """The AM requests of a playbook split per module run: each run starts with its token exchange."""
    runs: list[list[dict[str, Any]]] = []
    for recorded in am_requests(sim):
        if recorded["path"] == TOKEN_PATH:
            runs.append([])
        if runs:
            runs[-1].append(recorded)
    return runs


def contains_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(contains_null(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_null(v) for v in value)
    return False


class AmAdmin:
    """Direct calls to the simulated AM Management API for test setup and read-back (not the module under test)."""

    def __init__(self, sim):
        self.base = sim.urls["am"]
        answer = requests.post(self.base + TOKEN_PATH, auth=("admin", "adminadmin"), timeout=10)
        answer.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, self.base + DOMAINS + path, timeout=10, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def domain(self, hrid: str = "mcp") -> dict[str, Any]:
        return self.call("GET", f"/_hrid/{hrid}")

    def create_domain(self, name: str) -> dict[str, Any]:
        # The OpenAPI marks dataPlaneId required (the facts list it as optional); "default" is AM's default data plane.
        return self.call("POST", "", json={"name": name, "dataPlaneId": "default"})

    def mcp_servers(self, domain_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/{domain_id}/protected-resources", params={"type": "MCP_SERVER", "size": 1000})["data"]

    def create_mcp_server(self, domain_id: str, **body: Any) -> dict[str, Any]:
        return self.call("POST", f"/{domain_id}/protected-resources", json={"type": "MCP_SERVER", **body})
