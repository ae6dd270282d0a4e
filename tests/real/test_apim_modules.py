"""APIM modules on a real open-source V4 PROXY API (the MCP_PROXY type is enterprise-only, so the API itself is
created through the real Management API v2 in a fixture; apim_api manages MCP_PROXY APIs only).

"No write" is checked on the server's own state before and after (support.Apim.snapshot).
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.integration.ansible_run import run_tasks
from tests.real.support import Am, Apim, task


@pytest.fixture()
def apim(real_apim):
    return Apim(real_apim)


@pytest.fixture()
def proxy_api(apim):
    path = f"/real-{uuid.uuid4().hex[:8]}"
    api = apim.create_proxy_api("Real proxy " + path, path, "http://127.0.0.1:9/nowhere")
    yield {"id": api["id"], "path": path}
    apim.delete_api(api["id"])


def plan(api_path, name, args, **keywords):
    return task("apim_plan", name, {"api": api_path, "name": name, **args}, **keywords)


def test_keyless_plan_create_publish_close_delete_idempotent_and_check_mode(real_apim, apim, proxy_api):
    path = proxy_api["path"]
    before = apim.snapshot(proxy_api["id"])
    check = run_tasks(real_apim, [plan(path, "Keyless", {"security": "keyless", "state": "published"}, check_mode=True)])
    assert check.rc == 0 and check[0].changed, check.stdout
    assert apim.snapshot(proxy_api["id"]) == before

    run = run_tasks(real_apim, [plan(path, "Keyless", {"security": "keyless", "state": "published"})] * 2)
    assert run.rc == 0, run.stdout
    assert run[0].changed and not run[1].changed
    (keyless,) = apim.plans(proxy_api["id"])
    assert (keyless["security"]["type"], keyless["status"]) == ("KEY_LESS", "PUBLISHED")

    settled = apim.snapshot(proxy_api["id"])
    again = run_tasks(real_apim, [plan(path, "Keyless", {"security": "keyless", "state": "published"})])
    assert again.rc == 0 and not again[0].changed
    assert apim.snapshot(proxy_api["id"]) == settled

    run = run_tasks(real_apim, [plan(path, "Keyless", {"state": "closed"}), plan(path, "Keyless", {"state": "absent"})])
    assert run.rc == 0, run.stdout
    assert run[0].changed and run[1].changed
    assert [p for p in apim.plans(proxy_api["id"]) if p["status"] != "CLOSED"] == []


def test_oauth2_plan_and_am_resource(real_both, apim, proxy_api):
    am = Am(real_both)
    path = proxy_api["path"]
    created = run_tasks(real_both, [task("am_mcp_server", "MCP server", {
        "domain": am.domain["hrid"], "name": "Plan test", "client_id": f"plan-{path[6:]}",
        "resource_identifiers": [real_both.urls["apim_gateway"] + path]}, register="mcp", no_log=True),
        task("apim_resource", "AM resource", {"api": path, "name": "am-resource", "am_url": real_both.urls["am_gateway"],
             "security_domain": am.domain["hrid"], "client_id": "{{ mcp.client_id }}", "client_secret": "{{ mcp.client_secret }}"},
             no_log=True),
        task("apim_resource", "AM resource again", {"api": path, "name": "am-resource", "am_url": real_both.urls["am_gateway"],
             "security_domain": am.domain["hrid"], "client_id": "{{ mcp.client_id }}", "client_secret": "{{ mcp.client_secret }}"},
             no_log=True),
        plan(path, "OAuth2", {"security": "oauth2", "oauth_resource": "am-resource", "state": "published"}),
        plan(path, "OAuth2", {"security": "oauth2", "oauth_resource": "am-resource", "state": "published"}),
    ])
    assert created.rc == 0, created.stdout
    _mcp, resource, resource_again, oauth2, oauth2_again = created.results
    assert resource.changed and not resource_again.changed
    assert oauth2.changed and not oauth2_again.changed
    (res,) = apim.api(proxy_api["id"])["resources"]
    assert (res["type"], res["configuration"]["version"]) == ("oauth2-am-resource", "V3_X")
    clean = {"domain": am.domain["hrid"], "client_id": f"plan-{path[6:]}", "state": "absent"}
    run_tasks(real_both, [task("am_mcp_server", "clean", clean)])


def test_deployment_through_the_rest_api_serves_the_keyless_plan(real_apim, apim, proxy_api):
    run = run_tasks(real_apim, [plan(proxy_api["path"], "Keyless", {"security": "keyless", "state": "published"})])
    assert run.rc == 0, run.stdout
    assert apim.call("POST", f"/apis/{proxy_api['id']}/_start").status_code in (200, 204)
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        status = requests.get(apim.gateway + proxy_api["path"], timeout=10).status_code
        if status != 404:
            break
        time.sleep(0.5)
    assert status == 502  # deployed; the target port 9 refuses, so the gateway answers Bad Gateway


def test_verify_paths_answers_202_for_free_and_taken_paths(real_apim, apim, proxy_api):
    """source-audit: ``POST /apis/_verify/paths`` answers 202 whether or not the path is free (the spec says 200)."""
    free = apim.call("POST", "/apis/_verify/paths", json={"paths": [{"path": f"/free-{uuid.uuid4().hex[:6]}"}]})
    taken = apim.call("POST", "/apis/_verify/paths", json={"paths": [{"path": proxy_api["path"]}]})
    assert (free.status_code, taken.status_code) == (202, 202), (free.text, taken.text)


def test_apim_info_reads_open_source_apim_and_the_api(real_apim, apim, proxy_api):
    """Open-source APIM has no MCP proxy entrypoint and no mcp-acl policy: apim_info says so (the role's preflight reads
    it), and reads a V4 PROXY API by context path."""
    run = run_tasks(real_apim, [task("apim_info", "read", {"api": proxy_api["path"], "policies": ["mcp-acl", "oauth2"]})])
    assert run.rc == 0, run.stdout
    info = run[0].result
    assert info["mcp_proxy_entrypoint"] is None
    assert info["api"]["id"] == proxy_api["id"] and info["api"]["type"] == "PROXY"
    assert info["policies"]["mcp-acl"] is None
    assert info["policies"]["oauth2"]["version"] == "5.1.4" and info["policies"]["oauth2"]["deployed"] is True


def test_apim_api_refuses_an_mcp_proxy_api_on_open_source_apim_before_any_write(real_apim, apim):
    path = f"/mcp-{uuid.uuid4().hex[:6]}"

    def every_api():
        answer = apim.call("GET", "/apis", params={"perPage": 1000})
        answer.raise_for_status()
        return sorted((a["id"], a["updatedAt"]) for a in answer.json()["data"])

    before = every_api()
    run = run_tasks(real_apim, [task("apim_api", "MCP proxy API", {
        "name": "MCP", "context_path": path, "mcp_server_url": "http://127.0.0.1:9/mcp"}, ignore_errors=True)])
    assert run[0].failed
    assert "mcp-proxy" in run[0].msg, run[0].msg
    assert every_api() == before
