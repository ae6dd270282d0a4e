"""mcp_probe against the simulator, as real ansible-playbook runs, on the 4.10, 4.11 and 4.12 profiles.

The secured API is set up with direct REST calls (an AM MCP server, an MCP proxy API with an OAuth2 plan over the
"Gravitee.io AM Authorization Server" resource holding that MCP server's client), not with the other modules.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.integration.ansible_run import run_tasks
from tests.integration.recording_proxy import RecordingProxy
from tests.integration.simulator.am_api import AmApi
from tests.integration.simulator.apim_api import ApimApi, am_resource, oauth2_plan
from tests.simulator.harness import free_ports
from tests.simulator.profiles import PROFILES, at_least

SIMULATOR_PROFILES = PROFILES
CONTEXT_PATH = "/weather-mcp"
CLIENT_ID = "mcp-weather"
PROBE_CLIENT_NAME = "mcpgate.gravitee mcp_probe"
UPSTREAM_OPTION = "the MCP server URL the API proxies to (mcpgate.gravitee.apim_api mcp_server_url)"
RESOURCE_HINT = "check that the APIM AM resource holds the client id and secret of the AM MCP server"


def endpoint(sim) -> str:
    return sim.urls["apim_gateway"] + CONTEXT_PATH


def mcp_server(sim) -> dict:
    """The AM MCP server whose identifier is the API's gateway URL, with its create answer (client id, secret)."""
    am = AmApi(sim)
    response = am.create_mcp_server(am.domain("mcp")["id"], clientId=CLIENT_ID, resourceIdentifiers=[endpoint(sim)])
    response.raise_for_status()
    return response.json()


def open_dcr(sim, **settings) -> None:
    am = AmApi(sim)
    am.open_dcr(am.domain("mcp")["id"], **settings)


def resource_of(sim, server: dict, secret: str | None = None, server_url: str | None = None) -> dict:
    return am_resource(server_url or sim.urls["am_gateway"], client_id=CLIENT_ID,
                       client_secret=secret if secret is not None else server["clientSecret"])


def secured_api(sim, secret: str | None = None, target: str | None = None, server_url: str | None = None) -> dict:
    """The guide's end state: an MCP server in AM, the API secured by OAuth2 over its client, deployed."""
    server = mcp_server(sim)
    apim = ApimApi(sim)
    apim.deployed_oauth2_api(sim.urls["am_gateway"], resource=resource_of(sim, server, secret, server_url),
                             **({"target": target} if target else {}))
    return server


def probe(sim, check=False, verbosity=0, **options):
    run = run_tasks(sim, [{"name": "probe", "mcpgate.gravitee.mcp_probe": {"url": endpoint(sim), **options}}],
                    check=check, verbosity=verbosity)
    return run, run.results[0] if run.results else None


def probe_clients(sim) -> list[dict]:
    am = AmApi(sim)
    apps = am.call("GET", am.domain_path(am.domain("mcp")["id"]) + "/applications").json()["data"]
    return [a for a in apps if a["name"] == PROBE_CLIENT_NAME]


def warned(run, result) -> str:
    """What the run warned (Ansible prints warnings on stderr; the result keeps them too)."""
    return " ".join([run.stdout, run.stderr] + [str(w) for w in result.result.get("warnings", [])])


def dcr_requests(sim) -> list[tuple[str, str, object]]:
    return [(r["method"], r["path"], r["status"]) for r in sim.requests("am_gateway") if "/oidc/register" in r["path"]]


