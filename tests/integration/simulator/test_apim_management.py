"""The simulated APIM Management API v2 behaves as APIM 4.10 / 4.12 do (rules and sources: FIDELITY.md)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import requests

from tests.integration.simulator.apim_api import (
    ENV_PATH,
    EXPECT_VIOLATION,
    ORG_ENV_PATH,
    ApimApi,
    am_resource,
    keyless_plan,
    mcp_proxy_api,
    oauth2_plan,
    update_body,
)
from tests.simulator import specs
from tests.simulator.core import DEFAULT_SPECS_DIR
from tests.simulator.harness import start_simulator


@pytest.fixture
def apim(sim) -> ApimApi:
    return ApimApi(sim)


def error_of(response: requests.Response) -> tuple[int, str | None, str]:
    body = response.json()
    return response.status_code, body.get("technicalCode"), body.get("message")


# --- authentication and URL layout -----------------------------------------------------------------


def test_admin_basic_and_personal_access_token_authenticate(sim):
    url = sim.urls["apim"] + ENV_PATH + "/apis"
    assert requests.get(url, auth=("admin", "admin"), timeout=10).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {sim.apim_token}"}, timeout=10).status_code == 200
    assert "." not in sim.apim_token  # looked up as a personal token, not verified as a console JWT


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWRtaW46d3Jvbmc="}, {"Authorization": "Bearer unknown-token"}, {"Authorization": "Bearer a.b.c"}],
    ids=["none", "wrong-password", "unknown-token", "invalid-jwt"],
)
def test_missing_or_bad_credentials_get_a_bare_401(sim, headers):
    response = requests.get(sim.urls["apim"] + ENV_PATH + "/apis", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.content == b""  # res.sendError(401), not the JSON error model


def test_token_survives_a_reset(sim):
    sim.reset()
    response = requests.get(sim.urls["apim"] + ENV_PATH + "/apis", headers={"Authorization": f"Bearer {sim.apim_token}"}, timeout=10)
    assert response.status_code == 200


def test_both_url_forms_address_the_default_organization(sim, apim):
    api = apim.create_api()
    with_org = ApimApi(sim, ORG_ENV_PATH)
    assert with_org.get_api(api["id"])["id"] == api["id"]


def test_unknown_environment_is_not_found(sim, apim):
    response = apim.call("GET", sim.urls["apim"] + "/management/v2/environments/OTHER/apis")
    assert error_of(response) == (404, "environment.notFound", "Environment [OTHER] cannot be found.")


# --- APIs -----------------------------------------------------------------------------------------


def test_new_mcp_proxy_is_stopped_created_private_and_needs_a_deployment(sim, apim):
    api = apim.create_api()
    assert api["type"] == "MCP_PROXY" and api["definitionVersion"] == "V4"
    assert api["id"] and api["crossId"] and api["id"] != api["crossId"]
    assert (api["state"], api["lifecycleState"], api["visibility"], api["deploymentState"]) == ("STOPPED", "CREATED", "PRIVATE", "NEED_REDEPLOY")
    listener = api["listeners"][0]
    assert listener["paths"][0]["path"] == "/weather-mcp/"  # stored sanitised, with a trailing slash
    assert listener["entrypoints"][0]["qos"] == "AUTO"
    assert ("requestValidation" in listener) == (sim.profile == "4.12")
    endpoint = api["endpointGroups"][0]["endpoints"][0]
    assert endpoint["configuration"] == {"target": sim.urls["mcp"] + "/mcp"}
    assert api["endpointGroups"][0]["loadBalancer"] == {"type": "ROUND_ROBIN"}
    assert api["resources"] == [] and api["properties"] == []


def test_an_endpoint_may_not_share_a_name_with_its_group(apim):
    """Seen on real APIM 4.10.9 (EndpointGroupsValidationServiceImpl): groups and endpoints share one set of names."""
    body = mcp_proxy_api(context_path="/same-names")
    body["endpointGroups"][0]["endpoints"][0]["name"] = body["endpointGroups"][0]["name"]
    refused = apim.call("POST", "/apis", json=body)
    assert refused.status_code == 400
    assert refused.json() == {
        "httpStatus": 400, "technicalCode": "api.endpointsGroup.endpoint.name.exists", "details": [],
        "message": f"The endpoint name [{body['endpointGroups'][0]['name']}] is already used by another endpoint or "
                   "endpoint group.",
        "parameters": {"api.endpointsGroup[].endpoint.name": body["endpointGroups"][0]["name"]}}


def test_an_oauth2_plan_configuration_is_stored_as_sent_on_4_10(sim, apim):
    """Seen on real APIM 4.10.9: {"oauthResource"} alone is stored so (no schema defaults: no challenge either)."""
    api = apim.create_api(context_path="/as-sent")
    plan = apim.create_plan(api["id"], {"name": "OAuth2", "definitionVersion": "V4", "mode": "STANDARD",
                                        "security": {"type": "OAUTH2", "configuration": {"oauthResource": "am"}}})
    stored = apim.ok("GET", f"/apis/{api['id']}/plans/{plan['id']}").json()["security"]["configuration"]
    if sim.profile == "4.10":
        assert stored == {"oauthResource": "am"}
    else:
        assert stored["oauthResource"] == "am" and "modeStrict" in stored  # 4.12: completed (not seen on a real server)


def test_context_path_already_used_is_refused(apim):
    apim.create_api(context_path="/weather-mcp")
    for path in ("/weather-mcp/", "/weather-mcp/v2", "/"):
        response = apim.call("POST", "/apis", json=mcp_proxy_api(context_path=path))
        status, code, message = error_of(response)
        # InvalidPathsException at 4.10.0 and 4.12.17: no technical code (see FIDELITY.md).
        assert (status, code, message) == (400, None, "Path [/weather-mcp/] already exists")
    assert apim.call("POST", "/apis", json=mcp_proxy_api(context_path="/weather")).status_code == 201


def test_verify_paths_answers_202_whether_the_path_is_free_or_not(apim):
    # ApisResource.verifyPaths returns Response.accepted(...); the OpenAPI document says 200 (source-audit-2026-12.md).
    apim.create_api(context_path="/weather-mcp")
    free = apim.call("POST", "/apis/_verify/paths", json={"paths": [{"path": "/other"}]})
    taken = apim.call("POST", "/apis/_verify/paths", json={"paths": [{"path": "/weather-mcp"}]})
    assert (free.status_code, free.json()) == (202, {"ok": True})
    assert (taken.status_code, taken.json()) == (202, {"ok": False, "reason": "Path [/weather-mcp/] already exists"})


def test_request_breaking_the_spec_is_answered_400_and_recorded(sim, apim):
    body = mcp_proxy_api()
    body["type"] = "GRAPHQL"
    response = apim.call("POST", "/apis", json=body, headers=EXPECT_VIOLATION)
    status, code, message = error_of(response)
    assert status == 400 and "GRAPHQL" in message and "openapi-apis.yaml" in message
    recorded = [r for r in sim.requests("apim") if r["method"] == "POST"][-1]
    assert recorded["spec_violation"]["phase"] == "request" and recorded["spec_violation"]["expected"] is True
    assert apim.ok("GET", "/apis").json()["data"] == []  # not served


def test_unsupported_api_type_is_refused(sim, apim):
    response = apim.call("POST", "/apis", json=mcp_proxy_api(type="NATIVE"))
    status, message = error_of(response)[::2]
    assert status == 400 and message.startswith("Only V4 [PROXY, MESSAGE, MCP_PROXY, LLM_PROXY")
    assert ("A2A_PROXY" in message) == (sim.profile == "4.12")


def test_mcp_proxy_flows_accept_only_mcp_and_condition_selectors(apim):
    flow = {"name": "by path", "enabled": True, "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH"}]}
    response = apim.call("POST", "/apis", json=mcp_proxy_api(flows=[flow]))
    assert error_of(response) == (400, None, "The flow [by path] contains selectors that couldn't apply to mcp-proxy API")
    flow["selectors"] = [{"type": "MCP", "methods": ["tools/call"]}]
    assert apim.call("POST", "/apis", json=mcp_proxy_api(flows=[flow])).status_code == 201


def test_get_always_has_deployment_state_and_an_etag(apim):
    api = apim.create_api()
    response = apim.ok("GET", f"/apis/{api['id']}")
    assert response.json()["deploymentState"] == "NEED_REDEPLOY"
    assert response.headers["ETag"].strip('"').isdigit() and response.headers["Last-Modified"]


def test_unknown_api_is_not_found(apim):
    response = apim.call("GET", "/apis/nope")
    assert error_of(response) == (404, "api.notFound", "Api [nope] cannot be found.")
    assert response.json()["parameters"] == {"api": "nope"}


def test_update_replaces_fields_and_injects_resource_defaults(sim, apim):
    api = apim.create_api()
    resource = am_resource(sim.urls["am_gateway"])
    body = update_body(api, resources=[resource], unknownField=1)
    del body["description"]
    updated = apim.ok("PUT", f"/apis/{api['id']}", json=body).json()
    configuration = updated["resources"][0]["configuration"]
    assert configuration["userClaim"] == "sub"  # schema default, injected
    assert {k: configuration[k] for k in resource["configuration"]} == resource["configuration"]
    assert "description" not in updated  # full replacement: an absent field is reset
    assert updated["deploymentState"] == "NEED_REDEPLOY"


def test_resource_configuration_is_checked_against_the_plugin_schema(sim, apim):
    api = apim.create_api()
    for configuration in ({"version": "V9_X"}, {"clientId": None}):
        resource = am_resource(sim.urls["am_gateway"])
        resource["configuration"].update(configuration)
        resource["configuration"] = {k: v for k, v in resource["configuration"].items() if v is not None}
        response = apim.call("PUT", f"/apis/{api['id']}", json=update_body(api, resources=[resource]))
        assert error_of(response)[:2] == (400, "data.invalid")
    disabled = {**am_resource(sim.urls["am_gateway"]), "enabled": False, "configuration": {"anything": True}}
    assert apim.call("PUT", f"/apis/{api['id']}", json=update_body(api, resources=[disabled])).status_code == 200


def test_update_with_a_stale_etag_is_a_412(apim):
    api = apim.create_api()
    etag = apim.ok("GET", f"/apis/{api['id']}").headers["ETag"]
    apim.ok("PUT", f"/apis/{api['id']}", json=update_body(api, name="Renamed"), headers={"If-Match": etag})
    response = apim.call("PUT", f"/apis/{api['id']}", json=update_body(api, name="Again"), headers={"If-Match": etag})
    assert response.status_code == 412 and response.content == b""


def test_delete_rules(apim):
    api = apim.deployed_keyless_api()
    assert error_of(apim.call("DELETE", f"/apis/{api['id']}"))[:2] == (400, "api.running")
    apim.ok("POST", f"/apis/{api['id']}/_stop", 204)
    response = apim.call("DELETE", f"/apis/{api['id']}")
    assert error_of(response) == (400, "api.notDeletable", "Plan(s) [Keyless] must be closed before being able to delete the API !")
    apim.ok("DELETE", f"/apis/{api['id']}?closePlans=true", 204)
    assert apim.call("GET", f"/apis/{api['id']}").status_code == 404


def test_search_and_list(apim):
    first = apim.create_api(context_path="/weather-mcp")
    second = apim.ok("POST", "/apis", 201, json=mcp_proxy_api(context_path="/docs-mcp", name="Docs MCP")).json()
    found = apim.ok("POST", "/apis/_search", json={"query": "docs"}).json()
    assert [a["id"] for a in found["data"]] == [second["id"]]
    by_ids = apim.ok("POST", "/apis/_search", json={"ids": [first["id"]]}).json()
    assert [a["id"] for a in by_ids["data"]] == [first["id"]]
    page = apim.ok("GET", "/apis?page=2&perPage=1&expands=deploymentState").json()
    assert page["pagination"] == {"page": 2, "perPage": 1, "pageCount": 2, "pageItemsCount": 1, "totalCount": 2}
    assert page["data"][0]["deploymentState"] == "NEED_REDEPLOY"
    assert "deploymentState" not in apim.ok("GET", "/apis").json()["data"][0]


# --- plans ----------------------------------------------------------------------------------------


def test_plans_are_created_in_staging_with_their_configuration(sim, apim):
    """4.10: stored as sent (seen on real APIM 4.10.9, DIFFERENCES.md D8); 4.12: completed with the schema's defaults."""
    api = apim.create_api()
    plan = apim.create_plan(api["id"], oauth2_plan(sim.profile))
    assert plan["status"] == "STAGING" and plan["apiId"] == api["id"]
    configuration = plan["security"]["configuration"]
    if sim.profile == "4.10":
        assert configuration == {"oauthResource": "am-resource", "addWwwAuthenticateHeader": True}
    else:
        assert configuration == {"oauthResource": "am-resource", "extractPayload": False, "checkRequiredScopes": False,
                                 "modeStrict": True, "propagateAuthHeader": True}


