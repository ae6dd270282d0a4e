"""The secure_mcp role end to end against the simulator.

After every run that converges, the security invariant holds: the API has no published keyless plan and an
unauthenticated MCP request is answered 401; and the role's own verification got a token and listed the tools.
The guide's path runs on the 4.10, 4.11 and 4.12 profiles; behaviours that do not depend on the version run on 4.12.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.role_support import add_mcp_server, am, apim, changed, failures, run_role, run_role_on_hosts
from tests.simulator.harness import free_ports
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS, run_mcp_client
from tests.simulator.profiles import PROFILES

SIMULATOR_PROFILES = PROFILES  # the role on 4.10, 4.11 and 4.12
CONTEXT_PATH = "/weather-mcp"
CLIENT_ID = "mcp-weather-mcp"
ROLE = "mcpgate.gravitee.secure_mcp : "
VERIFY = ROLE + "Verification | An MCP client gets the 401 challenge, then a token from AM, then the tools"
# What a first converge changes, in order: one task per guide step.
FIRST_CONVERGE = [
    ROLE + "Proxy API | Create the MCP proxy API pointing at the MCP server",
    ROLE + "Proxy API | Create a keyless plan for initial testing",
    ROLE + "Proxy API | Deploy the API",
    ROLE + "AM MCP server | Create the MCP Server resource, identified by the API's URL",
    ROLE + "AM domain settings | Enable Dynamic Client Registration and user registration",
    ROLE + "OAuth2 plan | Add the Gravitee.io AM Authorization Server resource with the MCP server's client",
    ROLE + "OAuth2 plan | Create the OAuth2 plan that uses the AM resource",
    ROLE + "OAuth2 plan | Delete the keyless plan",
    ROLE + "OAuth2 plan | Redeploy the API",
]


def the_api(sim, context_path=CONTEXT_PATH):
    found = apim(sim, "/apis/_search", method="POST", json={"query": context_path})["data"]
    found = [api for api in found if api["listeners"][0]["paths"][0]["path"] == context_path + "/"]
    assert len(found) == 1, found
    return apim(sim, f"/apis/{found[0]['id']}")


def mcp_servers(sim):
    return am(sim, "/" + am(sim, "/_hrid/mcp")["id"] + "/protected-resources", params={"type": "MCP_SERVER"})["data"]


def post_initialize(sim, context_path=CONTEXT_PATH):
    return requests.post(sim.urls["apim_gateway"] + context_path, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)


def assert_secured(sim, context_path=CONTEXT_PATH):
    """The invariant: no published keyless plan, and an unauthenticated MCP request gets the 401 challenge."""
    api = the_api(sim, context_path)
    plans = apim(sim, f"/apis/{api['id']}/plans", params={"statuses": "STAGING,PUBLISHED,DEPRECATED,CLOSED"})["data"]
    assert [p["name"] for p in plans if p["security"]["type"] == "KEY_LESS" and p["status"] == "PUBLISHED"] == []
    assert [(p["name"], p["status"]) for p in plans if p["security"]["type"] == "OAUTH2"] == [("OAuth2", "PUBLISHED")]
    response = post_initialize(sim, context_path)
    assert response.status_code == 401
    assert "Bearer" in response.headers.get("WWW-Authenticate", "")
    return api


def verified_tools(run, host="localhost"):
    """The tools the role's verification listed with its token (it fails the run when it cannot)."""
    result = next(r for r in run.results if r.task == VERIFY and r.host == host).result
    assert result["authenticated"]["verified"] is True, result["authenticated"]
    return result["authenticated"]["tools"]


