"""apim_api as real Ansible tasks against the simulated APIM, on the 4.10 and 4.12 profiles.

The guide's step "create a V4 API of type MCP Proxy pointing at the MCP server", then deploy, start,
stop and delete it: a second run changes nothing and sends no write, check mode predicts and sends
no write, an update changes only what was asked, and bad input fails before any write.
"""

from __future__ import annotations

from tests.integration.apim_support import SECRET, ApimAdmin, mcp_proxy_body, run_steps, shape, task

PATH = "/weather-mcp"
GATEWAY = "https://gw.example.com"


def api(name, args, **keywords):
    return task("apim_api", name, args, **keywords)


def weather(sim, **changes):
    return {
        "name": "Weather MCP",
        "context_path": PATH,
        "mcp_server_url": sim.urls["mcp"] + "/mcp",
        "description": "Forecasts",
        "gateway_url": GATEWAY,
        **changes,
    }


def test_create_rerun_update_deploy_stop_and_delete(sim):
    admin = ApimAdmin(sim)
    created = run_steps(
        sim,
        [
            api("create in check mode", weather(sim), check_mode=True),
            api("create", weather(sim, labels=["weather", "mcp"])),
            api("create again", weather(sim, labels=["mcp", "weather"])),
        ],
    )
    check, create, again = created["create in check mode"], created["create"], created["create again"]

    assert check.changed and check.writes == []
    # Before a create: the mcp-proxy entrypoint; check mode asks whether the path is free, a real create is its own check.
    assert check.calls == ["POST /apis/_search", "GET /plugins/entrypoints/mcp-proxy", "POST /apis/_verify/paths"]
    # No id is predicted; the path is predicted as the server stores it.
    assert "id" not in check.result.result and check["endpoint_url"] == GATEWAY + PATH
    assert check["api"]["listeners"][0]["paths"] == [{"path": PATH + "/"}]

    assert create.changed
    # Find by context path, check the entrypoint, create; labels need an update (CreateApiV4 has none).
    assert create.calls == ["POST /apis/_search", "GET /plugins/entrypoints/mcp-proxy", "POST /apis", "PUT /apis/{id}"]
    server = admin.get(create["id"])
    assert (server["type"], server["name"], server["description"], server["apiVersion"]) == ("MCP_PROXY", "Weather MCP", "Forecasts", "1.0")
    assert server["listeners"][0]["paths"][0]["path"] == PATH + "/"
    assert server["listeners"][0]["entrypoints"][0]["type"] == "mcp-proxy"
    endpoint = server["endpointGroups"][0]["endpoints"][0]
    assert (endpoint["type"], endpoint["configuration"]["target"]) == ("mcp-proxy", sim.urls["mcp"] + "/mcp")
    assert sorted(server["labels"]) == ["mcp", "weather"]
    assert (create["state"], create["deployment_state"]) == ("STOPPED", "NEED_REDEPLOY")
    assert create["endpoint_url"] == GATEWAY + PATH

    assert not again.changed and again.writes == []
    assert again.calls == ["POST /apis/_search"]
    assert again["id"] == create["id"]

    # Someone adds a resource in the Console; an update by the module must keep it.
    api_id = create["id"]
    admin.update(api_id, lambda body: body.update(resources=[am_resource()]))
    target_v2 = sim.urls["mcp"] + "/mcp?v=2"
    updated = run_steps(
        sim,
        [
            api("update in check mode", weather(sim, description="Forecasts and alerts", mcp_server_url=target_v2), check_mode=True),
            api("update", weather(sim, description="Forecasts and alerts", mcp_server_url=target_v2)),
            api("update again", weather(sim, description="Forecasts and alerts", mcp_server_url=target_v2)),
            api("start without a plan", {"context_path": PATH, "state": "started"}, ignore_errors=True),
        ],
        diff=True,
        verbosity=3,
    )
    check, update = updated["update in check mode"], updated["update"]
    assert check.changed and check.writes == []
    assert check["api"]["description"] == "Forecasts and alerts"
    assert check["deployment_state"] == "NEED_REDEPLOY"
    assert update.changed and [shape(w) for w in update.writes] == ["PUT /apis/{id}"]
    assert update.calls == ["POST /apis/_search", "GET /apis/{id}", "PUT /apis/{id}"]
    # The diff shows what changed, the resource's secret masked; the secret never reaches the output.
    diff = update["diff"]
    assert diff["before"]["description"] == "Forecasts" and diff["after"]["description"] == "Forecasts and alerts"
    assert diff["after"]["resources"][0]["configuration"]["clientSecret"] == "********"
    assert check["diff"]["after"]["endpointGroups"] == diff["after"]["endpointGroups"]
    assert update["api"]["resources"][0]["configuration"]["clientSecret"] == "********"
    assert SECRET not in updated.output

    server = admin.get(api_id)
    assert server["description"] == "Forecasts and alerts"
    assert server["endpointGroups"][0]["endpoints"][0]["configuration"]["target"] == target_v2
    assert server["name"] == "Weather MCP" and sorted(server["labels"]) == ["mcp", "weather"]
    assert [r["name"] for r in server["resources"]] == ["am-resource"]
    assert not updated["update again"].changed and updated["update again"].writes == []

    no_plan = updated["start without a plan"]
    assert no_plan.failed and "publish a plan first" in no_plan.msg and no_plan.writes == []

    # The guide's keyless plan, published from the Console.
    plan = admin.create_plan(api_id, {"name": "Keyless", "security": {"type": "KEY_LESS"}})
    admin.plan_action(api_id, plan["id"], "publish")
    started = run_steps(
        sim,
        [
            api("start in check mode", {"context_path": PATH, "state": "started"}, check_mode=True),
            api("start", {"context_path": PATH, "state": "started"}),
            api("start again", {"context_path": PATH, "state": "started"}),
            api("rename while started", {"context_path": PATH, "name": "Weather", "state": "started"}),
            api("move the target while started", {"context_path": PATH, "mcp_server_url": sim.urls["mcp"] + "/mcp", "state": "started"}),
            api("stop", {"context_path": PATH, "state": "stopped"}),
            api("stop again", {"context_path": PATH, "state": "stopped"}),
            api("start after stop", {"context_path": PATH, "state": "started"}),
            api("delete in check mode", {"context_path": PATH, "state": "absent"}, check_mode=True),
            api("delete", {"context_path": PATH, "state": "absent"}),
            api("delete again", {"context_path": PATH, "state": "absent"}),
        ],
    )
    check = started["start in check mode"]
    assert check.changed and check.writes == [] and check["state"] == "STARTED"
    start = started["start"]
    # Its first start deploys it too (facts section 6): no separate deployment.
    assert [shape(w) for w in start.writes] == ["POST /apis/{id}/_start"]
    assert (start["state"], start["deployment_state"]) == ("STARTED", "DEPLOYED")
    assert not started["start again"].changed and started["start again"].calls == ["POST /apis/_search"]
    # A new name needs no deployment (not a @DeploymentRequired field); a new target does.
    assert [shape(w) for w in started["rename while started"].writes] == ["PUT /apis/{id}"]
    assert started["rename while started"]["deployment_state"] == "DEPLOYED"
    assert [shape(w) for w in started["move the target while started"].writes] == ["PUT /apis/{id}", "POST /apis/{id}/deployments"]
    assert [shape(w) for w in started["stop"].writes] == ["POST /apis/{id}/_stop"]
    assert started["stop"]["state"] == "STOPPED"
    assert not started["stop again"].changed and started["stop again"].writes == []
    assert [shape(w) for w in started["start after stop"].writes] == ["POST /apis/{id}/_start"]
    assert started["delete in check mode"].changed and started["delete in check mode"].writes == []
    delete = started["delete"]
    assert [shape(w) for w in delete.writes] == ["POST /apis/{id}/_stop", "DELETE /apis/{id}"]
    assert delete.writes[1]["query"] == "closePlans=true"
    assert admin.find(PATH) is None
    assert not started["delete again"].changed and started["delete again"].writes == []