def test_oauth2_configuration_is_checked_against_the_profiles_policy_schema(sim, apim):
    api = apim.create_api()
    body = oauth2_plan("4.12", addWwwAuthenticateHeader=True)  # a 5.1.x field
    response = apim.call("POST", f"/apis/{api['id']}/plans", json=body)
    if sim.profile == "4.10":
        assert response.status_code == 201
        assert response.json()["security"]["configuration"]["addWwwAuthenticateHeader"] is True
    else:
        status, code, message = error_of(response)
        assert (status, code) == (400, "data.invalid") and "addWwwAuthenticateHeader" in message
    response = apim.call("POST", f"/apis/{api['id']}/plans", json=oauth2_plan(sim.profile, unknown=1))
    assert error_of(response)[:2] == (400, "data.invalid")


def test_listing_plans_defaults_to_published_and_filters(sim, apim):
    api = apim.create_api()
    keyless = apim.publish(api["id"], keyless_plan())
    staging = apim.create_plan(api["id"], oauth2_plan(sim.profile))
    assert [p["id"] for p in apim.ok("GET", f"/apis/{api['id']}/plans").json()["data"]] == [keyless["id"]]
    both = apim.ok("GET", f"/apis/{api['id']}/plans?statuses=STAGING,PUBLISHED").json()["data"]
    assert {p["id"] for p in both} == {keyless["id"], staging["id"]}
    oauth2 = apim.ok("GET", f"/apis/{api['id']}/plans?statuses=STAGING,PUBLISHED&securities=OAUTH2").json()["data"]
    assert [p["id"] for p in oauth2] == [staging["id"]]


