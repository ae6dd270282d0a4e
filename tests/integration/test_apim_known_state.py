"""known_api / known_plans / known_oauth2_policy: the APIM modules decide on what an earlier task handed on.

The guide's APIM steps chained the way the role chains them: each task gets the API and plans the
previous one returned, so it sends only its writes (plus the read of a read-merge-write), a second
run sends no request at all, and check mode predicts from the handed state without a write.
"""

from __future__ import annotations

from tests.integration.apim_support import SECRET, ApimAdmin, mcp_proxy_body, run_steps, task

PATH = "/known-mcp"


def chain(sim, check_mode=False):
    """The guide's APIM steps, each given what the one before returned."""
    keep = {"check_mode": check_mode}
    return [
        task("apim_info", "info", {"api": PATH}, register="info"),
        task("apim_api", "api", {
            "context_path": PATH, "name": "Known MCP", "mcp_server_url": sim.urls["mcp"] + "/mcp",
            "known_api": "{{ info.api or {} }}",
        }, register="api", **keep),
        task("apim_plan", "keyless", {
            "api": "{{ api.id | default(omit) }}", "name": "Keyless", "security": "keyless", "state": "published",
            "known_api": "{{ api.api }}", "known_plans": "{{ info.plans }}",
        }, register="keyless", **keep),
        task("apim_api", "start", {
            "context_path": PATH, "state": "started", "known_api": "{{ api.api }}", "known_plans": "{{ keyless.plans }}",
        }, register="started", **keep),
        task("apim_resource", "resource", {
            "api": "{{ api.id }}", "name": "am-resource", "am_url": "https://am.example.com", "security_domain": "mcp",
            "client_id": "known", "client_secret": SECRET, "known_api": "{{ started.api }}",
        }, register="resource", **keep),
        task("apim_plan", "oauth2", {
            "api": "{{ api.id }}", "name": "OAuth2", "security": "oauth2", "oauth_resource": "am-resource",
            "known_api": "{{ resource.api }}", "known_plans": "{{ keyless.plans }}",
            "known_oauth2_policy": "{{ info.oauth2_policy }}", "state": "published",
        }, register="oauth2", **keep),
        task("apim_plan", "remove keyless", {
            "api": "{{ api.id }}", "name": "Keyless", "state": "absent",
            "known_api": "{{ resource.api }}", "known_plans": "{{ oauth2.plans }}",
        }, register="removed", **keep),
        task("apim_api", "deploy", {
            "context_path": PATH, "state": "started", "known_api": "{{ resource.api }}",
            "known_plans": "{{ removed.plans }}", "force_deploy": "{{ removed is changed }}",
        }, **keep),
    ]


def secured_chain(sim):
    """A later run, as the role makes it: the keyless stage is over, the plans come from the info task."""
    steps = [step for step in chain(sim) if step["name"] not in ("keyless", "start", "remove keyless")]
    by_name = {step["name"]: next(args for key, args in step.items() if key.startswith("mcpgate.")) for step in steps}
    by_name["resource"]["known_api"] = "{{ api.api }}"
    by_name["oauth2"]["known_plans"] = "{{ info.plans }}"
    by_name["deploy"].update(known_plans="{{ oauth2.plans }}", force_deploy=False)
    return steps


def test_handed_state_saves_every_read_and_a_second_run_sends_none(sim):
    first = run_steps(sim, chain(sim))
    assert not any(step.failed for step in first.steps.values()), {n: s.msg for n, s in first.steps.items()}
    calls = {name: step.calls for name, step in first.steps.items()}
    assert calls == {
        "info": ["GET /plugins/entrypoints/mcp-proxy", "GET /plugins/policies/oauth2/schema", "POST /apis/_search"],
        # The info task found no API: the create is sent right away (it is its own path check).
        "api": ["POST /apis"],
        # A plan is created only on the server's own list (another run may have created it since).
        "keyless": ["GET /apis/{id}/plans", "POST /apis/{id}/plans", "POST /apis/{id}/plans/{id}/_publish"],
        "start": ["POST /apis/{id}/_start"],
        # A change of the API definition reads it first (for the ETag), whatever was handed on.
        "resource": ["GET /apis/{id}", "PUT /apis/{id}"],
        "oauth2": ["GET /apis/{id}/plans", "POST /apis/{id}/plans", "POST /apis/{id}/plans/{id}/_publish"],
        "remove keyless": ["DELETE /apis/{id}/plans/{id}"],
        "deploy": ["POST /apis/{id}/deployments"],
    }, calls
    assert [p["name"] for p in first["remove keyless"]["plans"]] == ["OAuth2"]

    admin = ApimAdmin(sim)
    api = admin.get(admin.find(PATH)["id"])
    assert api["state"] == "STARTED" and api["deploymentState"] == "DEPLOYED"
    assert [r["name"] for r in api["resources"]] == ["am-resource"]

    second = run_steps(sim, secured_chain(sim))
    assert not any(step.changed or step.failed for step in second.steps.values()), {
        n: (s.msg, s.changed, s.calls, s.result.result.get("diff")) for n, s in second.steps.items()}
    assert second["info"].calls == [
        "GET /plugins/entrypoints/mcp-proxy", "GET /plugins/policies/oauth2/schema", "POST /apis/_search", "GET /apis/{id}/plans",
    ]
    assert {name: step.calls for name, step in second.steps.items() if name != "info"} == {
        name: [] for name in second.steps if name != "info"
    }


