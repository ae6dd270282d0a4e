"""The whole secured path with real components: the MCP test server behind the real APIM gateway, an OAuth2 plan
whose AM resource introspects at the real AM gateway, and a token from real AM for the MCP server's resource
identifier (client credentials of an AM application created here; see README for what real AM allows)."""

from __future__ import annotations

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


def test_token_from_real_am_through_real_gateway_to_the_mcp_server(real_both, mcp_server):
    am, apim = Am(real_both), Apim(real_both)
    path = f"/secured-{uuid.uuid4().hex[:6]}"
    api = apim.create_proxy_api("Secured " + path, path, mcp_server)
    resource_url = real_both.urls["apim_gateway"] + path
    try:
        run = run_tasks(real_both, [
            task("am_mcp_server", "MCP server", {"domain": am.domain["hrid"], "name": "Secured", "client_id": f"s{path[9:]}",
                                                 "resource_identifiers": [resource_url]}, register="mcp", no_log=True),
            task("apim_resource", "AM resource", {"api": path, "name": "am", "am_url": real_both.urls["am_gateway"],
                 "security_domain": am.domain["hrid"], "client_id": "{{ mcp.client_id }}",
                 "client_secret": "{{ mcp.client_secret }}"}, no_log=True),
            task("apim_plan", "OAuth2", {"api": path, "name": "OAuth2", "security": "oauth2", "oauth_resource": "am",
                                         "state": "published"}),
        ])
        assert run.rc == 0, run.stdout
        assert apim.call("POST", f"/apis/{api['id']}/_start").status_code in (200, 204)
        # A client of our own, allowed the client_credentials grant, asks AM for a token for the resource.
        app = am.call("POST", f"/{am.domain['id']}/applications", json={"name": "real-client", "type": "service"})
        assert app.status_code == 201, app.text
        settings = app.json()["settings"]["oauth"]
        client = (settings["clientId"], settings["clientSecret"])
        time.sleep(3)  # AM gateway sync (cron every second)
        token = requests.post(f"{am.gateway}/{am.domain['hrid']}/oauth/token", auth=client, timeout=30,
                              data={"grant_type": "client_credentials", "resource": resource_url})
        assert token.status_code == 200, token.status_code
        bearer = {"Authorization": "Bearer " + token.json()["access_token"], **MCP_HEADERS}

        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "real-tier", "version": "1"}}}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = requests.post(resource_url, json=initialize, headers=bearer, timeout=30)
            if answer.status_code != 404:
                break
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text[:300]
        session = {k: v for k, v in answer.headers.items() if k.lower() == "mcp-session-id"}
        listed = requests.post(resource_url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                               headers={**bearer, **session}, timeout=30)
        assert listed.status_code == 200 and "tools" in listed.text

        anonymous = requests.post(resource_url, json=initialize, headers=MCP_HEADERS, timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers.get("WWW-Authenticate", "").startswith("Bearer")
        metadata = requests.get(real_both.urls["apim_gateway"] + "/.well-known/oauth-protected-resource" + path, timeout=30)
        if metadata.status_code == 200:  # served for V4 HTTP APIs from APIM 4.12 (HttpSecurityChain)
            assert metadata.json()["resource"] == resource_url
    finally:
        apim.delete_api(api["id"])
