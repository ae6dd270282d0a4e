"""The APIM ``mcp-acl`` policy on an MCP proxy's OAuth2 plan flows: accepted by the Management API and
enforced by the gateway as Gravitee's policy reference documents it ("AI - MCP ACL": implicit deny,
``*_LIST`` filtering, refused calls, LITERAL names, rules with EL conditions) — see apim_mcp_acl.py for
what is not documented and therefore not simulated."""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration.simulator.am_api import ORG_ENV, AmApi
from tests.integration.simulator.test_am_gateway import login, pkce_pair
from tests.integration.simulator.test_e2e_mcp_oauth import CONTEXT_PATH, ApimApi
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS
from tests.simulator.mcp_server import PROMPT_NAMES, RESOURCE_URIS, TOOL_NAMES
from tests.simulator.profiles import PROFILES

SIMULATOR_PROFILES = PROFILES  # the policy ships with every APIM line from 4.10 (tests/conftest.py)
CALLBACK = "http://127.0.0.1:33418/callback"
HAS_WEATHER_READ = "{#context.attributes['user.roles'].contains('weather:read')}"


def acl(*authorizations) -> dict:
    return {"name": "MCP ACL", "enabled": True, "policy": "mcp-acl", "configuration": {"authorizations": list(authorizations)}}


def tools(methods, pattern_type="ANY", value=None) -> dict:
    feature = {"type": "TOOLS", "methods": methods, "patternType": pattern_type}
    if value is not None:
        feature["patternValue"] = value
    return feature


def mcp_flow(*steps, methods=None, enabled=True) -> dict:
    return {"name": "MCP ACL flow", "enabled": enabled, "selectors": [{"type": "MCP", "methods": methods or []}],
            "request": list(steps), "response": []}


class Setup:
    """AM (a weather:read scope, the MCP server and its tool, an open-DCR public client) and an APIM MCP
    proxy whose OAuth2 plan carries the given flows."""

    def __init__(self, sim, plan_flows: list[dict], api_flows: list[dict] | None = None):
        self.sim, self.am, self.apim = sim, AmApi(sim), ApimApi(sim)
        self.url = sim.urls["apim_gateway"] + CONTEXT_PATH
        domain = self.am.domain("mcp")
        self.am.open_dcr(domain["id"])
        self.am.call("POST", f"{ORG_ENV}/domains/{domain['id']}/scopes",
                     json={"key": "weather:read", "name": "weather:read", "description": "Weather"}).raise_for_status()
        server = self.am.create_mcp_server(domain["id"], resourceIdentifiers=[self.url], features=[
            {"type": "MCP_TOOL", "key": "get_weather", "description": "Weather", "scopes": ["weather:read"]}])
        assert server.status_code == 201, server.text
        self.server = server.json()
        client = self.am.register_client(redirect_uri=CALLBACK, token_endpoint_auth_method="none",
                                         grant_types=["authorization_code"], scope="openid")
        assert client.status_code == 201, client.text
        self.client_id = client.json()["client_id"]
        self.plan = self.deploy(plan_flows, api_flows or [])

    def deploy(self, plan_flows, api_flows) -> dict:
        api = self.apim.call("POST", "/apis", 201, json={
            "definitionVersion": "V4", "type": "MCP_PROXY", "name": "Weather MCP", "apiVersion": "1.0",
            "listeners": [{"type": "HTTP", "paths": [{"path": CONTEXT_PATH}],
                           "entrypoints": [{"type": "mcp-proxy", "configuration": {}}]}],
            "endpointGroups": [{"name": "Default MCP proxy group", "type": "mcp-proxy", "sharedConfiguration": {},
                                "endpoints": [{"name": "Default MCP proxy", "type": "mcp-proxy", "weight": 1,
                                               "inheritConfiguration": False,
                                               "configuration": {"target": self.sim.urls["mcp"] + "/mcp"}}]}],
            "flowExecution": {"mode": "DEFAULT", "matchRequired": False}, "flows": api_flows,
        }).json()
        update = {k: api[k] for k in ("definitionVersion", "type", "name", "apiVersion", "listeners", "endpointGroups",
                                      "flowExecution", "flows")}
        update["resources"] = [{"name": "am", "type": "oauth2-am-resource", "enabled": True, "configuration": {
            "serverURL": self.sim.urls["am_gateway"], "securityDomain": "mcp", "version": "V3_X",
            "clientId": self.server["clientId"], "clientSecret": self.server["clientSecret"]}}]
        self.apim.call("PUT", f"/apis/{api['id']}", 200, json=update)
        oauth2 = {"oauthResource": "am"}
        if self.sim.profile == "4.10":
            oauth2["addWwwAuthenticateHeader"] = True
        plan = self.apim.call("POST", f"/apis/{api['id']}/plans", 201, json={
            "definitionVersion": "V4", "name": "OAuth2", "mode": "STANDARD", "validation": "AUTO",
            "security": {"type": "OAUTH2", "configuration": oauth2}, "flows": plan_flows}).json()
        self.apim.call("POST", f"/apis/{api['id']}/plans/{plan['id']}/_publish", 200)
        self.apim.call("POST", f"/apis/{api['id']}/deployments", 202, json={"deploymentLabel": "acl"})
        self.apim.call("POST", f"/apis/{api['id']}/_start", 204)
        self.api_id = api["id"]
        return plan

    def token(self, scope: str) -> str:
        verifier, challenge = pkce_pair()
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": CALLBACK, "scope": scope,
                  "resource": self.url, "code_challenge": challenge, "code_challenge_method": "S256"}
        url = requests.Request("GET", f"{self.am.gw()}/oauth/authorize", params=params).prepare().url
        code = login(url).code
        answer = requests.post(f"{self.am.gw()}/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "client_id": self.client_id,
            "code_verifier": verifier, "resource": self.url}, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def session(self, token: str) -> "McpSession":
        return McpSession(self.url, token)