def test_only_one_keyless_plan_may_be_published_or_deprecated(apim):
    api = apim.create_api()
    first = apim.publish(api["id"], keyless_plan("Keyless 1"))
    second = apim.create_plan(api["id"], keyless_plan("Keyless 2"))
    assert error_of(apim.plan_action(api["id"], second["id"], "publish"))[:2] == (400, "plan.keyless.exists")
    apim.ok("POST", f"/apis/{api['id']}/plans/{first['id']}/_deprecate")
    assert error_of(apim.plan_action(api["id"], second["id"], "publish"))[:2] == (400, "plan.keyless.exists")
    apim.ok("POST", f"/apis/{api['id']}/plans/{first['id']}/_close")
    assert apim.plan_action(api["id"], second["id"], "publish").json()["status"] == "PUBLISHED"


def test_plan_status_machine(apim):
    api = apim.create_api()
    plan = apim.create_plan(api["id"], keyless_plan())
    pid = plan["id"]
    assert error_of(apim.plan_action(api["id"], pid, "deprecate")) == (400, "plan.notPublished", f"Plan {pid} is not yet published !")
    assert apim.plan_action(api["id"], pid, "publish").json()["status"] == "PUBLISHED"
    assert error_of(apim.plan_action(api["id"], pid, "publish"))[:2] == (400, "plan.published")
    assert apim.plan_action(api["id"], pid, "deprecate").json()["status"] == "DEPRECATED"
    assert error_of(apim.plan_action(api["id"], pid, "deprecate"))[:2] == (400, "plan.deprecated")
    assert error_of(apim.plan_action(api["id"], pid, "publish"))[:2] == (400, "plan.deprecated")
    closed = apim.plan_action(api["id"], pid, "close").json()
    assert closed["status"] == "CLOSED" and closed["closedAt"]
    for action in ("publish", "deprecate", "close"):
        assert error_of(apim.plan_action(api["id"], pid, action)) == (400, "plan.closed", f"Plan {pid} is already closed !")