def test_check_mode_on_handed_state_predicts_without_a_write(sim):
    admin = ApimAdmin(sim)
    created = admin.create(mcp_proxy_body("Known MCP", PATH, sim.urls["mcp"] + "/mcp"))
    run = run_steps(sim, chain(sim, check_mode=True)[:4])
    assert all(not step.failed for step in run.steps.values()), {n: s.msg for n, s in run.steps.items()}
    assert [r for step in run.steps.values() for r in step.writes] == []
    assert not run["api"].changed and run["keyless"].changed and run["start"].changed
    # The keyless plan is only predicted (after one look at the server's plans): the start is predicted from the
    # handed plans, with no read of its own.
    assert run["start"].calls == [] and run["keyless"].calls == ["GET /apis/{id}/plans"]
    assert [p["status"] for p in run["keyless"]["plans"]] == ["PUBLISHED"]
    assert admin.get(created["id"])["state"] == "STOPPED"


def test_handed_state_of_another_api_fails_before_any_request(sim):
    admin = ApimAdmin(sim)
    admin.create(mcp_proxy_body("Known MCP", PATH, sim.urls["mcp"] + "/mcp"))
    admin.create(mcp_proxy_body("Other MCP", "/other-mcp", sim.urls["mcp"] + "/mcp"))
    failing = {"ignore_errors": True}
    run = run_steps(sim, [
        task("apim_info", "other", {"api": "/other-mcp"}, register="other"),
        task("apim_api", "api with another api", {"context_path": PATH, "state": "started", "known_api": "{{ other.api }}"}, **failing),
        task("apim_plan", "plan with another api", {"api": PATH, "name": "Keyless", "security": "keyless",
                                                    "known_api": "{{ other.api }}"}, **failing),
        task("apim_info", "mine", {"api": PATH}, register="mine"),
        task("apim_plan", "plan with foreign plans", {
            "api": PATH, "name": "Keyless", "security": "keyless", "known_api": "{{ mine.api }}",
            "known_plans": [{"id": "p1", "apiId": "{{ other.api.id }}", "name": "Keyless", "status": "STAGING",
                             "security": {"type": "KEY_LESS"}}],
        }, **failing),
        task("apim_plan", "bad oauth2 policy", {
            "api": PATH, "name": "OAuth2", "security": "oauth2", "oauth_resource": "x", "known_api": "{{ mine.api }}",
            "known_plans": [], "known_oauth2_policy": {"x": 1},
        }, **failing),
    ])
    for name in ("api with another api", "plan with another api"):
        step = run[name]
        assert step.failed and "known_api is the API 'Other MCP'" in step.msg and step.requests == [], (name, step.msg)
    foreign = run["plan with foreign plans"]
    assert foreign.failed and "known_plans holds plan 'Keyless'" in foreign.msg and foreign.requests == []
    bad = run["bad oauth2 policy"]
    assert bad.failed and "known_oauth2_policy must be the oauth2_policy" in bad.msg and bad.requests == []


def test_an_api_created_since_the_earlier_read_is_taken_over_not_duplicated(sim):
    # The earlier task found no API (known_api: {}); another run created it since, with the same settings.
    admin = ApimAdmin(sim)
    created = admin.create(mcp_proxy_body("Known MCP", PATH, sim.urls["mcp"] + "/mcp"))
    run = run_steps(sim, [task("apim_api", "api", {
        "context_path": PATH, "name": "Known MCP", "mcp_server_url": sim.urls["mcp"] + "/mcp", "known_api": {},
    })])
    step = run["api"]
    assert not step.failed and not step.changed, step.msg
    assert step["id"] == created["id"]
    # The create is refused on the taken path (nothing written), the API is found, and nothing else changes.
    assert step.calls == ["POST /apis", "POST /apis/_search"] and step.requests[0]["status"] == 400
    assert admin.find(PATH)["id"] == created["id"]
    assert "diff" not in step.result.result or step["diff"]["before"] == step["diff"]["after"]