class McpSession:
    """Plain streamable-HTTP MCP calls (initialize first), answers read from JSON or the event stream."""

    def __init__(self, url: str, token: str):
        self.url, self.headers = url, {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        answer = requests.post(url, json=INITIALIZE, headers=self.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        self.headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
        requests.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers, timeout=10)
        self.next_id = 2

    def call(self, method: str, **params) -> tuple[int, dict | None]:
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.next_id += 1
        answer = requests.post(self.url, json=body, headers=self.headers, timeout=10)
        if answer.status_code != 200:
            return answer.status_code, None
        if "text/event-stream" in answer.headers.get("content-type", ""):
            text = answer.content.decode("utf-8")
            data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
            return 200, json.loads(data[-1])
        return 200, answer.json()

    def tool_names(self) -> list[str]:
        status, message = self.call("tools/list")
        assert status == 200
        return [t["name"] for t in message["result"]["tools"]]


# --- Management API -----------------------------------------------------------------------------------
def test_the_policy_is_listed_with_the_profiles_version(sim):
    apim = ApimApi(sim)
    plugin = requests.get(sim.urls["apim"] + "/management/v2/organizations/DEFAULT/plugins/policies/mcp-acl",
                          headers=apim.headers, timeout=10).json()
    assert plugin["id"] == "mcp-acl" and plugin["version"] == {"4.10": "1.0.2", "4.11": "1.0.4", "4.12": "1.0.4"}[sim.profile]


def test_plan_and_api_flows_keep_the_acl_configuration(sim):
    rule = acl({"condition": HAS_WEATHER_READ, "authorizedFeatures": [tools(["TOOLS_LIST", "TOOLS_CALL"], "LITERAL", "get_weather")]})
    setup = Setup(sim, [mcp_flow(rule)], api_flows=[mcp_flow(acl({"authorizedFeatures": [tools(["TOOLS_LIST"])]}))])
    plan = setup.apim.call("GET", f"/apis/{setup.api_id}/plans/{setup.plan['id']}", 200).json()
    assert plan["flows"][0]["request"][0]["configuration"] == rule["configuration"]
    assert plan["flows"][0]["selectors"] == [{"type": "MCP", "methods": []}]


def test_http_selectors_are_refused_on_mcp_proxy_flows(sim):
    setup = Setup(sim, [])
    flow = {"name": "http", "enabled": True, "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH"}],
            "request": [acl()], "response": []}
    answer = requests.post(f"{setup.apim.base}/apis/{setup.api_id}/plans", headers=setup.apim.headers, timeout=10, json={
        "definitionVersion": "V4", "name": "Other", "mode": "STANDARD", "validation": "AUTO",
        "security": {"type": "OAUTH2", "configuration": {"oauthResource": "am"}}, "flows": [flow]})
    assert answer.status_code == 400
    assert answer.json()["message"] == "The flow [http] contains selectors that couldn't apply to mcp-proxy API"


