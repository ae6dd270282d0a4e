"""Rotating the AM MCP server's client secret with the secure_mcp role (secure_mcp_client_secret_rotation, AM 4.11+)
while MCP clients keep calling through the gateway: not one request may fail.

The simulated gateways lag behind their Management APIs as the real ones do (POST /_sim/sync: APIM serves the previous
deployment, AM's gateway does not know a new secret yet and still accepts a deleted one, for a moment), so a rotation
that switched APIM before AM's gateway knew the new secret, or deleted the old one before the APIM gateway loaded the
new deployment, would fail requests here.  Runs that fail at a step are run again with the same rotation name.
"""

from __future__ import annotations

import threading
import time

import requests

from tests.integration.role_support import add_mcp_server, am, changed, failures, run_role
from tests.integration.test_role_secure_mcp import CLIENT_ID, CONTEXT_PATH, ROLE, the_api
from tests.integration.test_role_tool_access import token
from tests.simulator.mcp_client import INITIALIZE, MCP_HEADERS

SIMULATOR_PROFILES = ("4.12",)
ROTATION = "rotation-2026-12"
SYNC = {"apim_gateway": 1.5, "am_gateway": 1.5}
ROTATE = dict(secure_mcp_client_secret_rotation=ROTATION, secure_mcp_rotation_grace=3, secure_mcp_probe_retries=10,
              secure_mcp_verify=False)  # the traffic below is the verification
STEPS = [ROLE + "Secret rotation | " + step for step in (
    "Add a new client secret to the AM MCP server",
    "Put the new secret in the APIM AM resource",
    "Deploy the API with the new secret",
    "Delete the old client secrets",
)]


class Traffic:
    """An MCP client calling through the gateway with one token, as fast as it can, counting what failed."""

    def __init__(self, sim):
        self.url = sim.urls["apim_gateway"] + CONTEXT_PATH
        self.headers = dict(MCP_HEADERS, Authorization="Bearer " + token(sim, []))
        self.sent, self.failed = 0, []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopped.is_set():
            try:
                status = requests.post(self.url, json=INITIALIZE, headers=self.headers, timeout=10).status_code
            except requests.RequestException as exc:
                status = str(exc)
            self.sent += 1
            if status != 200:
                self.failed.append(status)
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


def secrets(sim):
    domain = am(sim, "/_hrid/mcp")
    server = am(sim, f"/{domain['id']}/protected-resources", params={"type": "MCP_SERVER"})["data"][0]
    return [s["name"] for s in am(sim, f"/{domain['id']}/protected-resources/{server['id']}/secrets")]


def authenticates(sim, secret):
    """Whether the AM gateway takes this secret for the MCP server's client (as the APIM resource introspects)."""
    answer = requests.post(sim.urls["am_gateway"] + "/mcp/oauth/introspect", data={"token": "x"}, auth=(CLIENT_ID, secret),
                           timeout=10)
    return answer.status_code == 200


def test_rotation_fails_no_request_survives_failed_runs_and_then_changes_nothing(sim):
    converged = run_role(sim)
    assert converged.rc == 0, failures(converged)
    old_secret = the_api(sim)["resources"][0]["configuration"]["clientSecret"]
    requests.post(sim.admin + "/sync", json=SYNC, timeout=10).raise_for_status()

    sim.clear_requests()
    check = run_role(sim, check=True, **ROTATE)
    assert check.rc == 0, failures(check)
    assert sim.writes() == [] and [t for t in changed(check) if "Secret rotation" in t] == STEPS

    with Traffic(sim) as traffic:
        # A run that stops after adding the secret (its value is lost), one that stops before deploying it, then one
        # that finishes: each run adds a secret of its own and the last deletes all the others.
        sim.inject(kind="status", server="apim", method="PUT", path=r"/apis/[^/]+$", status=500, count=1)
        lost = run_role(sim, **ROTATE)
        assert lost.rc != 0 and "Put the new secret in the APIM AM resource" in " ".join(failures(lost))
        sim.inject(kind="status", server="apim", method="POST", path=r"/deployments$", status=500, count=1)
        undeployed = run_role(sim, **ROTATE)
        assert undeployed.rc != 0 and "Deploy the API with the new secret" in " ".join(failures(undeployed))
        assert secrets(sim) == ["Default", ROTATION, ROTATION + " (2)"]
        started = time.monotonic()
        rotated = run_role(sim, **ROTATE)
        took = time.monotonic() - started
        time.sleep(SYNC["am_gateway"] + 0.5)  # requests keep flowing until every gateway has synced the deletion
    assert rotated.rc == 0, failures(rotated)
    assert [t for t in changed(rotated) if "Secret rotation" in t] == STEPS
    assert traffic.failed == [] and traffic.sent > 100, (traffic.sent, traffic.failed[:10])

    assert secrets(sim) == [ROTATION + " (3)"]
    new_secret = the_api(sim)["resources"][0]["configuration"]["clientSecret"]
    assert new_secret != old_secret and authenticates(sim, new_secret) and not authenticates(sim, old_secret)
    assert new_secret not in rotated.stdout + rotated.stderr

    sim.clear_requests()
    again = run_role(sim, **ROTATE)
    assert again.rc == 0, failures(again)
    assert changed(again) == [] and sim.writes() == []
    print("rotation run: %.1f s, %d requests through the gateway during the runs, %d failed"
          % (took, traffic.sent, len(traffic.failed)))


def test_am_4_10_refuses_before_any_write_naming_the_version(simulators):
    sim = simulators("4.10")
    sim.reset()
    add_mcp_server(sim, "weather-mcp", CLIENT_ID, sim.urls["apim_gateway"] + CONTEXT_PATH)  # a run before made it
    sim.clear_requests()
    refused = run_role(sim, **ROTATE)
    assert refused.rc != 0
    assert "this AM is version 4.10, which has no secrets endpoint for MCP servers" in " ".join(failures(refused))
    assert sim.writes() == []
