"""Per-tool access control with the secure_mcp role (the guide's "Next steps: Controlling MCP Server Access"), against
the simulator: secure_mcp_tool_access is all the user writes; the role creates the scopes in the AM domain, declares the
tools with their scopes on the AM MCP server, puts the mcp-acl policy on the OAuth2 plan, and verifies with tokens that a
client with a tool's scope can see and call it while one without cannot. A second run changes nothing; check mode
predicts.  The simulated policy does what Gravitee's documentation says (FIDELITY.md, "APIM mcp-acl policy"); it behaves
the same in every profile, so one profile runs.
"""

from __future__ import annotations

import requests

from tests.integration.role_support import am, apim, changed, failures, run_role
from tests.integration.simulator.test_apim_mcp_acl import McpSession
from tests.integration.test_role_secure_mcp import CONTEXT_PATH, ROLE, the_api

SIMULATOR_PROFILES = ("4.12",)
ACCESS = {
    "get_weather": {"scopes": ["weather:read"], "description": "Weather for a city", "verify_arguments": {"city": "Paris"}},
    "add": {"scopes": ["math:add", "math:use"], "verify_arguments": {"a": 1, "b": 2}},
    "echo": {"scopes": []},  # every token
}
# Prompts stay listable for every token (what no rule allows is denied, prompts included).
PROMPTS = [{"authorized_features": [{"type": "PROMPTS", "methods": ["PROMPTS_LIST"]}]}]
VERIFY_WITH = ROLE + "Tool access | A client with the tools' scopes sees and calls them"
VERIFY_WITHOUT = ROLE + "Tool access | A client without them neither sees nor calls the tools that need them"


def token(sim, scopes: list[str]) -> str:
    """A token as an MCP client gets it: a client registered by DCR, client credentials for the MCP server's URL."""
    gateway = sim.urls["am_gateway"] + "/mcp"
    client = requests.post(gateway + "/oidc/register", timeout=10, json={
        "client_name": "test", "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        "token_endpoint_auth_method": "client_secret_basic"}).json()
    form = {"grant_type": "client_credentials", "resource": sim.urls["apim_gateway"] + CONTEXT_PATH}
    if scopes:
        form["scope"] = " ".join(scopes)
    answer = requests.post(gateway + "/oauth/token", data=form, auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def session(sim, scopes):
    return McpSession(sim.urls["apim_gateway"] + CONTEXT_PATH, token(sim, scopes))


def called(mcp, name, **arguments) -> bool:
    status, message = mcp.call("tools/call", name=name, arguments=arguments)
    return status == 200 and "result" in (message or {})


def plan_flows(sim):
    api = the_api(sim)
    plans = apim(sim, f"/apis/{api['id']}/plans", params={"statuses": "PUBLISHED"})["data"]
    return next(p for p in plans if p["name"] == "OAuth2")["flows"]


def test_tool_access_from_one_variable_verified_with_tokens_then_nothing_to_change(sim):
    first = run_role(sim, secure_mcp_tool_access=ACCESS, secure_mcp_acl_rules=PROMPTS)
    assert first.rc == 0, failures(first) or first.stdout[-3000:]

    # AM: the scopes exist, the tools carry them.
    domain = am(sim, "/_hrid/mcp")
    assert {"weather:read", "math:add", "math:use"} <= {s["key"] for s in am(sim, f"/{domain['id']}/scopes")["data"]}
    server = am(sim, f"/{domain['id']}/protected-resources", params={"type": "MCP_SERVER"})["data"][0]
    assert sorted((f["key"], sorted(f["scopes"])) for f in server["features"]) == [
        ("add", ["math:add", "math:use"]), ("echo", []), ("get_weather", ["weather:read"])]
    # APIM: one mcp-acl flow on the OAuth2 plan, one rule per tool and the prompts rule.
    [flow] = plan_flows(sim)
    assert flow["name"] == "MCP ACL" and flow["request"][0]["policy"] == "mcp-acl"
    rules = flow["request"][0]["configuration"]["authorizations"]
    assert [r.get("condition") for r in rules] == [
        "{#context.attributes['user.roles'].contains('weather:read')}",
        "{#context.attributes['user.roles'].contains('math:add') && #context.attributes['user.roles'].contains('math:use')}",
        None, None]

    # The role's own verification: with the scopes, listed and called; without, hidden and refused.
    with_scopes = first.task(VERIFY_WITH).result["authenticated"]
    assert with_scopes["verified"] and set(with_scopes["tools"]) == {"get_weather", "add", "echo"}
    assert [(c["name"], c["allowed"]) for c in with_scopes["calls"]] == [("get_weather", True), ("add", True)]
    without = first.task(VERIFY_WITHOUT).result["authenticated"]
    assert without["tools"] == ["echo"]
    assert [(c["name"], c["allowed"]) for c in without["calls"]] == [("get_weather", False), ("add", False)]

    # Tokens of our own: a tool's scope opens that tool only; both of add's scopes are needed.
    weather = session(sim, ["weather:read"])
    assert sorted(weather.tool_names()) == ["echo", "get_weather"]
    assert called(weather, "get_weather", city="Tokyo") and not called(weather, "add", a=1, b=2)
    assert called(weather, "echo", text="hi")
    assert not called(session(sim, ["math:add"]), "add", a=1, b=2)
    assert called(session(sim, ["math:add", "math:use"]), "add", a=1, b=2)
    nobody = session(sim, [])
    assert nobody.tool_names() == ["echo"] and [p["name"] for p in nobody.call("prompts/list")[1]["result"]["prompts"]] == ["forecast"]
    assert nobody.call("resources/list")[1]["result"]["resources"] == []  # no rule for resources: denied

    sim.clear_requests()
    second = run_role(sim, secure_mcp_tool_access=ACCESS, secure_mcp_acl_rules=PROMPTS)
    assert second.rc == 0, failures(second)
    assert changed(second) == [] and sim.writes() == []
    check = run_role(sim, check=True, secure_mcp_tool_access=ACCESS, secure_mcp_acl_rules=PROMPTS)
    assert check.rc == 0, failures(check)
    assert changed(check) == [] and sim.writes() == []

    # Access control taken away: check mode predicts it, then the run removes the flow and every token sees every tool.
    predicted = run_role(sim, check=True, diff=True)
    assert predicted.rc == 0, failures(predicted)
    assert sim.writes() == []
    assert changed(predicted) == [ROLE + "AM MCP server | Create the MCP Server resource, identified by the API's URL",
                                  ROLE + "OAuth2 plan | Create the OAuth2 plan that uses the AM resource",
                                  ROLE + "OAuth2 plan | Redeploy the API"]
    removed = run_role(sim)
    assert removed.rc == 0, failures(removed)
    assert changed(removed) == changed(predicted)
    assert plan_flows(sim) == []
    assert sorted(session(sim, []).tool_names()) == ["add", "echo", "get_weather"]


def test_bad_access_rules_fail_before_any_write_saying_what_is_wrong(sim):
    access = {"get weather": {}, "add": {"methods": ["PROMPTS_GET"], "scope": ["x"]}, "echo": {"scopes": ["it's"]}}
    run = run_role(sim, secure_mcp_tool_access=access, secure_mcp_tools=[{"key": "echo"}])
    assert run.rc != 0
    message = " ".join(failures(run))
    for expected in ('"get weather" is not a tool name', "secure_mcp_tool_access[add]: scope not known",
                     "PROMPTS_GET are not tool methods", "secure_mcp_tool_access[echo].scopes must be a list of scopes",
                     "secure_mcp_tools both declare the tool echo"):
        assert expected in message, message
    assert sim.writes() == []
