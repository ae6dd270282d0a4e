"""The secure_mcp role end to end against the simulator, on both version profiles.

After every run that converges, the security invariant holds: the API has no published keyless plan
and an unauthenticated MCP request is answered 401.
"""

from __future__ import annotations

import requests

from tests.integration.role_support import add_mcp_server, am, apim, changed, failures, run_role
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS, run_mcp_client

from tests.simulator.profiles import PROFILES

SIMULATOR_PROFILES = PROFILES  # the role on 4.10, 4.11 and 4.12
CONTEXT_PATH = "/weather-mcp"
CLIENT_ID = "mcp-weather-mcp"


def the_api(sim):
    found = apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"]
    assert len(found) == 1, found
    return apim(sim, f"/apis/{found[0]['id']}")


def assert_secured(sim):
    """The invariant: no published keyless plan, and an unauthenticated MCP request gets the 401 challenge."""
    api = the_api(sim)
    plans = apim(sim, f"/apis/{api['id']}/plans", params={"statuses": "STAGING,PUBLISHED,DEPRECATED,CLOSED"})["data"]
    assert [p["name"] for p in plans if p["security"]["type"] == "KEY_LESS" and p["status"] == "PUBLISHED"] == []
    assert [(p["name"], p["status"]) for p in plans if p["security"]["type"] == "OAUTH2"] == [("OAuth2", "PUBLISHED")]
    response = requests.post(sim.urls["apim_gateway"] + CONTEXT_PATH, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
    assert response.status_code == 401
    assert "Bearer" in response.headers.get("WWW-Authenticate", "")
    return api


def test_converges_then_changes_nothing_predicts_nothing_and_lets_a_real_client_in(sim):
    first = run_role(sim, verbosity=3)
    assert first.rc == 0, failures(first) or first.stdout[-2000:]
    assert "mcpgate.gravitee.secure_mcp : Proxy API | The gateway proxies the MCP server (keyless test)" in [
        r.task for r in first.results if r.status == "ok"
    ]
    api = assert_secured(sim)
    assert [r["name"] for r in api["resources"]] == ["AM authorization server"]
    servers = am(sim, "/" + am(sim, "/_hrid/mcp")["id"] + "/protected-resources", params={"type": "MCP_SERVER"})["data"]
    assert [(s["clientId"], s["resourceIdentifiers"]) for s in servers] == [
        (CLIENT_ID, [(sim.urls["apim_gateway"] + CONTEXT_PATH).lower()])
    ]
    # The secret AM generated reached APIM in the same run, and was never printed, even at -vvv.
    secret = api["resources"][0]["configuration"].get("clientSecret")
    if secret and set(secret) != {"*"}:  # the server may mask it on read
        assert secret not in first.stdout + first.stderr
    assert "adminadmin" not in first.stdout + first.stderr  # the AM password, from the environment

    sim.clear_requests()
    second = run_role(sim)
    assert second.rc == 0, failures(second)
    assert changed(second) == []
    assert sim.writes() == []
    assert_secured(sim)

    sim.clear_requests()
    check = run_role(sim, check=True)
    assert check.rc == 0, failures(check)
    assert changed(check) == [] and sim.writes() == []

    # What VS Code does: 401, discovery, Dynamic Client Registration, PKCE, login; then a tool call.
    outcome = run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password")
    assert {"echo", "add"} <= set(outcome["tools"])


def test_check_mode_on_a_fresh_install_writes_nothing_and_predicts_the_changes(sim):
    run = run_role(sim, check=True)
    assert run.rc == 0, failures(run)
    assert sim.writes() == []
    assert "mcpgate.gravitee.secure_mcp : Proxy API | Create the MCP proxy API pointing at the MCP server" in changed(run)
    assert "mcpgate.gravitee.secure_mcp : AM MCP server | Register the MCP server, identified by the API's gateway URL" in (
        changed(run)
    )
    assert apim(sim, "/apis/_search", method="POST", json={"query": CONTEXT_PATH})["data"] == []


def test_dcr_off_and_user_registration_on(sim):
    run = run_role(sim, secure_mcp_dcr_enabled=False, secure_mcp_user_registration=True)
    assert run.rc == 0, failures(run)
    domain = am(sim, "/_hrid/mcp")
    assert domain["oidc"]["clientRegistrationSettings"]["isDynamicClientRegistrationEnabled"] is False
    assert domain["loginSettings"]["registerEnabled"] is True
    assert_secured(sim)


def test_a_given_secret_is_used_and_never_printed(sim):
    given_secret = "Given-Client-Secret-7c41e0b2"
    run = run_role(sim, verbosity=3, secure_mcp_client_secret=given_secret)
    assert run.rc == 0, failures(run)
    assert given_secret not in run.stdout + run.stderr
    assert_secured(sim)
    # The gateway introspects with the given secret: a real client gets in.
    assert run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password")["tools"]


def test_a_new_client_secret_given_to_the_role_reaches_the_apim_resource(sim):
    """APIM returns an API resource's clientSecret as stored (not masked): a changed secret is compared and sent."""
    assert run_role(sim, secure_mcp_client_secret="First-Secret-0a1b2c").rc == 0
    run = run_role(sim, secure_mcp_client_secret="Second-Secret-3d4e5f", secure_mcp_verify=False)
    assert run.rc == 0, failures(run)
    assert "mcpgate.gravitee.secure_mcp : AM authorization server resource | Point the API at AM with the MCP server's client" in changed(run)
    assert the_api(sim)["resources"][0]["configuration"]["clientSecret"] == "Second-Secret-3d4e5f"


def test_an_mcp_server_whose_secret_was_lost_is_recreated(sim):
    """A run that stopped between creating the AM MCP server and the APIM resource lost the secret."""
    add_mcp_server(sim, "weather-mcp", CLIENT_ID, sim.urls["apim_gateway"] + CONTEXT_PATH)
    run = run_role(sim)
    assert run.rc == 0, failures(run)
    assert_secured(sim)
    assert run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password")["tools"]


def test_bad_input_fails_in_preflight_before_any_write(sim):
    run = run_role(sim, secure_mcp_context_path="/Weather-MCP")
    assert run.rc != 0
    assert any("capitals" in failure for failure in failures(run)), failures(run)
    run = run_role(sim, secure_mcp_am_domain="no-such-domain")
    assert any("no AM domain named 'no-such-domain'" in failure for failure in failures(run)), failures(run)
    run = run_role(sim, secure_mcp_server_url="not a url")
    assert any("must be http(s) URLs" in failure for failure in failures(run)), failures(run)
    assert sim.writes() == []


def test_an_identifier_held_by_another_mcp_server_is_refused_before_any_write(sim):
    add_mcp_server(sim, "someone else", "someone-else", sim.urls["apim_gateway"] + CONTEXT_PATH)
    sim.clear_requests()
    run = run_role(sim)
    assert any("client id someone-else already has the resource identifier" in f for f in failures(run)), (
        failures(run)
    )
    assert sim.writes() == []


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
    opened = requests.post(sim.urls["apim_gateway"] + CONTEXT_PATH, json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
    assert opened.status_code == 200  # keyless lets an unauthenticated client in

    run = run_role(sim)
    assert run.rc == 0, failures(run)
    assert "mcpgate.gravitee.secure_mcp : OAuth2 plan | Close and delete the keyless test plan" in changed(run)
    assert_secured(sim)  # deleted and deployed: the gateway no longer runs the keyless plan