def test_converges_then_changes_nothing_predicts_nothing_and_lets_a_real_client_in(sim):
    first = run_role(sim, verbosity=3)
    assert first.rc == 0, failures(first) or first.stdout[-2000:]
    assert changed(first) == FIRST_CONVERGE
    assert {"echo", "add"} <= set(verified_tools(first))
    api = assert_secured(sim)
    assert [r["name"] for r in api["resources"]] == ["AM authorization server"]
    assert [(s["clientId"], s["resourceIdentifiers"]) for s in mcp_servers(sim)] == [
        (CLIENT_ID, [(sim.urls["apim_gateway"] + CONTEXT_PATH).lower()])
    ]
    # The secret AM generated reached APIM in the same run and was never printed, even at -vvv; nor was the password.
    secret = api["resources"][0]["configuration"]["clientSecret"]
    assert secret and secret not in first.stdout + first.stderr
    assert "adminadmin" not in first.stdout + first.stderr
    # The outputs, registered and set for a next job (set_stats).
    outputs = next(r for r in first.results if r.task.endswith("Tell what MCP clients need (secure_mcp_result, and set_stats for an AWX workflow)"))
    assert outputs.result["ansible_stats"]["data"]["secure_mcp_results"]["localhost"] == {
        "mcp_server_url": sim.urls["apim_gateway"] + CONTEXT_PATH,
        "api_id": api["id"],
        "am_mcp_server_id": mcp_servers(sim)[0]["id"],
        "client_id": CLIENT_ID,
        "issuer": sim.urls["am_gateway"] + "/mcp/oidc",
    }

    sim.clear_requests()
    second = run_role(sim)
    assert second.rc == 0, failures(second)
    assert changed(second) == [] and sim.writes() == []
    assert verified_tools(second)
    assert_secured(sim)

    sim.clear_requests()
    check = run_role(sim, check=True)
    assert check.rc == 0, failures(check)
    assert changed(check) == [] and sim.writes() == []

    # What VS Code does: 401, discovery, Dynamic Client Registration, PKCE, login; then a tool call.
    outcome = run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password")
    assert {"echo", "add"} <= set(outcome["tools"])


@pytest.mark.profiles("4.10", "4.12")
def test_check_mode_on_a_fresh_install_predicts_the_run(sim):
    check = run_role(sim, check=True, diff=True)
    assert check.rc == 0, failures(check)
    assert sim.writes() == []
    assert apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"] == []
    predicted = changed(check)
    # The AM MCP server's creation is shown whole (no secret exists yet to hide).
    creation = next(r for r in check.results if r.task == FIRST_CONVERGE[3]).result["diff"]
    assert creation["before"] == {} and creation["after"]["resourceIdentifiers"] == [(sim.urls["apim_gateway"] + CONTEXT_PATH).lower()]
    run = run_role(sim)
    assert run.rc == 0, failures(run)
    assert predicted == changed(run) == FIRST_CONVERGE


@pytest.mark.profiles("4.12")
def test_dcr_off_and_user_registration_on_and_the_run_says_what_it_could_not_verify(sim):
    run = run_role(sim, secure_mcp_dcr_enabled=False, secure_mcp_user_registration=True)
    assert run.rc == 0, failures(run)
    domain = am(sim, "/_hrid/mcp")
    assert domain["oidc"]["clientRegistrationSettings"]["isDynamicClientRegistrationEnabled"] is False
    assert domain["loginSettings"]["registerEnabled"] is True
    assert_secured(sim)
    verification = next(r for r in run.results if r.task == VERIFY).result
    assert verification["authenticated"]["verified"] is False
    assert any("The authenticated path was not verified" in w for w in verification["warnings"])


@pytest.mark.profiles("4.12")
def test_a_given_secret_is_used_and_never_printed(sim):
    given_secret = "Given-Client-Secret-7c41e0b2"
    run = run_role(sim, verbosity=3, secure_mcp_client_secret=given_secret)
    assert run.rc == 0, failures(run)
    assert given_secret not in run.stdout + run.stderr
    assert_secured(sim)
    assert verified_tools(run)  # the gateway introspects with the given secret


@pytest.mark.profiles("4.12")
def test_a_new_client_secret_given_to_the_role_reaches_the_apim_resource(sim):
    """APIM returns an API resource's clientSecret as stored (not masked): a changed secret is compared and sent."""
    assert run_role(sim, secure_mcp_client_secret="First-Secret-0a1b2c").rc == 0
    run = run_role(sim, secure_mcp_client_secret="Second-Secret-3d4e5f", secure_mcp_verify=False)
    assert run.rc == 0, failures(run)
    assert FIRST_CONVERGE[5] in changed(run)
    assert the_api(sim)["resources"][0]["configuration"]["clientSecret"] == "Second-Secret-3d4e5f"


@pytest.mark.profiles("4.10", "4.12")
def test_an_mcp_server_whose_secret_apim_lacks_gets_a_new_one(sim):
    """A run that stopped between creating the AM MCP server and the APIM resource lost the secret AM shows once."""
    server = add_mcp_server(sim, "weather-mcp", CLIENT_ID, sim.urls["apim_gateway"] + CONTEXT_PATH)
    run = run_role(sim)
    assert run.rc == 0, failures(run)
    assert_secured(sim)
    assert verified_tools(run)
    ids = [s["id"] for s in mcp_servers(sim)]
    # AM 4.11+ adds a secret to the same server; AM 4.10, without a secrets endpoint, recreates it.
    assert (ids == [server["id"]]) is (sim.profile != "4.10")
    assert run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password")["tools"]