def test_publishing_orders_plans_after_the_published_ones(sim, apim):
    api = apim.create_api()
    apim.update_api(api["id"], resources=[am_resource(sim.urls["am_gateway"])])
    first = apim.publish(api["id"], keyless_plan())
    second = apim.publish(api["id"], oauth2_plan(sim.profile))
    assert (first["order"], second["order"]) == (1, 2)


def test_plan_update_keeps_security_type_and_status(sim, apim):
    api = apim.create_api()
    plan = apim.create_plan(api["id"], oauth2_plan(sim.profile))
    configuration = {**plan["security"]["configuration"], "modeStrict": False}
    body = {**plan, "name": "Renamed", "status": "PUBLISHED", "security": {"type": "KEY_LESS", "configuration": configuration}}
    updated = apim.ok("PUT", f"/apis/{api['id']}/plans/{plan['id']}", json=body).json()
    assert updated["name"] == "Renamed" and updated["status"] == "STAGING"
    assert updated["security"]["type"] == "OAUTH2" and updated["security"]["configuration"]["modeStrict"] is False
    body["security"]["configuration"]["bogus"] = True
    assert error_of(apim.call("PUT", f"/apis/{api['id']}/plans/{plan['id']}", json=body))[:2] == (400, "data.invalid")


def test_plan_of_another_api_is_not_found(apim):
    api = apim.create_api()
    other = apim.ok("POST", "/apis", 201, json=mcp_proxy_api(context_path="/other")).json()
    plan = apim.create_plan(api["id"], keyless_plan())
    response = apim.call("GET", f"/apis/{other['id']}/plans/{plan['id']}")
    assert error_of(response) == (404, "plan.notFound", f"Plan [{plan['id']}] cannot be found.")


