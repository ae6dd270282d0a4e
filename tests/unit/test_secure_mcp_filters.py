"""plugins/filter/secure_mcp.py: what the secure_mcp role derives from its variables, in Python."""

from __future__ import annotations

from ansible_collections.mcpgate.gravitee.plugins.filter.secure_mcp import (
    FilterModule,
    input_problems,
    mcp_clients,
    preflight_facts,
    rotation,
    tool_access,
)

PRESETS = {
    "vscode": {"name": "VS Code", "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"]},
    "claude-code": {"name": "Claude Code", "redirect_uris": ["http://localhost:{port}/callback"]},
    "cursor": {"name": "Cursor", "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "http://localhost:8787/callback"]},
}


def test_the_filters_are_offered_under_their_names():
    assert set(FilterModule().filters()) == {"tool_access", "input_problems", "mcp_clients", "preflight_facts", "rotation"}


def test_tool_access_compiles_the_tools_the_scopes_the_acl_and_what_to_verify():
    access = {"get_weather": {"scopes": ["weather:read"], "verify_arguments": {"city": "Paris"}},
              "echo": {"methods": ["tools_list"], "description": "Echo"}, "*": {"methods": ["TOOLS_LIST"]}}
    compiled = tool_access(access, [{"key": "add", "description": "", "scopes": []}], [])
    assert compiled["problems"] == []
    assert compiled["am_tools"] == [{"key": "add", "description": "", "scopes": []},
                                    {"key": "get_weather", "description": "", "scopes": ["weather:read"]},
                                    {"key": "echo", "description": "Echo", "scopes": []}]
    assert compiled["scopes"] == ["weather:read"]
    assert compiled["mcp_acl"]["state"] == "present"
    assert compiled["mcp_acl"]["authorizations"][0] == {"scopes": ["weather:read"], "authorized_features": [
        {"type": "TOOLS", "methods": ["TOOLS_LIST", "TOOLS_CALL"], "pattern_type": "LITERAL", "pattern_value": "get_weather"}]}
    assert compiled["mcp_acl"]["authorizations"][2]["authorized_features"][0]["pattern_type"] == "ANY"
    assert compiled["listed"] == ["get_weather", "echo"]
    # Every token lists every tool ('*' with TOOLS_LIST and no scope): none is expected hidden.
    assert compiled["hidden"] == []
    assert compiled["allowed_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}, "expect": "allowed"}]
    assert compiled["refused_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}, "expect": "refused"}]
    assert tool_access({}, [], [])["mcp_acl"] == {"state": "absent", "authorizations": []}


def test_tool_access_reports_every_problem_at_once():
    access = {"get weather": {}, "add": {"methods": ["PROMPTS_GET"], "scope": ["x"]}, "echo": {"scopes": ["it's"]},
              "bad": "scopes"}
    problems = " ".join(tool_access(access, [{"key": "echo"}], [])["problems"])
    for expected in ('"get weather" is not a tool name', "secure_mcp_tool_access[add]: scope not known",
                     "PROMPTS_GET are not tool methods", "secure_mcp_tool_access[echo].scopes must be a list of scopes",
                     "secure_mcp_tools both declare the tool echo", "secure_mcp_tool_access[bad] must be a mapping"):
        assert expected in problems, problems


def test_input_problems_are_the_modules_own_checks_named_after_the_role_variables():
    good = {"state": "present", "context_path": "/weather-mcp", "server_url": "http://mcp:3001/mcp?x=1",
            "apim_gateway_url": "https://gw.example.com", "am_gateway_url": "https://am.example.com"}
    assert input_problems(good) == []
    problems = input_problems(dict(good, context_path="/Weather", server_url="mcp:3001", apim_gateway_url="https://gw/?x=1",
                                   unknown=["secure_mcp_dcr_opne"], missing=["secure_mcp_am_gateway_url"]))
    assert problems[0].startswith("secure_mcp_dcr_opne: not options of the secure_mcp role")
    assert "secure_mcp_context_path '/Weather' has capital letters" in problems[1] and "lower-case" in problems[1]
    assert problems[2] == "secure_mcp_am_gateway_url must be set to secure an MCP server (secure_mcp_state: present)."
    assert "secure_mcp_server_url must be an http(s) URL" in problems[3]
    assert "secure_mcp_apim_gateway_url must be an http(s) URL without a query string" in problems[4]
    assert "ends with '/'" in input_problems(dict(good, context_path="/weather/"))[0]
    assert input_problems(dict(good, context_path="/")) == []
    assert input_problems(dict(good, state="absent", missing=["secure_mcp_server_url"], server_url=None)) == []


def test_mcp_clients_are_resolved_from_presets_names_and_ports():
    clients = [{"preset": "vscode"}, {"preset": "claude-code", "port": 33333, "scopes": ["mcp:tools"]},
               {"name": "My Agent!", "redirect_uris": ["https://agent.example/cb"], "confidential": True}]
    resolved = mcp_clients(clients, PRESETS, ["openid"], True, True)
    assert resolved["problems"] == []
    vscode, claude, agent = resolved["clients"]
    assert (vscode["name"], vscode["client_id"], vscode["type"], vscode["token_endpoint_auth_method"]) == \
        ("VS Code", "mcp-client-vscode", "native", "none")
    assert claude["redirect_uris"] == ["http://localhost:33333/callback"] and claude["scopes"] == ["openid", "mcp:tools"]
    assert (agent["client_id"], agent["type"], agent["state"]) == ("mcp-client-my-agent", "web", "present")
    assert resolved["client_ids"] == ["mcp-client-claude-code", "mcp-client-my-agent", "mcp-client-vscode"]
    assert resolved["secret_holders"] == 1


def test_mcp_clients_report_what_am_would_refuse():
    clients = [{"preset": "vscode"}, {"name": "Fragment", "redirect_uris": ["https://x.example/cb#frag"]},
               {"preset": "cursor"}, {"name": "Cursor", "redirect_uris": ["cursor://x/cb", "no scheme"]}, {"redirect_uris": []}]
    problems = " ".join(mcp_clients(clients, PRESETS, [], False, "False", ["localhost", "*.vscode.dev"])["problems"])
    for expected in ("secure_mcp_clients - a client without a preset needs a name",
                     "secure_mcp_clients - AM refuses the loopback redirect URIs http://127.0.0.1:33418/, http://localhost:8787/callback",
                     "set secure_mcp_dcr_allow_localhost_redirect_uri to true",
                     "secure_mcp_clients - AM refuses redirect URIs with a #fragment or a wildcard: https://x.example/cb#frag",
                     "secure_mcp_clients - two clients have the same client id", "mcp-client-cursor",
                     "AM refuses malformed redirect URIs (no scheme)",
                     "secure_mcp_cimd_allowed_domains - AM accepts only domain names with a dot (vscode.dev) or '*.' and a "
                     "domain: localhost."):
        assert expected in problems, (expected, problems)


def test_preflight_facts_say_what_the_reads_found():
    apim = {"plans": [{"name": "OAuth2", "status": "PUBLISHED"}, {"name": "Keyless test", "status": "CLOSED"}],
            "api": {"resources": [{"name": "AM", "configuration": {"clientId": "mcp-other"}}]}}
    names = {"oauth2_plan": "OAuth2", "keyless_plan": "Keyless test", "resource": "AM", "client_id": "mcp-weather",
             "secret_given": False}
    facts = preflight_facts(apim, {"id": "s1", "domain": {"path": "/mcp", "hrid": "mcp"}}, names)
    assert facts == {"oauth2_published": True, "keyless_found": True, "mcp_server_exists": True, "secret_lost": True,
                     "security_domain": "mcp"}
    facts = preflight_facts({}, {"domain": {"hrid": "other"}}, dict(names, secret_given="True"))
    assert (facts["oauth2_published"], facts["secret_lost"], facts["security_domain"]) == (False, False, "other")


def test_rotation_names_the_next_secret_and_knows_when_it_is_done():
    assert rotation("r1", [{"name": "AM's own"}]) == {"done": False, "secret_name": "r1"}
    assert rotation("r1", [{"name": "AM's own"}, {"name": "r1"}]) == {"done": False, "secret_name": "r1 (2)"}
    assert rotation("r1", [{"name": "r1 (2)"}]) == {"done": True, "secret_name": "r1"}
    assert rotation("r.1", [{"name": "rx1"}]) == {"done": False, "secret_name": "r.1"}
