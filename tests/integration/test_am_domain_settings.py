"""am_domain_settings as real Ansible tasks against the simulated AM, on the 4.10 and 4.12 profiles.

The guide's step "AM: enable Dynamic Client Registration (recommended), optionally user registration":
a minimal PATCH of the changed settings only, a second run without a write, check mode, diff, the
domain found by name, hrid or id with the fewest requests, and bad input.
"""

from __future__ import annotations

from tests.integration.am_support import AmAdmin, am_writes, call_shape, contains_null, runs_per_task, task
from tests.integration.ansible_run import run_tasks

FOR_MCP_CLIENTS = {
    "enabled": True,
    "open": True,
    "allow_localhost_redirect_uri": True,
    "allow_http_scheme_redirect_uri": True,
    "default_scopes": ["openid", "mcp:tools"],
}


# The PATCH that the settings of these tests need on the simulator's domain: only the keys that differ, never a null.
MINIMAL_PATCH = {
    "oidc": {
        "clientRegistrationSettings": {
            "isDynamicClientRegistrationEnabled": True,
            "isOpenDynamicClientRegistrationEnabled": True,
            "allowLocalhostRedirectUri": True,
            "allowHttpSchemeRedirectUri": True,
            "defaultScopes": ["mcp:tools", "openid"],
        }
    },
    "loginSettings": {"registerEnabled": True},
}


def settings(name, args, **keywords):
    return task("am_domain_settings", name, {"domain": "mcp", **args}, **keywords)


def dcr_of(domain):
    return domain["oidc"]["clientRegistrationSettings"]


def test_enable_registration_rerun_check_mode_and_partial_change(sim):
    admin = AmAdmin(sim)
    before = admin.domain()
    run = run_tasks(
        sim,
        [settings("let MCP clients register, users sign up", {"dynamic_client_registration": FOR_MCP_CLIENTS, "user_registration": True})],
        diff=True,
    )
    assert run.rc == 0, run.stdout
    result = run[0].result
    assert run[0].changed
    assert result["domain"] == {"id": before["id"], "name": "mcp", "hrid": "mcp"}
    expected_dcr = {
        "isDynamicClientRegistrationEnabled": True,
        "isOpenDynamicClientRegistrationEnabled": True,
        "allowLocalhostRedirectUri": True,
        "allowHttpSchemeRedirectUri": True,
        "defaultScopes": ["mcp:tools", "openid"],
        "isAllowedScopesEnabled": False,
        "allowedScopes": [],
    }
    assert result["settings"] == {"oidc": {"clientRegistrationSettings": expected_dcr}, "loginSettings": {"registerEnabled": True}}
    # The diff holds the managed settings only, before and after, not the whole domain.
    assert set(result["diff"]["before"]) == {"oidc", "loginSettings"}
    assert result["diff"]["before"]["oidc"]["clientRegistrationSettings"]["isDynamicClientRegistrationEnabled"] is False
    assert result["diff"]["after"] == result["settings"]

    (patch,) = am_writes(sim)
    assert (patch["method"], patch["status"]) == ("PATCH", 200)
    assert patch["path"].endswith("/domains/" + before["id"])
    # Only the keys that differ; nothing the user did not set; never a null (AM would reset settings).
    assert patch["body"] == MINIMAL_PATCH
    assert not contains_null(patch["body"])
    after = admin.domain()
    assert after["oidc"]["redirectUriStrictMatching"] == before["oidc"]["redirectUriStrictMatching"]
    assert dcr_of(after)["allowWildCardRedirectUri"] is False

    sim.clear_requests()
    run = run_tasks(
        sim,
        [
            settings(
                "same again",
                {"dynamic_client_registration": dict(FOR_MCP_CLIENTS, default_scopes=["openid", "mcp:tools", "openid"]), "user_registration": True},
            ),
            settings("a subset of the same", {"dynamic_client_registration": {"open": True}}),
            settings("check: close registration", {"dynamic_client_registration": {"open": False}}, check_mode=True, diff=True),
            settings("check: only some scopes", {"dynamic_client_registration": {"allowed_scopes": ["openid"]}}, check_mode=True),
        ],
    )
    assert run.rc == 0, run.stdout
    again, subset, close, allowed = run.results
    assert not again.changed and not subset.changed
    assert again.result["settings"] == result["settings"]
    assert close.changed
    assert close.result["diff"]["before"]["oidc"]["clientRegistrationSettings"]["isOpenDynamicClientRegistrationEnabled"] is True
    assert close.result["diff"]["after"]["oidc"]["clientRegistrationSettings"]["isOpenDynamicClientRegistrationEnabled"] is False
    assert allowed.changed
    predicted = allowed.result["settings"]["oidc"]["clientRegistrationSettings"]
    assert (predicted["isAllowedScopesEnabled"], predicted["allowedScopes"]) == (True, ["openid"])
    assert am_writes(sim) == []
    # A run that changes nothing: the token, the domain by hrid (it carries the settings). No other request.
    assert [call_shape(r) for r in runs_per_task(sim)[0]] == [("POST", "/management/auth/token"), ("GET", "/domains/_hrid/mcp")]

    sim.clear_requests()
    run = run_tasks(
        sim,
        [
            settings("close registration", {"dynamic_client_registration": {"open": False}}),
            settings("only some scopes", {"dynamic_client_registration": {"allowed_scopes": ["openid"]}}),
            settings("every scope again", {"dynamic_client_registration": {"allowed_scopes": []}}),
            settings("no sign-up", {"user_registration": False}),
        ],
    )
    assert run.rc == 0, run.stdout
    assert all(r.changed for r in run.results)
    assert [w["body"] for w in am_writes(sim)] == [
        {"oidc": {"clientRegistrationSettings": {"isOpenDynamicClientRegistrationEnabled": False}}},
        {"oidc": {"clientRegistrationSettings": {"allowedScopes": ["openid"], "isAllowedScopesEnabled": True}}},
        {"oidc": {"clientRegistrationSettings": {"allowedScopes": [], "isAllowedScopesEnabled": False}}},
        {"loginSettings": {"registerEnabled": False}},
    ]
    final = admin.domain()
    assert dcr_of(final)["isDynamicClientRegistrationEnabled"] is True  # untouched by the partial changes
    assert dcr_of(final)["defaultScopes"] == ["mcp:tools", "openid"]
    assert final["loginSettings"]["registerEnabled"] is False