@pytest.mark.profiles("4.12")
def test_a_lost_secret_stops_the_run_before_any_write_when_the_role_may_not_renew_it(sim):
    add_mcp_server(sim, "weather-mcp", CLIENT_ID, sim.urls["apim_gateway"] + CONTEXT_PATH)
    sim.clear_requests()
    run = run_role(sim, secure_mcp_recreate_orphan_mcp_server=False)
    assert run.rc != 0 and sim.writes() == []
    report = failures(run)[-1]
    assert "secure_mcp_client_secret" in report and "secure_mcp_recreate_orphan_mcp_server" in report


@pytest.mark.profiles("4.12")
def test_the_resource_gets_the_secret_of_the_mcp_server_it_is_pointed_at(sim):
    """The lock-out replayed: the resource holds another client's id; the MCP server the role asks for exists."""
    assert run_role(sim).rc == 0
    api = the_api(sim)
    resource = dict(api["resources"][0], configuration=dict(api["resources"][0]["configuration"], clientId="someone-else"))
    apim(sim, f"/apis/{api['id']}", method="PUT", json=dict(api, resources=[resource]))
    apim(sim, f"/apis/{api['id']}/deployments", method="POST", json={"deploymentLabel": "by hand"})
    assert post_initialize(sim).status_code == 401  # still closed, but no token can be introspected now

    run = run_role(sim)
    assert run.rc == 0, failures(run)
    assert the_api(sim)["resources"][0]["configuration"]["clientId"] == CLIENT_ID
    assert verified_tools(run)
    assert run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password")["tools"]


@pytest.mark.profiles("4.12")
def test_changing_the_client_id_and_back_never_leaves_clients_locked_out(sim):
    assert run_role(sim).rc == 0
    sim.clear_requests()
    other = run_role(sim, secure_mcp_client_id="weather-renamed")
    # The identifier belongs to the first MCP server: the run stops in the preflight, naming the variable.
    assert other.rc != 0 and sim.writes() == []
    assert any("secure_mcp_client_id" in f for f in failures(other)), failures(other)
    back = run_role(sim)
    assert back.rc == 0, failures(back)
    assert changed(back) == [] and verified_tools(back)


@pytest.mark.profiles("4.12")
def test_teardown_removes_the_api_and_the_mcp_server_and_keeps_the_domain(sim):
    assert run_role(sim).rc == 0
    domain = am(sim, "/_hrid/mcp")
    sim.clear_requests()
    check = run_role(sim, check=True, diff=True, secure_mcp_state="absent")
    assert check.rc == 0, failures(check)
    assert sim.writes() == []
    teardown = [ROLE + "Teardown | Delete the MCP proxy API and its plans", ROLE + "Teardown | Delete the AM MCP server"]
    assert changed(check) == teardown
    assert next(r for r in check.results if r.task == teardown[1]).result["diff"]["after"] == {}

    run = run_role(sim, secure_mcp_state="absent")
    assert run.rc == 0, failures(run)
    assert changed(run) == teardown
    assert apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"] == []
    assert mcp_servers(sim) == []
    assert am(sim, "/_hrid/mcp")["oidc"] == domain["oidc"]  # the domain's settings are the domain's
    assert post_initialize(sim).status_code == 404

    sim.clear_requests()
    again = run_role(sim, secure_mcp_state="absent")
    assert again.rc == 0 and changed(again) == [] and sim.writes() == []

    # Teardown needs only what finds the objects.
    only = run_role(sim, secure_mcp_state="absent", secure_mcp_server_url=None)
    assert only.rc == 0, failures(only)


@pytest.mark.profiles("4.12")
def test_two_mcp_servers_in_one_domain_set_its_settings_once_and_disagreeing_hosts_stop_first(sim):
    hosts = {"weather": {"secure_mcp_context_path": "/weather-mcp"}, "files": {"secure_mcp_context_path": "/files-mcp"}}
    sim.clear_requests()
    run = run_role_on_hosts(sim, hosts)
    assert run.rc == 0, failures(run)
    domain_patches = [w for w in sim.writes("am") if w["method"] == "PATCH"]
    assert len(domain_patches) == 1
    settings = [r for r in run.results if r.task.endswith("Enable Dynamic Client Registration and user registration")]
    assert sorted(r.status for r in settings) == ["ok", "skipped"]  # the first host of the play for the domain
    assert_secured(sim, "/weather-mcp") and assert_secured(sim, "/files-mcp")
    assert verified_tools(run, "weather") and verified_tools(run, "files")

    sim.clear_requests()
    again = run_role_on_hosts(sim, hosts)
    assert again.rc == 0 and changed(again) == [] and sim.writes() == []

    hosts["files"]["secure_mcp_user_registration"] = True
    sim.clear_requests()
    disagree = run_role_on_hosts(sim, hosts)
    assert disagree.rc != 0 and sim.writes() == []
    message = " ".join(failures(disagree))
    assert "weather" in message and "files" in message and "secure_mcp_user_registration" in message


