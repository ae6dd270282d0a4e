"""Gateways that lag behind their Management APIs (POST /_sim/sync), as the real ones poll: APIM's gateway every
``services.sync.delay`` (5 s by default), AM's gateway every ``services.sync.cron`` (every 5 s).  Off by default."""

from __future__ import annotations

import time

import requests

from tests.integration.simulator.test_am_gateway import RESOURCE
from tests.integration.simulator.test_am_secret_rotation import client_credentials
from tests.integration.simulator.test_apim_mcp_acl import Setup
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS

SIMULATOR_PROFILES = ("4.12",)
DELAY = 1.0


def sync(sim, **delays):
    answer = requests.post(sim.admin + "/sync", json=delays, timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_am_gateway_learns_of_added_and_deleted_secrets_late(sim, am, domain):
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE]).json()
    assert sync(sim, am_gateway=DELAY) == {"am_gateway": DELAY}
    path = f"{am.resources_path(domain['id'])}/{server['id']}/secrets"
    new = am.call("POST", path, json={"name": "next"}).json()
    assert client_credentials(am, server["clientId"], new["secret"]).status_code == 401  # not synced yet
    default_id = next(s["id"] for s in am.call("GET", path).json() if s["name"] == "Default")
    assert am.call("DELETE", f"{path}/{default_id}").status_code == 204
    assert client_credentials(am, server["clientId"], server["clientSecret"]).status_code == 200  # still synced
    time.sleep(DELAY + 0.2)
    assert client_credentials(am, server["clientId"], new["secret"]).status_code == 200
    assert client_credentials(am, server["clientId"], server["clientSecret"]).status_code == 401
    assert "_since" not in str(am.call("GET", path).json())  # bookkeeping is never served


def test_apim_gateway_serves_the_previous_deployment_until_it_syncs(sim):
    setup = Setup(sim, [])
    url, token = setup.url, setup.token("openid")
    headers = dict(MCP_HEADERS, Authorization="Bearer " + token)
    assert requests.post(url, json=INITIALIZE, headers=headers, timeout=10).status_code == 200
    sync(sim, apim_gateway=DELAY)
    api = setup.apim.call("GET", f"/apis/{setup.api_id}", 200).json()
    api["resources"][0]["configuration"]["clientSecret"] = "wrong"
    update = {k: api[k] for k in ("definitionVersion", "type", "name", "apiVersion", "listeners", "endpointGroups",
                                  "flowExecution", "flows", "resources")}
    setup.apim.call("PUT", f"/apis/{setup.api_id}", 200, json=update)
    setup.apim.call("POST", f"/apis/{setup.api_id}/deployments", 202, json={})
    assert requests.post(url, json=INITIALIZE, headers=headers, timeout=10).status_code == 200  # the previous one
    time.sleep(DELAY + 0.2)
    assert requests.post(url, json=INITIALIZE, headers=headers, timeout=10).status_code == 503  # the new one: wrong secret
    sync(sim, apim_gateway=0)
    requests.post(sim.admin + "/reset", timeout=10).raise_for_status()
    assert requests.get(sim.admin + "/sync", timeout=10).json() == {}