def test_domain_found_by_name_hrid_or_id_with_fewest_requests(sim):
    admin = AmAdmin(sim)
    domain = admin.create_domain("My MCP Domain")
    sim.clear_requests()
    run = run_tasks(
        sim,
        [
            settings("by name", {"domain": "My MCP Domain", "user_registration": False}),
            settings("by hrid", {"domain": "my-mcp-domain", "user_registration": False}),
            settings("by id", {"domain": domain["id"], "user_registration": False}),
        ],
    )
    assert run.rc == 0, run.stdout
    assert all(not r.changed and r.result["domain"]["id"] == domain["id"] for r in run.results)
    lookups = [[call_shape(r) for r in requests[1:]] for requests in runs_per_task(sim)]
    assert lookups == [
        [("GET", "/domains/_hrid/my-mcp-domain")],
        [("GET", "/domains/_hrid/my-mcp-domain")],
        [("GET", f"/domains/{domain['id']}")],
    ]


def test_bad_input_fails_with_a_clear_message_and_no_write_and_a_useless_setting_warns(sim):
    cases = [
        ("unknown domain", {"domain": "No Such Domain", "user_registration": True}, ["domain", "'No Such Domain'"]),
        ("name in another case", {"domain": "MCP", "user_registration": True}, ["domain", "did you mean", "'mcp'"]),
        ("not a boolean", {"user_registration": "perhaps"}, ["user_registration"]),
        ("unknown setting", {"dynamic_client_registration": {"enable": True}}, ["enable"]),
        ("wrong credentials", {"user_registration": True, "password": "wrong-password-123"}, ["401", "credentials"]),
    ]
    tasks = [settings(name, args, ignore_errors=True) for name, args, _expected in cases]
    useless = settings("check: open registration while registration is off", {"dynamic_client_registration": {"open": True}}, check_mode=True)
    run = run_tasks(sim, tasks + [useless])
    assert run.rc == 0, run.stdout
    warned = run.results[-1]
    assert warned.changed and any("dynamic_client_registration.enabled" in w for w in warned.result.get("warnings", []))
    for (name, _args, expected), result in zip(cases, run.results):
        assert result.failed, name
        for text in expected:
            assert text in result.msg, (name, result.msg)
    assert "wrong-password-123" not in run.stdout
    assert am_writes(sim) == []


# -- the domain an earlier task read, handed on (am_info) ---------------------------------------------------------
