"""apim_plan as real Ansible tasks against the simulated APIM, on the 4.10 and 4.12 profiles.

The guide's steps "keyless plan for a first test", "create and publish the OAuth2 plan using that
resource" and "close/delete the keyless plan": the real status machine, one published keyless plan
per API, the OAuth2 policy's WWW-Authenticate setting that only APIM 4.10.0-4.10.11 has, and bad
input that fails before any write.
"""

from __future__ import annotations

import requests

from tests.integration.apim_support import SECRET, ApimAdmin, mcp_proxy_body, run_steps, shape, task
from tests.integration.simulator.apim_api import INITIALIZE, MCP_ACCEPT

PATH = "/weather-mcp"


def plan(name, args, **keywords):
    return task("apim_plan", name, {"api": PATH, **args}, **keywords)


def weather_api(sim):
    """The MCP proxy API with its AM resource, as earlier steps of the guide leave it."""
    admin = ApimAdmin(sim)
    created = admin.create(mcp_proxy_body("Weather MCP", PATH, sim.urls["mcp"] + "/mcp"))
    resource = {
        "name": "am-resource",
        "type": "oauth2-am-resource",
        "configuration": {"serverURL": "https://am.example.com", "securityDomain": "mcp", "clientId": "weather",
                          "clientSecret": SECRET, "version": "V3_X"},
    }
    admin.update(created["id"], lambda api: api.update(resources=[resource]))
    return admin, created["id"]


KEYLESS = {"name": "Keyless", "security": "keyless"}
OAUTH2 = {"name": "OAuth2", "security": "oauth2", "oauth_resource": "am-resource", "required_scopes": ["mcp:tools"]}


def test_plans_follow_the_status_machine(sim):
    admin, api_id = weather_api(sim)
    closed_error = {"ignore_errors": True}
    run = run_steps(
        sim,
        [
            plan("keyless in check mode", dict(KEYLESS, state="published"), check_mode=True),
            plan("keyless", dict(KEYLESS, state="published")),
            plan("keyless again", dict(KEYLESS, state="published")),
            plan("oauth2 in check mode", dict(OAUTH2, state="published"), check_mode=True),
            plan("oauth2", dict(OAUTH2, state="published")),
            plan("oauth2 again", dict(OAUTH2, state="published", required_scopes=["mcp:tools"])),
            plan("oauth2 update", dict(OAUTH2, description="MCP clients", required_scopes=["mcp:tools", "openid"],
                                       check_required_scopes=True, state="published")),
            plan("close keyless", {"name": "Keyless", "state": "closed"}),
            plan("close keyless again", {"name": "Keyless", "state": "closed"}),
            plan("publish closed keyless", dict(KEYLESS, state="published"), **closed_error),
            plan("delete keyless", {"name": "Keyless", "state": "absent"}),
            plan("keyless while oauth2 is published", {"name": "Keyless 2", "security": "keyless", "state": "published"}, check_mode=True),
            plan("deprecate oauth2", {"name": "OAuth2", "state": "deprecated"}),
            plan("publish deprecated oauth2", {"name": "OAuth2", "state": "published"}, **closed_error),
            plan("delete oauth2", {"name": "OAuth2", "state": "absent"}),
            plan("delete oauth2 again", {"name": "OAuth2", "state": "absent"}),
        ],
        diff=True,
    )
    check = run["keyless in check mode"]
    assert check.changed and check.writes == [] and check["status"] == "PUBLISHED" and check.get("id") is None

    keyless = run["keyless"]
    assert keyless.calls == [
        "POST /apis/_search", "GET /apis/{id}/plans", "POST /apis/{id}/plans", "POST /apis/{id}/plans/{id}/_publish",
    ]  # no GET after: publishing a plan puts the API out of sync for sure
    assert keyless.requests[1]["query"].replace("%2C", ",").startswith("statuses=STAGING,PUBLISHED,DEPRECATED,CLOSED")
    assert keyless.writes[0]["body"]["security"] == {"type": "KEY_LESS"}
    assert (keyless["status"], keyless["needs_redeploy"]) == ("PUBLISHED", True)
    assert not run["keyless again"].changed and run["keyless again"].calls == ["POST /apis/_search", "GET /apis/{id}/plans"]

    assert run["oauth2 in check mode"].changed and run["oauth2 in check mode"].writes == []
    oauth2 = run["oauth2"]
    assert [shape(w) for w in oauth2.writes] == ["POST /apis/{id}/plans", "POST /apis/{id}/plans/{id}/_publish"]
    sent = oauth2.writes[0]["body"]["security"]
    assert sent["type"] == "OAUTH2" and sent["configuration"]["oauthResource"] == "am-resource"
    # APIM 4.10.0-4.10.11 (policy 5.1.x) must be told to send the challenge; later versions always do and reject it.
    if sim.profile == "4.10":
        assert sent["configuration"]["addWwwAuthenticateHeader"] is True
    else:
        assert "addWwwAuthenticateHeader" not in sent["configuration"]
    again = run["oauth2 again"]
    assert not again.changed and again.writes == []
    # The policy schema is read only to create a plan or to set add_www_authenticate_header.
    assert again.calls == ["POST /apis/_search", "GET /apis/{id}/plans"]

    update = run["oauth2 update"]
    assert [shape(w) for w in update.writes] == ["PUT /apis/{id}/plans/{id}"]
    assert update["diff"]["before"]["security"]["configuration"]["requiredScopes"] == ["mcp:tools"]
    assert update["diff"]["after"]["security"]["configuration"]["requiredScopes"] == ["mcp:tools", "openid"]
    server = update["plan"]  # as the server answered the PUT
    configuration = server["security"]["configuration"]
    assert configuration["requiredScopes"] == ["mcp:tools", "openid"] and configuration["checkRequiredScopes"] is True
    assert configuration["oauthResource"] == "am-resource"
    # APIM 4.12 completes a plan's configuration with the schema's defaults; 4.10.9 stores it as sent (DIFFERENCES.md D8).
    assert configuration.get("modeStrict") is (True if sim.profile == "4.12" else None)
    assert server["description"] == "MCP clients" and server["status"] == "PUBLISHED"
    assert update.writes[0]["body"]["flows"] == oauth2["plan"]["flows"]  # the whole plan goes back

    assert [shape(w) for w in run["close keyless"].writes] == ["POST /apis/{id}/plans/{id}/_close"]
    assert run["close keyless"]["status"] == "CLOSED"
    assert not run["close keyless again"].changed and run["close keyless again"].writes == []
    reopen = run["publish closed keyless"]
    assert reopen.failed and reopen.writes == []
    assert "plan 'Keyless' is closed; a closed plan cannot be changed or reopened: create a new plan with another name" in reopen.msg
    assert [shape(w) for w in run["delete keyless"].writes] == ["DELETE /apis/{id}/plans/{id}"]
    late = run["keyless while oauth2 is published"]
    assert late.changed and late.writes == []
    assert any("never get the 401 challenge" in w for w in late.get("warnings", []))
    assert [shape(w) for w in run["deprecate oauth2"].writes] == ["POST /apis/{id}/plans/{id}/_deprecate"]
    republish = run["publish deprecated oauth2"]
    assert republish.failed and republish.writes == [] and "deprecated plan cannot be published again" in republish.msg
    assert [shape(w) for w in run["delete oauth2"].writes] == [
        "POST /apis/{id}/plans/{id}/_close", "DELETE /apis/{id}/plans/{id}",
    ]
    assert not run["delete oauth2 again"].changed and run["delete oauth2 again"].writes == []
    assert admin.plans(api_id) == []