# --- gateway ------------------------------------------------------------------------------------------
def test_no_rule_denies_everything_but_the_connection(sim):
    setup = Setup(sim, [mcp_flow(acl())])
    session = setup.session(setup.token("openid"))
    assert session.tool_names() == []
    assert session.call("prompts/list")[1]["result"]["prompts"] == []
    assert session.call("resources/list")[1]["result"]["resources"] == []
    assert session.call("tools/call", name="echo", arguments={"text": "hi"})[0] == 403
    assert session.call("ping")[0] == 200  # not a feature method


def test_listing_without_calling(sim):
    setup = Setup(sim, [mcp_flow(acl({"authorizedFeatures": [tools(["TOOLS_LIST"])]}))])
    session = setup.session(setup.token("openid"))
    assert session.tool_names() == list(TOOL_NAMES)
    assert session.call("tools/call", name="echo", arguments={"text": "hi"})[0] == 403
    assert session.call("prompts/list")[1]["result"]["prompts"] == []  # only what a rule names


def test_one_literal_tool(sim):
    setup = Setup(sim, [mcp_flow(acl({"authorizedFeatures": [tools(["TOOLS_LIST", "TOOLS_CALL"], "LITERAL", "get_weather")]}))])
    session = setup.session(setup.token("openid"))
    assert session.tool_names() == ["get_weather"]
    status, message = session.call("tools/call", name="get_weather", arguments={"city": "Paris"})
    assert status == 200 and message["result"]["content"][0]["text"] == "Paris: sunny, 21°C"
    assert session.call("tools/call", name="add", arguments={"a": 1, "b": 2})[0] == 403


def test_a_rule_with_a_scope_condition_separates_tokens(sim):
    rules = mcp_flow(acl(
        {"authorizedFeatures": [tools(["TOOLS_LIST"])]},
        {"condition": HAS_WEATHER_READ, "authorizedFeatures": [tools(["TOOLS_CALL"], "LITERAL", "get_weather")]},
    ))
    setup = Setup(sim, [rules])
    with_scope = setup.session(setup.token("weather:read"))  # granted: a tool scope of this MCP server
    without = setup.session(setup.token("openid"))
    assert with_scope.call("tools/call", name="get_weather", arguments={"city": "Tokyo"})[0] == 200
    assert without.call("tools/call", name="get_weather", arguments={"city": "Tokyo"})[0] == 403
    assert without.tool_names() == list(TOOL_NAMES)


def test_prompts_and_resources(sim):
    features = [{"type": "PROMPTS", "methods": ["PROMPTS_LIST", "PROMPTS_GET"], "patternType": "LITERAL", "patternValue": "forecast"},
                {"type": "RESOURCES", "methods": ["RESOURCES_LIST", "RESOURCES_READ"], "patternType": "ANY"}]
    setup = Setup(sim, [mcp_flow(acl({"authorizedFeatures": features}))])
    session = setup.session(setup.token("openid"))
    assert [p["name"] for p in session.call("prompts/list")[1]["result"]["prompts"]] == list(PROMPT_NAMES)
    assert session.call("prompts/get", name="forecast", arguments={"city": "Paris"})[0] == 200
    assert [r["uri"] for r in session.call("resources/list")[1]["result"]["resources"]] == list(RESOURCE_URIS)
    assert session.call("resources/read", uri="weather://cities")[0] == 200
    assert session.tool_names() == []


def test_mcp_selector_methods_and_disabled_flows(sim):
    only_calls = mcp_flow(acl(), methods=["tools/call"])  # deny all, but only on tools/call
    disabled = mcp_flow(acl(), enabled=False)
    setup = Setup(sim, [only_calls, disabled])
    session = setup.session(setup.token("openid"))
    assert session.tool_names() == list(TOOL_NAMES)
    assert session.call("tools/call", name="echo", arguments={"text": "x"})[0] == 403


@pytest.mark.parametrize("rule", [
    {"condition": "{#request.headers['x-team'][0] == 'ops'}", "authorizedFeatures": [tools(["TOOLS_LIST"])]},
    {"authorizedFeatures": [tools(["TOOLS_LIST"], "EXPRESSION", "get_.*")]},
])
def test_undocumented_behaviours_fail_loudly(sim, rule):
    setup = Setup(sim, [mcp_flow(acl(rule))])
    session = setup.session(setup.token("openid"))
    status, dummy = session.call("tools/list")
    assert status == 500
