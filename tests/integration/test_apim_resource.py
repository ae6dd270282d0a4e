"""apim_resource as real Ansible tasks against the simulated APIM, on the 4.10 and 4.12 profiles.

The guide's step "add the Gravitee.io AM Authorization Server resource with the MCP server's
client": the resource lives inside the API object, so every change is a read-merge-write of the
API that keeps what others added; the client secret never shows, and update_secret decides when it
is sent again.
"""

from __future__ import annotations

from tests.integration.apim_support import SECRET, ApimAdmin, mcp_proxy_body, run_steps, task

PATH = "/weather-mcp"
NEW_SECRET = "Rotated-Secret-93ab41c07e"
FREE_SECRET = "Free-Form-Secret-2e61d0aa"
GENERIC = {"introspectionEndpoint": "https://idp.example.com/introspect", "clientId": "gw", "clientSecret": FREE_SECRET}


def resource(name, args, **keywords):
    return task("apim_resource", name, {"api": PATH, **args}, **keywords)


AM = {
    "name": "am-resource",
    "am_url": "https://am-gateway.example.com",
    "security_domain": "mcp",
    "client_id": "weather-mcp",
    "client_secret": SECRET,
}


def weather_api(sim):
    admin = ApimAdmin(sim)
    return admin, admin.create(mcp_proxy_body("Weather MCP", PATH, sim.urls["mcp"] + "/mcp"))["id"]


def test_create_rerun_update_rotate_and_remove(sim):
    admin, api_id = weather_api(sim)
    created = run_steps(
        sim,
        [
            resource("create in check mode", AM, check_mode=True),
            resource("create", AM),
            resource("create again", AM),
        ],
        diff=True,
    )
    check, create, again = created["create in check mode"], created["create"], created["create again"]
    assert check.changed and check.writes == []
    assert check["resource"]["configuration"]["clientSecret"] == "********"
    assert check["diff"]["before"] == {} and check["diff"]["after"]["configuration"]["securityDomain"] == "mcp"

    assert create.changed and create.calls == ["POST /apis/_search", "GET /apis/{id}", "PUT /apis/{id}"]
    server = admin.get(api_id)
    (stored,) = server["resources"]
    assert (stored["name"], stored["type"], stored["enabled"]) == ("am-resource", "oauth2-am-resource", True)
    configuration = stored["configuration"]
    assert configuration["serverURL"] == "https://am-gateway.example.com"
    assert (configuration["securityDomain"], configuration["clientId"]) == ("mcp", "weather-mcp")
    assert configuration["version"] == "V3_X"  # always sent: the plugin's Java default is V1_X
    assert configuration.get("userClaim") == "sub"  # a default the server filled in: no difference next run
    assert create["needs_redeploy"] is True
    assert create["resource"]["configuration"]["clientSecret"] == "********"

    assert not again.changed and again.writes == []
    assert again.calls == ["POST /apis/_search", "GET /apis/{id}"]

    # Someone adds another resource in the Console; the module's changes must keep it.
    cache = {"name": "token-cache", "type": "cache", "enabled": True, "configuration": {"timeToLiveSeconds": 60}}
    admin.update(api_id, lambda api: api["resources"].append(cache))
    changed = run_steps(
        sim,
        [
            resource("update", dict(AM, user_claim="email")),
            resource("another secret, on_create", dict(AM, user_claim="email", client_secret=NEW_SECRET)),
            resource("rotate", dict(AM, user_claim="email", client_secret=NEW_SECRET, update_secret="always")),
            resource("rotate again", dict(AM, user_claim="email", client_secret=NEW_SECRET, update_secret="always")),
            resource("free configuration", {"name": "token-cache", "type": "cache", "configuration": {"timeToLiveSeconds": 300}}),
            resource("free configuration with a secret", {"name": "generic", "type": "oauth2", "configuration": GENERIC}),
            resource("remove in check mode", {"name": "am-resource", "state": "absent"}, check_mode=True),
            resource("remove", {"name": "am-resource", "state": "absent"}),
            resource("remove again", {"name": "am-resource", "state": "absent"}),
        ],
        diff=True,
        verbosity=3,
    )
    update = changed["update"]
    assert update.changed and update.calls == ["POST /apis/_search", "GET /apis/{id}", "PUT /apis/{id}"]
    sent = next(r for r in update.writes[0]["body"]["resources"] if r["name"] == "am-resource")["configuration"]
    assert sent["userClaim"] == "email" and sent["clientSecret"] == SECRET
    assert update["diff"]["before"]["configuration"]["userClaim"] == "sub"
    assert update["diff"]["after"]["configuration"]["userClaim"] == "email"
    assert update["diff"]["after"]["configuration"]["clientSecret"] == "********"

    # This server returns the stored secret, so a different one is a difference even with on_create.
    assert changed["another secret, on_create"].changed
    assert changed["rotate"].changed and changed["rotate again"].changed  # always: documented as never idempotent
    assert changed["free configuration"].changed
    assert changed["remove in check mode"].changed and changed["remove in check mode"].writes == []
    assert changed["remove"].changed and "resource" not in changed["remove"].result.result
    assert not changed["remove again"].changed and changed["remove again"].writes == []
    generic = changed["free configuration with a secret"]
    assert generic.changed and generic["resource"]["configuration"]["clientSecret"] == "********"
    assert generic["resource"]["configuration"]["clientId"] == "gw"
    for secret in (SECRET, NEW_SECRET, FREE_SECRET):
        assert secret not in changed.output

    server = admin.get(api_id)
    assert [r["name"] for r in server["resources"]] == ["token-cache", "generic"]
    assert server["resources"][1]["configuration"]["clientSecret"] == FREE_SECRET
    assert server["resources"][0]["configuration"]["timeToLiveSeconds"] == 300
    assert server["name"] == "Weather MCP" and server["listeners"][0]["paths"][0]["path"] == PATH + "/"