def test_plan_delete(apim):
    api = apim.create_api()
    plan = apim.publish(api["id"], keyless_plan())
    apim.ok("DELETE", f"/apis/{api['id']}/plans/{plan['id']}", 204)
    assert apim.call("GET", f"/apis/{api['id']}/plans/{plan['id']}").status_code == 404


# --- deployments and lifecycle --------------------------------------------------------------------


def test_an_api_without_a_published_plan_cannot_be_deployed_or_started(apim):
    api = apim.create_api()
    apim.create_plan(api["id"], keyless_plan())  # staging only
    assert error_of(apim.call("POST", f"/apis/{api['id']}/deployments", json={}))[:2] == (400, "api.NotDeployable")
    assert error_of(apim.call("POST", f"/apis/{api['id']}/_start"))[:2] == (400, "api.NotDeployable")


def test_first_start_deploys_then_start_and_stop_are_not_repeatable(apim):
    api = apim.create_api()
    apim.publish(api["id"], keyless_plan())
    apim.start(api["id"])
    current = apim.get_api(api["id"])
    assert current["state"] == "STARTED" and current["deploymentState"] == "DEPLOYED" and current["deployedAt"]
    assert error_of(apim.call("POST", f"/apis/{api['id']}/_start")) == (400, None, "API is already started")
    apim.ok("POST", f"/apis/{api['id']}/_stop", 204)
    assert error_of(apim.call("POST", f"/apis/{api['id']}/_stop")) == (400, None, "API is already stopped")


