"""End to end, the guide "Securing an MCP server with Gravitee" by direct HTTP calls, then a real MCP client.

AM: open DCR (localhost and http redirect URIs allowed) and an MCP server whose identifier is the URL of
the API on the APIM gateway.  APIM: an MCP proxy API to the upstream MCP server, the "Gravitee.io AM
Authorization Server" resource with the MCP server's client, a published OAuth2 plan, deploy, start.
Then the MCP SDK client with its own OAuth support: 401 challenge, protected resource metadata, AM
discovery, Dynamic Client Registration, PKCE, the login form (answered headlessly), initialize,
tools/list and tools/call, all through the simulated APIM gateway.
"""

from __future__ import annotations

import requests

from tests.integration.simulator.am_api import AmApi
from tests.simulator.mcp_client import run_mcp_client
from tests.simulator.mcp_server import TOOL_NAMES

CONTEXT_PATH = "/weather-mcp"
APIM_ENV = "/management/v2/organizations/DEFAULT/environments/DEFAULT"


class ApimApi:
    def __init__(self, sim):
        self.base = sim.urls["apim"] + APIM_ENV
        self.headers = {"Authorization": f"Bearer {sim.apim_token}"}

    def call(self, method: str, path: str, expected: int, **kwargs) -> requests.Response:
        response = requests.request(method, self.base + path, headers=self.headers, timeout=10, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response


def configure_am(am: AmApi, identifier: str) -> dict:
    domain = am.domain("mcp")
    am.open_dcr(domain["id"])
    response = am.create_mcp_server(domain["id"], name="Weather MCP", resourceIdentifiers=[identifier])
    assert response.status_code == 201, response.text
    return response.json()


def configure_apim(sim, mcp_server: dict) -> None:
    apim = ApimApi(sim)
    api = apim.call("POST", "/apis", 201, json={
        "definitionVersion": "V4",
        "type": "MCP_PROXY",
        "name": "Weather MCP",
        "apiVersion": "1.0",
        "listeners": [{"type": "HTTP", "paths": [{"path": CONTEXT_PATH}],
                       "entrypoints": [{"type": "mcp-proxy", "configuration": {}}]}],
        "endpointGroups": [{
            "name": "Default MCP proxy group", "type": "mcp-proxy", "sharedConfiguration": {},
            "endpoints": [{"name": "Default MCP proxy", "type": "mcp-proxy", "weight": 1, "inheritConfiguration": False,
                           "configuration": {"target": sim.urls["mcp"] + "/mcp"}}],
        }],
        "flowExecution": {"mode": "DEFAULT", "matchRequired": False},
        "flows": [],
    }).json()

    kept = ("definitionVersion", "type", "name", "apiVersion", "listeners", "endpointGroups", "flowExecution", "flows")
    update = {key: api[key] for key in kept if key in api}
    update["resources"] = [{
        "name": "am-resource",
        "type": "oauth2-am-resource",
        "enabled": True,
        "configuration": {
            "serverURL": sim.urls["am_gateway"],
            "securityDomain": "mcp",
            "version": "V3_X",
            "clientId": mcp_server["clientId"],
            "clientSecret": mcp_server["clientSecret"],
            "userClaim": "sub",
        },
    }]
    apim.call("PUT", f"/apis/{api['id']}", 200, json=update)

    oauth2 = {"oauthResource": "am-resource", "extractPayload": False, "checkRequiredScopes": False,
              "requiredScopes": [], "modeStrict": True, "propagateAuthHeader": True}
    if sim.profile == "4.10":  # OAuth2 policy 5.1.x: no challenge unless asked for
        oauth2["addWwwAuthenticateHeader"] = True
    plan = apim.call("POST", f"/apis/{api['id']}/plans", 201, json={
        "definitionVersion": "V4", "name": "OAuth2", "mode": "STANDARD", "validation": "AUTO",
        "security": {"type": "OAUTH2", "configuration": oauth2}, "flows": [],
    }).json()
    apim.call("POST", f"/apis/{api['id']}/plans/{plan['id']}/_publish", 200)
    apim.call("POST", f"/apis/{api['id']}/deployments", 202, json={"deploymentLabel": "e2e"})
    apim.call("POST", f"/apis/{api['id']}/_start", 204)


def test_mcp_client_reaches_the_tools_through_oauth2(sim):
    gateway_url = sim.urls["apim_gateway"] + CONTEXT_PATH
    mcp_server = configure_am(AmApi(sim), gateway_url)
    configure_apim(sim, mcp_server)

    challenge = requests.post(gateway_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                              headers={"Accept": "application/json, text/event-stream"}, timeout=10)
    assert challenge.status_code == 401
    assert 'resource_metadata="' in challenge.headers["WWW-Authenticate"]
    sim.clear_requests()

    outcome = run_mcp_client(gateway_url, "demo", "demo-password", tool="add", arguments={"a": 2, "b": 40})

    assert set(TOOL_NAMES) <= set(outcome["tools"])
    assert outcome["call"] == {"tool": "add", "arguments": {"a": 2, "b": 40}, "is_error": False, "text": "42"}

    am_gateway = [(r["method"], r["path"]) for r in sim.requests("am_gateway")]
    assert ("GET", "/mcp/oidc/.well-known/openid-configuration") in am_gateway  # AM found by OIDC discovery
    assert ("POST", "/mcp/oidc/register") in am_gateway  # Dynamic Client Registration
    assert ("POST", "/mcp/login") in am_gateway  # the user logged in
    token_calls = [r for r in sim.requests("am_gateway") if r["path"] == "/mcp/oauth/token"]
    assert token_calls and "resource=" in token_calls[0]["body"] and "code_verifier=" in token_calls[0]["body"]
    assert ("POST", "/mcp/oauth/introspect") in am_gateway  # APIM checked the token with the MCP server's client
    proxied = [r for r in sim.requests("mcp") if r["method"] == "POST"]
    assert proxied, "the upstream MCP server was never reached"
