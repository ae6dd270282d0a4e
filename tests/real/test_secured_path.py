"""The whole secured path with real components: the MCP test server behind the real open-source APIM gateway (a V4
HTTP PROXY API: the MCP Proxy type is enterprise), an OAuth2 plan whose AM resource introspects at the real AM
gateway, and tokens from real AM for the MCP server's resource identifier.

The guide's steps are made by the collection's modules (am_mcp_server, am_domain_settings, apim_resource, apim_plan);
the API itself is created through the Management API (apim_api manages MCP_PROXY APIs), and so is the subscription a
V4 PROXY API's OAuth2 plan needs (DIFFERENCES.md D3: an MCP_PROXY API needs none). The guide's verification
is then done twice: by ``mcp_probe`` as the role does it (challenge, metadata, DCR, token, tools), and by hand with a
client-credentials token of an AM application.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.integration.ansible_run import run_tasks
from tests.real.processes import free_port, port_open
from tests.real.support import Am, Apim, task
from tests.simulator.harness import REPO_ROOT

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "real-tier", "version": "1"}}}


@pytest.fixture(scope="module")
def mcp_server():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.real.mcp_upstream", "--port", str(port)], cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def secured(real_both, mcp_server):
    """The guide's steps on real servers: MCP server in AM, DCR open, AM resource, published OAuth2 plan, started."""
    am, apim = Am(real_both), Apim(real_both)
    path = f"/secured-{uuid.uuid4().hex[:6]}"
    api = apim.create_proxy_api("Secured " + path, path, mcp_server)
    resource_url = real_both.urls["apim_gateway"] + path
    client_id = "s" + path[9:]
    try:
        run = run_tasks(real_both, [
            task("am_mcp_server", "MCP server", {"domain": am.domain["hrid"], "name": "Secured", "client_id": client_id,
                                                 "resource_identifiers": [resource_url]}, register="mcp", no_log=True),
            task("am_domain_settings", "DCR open", {"domain": am.domain["hrid"], "dynamic_client_registration": {
                "enabled": True, "open": True}}),
            task("apim_resource", "AM resource", {"api": path, "name": "am", "am_url": real_both.urls["am_gateway"],
                 "security_domain": am.domain["hrid"], "client_id": "{{ mcp.client_id }}",
                 "client_secret": "{{ mcp.client_secret }}"}, no_log=True),
            task("apim_plan", "OAuth2", {"api": path, "name": "OAuth2", "security": "oauth2", "oauth_resource": "am",
                                         "state": "published"}),
        ])
        assert run.rc == 0, run.stdout
        subscription = apim.subscribe_client_id(api["id"], resource_url)
        assert subscription["status"] == "ACCEPTED", subscription
        assert apim.call("POST", f"/apis/{api['id']}/_start").status_code in (200, 204)
        yield {"am": am, "apim": apim, "api": api, "path": path, "url": resource_url,
               "issuer": f"{am.gateway}/{am.domain['hrid']}/oidc"}
    finally:
        apim.delete_api(api["id"])
        run_tasks(real_both, [task("am_mcp_server", "clean", {"domain": am.domain["hrid"], "client_id": client_id,
                                                              "state": "absent"})])


def _until_deployed(call):
    deadline = time.monotonic() + 60
    while True:
        answer = call()
        if answer.status_code != 404 or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def test_the_gateway_challenges_and_serves_the_protected_resource_metadata(secured):
    """What an MCP client meets first (MCP authorization spec: the header, then the metadata it names)."""
    anonymous = _until_deployed(lambda: requests.post(secured["url"], json=INITIALIZE, headers=MCP_HEADERS, timeout=30))
    assert anonymous.status_code == 401
    challenge = anonymous.headers.get("WWW-Authenticate", "")
    # Policy 5.1.4 sends it only because apim_plan set addWwwAuthenticateHeader (its configuration class defaults it off).
    found = re.fullmatch(r'Bearer resource_metadata="([^"]+)"', challenge)
    assert found, challenge
    assert found.group(1) == secured["url"] + "/.well-known/oauth-protected-resource"
    metadata = requests.get(found.group(1), timeout=30)
    assert metadata.status_code == 200, metadata.text
    assert metadata.json() == {"resource": secured["url"], "authorization_servers": [secured["issuer"]],
                               "scopes_supported": []}


def test_the_guides_verification_passes_through_the_real_gateway(real_both, secured):
    """The role's verification step: the 401 challenge, the metadata naming AM, a DCR client, a token for the
    resource, introspection by the gateway, tools/list, the client deleted (RFC 7592)."""
    run = run_tasks(real_both, [task("mcp_probe", "Verification", {
        "url": secured["url"], "expect": "protected", "authorization_server": secured["issuer"],
        "register_client": True, "wait": 60}, register="probe")])
    assert run.rc == 0, run.stdout
    probe = run[0].result
    assert probe["authorization_servers"] == [secured["issuer"]]
    assert probe["authenticated"]["verified"], probe["authenticated"]
    assert probe["authenticated"]["client_deleted"] is True
    assert probe["authenticated"]["tools"], probe["authenticated"]
    assert "client_secret" not in run.stdout and "registration_access_token" not in run.stdout


def test_a_client_credentials_token_from_real_am_reaches_the_tools(secured):
    am = secured["am"]
    # A client of our own, allowed the client_credentials grant, asks AM for a token for the resource.
    app = am.call("POST", f"/{am.domain['id']}/applications", json={"name": "real-client", "type": "service"})
    assert app.status_code == 201, app.text
    try:
        settings = app.json()["settings"]["oauth"]
        client = (settings["clientId"], settings["clientSecret"])
        deadline = time.monotonic() + 30
        while True:  # the AM gateway learns of the application at its next synchronisation
            token = requests.post(f"{am.gateway}/{am.domain['hrid']}/oauth/token", auth=client, timeout=30,
                                  data={"grant_type": "client_credentials", "resource": secured["url"]})
            if token.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert token.status_code == 200, token.status_code
        bearer = {"Authorization": "Bearer " + token.json()["access_token"], **MCP_HEADERS}
        answer = _until_deployed(lambda: requests.post(secured["url"], json=INITIALIZE, headers=bearer, timeout=30))
        assert answer.status_code == 200, answer.text[:300]
        session = {k: v for k, v in answer.headers.items() if k.lower() == "mcp-session-id"}
        listed = requests.post(secured["url"], json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                               headers={**bearer, **session}, timeout=30)
        assert listed.status_code == 200 and "tools" in listed.text
    finally:
        am.call("DELETE", f"/{am.domain['id']}/applications/{app.json()['id']}")