def test_deployment_state_follows_deployment_relevant_changes(sim, apim):
    api = apim.deployed_keyless_api()
    apim.update_api(api["id"], name="Renamed", description="Not deployed to gateways")
    assert apim.get_api(api["id"])["deploymentState"] == "DEPLOYED"  # name and description need no deployment
    apim.update_api(api["id"], resources=[am_resource(sim.urls["am_gateway"])])
    assert apim.get_api(api["id"])["deploymentState"] == "NEED_REDEPLOY"
    apim.deploy(api["id"])
    assert apim.get_api(api["id"])["deploymentState"] == "DEPLOYED"
    plan = apim.create_plan(api["id"], oauth2_plan(sim.profile))
    assert apim.get_api(api["id"])["deploymentState"] == "DEPLOYED"  # a staging plan is not deployed
    apim.plan_action(api["id"], plan["id"], "publish")
    assert apim.get_api(api["id"])["deploymentState"] == "NEED_REDEPLOY"
    apim.deploy(api["id"])
    apim.plan_action(api["id"], plan["id"], "deprecate")
    assert apim.get_api(api["id"])["deploymentState"] == "DEPLOYED"  # deprecating touches no needRedeployAt
    apim.plan_action(api["id"], plan["id"], "close")
    assert apim.get_api(api["id"])["deploymentState"] == "NEED_REDEPLOY"


def test_deleting_a_deployed_plan_leaves_the_api_deployed(apim):
    # PlanServiceImpl.delete sets no needRedeployAt and isSynchronized only looks at the plans that still exist
    # (source-audit-2026-12.md): the API reads DEPLOYED while the gateway keeps the deleted plan.
    api = apim.deployed_keyless_api()
    keyless = apim.ok("GET", f"/apis/{api['id']}/plans").json()["data"][0]
    apim.ok("DELETE", f"/apis/{api['id']}/plans/{keyless['id']}", 204)
    assert apim.get_api(api["id"])["deploymentState"] == "DEPLOYED"


def test_deployment_verification_and_current_deployment(apim):
    api = apim.deployed_keyless_api()
    assert apim.ok("GET", f"/apis/{api['id']}/deployments/_verify").json() == {"ok": True}
    current = apim.ok("GET", f"/apis/{api['id']}/deployments/current").json()
    assert current["id"] == api["id"] and [p["name"] for p in current["plans"]] == ["Keyless"]


# --- plugins --------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/management/v2/organizations/DEFAULT", "/management/v2"])
def test_mcp_proxy_entrypoint_is_installed(sim, prefix):
    response = requests.get(sim.urls["apim"] + prefix + "/plugins/entrypoints", auth=("admin", "admin"), timeout=10)
    if prefix == "/management/v2" and sim.profile == "4.10":
        # real APIM 4.10.9 (tests/real/DIFFERENCES.md D6): the root form answers a bare 500
        assert (response.status_code, response.content) == (500, b"")
        return
    plugin = next(p for p in response.json() if p["id"] == "mcp-proxy")
    assert plugin["supportedApiType"] == "MCP_PROXY" and plugin["deployed"] is True
    assert plugin["version"] == {"4.10": "1.0.1", "4.12": "3.1.6"}[sim.profile]


def test_oauth2_policy_schema_is_the_profiles(sim):
    base = sim.urls["apim"] + "/management/v2/organizations/DEFAULT/plugins"
    schema = requests.get(base + "/policies/oauth2/schema", auth=("admin", "admin"), timeout=10).json()
    assert schema["additionalProperties"] is False
    assert ("addWwwAuthenticateHeader" in schema["properties"]) == (sim.profile == "4.10")


def test_am_resource_and_mcp_connector_schemas(sim):
    base = sim.urls["apim"] + "/management/v2/organizations/DEFAULT/plugins"
    resource = requests.get(base + "/resources/oauth2-am-resource/schema", auth=("admin", "admin"), timeout=10).json()
    assert resource["properties"]["version"]["default"] == "V3_X"
    assert set(resource["gioExternalDefinitions"]) == {"httpClientOptions", "httpProxyOptions", "sslOptions"}
    endpoint = requests.get(base + "/endpoints/mcp-proxy/schema", auth=("admin", "admin"), timeout=10).json()
    assert list(endpoint["properties"]) == ["target"]
    shared = requests.get(base + "/endpoints/mcp-proxy/shared-configuration-schema", auth=("admin", "admin"), timeout=10)
    assert shared.status_code == 200
    missing = requests.get(base + "/policies/nope/schema", auth=("admin", "admin"), timeout=10)
    assert error_of(missing)[:2] == (404, "plugin.notFound")


