"""One small test per fact of shared/gravitee/source-audit-2026-12.md that the running versions can show."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.real.support import Am, Apim


@pytest.fixture()
def apim(real_apim):
    return Apim(real_apim)


def test_resource_client_secret_is_returned_unmasked_on_get(real_apim, apim):
    path = f"/probe-{uuid.uuid4().hex[:6]}"
    api = apim.create_proxy_api("Probe", path, "http://127.0.0.1:9/")
    try:
        body = apim.api(api["id"])
        body["resources"] = [{"name": "am", "type": "oauth2-am-resource", "enabled": True, "configuration": {
            "serverURL": "http://127.0.0.1:9", "securityDomain": "x", "clientId": "c", "clientSecret": "probe-secret",
            "version": "V3_X"}}]
        assert apim.call("PUT", f"/apis/{api['id']}", json=body).status_code == 200
        (resource,) = apim.api(api["id"])["resources"]
        assert resource["configuration"]["clientSecret"] == "probe-secret"
    finally:
        apim.delete_api(api["id"])


def test_deleting_a_published_plan_does_not_ask_for_a_redeploy_and_the_gateway_keeps_serving_it(real_apim, apim):
    path = f"/probe-{uuid.uuid4().hex[:6]}"
    api = apim.create_proxy_api("Probe", path, "http://127.0.0.1:9/")
    try:
        plan = apim.call("POST", f"/apis/{api['id']}/plans", json={
            "name": "Keyless", "definitionVersion": "V4", "security": {"type": "KEY_LESS"}, "mode": "STANDARD"}).json()
        assert apim.call("POST", f"/apis/{api['id']}/plans/{plan['id']}/_publish").status_code == 200
        assert apim.call("POST", f"/apis/{api['id']}/_start").status_code in (200, 204)
        deadline = time.monotonic() + 60
        while requests.get(apim.gateway + path, timeout=10).status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert apim.call("DELETE", f"/apis/{api['id']}/plans/{plan['id']}").status_code == 204
        assert apim.api(api["id"])["deploymentState"] == "DEPLOYED"
        time.sleep(3)
        assert requests.get(apim.gateway + path, timeout=10).status_code == 502  # still served by the deleted plan
    finally:
        apim.delete_api(api["id"])


def test_protected_resources_need_type_and_ignore_q_before_4_11(real_am):
    """real-gravitee-here.md section 3: list, GET one and DELETE answer 500 without ``type=MCP_SERVER``; ``q`` (AM 4.11)
    is ignored by 4.10.20, so the list narrows nothing; the 201 holds only id, name, clientId and clientSecret."""
    am = Am(real_am)
    base = f"/{am.domain['id']}/protected-resources"
    created = am.call("POST", base, json={"name": "Probe", "type": "MCP_SERVER", "clientId": "Probe-Case",
                                          "resourceIdentifiers": ["http://127.0.0.1:9/probe-case"]})
    assert created.status_code == 201, created.text
    other = am.call("POST", base, json={"name": "Other", "type": "MCP_SERVER", "clientId": "probe-other",
                                        "resourceIdentifiers": ["http://127.0.0.1:9/probe-other"]})
    assert other.status_code == 201, other.text
    try:
        assert set(created.json()) == {"id", "name", "clientId", "clientSecret"}
        one = f"{base}/{created.json()['id']}"
        assert [am.call("GET", base).status_code, am.call("GET", one).status_code] == [500, 500]
        assert am.get(one, type="MCP_SERVER").status_code == 200
        found = {s["clientId"] for s in am.get(base, type="MCP_SERVER", q="probe-case", size=200).json()["data"]}
        assert {"Probe-Case", "probe-other"} <= found  # q ignored
    finally:
        for made in (created, other):
            assert am.call("DELETE", f"{base}/{made.json()['id']}", params={"type": "MCP_SERVER"}).status_code == 204