def test_bad_input_fails_clearly_and_writes_nothing(sim):
    admin = ApimAdmin(sim)
    admin.create(mcp_proxy_body("Shop", "/shop", "http://shop.internal/api", api_type="PROXY"))
    existing = admin.create(mcp_proxy_body("Existing MCP", "/existing-mcp", "http://mcp.internal/mcp"))
    sim.inject(kind="status", method="PUT", path=r"/apis/" + existing["id"], status=412, body=None, server="apim")
    failing = {"ignore_errors": True}
    run = run_steps(
        sim,
        [
            api("capitals", weather(sim, context_path="/Weather-MCP"), **failing),
            api("bad target", weather(sim, mcp_server_url="ftp://mcp.internal/mcp"), **failing),
            api("no name to create", {"context_path": PATH, "mcp_server_url": "http://mcp.internal/mcp"}, **failing),
            api("taken by a proxy API", weather(sim, context_path="/shop"), **failing),
            api("inside another API's path", weather(sim, context_path="/shop/mcp"), **failing),
            api("unknown id", {"id": "0b5c7a52-3f5e-4b8e-9c1d-2a7e6f4d8b90", "name": "X"}, **failing),
            api("wrong password", dict(weather(sim), password="Wrong-Password-8c1f"), **failing),
            api("changed meanwhile", {"context_path": "/existing-mcp", "description": "new"}, **failing),
            api("start a new API", weather(sim, state="started"), **failing),
            api("change and start without a plan", {"context_path": "/existing-mcp", "description": "x", "state": "started"}, **failing),
        ],
        verbosity=3,
    )
    assert all(run[name].failed for name in run.steps), {n: s.msg for n, s in run.steps.items()}
    # Nothing is written: no write is sent, or the server refuses it as a whole (a create on a path it refuses).
    assert all([w for w in step.writes if w["status"] < 400] == [] or name == "changed meanwhile" for name, step in run.steps.items())

    capitals = run["capitals"]
    assert "context_path" in capitals.msg and "'/weather-mcp'" in capitals.msg and capitals.requests == []
    assert "mcp_server_url must be an http(s) URL" in run["bad target"].msg and run["bad target"].requests == []
    assert "name is required to create the API" in run["no name to create"].msg
    assert "already used by API 'Shop'" in run["taken by a proxy API"].msg and "PROXY" in run["taken by a proxy API"].msg
    inside = run["inside another API's path"]
    assert "context_path /shop/mcp cannot be used" in inside.msg and "/shop/" in inside.msg
    # The create is its own check: the server refuses it, nothing is created (check mode asks _verify/paths first).
    assert inside.calls == ["POST /apis/_search", "GET /plugins/entrypoints/mcp-proxy", "POST /apis"]
    assert inside.requests[-1]["status"] == 400
    assert "no API with id 0b5c7a52-3f5e-4b8e-9c1d-2a7e6f4d8b90" in run["unknown id"].msg
    wrong = run["wrong password"]
    assert "HTTP 401" in wrong.msg and "Check the credentials" in wrong.msg
    assert "Wrong-Password-8c1f" not in run.output
    meanwhile = run["changed meanwhile"]
    assert "HTTP 412" in meanwhile.msg and "changed by someone else" in meanwhile.msg
    new = run["start a new API"]
    assert "does not exist yet" in new.msg and "publish a plan with mcpgate.gravitee.apim_plan" in new.msg
    assert new.calls == ["POST /apis/_search"]
    no_plan = run["change and start without a plan"]
    assert "has no published plan" in no_plan.msg and no_plan.writes == []  # checked before the PUT
    assert admin.get(existing["id"]).get("description") is None


def am_resource():
    return {
        "name": "am-resource",
        "type": "oauth2-am-resource",
        "enabled": True,
        "configuration": {
            "serverURL": "https://am-gateway.example.com",
            "securityDomain": "mcp",
            "clientId": "weather-mcp",
            "clientSecret": SECRET,
            "version": "V3_X",
        },
    }