@pytest.mark.profiles("4.12")
def test_an_unreachable_mcp_server_fails_at_once_naming_the_variable_and_leaves_nothing_open(sim):
    closed_port = free_ports(1)[0]
    started = time.monotonic()
    run = run_role(sim, secure_mcp_server_url=f"http://127.0.0.1:{closed_port}/mcp", secure_mcp_probe_retries=24,
                   secure_mcp_probe_delay=5)
    took = time.monotonic() - started
    assert run.rc != 0
    assert took < 60, took  # not the 120 s the probes may wait for a deployment
    report = failures(run)[-1]
    assert "secure_mcp_server_url" in report and "502" in report and report.endswith(".") and "  " not in report
    assert "censored" not in run.stdout and "...ignoring" not in run.stdout
    assert "The API was stopped" in report
    assert post_initialize(sim).status_code == 404  # stopped: nothing reachable without a token


@pytest.mark.profiles("4.12")
def test_bad_input_fails_in_preflight_before_any_write_naming_the_variable(sim):
    cases = [
        ({"secure_mcp_context_path": "/Weather-MCP"}, ["secure_mcp_context_path", "capitals"]),
        ({"secure_mcp_context_path": "/weather-mcp/"}, ["secure_mcp_context_path", "ends with '/'"]),
        ({"secure_mcp_am_domain": "no-such-domain"}, ["secure_mcp_am_domain", "'no-such-domain'"]),
        ({"secure_mcp_server_url": "not a url"}, ["secure_mcp_server_url", "http(s) URL"]),
        ({"secure_mcp_tools": [{"key": "forecast", "scopes": ["weather:read"]}]}, ["secure_mcp_tools", "weather:read"]),
        ({"secure_mcp_dcr_opne": False}, ["secure_mcp_dcr_opne", "not options of the secure_mcp role"]),
    ]
    sim.clear_requests()
    for overrides, expected in cases:
        run = run_role(sim, **overrides)
        assert run.rc != 0
        report = failures(run)[-1]
        assert all(text in report for text in expected), (overrides, report)
        assert report.endswith(".") and "Traceback" not in run.stdout
    assert sim.writes() == []


@pytest.mark.profiles("4.12")
def test_an_identifier_held_by_another_mcp_server_is_refused_before_any_write(sim):
    add_mcp_server(sim, "someone else", "someone-else", sim.urls["apim_gateway"] + CONTEXT_PATH)
    sim.clear_requests()
    run = run_role(sim)
    assert run.rc != 0
    report = failures(run)[-1]
    assert "'someone else'" in report and "someone-else" in report and "secure_mcp_client_id" in report, report
    assert sim.writes() == []


@pytest.mark.profiles("4.12")
def test_a_keyless_plan_published_after_securing_is_removed_and_the_gateway_closed_again(sim):
    """Someone publishes and deploys the keyless test plan on the secured API: the API is open again."""
    assert run_role(sim).rc == 0
    api = the_api(sim)
    plan = apim(
        sim, f"/apis/{api['id']}/plans", method="POST",
        json={"definitionVersion": "V4", "name": "Keyless test", "mode": "STANDARD", "validation": "AUTO",
              "security": {"type": "KEY_LESS"}, "flows": []},
    )
    apim(sim, f"/apis/{api['id']}/plans/{plan['id']}/_publish", method="POST")
    apim(sim, f"/apis/{api['id']}/deployments", method="POST", json={"deploymentLabel": "by hand"})
    assert post_initialize(sim).status_code == 200  # keyless lets an unauthenticated client in

    run = run_role(sim)
    assert run.rc == 0, failures(run)
    assert changed(run) == [FIRST_CONVERGE[7], FIRST_CONVERGE[8]]
    assert_secured(sim)  # deleted and deployed: the gateway no longer runs the keyless plan