# --- spec checking --------------------------------------------------------------------------------


def test_a_test_can_have_a_spec_breaking_request_served(sim, apim):
    body = mcp_proxy_api()
    body["type"] = "GRAPHQL"
    response = apim.call("POST", "/apis", json=body, headers={"X-Sim-Expect-Violation": "serve"})
    status, message = error_of(response)[::2]
    assert status == 400 and message.startswith("Only V4 [")  # the server's own answer
    violation = sim.requests("apim")[-1]["spec_violation"]
    assert violation["served"] is True and violation["expected"] is True


def test_unknown_operation_is_served_and_recorded(sim, apim):
    response = apim.call("GET", "/apis/some-id/not-an-endpoint", headers=EXPECT_VIOLATION)
    assert response.status_code == 404  # answered by the server, as the real one would
    violations = requests.get(sim.admin + "/violations", timeout=10).json()
    assert violations[-1]["path"].endswith("/not-an-endpoint") and "PathNotFound" in violations[-1]["message"]


def checker(server: str, profile: str) -> specs.SpecChecker:
    found = specs.checker_for(SimpleNamespace(profile=profile, specs_dir=DEFAULT_SPECS_DIR, notices=[]), server)
    if found is None:
        pytest.skip("specs folder absent")
    return found


@pytest.mark.parametrize("profile", ["4.10", "4.12"])
def test_response_checker_flags_a_response_outside_the_spec(profile):
    apim_checker = checker("apim", profile)
    path = ENV_PATH + "/apis/abc"
    good = {"id": "abc", "definitionVersion": "V4", "type": "MCP_PROXY", "state": "STOPPED", "deploymentState": "DEPLOYED"}
    bad = {**good, "deploymentState": "SOMETIMES"}
    args = ("GET", path, "", {"Authorization": "Basic x"}, b"", 200, "application/json")
    assert apim_checker.check_response(*args, json.dumps(good).encode()) is None
    violation = apim_checker.check_response(*args, json.dumps(bad).encode())
    assert violation.phase == "response" and "SOMETIMES" in violation.message


def test_am_exemptions_cover_the_documented_mismatches():
    am_checker = checker("am", "4.10")
    path = "/management/organizations/DEFAULT/environments/DEFAULT/domains/d1/protected-resources/r1"
    resource = {"id": "r1", "name": "n", "type": "mcp_server", "resourceIdentifiers": ["https://x"], "updatedAt": 1700000000000}
    args = ("GET", path, "type=MCP_SERVER", {"Authorization": "Bearer x"}, b"", 200, "application/json")
    assert am_checker.check_response(*args, json.dumps(resource).encode()) is None  # lower-case enum, epoch date
    broken = am_checker.check_response(*args, json.dumps({**resource, "resourceIdentifiers": "x"}).encode())
    assert broken is not None


# --- without the specs folder ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_without_specs():
    simulator = start_simulator("4.12", extra_args=["--specs-dir", "/nonexistent/specs"])
    yield simulator
    simulator.stop()


def test_without_specs_requests_are_not_checked_and_the_server_validates(sim_without_specs):
    info = requests.get(sim_without_specs.admin + "/info", timeout=10).json()
    assert "specs not found, requests are not spec-checked" in info["notices"]
    body = mcp_proxy_api()
    del body["listeners"]
    response = requests.post(sim_without_specs.urls["apim"] + ENV_PATH + "/apis", json=body, auth=("admin", "admin"), timeout=10)
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert response.json()["details"][0]["location"] == "listeners"
    assert requests.get(sim_without_specs.admin + "/violations", timeout=10).json() == []