def test_bad_input_fails_clearly_and_writes_nothing(sim):
    admin, api_id = weather_api(sim)
    admin.update(api_id, lambda api: api.update(resources=[{
        "name": "am-resource", "type": "oauth2-am-resource",
        "configuration": {"serverURL": "https://am.example.com", "securityDomain": "mcp", "clientId": "weather",
                          "clientSecret": SECRET, "version": "V3_X"},
    }]))
    admin.create_plan(api_id, {"name": "OAuth2", "security": {"type": "OAUTH2", "configuration": {"oauthResource": "am-resource"}}})
    failing = {"ignore_errors": True}
    run = run_steps(
        sim,
        [
            task("apim_resource", "unknown API", dict(AM, api="/no-such-api"), **failing),
            resource("no secret to create", {k: v for k, v in AM.items() if k != "client_secret"} | {"name": "other"}, **failing),
            resource("management URL", dict(AM, am_url="https://am.example.com/management"), **failing),
            resource("typed options on another type", {"name": "c", "type": "cache", "client_id": "x"}, **failing),
            resource("both forms", dict(AM, configuration={"serverURL": "https://am.example.com"}), **failing),
            resource("remove a resource a plan uses", {"name": "am-resource", "state": "absent"}, **failing),
            task("apim_resource", "absent from an unknown API", {"api": "/no-such-api", "name": "am-resource", "state": "absent"}),
        ],
        verbosity=3,
    )
    gone = run.steps.pop("absent from an unknown API")
    assert not gone.changed and not gone.failed and gone.calls == ["POST /apis/_search"]
    for name, step in run.steps.items():
        assert step.failed and step.writes == [], (name, step.msg)
    assert "no API with context path '/no-such-api'" in run["unknown API"].msg
    assert "client_secret is required to create the oauth2-am-resource resource 'other'" in run["no secret to create"].msg
    assert "am_url must be the base URL of the AM gateway" in run["management URL"].msg
    assert run["management URL"].requests == []
    assert "client_id apply to type oauth2-am-resource only" in run["typed options on another type"].msg
    assert "mutually exclusive" in run["both forms"].msg
    used = run["remove a resource a plan uses"]
    assert "is used by plan 'OAuth2'" in used.msg and "close or delete the plan first" in used.msg
    assert SECRET not in run.output
    assert [r["name"] for r in admin.get(api_id)["resources"]] == ["am-resource"]
