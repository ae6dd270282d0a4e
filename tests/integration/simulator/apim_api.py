"""A thin client for the simulated APIM Management API, and the MCP proxy API of the guide."""

from __future__ import annotations

from typing import Any

import requests

ENV_PATH = "/management/v2/environments/DEFAULT"
ORG_ENV_PATH = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
EXPECT_VIOLATION = {"X-Sim-Expect-Violation": "true"}  # a request that breaks the spec on purpose
MCP_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}


def mcp_proxy_api(context_path: str = "/weather-mcp", target: str = "http://127.0.0.1:3001/mcp", **extra: Any) -> dict[str, Any]:
    """A CreateApiV4 body for an MCP proxy, as in apim-management-api.md §3.2."""
    return {
        "definitionVersion": "V4",
        "type": "MCP_PROXY",
        "name": "Weather MCP",
        "apiVersion": "1.0",
        "description": "MCP proxy to the weather MCP server",
        "listeners": [{"type": "HTTP", "paths": [{"path": context_path}], "entrypoints": [{"type": "mcp-proxy", "configuration": {}}]}],
        "endpointGroups": [
            {
                "name": "Default MCP proxy group",
                "type": "mcp-proxy",
                "sharedConfiguration": {},
                "endpoints": [
                    {"name": "Default MCP proxy", "type": "mcp-proxy", "weight": 1, "inheritConfiguration": False, "configuration": {"target": target}}
                ],
            }
        ],
        "flowExecution": {"mode": "DEFAULT", "matchRequired": False},
        "flows": [],
        **extra,
    }


def am_resource(server_url: str, domain: str = "mcp", client_id: str = "mcp-client", client_secret: str = "s3cret", **config: Any) -> dict[str, Any]:
    return {
        "name": "am-resource",
        "type": "oauth2-am-resource",
        "enabled": True,
        "configuration": {
            "serverURL": server_url,
            "securityDomain": domain,
            "version": "V3_X",
            "clientId": client_id,
            "clientSecret": client_secret,
            **config,
        },
    }


def keyless_plan(name: str = "Keyless") -> dict[str, Any]:
    return {"definitionVersion": "V4", "name": name, "mode": "STANDARD", "validation": "AUTO", "security": {"type": "KEY_LESS"}, "flows": []}


def oauth2_plan(profile: str, name: str = "OAuth2", **config: Any) -> dict[str, Any]:
    configuration = {"oauthResource": "am-resource", **config}
    if profile == "4.10" and "addWwwAuthenticateHeader" not in config:
        configuration["addWwwAuthenticateHeader"] = True
    return {
        "definitionVersion": "V4",
        "name": name,
        "mode": "STANDARD",
        "validation": "AUTO",
        "security": {"type": "OAUTH2", "configuration": configuration},
        "flows": [],
    }


def update_body(api: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The GET body sent back as an UpdateApiV4 (unknown and read-only fields are ignored by the server)."""
    return {**api, **changes}


class ApimApi:
    def __init__(self, sim, prefix: str = ENV_PATH):
        self.sim = sim
        self.base = sim.urls["apim"] + prefix
        self.headers = {"Authorization": f"Bearer {sim.apim_token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else self.base + path
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> requests.Response:
        response = self.call(method, path, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response

    # --- objects ---

    def create_api(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("target", self.sim.urls["mcp"] + "/mcp")
        return self.ok("POST", "/apis", 201, json=mcp_proxy_api(**kwargs)).json()

    def get_api(self, api_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/apis/{api_id}").json()

    def update_api(self, api_id: str, **changes: Any) -> dict[str, Any]:
        return self.ok("PUT", f"/apis/{api_id}", json=update_body(self.get_api(api_id), **changes)).json()

    def create_plan(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.ok("POST", f"/apis/{api_id}/plans", 201, json=body).json()

    def plan_action(self, api_id: str, plan_id: str, action: str) -> requests.Response:
        return self.call("POST", f"/apis/{api_id}/plans/{plan_id}/_{action}")

    def publish(self, api_id: str, body: dict[str, Any]) -> dict[str, Any]:
        plan = self.create_plan(api_id, body)
        return self.ok("POST", f"/apis/{api_id}/plans/{plan['id']}/_publish").json()

    def deploy(self, api_id: str) -> None:
        self.ok("POST", f"/apis/{api_id}/deployments", 202, json={"deploymentLabel": "test"})

    def start(self, api_id: str) -> None:
        self.ok("POST", f"/apis/{api_id}/_start", 204)

    def deployed_keyless_api(self, **kwargs: Any) -> dict[str, Any]:
        """The guide's first stage: an MCP proxy with a keyless plan, started (first start deploys)."""
        api = self.create_api(**kwargs)
        self.publish(api["id"], keyless_plan())
        self.start(api["id"])
        return api

    def deployed_oauth2_api(self, server_url: str, keyless: bool = False, resource: dict | None = None, **plan_config: Any) -> dict[str, Any]:
        """An MCP proxy secured by an OAuth2 plan over an AM resource, deployed and started."""
        target = plan_config.pop("target", None)
        context_path = plan_config.pop("context_path", "/weather-mcp")
        api = self.create_api(context_path=context_path, **({"target": target} if target else {}))
        api = self.update_api(api["id"], resources=[resource or am_resource(server_url)])
        self.publish(api["id"], oauth2_plan(self.sim.profile, **plan_config))
        if keyless:
            self.publish(api["id"], keyless_plan())
        self.start(api["id"])
        return api