def test_bad_input_fails_clearly_and_writes_nothing(sim):
    admin, api_id = weather_api(sim)
    published = admin.create_plan(api_id, {"name": "Keyless A", "security": {"type": "KEY_LESS"}})
    admin.plan_action(api_id, published["id"], "publish")
    admin.create_plan(api_id, {"name": "Twin", "security": {"type": "KEY_LESS"}})
    admin.create_plan(api_id, {"name": "Twin", "security": {"type": "KEY_LESS"}})
    admin.create_plan(api_id, {"name": "Staged", "security": {"type": "KEY_LESS"}})
    admin.deploy(api_id)
    failing = {"ignore_errors": True}
    run = run_steps(
        sim,
        [
            task("apim_plan", "unknown API", {"api": "/no-such-api", **KEYLESS}, **failing),
            task("apim_plan", "capitals", {"api": "/Weather-MCP", **KEYLESS}, **failing),
            plan("wrong token", dict(KEYLESS, token="Bad-Token-61f0a2"), **failing),
            plan("second published keyless", {"name": "Keyless B", "security": "keyless", "state": "published"}, **failing),
            plan("missing resource", dict(OAUTH2, oauth_resource="nope", state="published"), **failing),
            plan("security change", {"name": "Keyless A", "security": "oauth2", "oauth_resource": "am-resource"}, **failing),
            plan("ambiguous name", {"name": "Twin", "state": "published"}, **failing),
            plan("oauth2 options on keyless", dict(KEYLESS, required_scopes=["x"]), **failing),
            plan("oauth2 options on a keyless plan", {"name": "Keyless A", "mode_strict": False}, **failing),
            plan("deprecate a staging plan", {"name": "Staged", "state": "deprecated"}, **failing),
            plan("no security to create", {"name": "New"}, **failing),
            plan("explicit challenge setting", dict(OAUTH2, add_www_authenticate_header=False), check_mode=True),
            task("apim_plan", "absent from an unknown API", {"api": "/no-such-api", "name": "Keyless", "state": "absent"}),
            plan("describe in check mode", {"name": "Keyless A", "description": "For the first test"}, check_mode=True),
            plan("describe", {"name": "Keyless A", "description": "For the first test"}),
        ],
    )
    unknown = run["unknown API"]
    assert "no API with context path '/no-such-api'" in unknown.msg and "mcpgate.gravitee.apim_api" in unknown.msg
    assert unknown.calls == ["POST /apis/_search"]
    capitals = run["capitals"]
    assert "api '/Weather-MCP' has capital letters" in capitals.msg and capitals.requests == []
    wrong = run["wrong token"]
    assert "HTTP 401" in wrong.msg and "Check the credentials" in wrong.msg and "Bad-Token-61f0a2" not in run.output
    second = run["second published keyless"]
    assert "already has a published keyless plan 'Keyless A'" in second.msg and "close it first" in second.msg
    missing = run["missing resource"]
    assert "oauth_resource 'nope' is not a resource of API 'Weather MCP'" in missing.msg
    assert "create it first with mcpgate.gravitee.apim_resource" in missing.msg
    assert "security type of a plan can not change: create a new plan" in run["security change"].msg
    assert "2 plans of API 'Weather MCP'" in run["ambiguous name"].msg and "are named 'Twin'" in run["ambiguous name"].msg
    options = run["oauth2 options on keyless"]
    assert "required_scopes only apply to security: oauth2" in options.msg and options.requests == []
    assert "mode_strict only apply to oauth2 plans; plan 'Keyless A' is a KEY_LESS plan" in run["oauth2 options on a keyless plan"].msg
    assert "publish it first" in run["deprecate a staging plan"].msg
    assert "security is required to create plan 'New'" in run["no security to create"].msg
    # A description is no deployment matter: the deployed API stays in sync, as predicted in check mode.
    for name in ("describe in check mode", "describe"):
        assert run[name].changed and run[name]["needs_redeploy"] is False, name
    assert [shape(w) for w in run["describe"].writes] == ["PUT /apis/{id}/plans/{id}"]
    gone = run["absent from an unknown API"]
    assert not gone.changed and not gone.failed and gone.calls == ["POST /apis/_search"]
    for name, step in run.steps.items():
        if name.startswith("describe") or name == "absent from an unknown API":
            continue
        assert step.writes == [], name
        if name != "explicit challenge setting":
            assert step.failed, name

    explicit = run["explicit challenge setting"]
    assert explicit.changed
    if sim.profile == "4.10":
        assert explicit["plan"]["security"]["configuration"]["addWwwAuthenticateHeader"] is False
    else:
        assert "addWwwAuthenticateHeader" not in explicit["plan"]["security"]["configuration"]
        assert any("always sends the WWW-Authenticate" in w for w in explicit.get("warnings", []))
    assert sorted(p["name"] for p in admin.plans(api_id)) == ["Keyless A", "Staged", "Twin", "Twin"]


