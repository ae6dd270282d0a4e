"""Bad input: each case fails before any write, with a message that names the option (or the object) at fault and
says what to do. The simulator's recorded requests prove that no write was sent (profile 4.12).

Module cases run as tasks of one playbook (ignore_errors); role cases are runs of the role, a few at a time.
Servers older than the supported ones are presented as they answer: an APIM without the mcp-proxy plugin answers 404
on the plugin's endpoint, AM 4.9 answers 404 on protected-resources (both fault-injected with the servers' bodies).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.integration.ansible_run import run_tasks
from tests.integration.role_support import add_mcp_server, apim, role_vars, run_role
from tests.reliability.support import clear_faults, first_failure, no_traceback

SECRET = "Bad-Input-Client-Secret-93d1"
MCP_URL = "http://mcp.internal:3001/mcp"
OTHER_API = {
    "definitionVersion": "V4",
    "type": "PROXY",
    "name": "other",
    "apiVersion": "1",
    "listeners": [{"type": "HTTP", "paths": [{"path": "/taken"}], "entrypoints": [{"type": "http-proxy"}]}],
    "endpointGroups": [
        {
            "name": "g",
            "type": "http-proxy",
            "endpoints": [{"name": "e", "type": "http-proxy", "configuration": {"target": "http://x:1"}}],
        }
    ],
}


def setup_objects(sim):
    """An MCP proxy API at /weather-mcp, a plain proxy API at /taken, an AM MCP server holding <gateway>/other-mcp."""
    run = run_tasks(
        sim,
        [
            {
                "mcpgate.gravitee.apim_api": {
                    "name": "weather-mcp",
                    "context_path": "/weather-mcp",
                    "mcp_server_url": MCP_URL,
                }
            }
        ],
    )
    assert run.rc == 0, run.stdout[-2000:]
    apim(sim, "/apis", method="POST", json=OTHER_API)
    add_mcp_server(sim, "taken", "taken-client", sim.urls["apim_gateway"] + "/other-mcp")
    sim.clear_requests()


def module_cases(sim):
    gw = sim.urls["apim_gateway"]
    api, new = {"context_path": "/new-mcp"}, {"context_path": "/new-mcp", "name": "new", "mcp_server_url": MCP_URL}
    server = {"domain": "mcp", "name": "x", "client_id": "new-client", "resource_identifiers": [gw + "/new-mcp"]}
    # The secret comes from outside the playbook (as from a vault): Ansible shows the source lines around a failing
    # task, and the test harness writes its variables into the play, so a value written there would be shown.
    resource = {
        "api": "/weather-mcp",
        "name": "r",
        "client_id": "c",
        "client_secret": "{{ lookup('env', 'BAD_INPUT_SECRET') }}",
    }
    # (case, module, options, words the message must hold: the option and the fix)
    return [
        ("malformed APIM url", "apim_info", {"url": "apim.example.com"}, ["url must be an http(s) URL"]),
        (
            "AM url with another scheme",
            "am_info",
            {"url": "ftp://am.example.com", "domain": "mcp"},
            ["url must be an http(s) URL"],
        ),
        ("empty API name", "apim_api", dict(new, name=""), ["name is required"]),
        ("empty context path", "apim_api", dict(new, context_path=""), ["context_path must start with '/'"]),
        ("context path without /", "apim_api", dict(new, context_path="new-mcp"), ["context_path must start with '/'"]),
        (
            "context path with capitals",
            "apim_api",
            dict(new, context_path="/New-MCP"),
            ["context_path", "capital", "'/new-mcp'"],
        ),
        (
            "malformed MCP server URL",
            "apim_api",
            dict(new, mcp_server_url="not a url"),
            ["mcp_server_url must be an http(s) URL"],
        ),
        (
            "context path of another API",
            "apim_api",
            dict(new, context_path="/taken"),
            ["already used by API 'other'", "choose another context_path"],
        ),
        (
            "started on an API that does not exist",
            "apim_api",
            dict(api, state="started"),
            ["does not exist yet", "state: present"],
        ),
        (
            "unknown security type",
            "apim_plan",
            {"api": "/weather-mcp", "name": "p", "security": "jwt"},
            ["security must be one of"],
        ),
        (
            "OAuth2 plan without resource",
            "apim_plan",
            {"api": "/weather-mcp", "name": "p", "security": "oauth2"},
            ["oauth_resource"],
        ),
        (
            "plan on a missing API",
            "apim_plan",
            {"api": "/no-such-mcp", "name": "p", "security": "keyless"},
            ["no API with context path '/no-such-mcp'", "apim_api"],
        ),
        ("AM resource without am_url", "apim_resource", resource, ["am_url"]),
        (
            "AM resource with an unknown version",
            "apim_resource",
            dict(resource, am_url="http://am", security_domain="mcp", version="V9"),
            ["version must be one of"],
        ),
        (
            "MCP server without domain",
            "am_mcp_server",
            {"name": "x", "client_id": "x"},
            ["missing required arguments: domain"],
        ),
        ("unknown AM domain", "am_mcp_server", dict(server, domain="nope"), ["domain: no AM domain named 'nope'"]),
        (
            "identifier of another MCP server",
            "am_mcp_server",
            dict(server, resource_identifiers=[gw + "/other-mcp"]),
            ["client_id", "taken-client"],
        ),
        (
            "tool without key",
            "am_mcp_server",
            dict(server, tools=[{"description": "no key"}]),
            ["missing required arguments: key"],
        ),
        (
            "not a boolean",
            "am_domain_settings",
            {"domain": "mcp", "dynamic_client_registration": {"enabled": "maybe"}},
            ["enabled", "not a valid boolean"],
        ),
        ("wrong APIM password", "apim_info", {"password": "wrong-password"}, ["HTTP 401", "Check the credentials"]),
        (
            "wrong APIM token",
            "apim_info",
            {"token": "not-a-token", "username": "", "password": ""},
            ["HTTP 401", "Check the credentials"],
        ),
        (
            "wrong AM password",
            "am_info",
            {"domain": "mcp", "password": "wrong-password"},
            ["HTTP 401", "Check the credentials"],
        ),
        (
            "expired (or forged) AM token",
            "am_info",
            {
                "domain": "mcp",
                "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjoxfQ.c2ln",
                "username": "",
                "password": "",
            },
            ["HTTP 401", "has not expired"],
        ),
        ("timeout of 0", "apim_info", {"timeout": 0}, ["timeout must be", "greater than 0"]),
        ("negative retries", "am_info", {"domain": "mcp", "retries": -1}, ["retries must be 0 or more"]),
        (
            "probe of a malformed URL",
            "mcp_probe",
            {"url": "gw.example.com/weather-mcp", "expect": "protected"},
            ["url must be an http(s) URL"],
        ),
    ]


def role_cases(sim):
    gw = sim.urls["apim_gateway"]
    plugin_404 = {
        "httpStatus": 404,
        "message": "Plugin [mcp-proxy] cannot be found.",
        "technicalCode": "plugin.notFound",
        "parameters": {"plugin": "mcp-proxy"},
    }
    forbidden = {
        "httpStatus": 403,
        "message": "You do not have sufficient rights to access this resource",
        "technicalCode": "forbidden",
    }
    # (case, role variables, fault to inject or None, words the failure must hold)
    return [
        (
            "misspelt variable",
            {"secure_mcp_dcr_opne": False},
            None,
            ["secure_mcp_dcr_opne", "not options of the secure_mcp role"],
        ),
        ("missing AM domain", {"secure_mcp_am_domain": None}, None, ["secure_mcp_am_domain"]),
        (
            "unknown AM domain",
            {"secure_mcp_am_domain": "no-such-domain"},
            None,
            ["no AM domain named 'no-such-domain'"],
        ),
        (
            "context path with capitals",
            {"secure_mcp_context_path": "/Weather-MCP"},
            None,
            ["secure_mcp_context_path", "lower-case"],
        ),
        ("empty context path", {"secure_mcp_context_path": ""}, None, ["secure_mcp_context_path"]),
        (
            "malformed MCP server URL",
            {"secure_mcp_server_url": "mcp.internal:3001"},
            None,
            ["secure_mcp_server_url", "http(s) URL"],
        ),
        (
            "gateway URL with a query",
            {"secure_mcp_apim_gateway_url": gw + "/?x=1"},
            None,
            ["secure_mcp_apim_gateway_url", "without a query string"],
        ),
        ("probe retries not a number", {"secure_mcp_probe_retries": "many"}, None, ["secure_mcp_probe_retries", "int"]),
        (
            "wrong AM password",
            {"secure_mcp_am_password": "wrong-password", "secure_mcp_am_username": "admin"},
            None,
            ["HTTP 401", "Check the credentials"],
        ),
        (
            "APIM answers 403",
            {},
            {
                "kind": "status",
                "server": "apim",
                "method": "GET",
                "path": r"/plugins/entrypoints/mcp-proxy$",
                "status": 403,
                "body": forbidden,
            },
            ["HTTP 403", "permission"],
        ),
        (
            "APIM without the mcp-proxy plugin (before 4.10)",
            {},
            {
                "kind": "status",
                "server": "apim",
                "method": "GET",
                "path": r"/plugins/entrypoints/mcp-proxy$",
                "status": 404,
                "body": plugin_404,
            },
            ["mcp-proxy", "APIM 4.10 or later"],
        ),
        (
            "AM before 4.10 (no protected resources)",
            {},
            {
                "kind": "status",
                "server": "am",
                "method": "GET",
                "path": r"/protected-resources$",
                "status": 404,
                "body": {"message": "HTTP 404 Not Found", "http_status": 404},
            },
            ["AM 4.10 or later"],
        ),
        (
            "context path of another API",
            {"secure_mcp_context_path": "/taken"},
            None,
            ["/taken", "already used by API 'other'"],
        ),
        (
            "identifier held by another MCP server",
            {"secure_mcp_context_path": "/other-mcp"},
            None,
            ["taken-client", "secure_mcp_client_id"],
        ),
        (
            "client id of another MCP server",
            {"secure_mcp_client_id": "taken-client"},
            None,
            ["taken-client", "choose another secure_mcp_client_id"],
        ),
    ]


def test_bad_module_input_fails_before_any_write_naming_the_option(sim, record):
    setup_objects(sim)
    cases = module_cases(sim)
    tasks = [
        {"name": case, f"mcpgate.gravitee.{module}": options, "ignore_errors": True}
        for case, module, options, _words in cases
    ]
    run = run_tasks(sim, tasks, extra_env={"BAD_INPUT_SECRET": SECRET})
    by_name = {r.task: r for r in run.results}
    rejected = []
    for case, _module, _options, words in cases:
        result = by_name[case]
        if result.failed and all(word in result.msg for word in words) and "Traceback" not in result.msg:
            rejected.append(case)
    record.update(
        category="bad-input",
        scope="modules",
        tried=len(cases),
        rejected_cleanly=len(rejected),
        not_rejected=[(case[0], by_name[case[0]].msg[:200]) for case in cases if case[0] not in rejected],
    )
    assert no_traceback(run), run.stdout[-3000:]
    assert record["not_rejected"] == []
    assert sim.writes() == []
    assert SECRET not in run.stdout + run.stderr


def test_bad_role_input_fails_in_preflight_before_any_write_naming_the_variable(sim, record):
    setup_objects(sim)
    cases = role_cases(sim)

    def attempt(case):
        name, variables, fault, words = case
        overrides = {k: v for k, v in variables.items() if v is not None}
        run = run_role(sim, **overrides) if None not in variables.values() else run_without(sim, variables)
        return name, run, words

    outcomes = []
    # Faults are global to the simulator: the fault cases run one after the other, the others three at a time.
    plain = [c for c in cases if c[2] is None]
    with ThreadPoolExecutor(3) as pool:
        outcomes += list(pool.map(attempt, plain))
    for case in cases:
        if case[2] is not None:
            sim.inject(**case[2], count=100)
            outcomes.append(attempt(case))
            clear_faults(sim)
    rejected, not_rejected = [], []
    for name, run, words in outcomes:
        message = first_failure(run).msg if run.rc != 0 else ""
        if run.rc != 0 and all(word in message for word in words) and no_traceback(run):
            rejected.append(name)
        else:
            not_rejected.append((name, message[:300] or "no failure"))
    record.update(
        category="bad-input", scope="role", tried=len(cases), rejected_cleanly=len(rejected), not_rejected=not_rejected
    )
    assert not_rejected == []
    assert sim.writes() == []


def run_without(sim, variables):
    """A role run with the variables set to None removed from the defaults (a required variable not given)."""
    given = {k: v for k, v in role_vars(sim).items() if variables.get(k, "") is not None}
    tasks = [{"name": "secure_mcp", "ansible.builtin.include_role": {"name": "mcpgate.gravitee.secure_mcp"}}]
    return run_tasks(sim, tasks, extra_vars=given)