def service_client(sim) -> dict:
    """A confidential client_credentials client made beforehand (by DCR, as a person could)."""
    open_dcr(sim)
    response = requests.post(sim.urls["am_gateway"] + "/mcp/oidc/register", timeout=10, json={
        "client_name": "ci-verifier", "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []})
    assert response.status_code == 201, response.text
    return response.json()


def unused_url() -> str:
    return "http://127.0.0.1:%d/mcp" % free_ports(1)[0]


# --- verified ------------------------------------------------------------------------------------------
def test_verified_with_a_client_registered_by_dcr_which_is_deleted_afterwards(sim):
    secured_api(sim)
    open_dcr(sim)
    sim.clear_requests()
    run, result = probe(sim, expect="protected", register_client=True)
    assert run.rc == 0, result.msg if result else run.stdout[-2000:]
    authenticated = result.result["authenticated"]
    assert authenticated["verified"] is True and authenticated["method"] == "register_client"
    assert {"echo", "add"} <= set(authenticated["tools"]) and result.result["authenticated_status"] == 200
    assert authenticated["resource"] == endpoint(sim) and authenticated["client_deleted"] is True
    assert not result.changed
    # What was sent: a client_credentials client without redirect URI, a token for the resource, the RFC 7592 delete.
    registered = next(r for r in sim.requests("am_gateway") if r["method"] == "POST" and r["path"] == "/mcp/oidc/register")
    assert registered["body"]["grant_types"] == ["client_credentials"] and registered["body"]["redirect_uris"] == []
    token_request = next(r for r in sim.requests("am_gateway") if r["path"] == "/mcp/oauth/token")
    assert "resource=" + requests.utils.quote(endpoint(sim), safe="") in token_request["body"]
    assert dcr_requests(sim) == [("POST", "/mcp/oidc/register", 201),
                                 ("DELETE", f"/mcp/oidc/register/{authenticated['client_id']}", 204)]
    assert probe_clients(sim) == []


def test_verified_with_given_client_credentials(sim):
    server = secured_api(sim)
    client = service_client(sim)
    sim.clear_requests()
    run, result = probe(sim, expect="protected", verbosity=3,
                        client_credentials={"client_id": client["client_id"], "client_secret": client["client_secret"]})
    assert run.rc == 0, result.msg
    authenticated = result.result["authenticated"]
    assert authenticated["verified"] is True and authenticated["method"] == "client_credentials"
    assert authenticated["client_id"] == client["client_id"] and "client_deleted" not in authenticated
    assert dcr_requests(sim) == []  # nothing registered, nothing deleted
    assert client["client_secret"] not in run.stdout + run.stderr

    # The AM MCP server's own client: allowed the client_credentials grant from AM 4.11 only.
    run, result = probe(sim, expect="protected", client_credentials={"client_id": CLIENT_ID, "client_secret": server["clientSecret"]})
    if at_least(sim.profile, "4.11"):
        assert run.rc == 0, result.msg
        assert result.result["authenticated"]["verified"] is True
    else:
        assert run.rc != 0 and result.failed
        assert "AM refused the client_credentials token request" in result.msg
        assert "unauthorized_client" in result.msg and "may not use the client_credentials grant" in result.msg


def test_scopes_default_to_the_challenge_and_are_asked_for(sim):
    secured_api(sim)
    open_dcr(sim)
    run, result = probe(sim, expect="protected", register_client=True, scopes=["mcp:tools"])
    assert run.rc == 0, result.msg
    authenticated = result.result["authenticated"]
    assert authenticated["requested_scopes"] == ["mcp:tools"] and authenticated["scopes"] == ["mcp:tools"]
    registered = next(r for r in sim.requests("am_gateway") if r["method"] == "POST" and r["path"] == "/mcp/oidc/register")
    assert registered["body"]["scope"] == "mcp:tools"


# --- not verified ----------------------------------------------------------------------------------------
def test_dcr_off_is_not_verified_and_says_so(sim):
    secured_api(sim)  # the seeded domain has DCR off
    run, result = probe(sim, expect="protected", register_client=True)
    assert run.rc == 0, result.msg
    authenticated = result.result["authenticated"]
    assert authenticated["verified"] is False and "Dynamic Client Registration is disabled" in authenticated["reason"]
    assert "registration_forbidden" in authenticated["reason"]
    assert "The authenticated path was not verified: Dynamic Client Registration is disabled" in warned(run, result)
    assert probe_clients(sim) == []


def test_dcr_not_open_and_no_way_given_are_not_verified(sim):
    secured_api(sim)
    am = AmApi(sim)
    am.patch_domain(am.domain("mcp")["id"], {"oidc": {"clientRegistrationSettings": {"isDynamicClientRegistrationEnabled": True}}})
    run, result = probe(sim, expect="protected", register_client=True)
    assert run.rc == 0, result.msg
    assert "not open" in result.result["authenticated"]["reason"] and "dcr_admin" in result.result["authenticated"]["reason"]

    run, result = probe(sim, expect="protected")
    assert run.rc == 0, result.msg
    assert result.result["authenticated"] == {
        "verified": False, "method": None,
        "reason": "no way to get a token was given (register_client, client_credentials or token)"}
    assert "The authenticated path was not verified: no way to get a token was given" in warned(run, result)


def test_check_mode_registers_nothing(sim):
    secured_api(sim)
    open_dcr(sim)
    sim.clear_requests()
    run, result = probe(sim, check=True, expect="protected", register_client=True)
    assert run.rc == 0, result.msg
    assert result.result["authenticated"]["verified"] is False
    assert "check mode" in result.result["authenticated"]["reason"] and "skipped" in result.result["authenticated"]["reason"]
    assert dcr_requests(sim) == [] and [r for r in sim.requests("am_gateway") if r["path"] == "/mcp/oauth/token"] == []
    assert sim.writes() == []


# --- failures ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource_client", ["wrong secret", "another client"])
def test_a_wrong_apim_resource_client_fails_naming_it(sim, resource_client):
    """Issue 18.1: the resource holds another MCP server's client, or the right client id with another's secret."""
    if resource_client == "wrong secret":
        # AM refuses the introspection (401 invalid_client): the plan cannot be resolved, the gateway answers 503.
        secured_api(sim, secret="not-the-mcp-server-secret")
        said = "The gateway answered HTTP 503 to an authenticated initialize"
    else:
        # A valid client that is not the MCP server's: AM reports the token inactive to it, the gateway answers 401.
        am = AmApi(sim)
        other = am.create_mcp_server(am.domain("mcp")["id"], name="Other MCP", clientId="other-mcp",
                                     resourceIdentifiers=["https://other.example.com/mcp"]).json()
        server = mcp_server(sim)
        resource = am_resource(sim.urls["am_gateway"], client_id="other-mcp", client_secret=other["clientSecret"])
        ApimApi(sim).deployed_oauth2_api(sim.urls["am_gateway"], resource=resource)
        assert server["clientId"] == CLIENT_ID
        said = "The gateway refused the token AM issued for " + endpoint(sim)
    open_dcr(sim)
    run, result = probe(sim, expect="protected", register_client=True)
    assert run.rc != 0 and result.failed
    assert said in result.msg and "C" + RESOURCE_HINT[1:] in result.msg
    assert result.msg.endswith(".") and not result.changed
    assert result.result["authenticated"]["verified"] is False
    assert result.result["authenticated"]["client_deleted"] is True  # removed although the check failed
    assert probe_clients(sim) == []


def test_an_unreachable_upstream_fails_at_once(sim):
    """Keyless test stage: 502 from the gateway, well before the wait is over."""
    ApimApi(sim).deployed_keyless_api(target=unused_url())
    started = time.monotonic()
    run, result = probe(sim, expect="open", wait=60)
    elapsed = time.monotonic() - started
    assert run.rc != 0 and result.failed
    assert elapsed < 20, elapsed  # ansible-playbook itself takes a few seconds
    assert result.result["attempts"] == 1
    assert "HTTP 502" in result.msg and UPSTREAM_OPTION in result.msg and "unreachable from the gateway" in result.msg
    assert "Bad Gateway" in result.msg and result.msg.endswith(".")


def test_an_unreachable_upstream_behind_oauth2_fails_at_once_and_removes_the_client(sim):
    secured_api(sim, target=unused_url())
    open_dcr(sim)
    started = time.monotonic()
    run, result = probe(sim, expect="protected", register_client=True, wait=60)
    assert time.monotonic() - started < 20
    assert run.rc != 0 and "HTTP 502 to an authenticated initialize" in result.msg and UPSTREAM_OPTION in result.msg
    assert result.result["authenticated"]["client_deleted"] is True and probe_clients(sim) == []


# --- waiting -------------------------------------------------------------------------------------------------
def after_first_probe(sim, action, delay: float = 2.0) -> threading.Thread:
    """Run ``action`` ``delay`` seconds after the gateway saw the probe's first request (ansible-playbook's start-up
    time varies, so the clock starts with the probe itself)."""

    def run():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                r["path"] == CONTEXT_PATH for r in sim.requests("apim_gateway")):
            time.sleep(0.2)
        time.sleep(delay)
        action()

    sim.clear_requests()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_rides_out_a_deployment_that_lands_late(sim):
    """404 (the API is not deployed yet), then the protected API."""
    server = mcp_server(sim)
    open_dcr(sim)
    apim = ApimApi(sim)
    api = apim.create_api(context_path=CONTEXT_PATH)
    apim.update_api(api["id"], resources=[resource_of(sim, server)])
    apim.publish(api["id"], oauth2_plan(sim.profile))
    thread = after_first_probe(sim, lambda: apim.start(api["id"]))
    run, result = probe(sim, expect="protected", register_client=True, wait=30)
    thread.join()
    assert run.rc == 0, result.msg
    assert result.result["attempts"] > 1 and result.result["authenticated"]["verified"] is True


def test_wait_rides_out_the_keyless_deployment_still_served(sim):
    """200 from the previous keyless deployment, then the OAuth2 one."""
    server = mcp_server(sim)
    apim = ApimApi(sim)
    api = apim.deployed_keyless_api(context_path=CONTEXT_PATH)
    apim.update_api(api["id"], resources=[resource_of(sim, server)])
    keyless = apim.call("GET", f"/apis/{api['id']}/plans").json()["data"][0]

    def switch():
        apim.publish(api["id"], oauth2_plan(sim.profile))
        apim.plan_action(api["id"], keyless["id"], "close").raise_for_status()
        apim.deploy(api["id"])

    thread = after_first_probe(sim, switch)
    run, result = probe(sim, expect="protected", wait=30)
    thread.join()
    assert run.rc == 0, result.msg
    assert result.result["attempts"] > 1 and result.result["protected"] is True


def test_without_wait_a_missing_deployment_fails_once(sim):
    run, result = probe(sim, expect="protected")
    assert run.rc != 0 and result.result["attempts"] == 1
    assert "HTTP 404" in result.msg and result.msg.endswith(".")


# --- secrets -----------------------------------------------------------------------------------------------
def test_no_secret_in_the_output_at_vvv(sim):
    """Every secret AM handed out (client secret, registration access token, access token) stays out of the output."""
    with RecordingProxy(sim.urls["am_gateway"]) as proxy:
        secured_api(sim, server_url=proxy.url)
        open_dcr(sim)
        run, result = probe(sim, expect="protected", register_client=True, verbosity=3)
        assert run.rc == 0, result.msg
        assert result.result["authorization_servers"] == [proxy.url + "/mcp/oidc"]  # discovery went through the proxy
        issued = []
        for body in proxy.bodies:
            try:
                document = requests.models.complexjson.loads(body)
            except ValueError:
                continue
            if isinstance(document, dict):
                issued += [document[k] for k in ("client_secret", "registration_access_token", "access_token") if document.get(k)]
        assert len(issued) == 3, issued
        output = run.stdout + run.stderr
        assert [secret for secret in issued if secret in output] == []
        assert "eyJ" not in output  # no JWT at all (access and registration tokens are JWTs)


def test_token_mutually_exclusive_and_open_refused(sim):
    run, result = probe(sim, token="abc", register_client=True)
    assert run.rc != 0 and "mutually exclusive" in result.msg and result.msg.endswith(".")
    run, result = probe(sim, expect="open", register_client=True)
    assert run.rc != 0 and "cannot be used with expect: open" in result.msg


def test_a_given_token_still_works(sim):
    secured_api(sim)
    client = service_client(sim)
    token = requests.post(sim.urls["am_gateway"] + "/mcp/oauth/token", auth=(client["client_id"], client["client_secret"]),
                          data={"grant_type": "client_credentials", "resource": endpoint(sim)}, timeout=10).json()["access_token"]
    run, result = probe(sim, expect="protected", token=token, verbosity=3)
    assert run.rc == 0, result.msg
    assert result.result["authenticated"]["verified"] is True and result.result["authenticated"]["method"] == "token"
    assert token not in run.stdout + run.stderr
    run, result = probe(sim, expect="protected", token="not-a-token")
    assert run.rc != 0 and "initialize with the given token got HTTP 401" in result.msg