def test_deleting_a_served_plan_says_that_a_deployment_is_needed(sim):
    """APIM reads DEPLOYED after a plan deletion while the gateway keeps the plan: the module says so, and the
    deployment it asks for closes the API."""
    admin, api_id = weather_api(sim)
    api = {"context_path": PATH}
    run = run_steps(
        sim,
        [
            plan("keyless", dict(KEYLESS, state="published")),
            task("apim_api", "start", dict(api, state="started")),
            plan("oauth2", dict(OAUTH2, state="published")),
            task("apim_api", "deploy oauth2", dict(api, state="started")),
            plan("delete keyless", {"name": "Keyless", "state": "absent"}),
        ],
    )
    deletion = run["delete keyless"]
    assert deletion.changed and deletion["needs_redeploy"] is True
    assert any("keeps serving it until the API" in w for w in deletion.get("warnings", []))
    assert admin.get(api_id)["deploymentState"] == "DEPLOYED"  # APIM itself does not count the deletion
    assert requests.post(sim.urls["apim_gateway"] + PATH, json=INITIALIZE, headers=MCP_ACCEPT, timeout=10).status_code == 200

    deploy = run_steps(sim, [task("apim_api", "deploy", dict(api, state="started", force_deploy=True))])["deploy"]
    assert deploy.changed
    assert requests.post(sim.urls["apim_gateway"] + PATH, json=INITIALIZE, headers=MCP_ACCEPT, timeout=10).status_code == 401
