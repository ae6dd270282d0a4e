"""am_application as real Ansible tasks against the simulated AM.

The guide's "When DCR is disabled, you must manually create an application in AM for each MCP client": create, a second
run that changes nothing and sends no write, check mode, diff, update, delete, bad input refused before any write, and
the client secret AM shows only once. The lookup differs by version (the list gives client ids from AM 4.12 only), so
the life cycle runs on 4.10 and 4.12; the rest on 4.12.
"""

from __future__ import annotations

import pytest
import requests

from tests.integration.am_support import AmAdmin, am_writes, call_shape, contains_null, runs_per_task, task
from tests.integration.ansible_run import run_tasks

LOOPBACK = "http://127.0.0.1:33418/"
VSCODE = {
    "name": "VS Code",
    "client_id": "mcp-client-vscode",
    "type": "native",
    "redirect_uris": [LOOPBACK, "https://vscode.dev/redirect"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scopes": ["openid", "offline_access"],
}


def app(name, args, **keywords):
    return task("am_application", name, {"domain": "mcp", **args}, **keywords)


def allow_loopback(sim):
    """What the role's domain settings do first: AM checks every application's redirect URIs against them."""
    admin = AmAdmin(sim)
    domain = admin.domain()
    settings = {"allowLocalhostRedirectUri": True, "allowHttpSchemeRedirectUri": True}
    admin.call("PATCH", f"/{domain['id']}", json={"oidc": {"clientRegistrationSettings": settings}})
    return admin, domain


def test_create_rerun_check_mode_update_and_delete(sim):
    admin, domain = allow_loopback(sim)
    sim.clear_requests()
    run = run_tasks(sim, [app("create", VSCODE)], diff=True)
    assert run.rc == 0, run.stdout
    created = run[0]
    assert created.changed and created.result["diff"]["before"] == {}
    shown = created.result["application"]
    assert {key: shown[key] for key in ("clientId", "name", "type", "tokenEndpointAuthMethod", "forcePKCE", "template")} == {
        "clientId": "mcp-client-vscode", "name": "VS Code", "type": "native", "tokenEndpointAuthMethod": "none",
        "forcePKCE": True, "template": False}
    assert shown["redirectUris"] == sorted(VSCODE["redirect_uris"])
    assert shown["grantTypes"] == ["authorization_code", "refresh_token"]
    assert shown["scopes"] == ["offline_access", "openid"]
    assert shown["identityProviders"] == ["default-idp-" + domain["id"].lower()]  # the domain's default, to log users in
    assert "client_secret" not in created.result  # a public client: the secret AM generates anyway is of no use
    # AM takes neither grant types, scopes nor identity providers at creation: one POST, then one PATCH.
    post, patch = am_writes(sim)
    assert (post["method"], post["status"], patch["method"], patch["status"]) == ("POST", 201, "PATCH", 200)
    assert post["body"] == {"name": "VS Code", "type": "NATIVE", "redirectUris": VSCODE["redirect_uris"],
                            "clientId": "mcp-client-vscode"}
    assert set(patch["body"]) == {"settings", "identityProviders"}
    assert set(patch["body"]["settings"]["oauth"]) == {"grantTypes", "scopeSettings"}
    assert not contains_null(patch["body"])
    stored = admin.call("GET", f"/{domain['id']}/applications/{created.result['id']}")
    assert sorted(stored["settings"]["oauth"]["grantTypes"]) == ["authorization_code", "refresh_token"]

    sim.clear_requests()
    changed = dict(VSCODE, redirect_uris=[LOOPBACK], scopes=["openid", "offline_access", "profile"], default_scopes=["openid"])
    run = run_tasks(sim, [
        app("same again, lists in another order", dict(VSCODE, redirect_uris=VSCODE["redirect_uris"][::-1], scopes=VSCODE["scopes"][::-1])),
        app("found by name alone", {"name": "VS Code"}),
        app("check: change", changed, check_mode=True, diff=True),
        app("check: delete", {"client_id": "mcp-client-vscode", "state": "absent"}, check_mode=True, diff=True),
    ])
    assert run.rc == 0, run.stdout
    again, by_name, check, check_delete = run.results
    assert not again.changed and not by_name.changed
    assert by_name.result["client_id"] == "mcp-client-vscode"
    assert check.changed and check.result["changes"] == ["redirect_uris", "scopes", "default_scopes"]
    assert check.result["diff"]["after"]["redirectUris"] == [LOOPBACK]
    assert check.result["application"]["defaultScopes"] == ["openid"]
    assert check_delete.changed and check_delete.result["application"] == {}
    assert am_writes(sim) == []
    # A run that changes nothing: the token, the domain, the search by client id and the application itself.
    first = [call_shape(r) for r in runs_per_task(sim)[0]]
    assert first[:2] == [("POST", "/management/auth/token"), ("GET", "/domains/_hrid/mcp")]
    assert first[2][1].startswith(f"/domains/{domain['id']}/applications?q=mcp-client-vscode")
    assert first[3:] == [("GET", f"/domains/{domain['id']}/applications/{created.result['id']}")]

    sim.clear_requests()
    run = run_tasks(sim, [app("change", changed), app("change again", changed)], diff=True)
    assert run.rc == 0, run.stdout
    assert run[0].changed and run[0].result["diff"]["before"]["redirectUris"] == sorted(VSCODE["redirect_uris"])
    assert not run[1].changed
    (patch,) = am_writes(sim)
    # Only what changed; the scope settings whole (AM replaces the list).
    assert patch["body"] == {"settings": {"oauth": {"redirectUris": [LOOPBACK], "scopeSettings": [
        {"scope": "offline_access", "defaultScope": False}, {"scope": "openid", "defaultScope": True},
        {"scope": "profile", "defaultScope": False}]}}}

    sim.clear_requests()
    run = run_tasks(sim, [app("delete", {"client_id": "mcp-client-vscode", "state": "absent"})] * 2)
    assert run.rc == 0, run.stdout
    assert run[0].changed and not run[1].changed
    assert [call_shape(w) for w in am_writes(sim)] == [("DELETE", f"/domains/{domain['id']}/applications/{created.result['id']}")]


@pytest.mark.profiles("4.12")
def test_a_confidential_client_gets_its_generated_secret_once_and_it_is_never_printed(sim, tmp_path):
    allow_loopback(sim)
    secret_file = tmp_path / "secret"
    claude = {"name": "Claude", "client_id": "mcp-client-claude", "type": "web",
              "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "grant_types": ["authorization_code", "refresh_token"],
              "scopes": ["openid", "offline_access"], "force_pkce": True}
    run = run_tasks(sim, [
        app("create", claude, register="created", no_log=True),
        {"name": "keep the secret", "ansible.builtin.copy": {"content": "{{ created.client_secret }}", "dest": str(secret_file)},
         "no_log": True},
        app("again", claude),
        app("fails after reading", dict(claude, scopes=["no-such-scope"]), ignore_errors=True),
    ], verbosity=3, diff=True)
    assert run.rc == 0, run.stdout
    secret = secret_file.read_text()
    created, _keep, again, failed = run.results
    assert created.changed and created.result.get("censored")
    assert not again.changed and "client_secret" not in again.result
    assert again.result["application"]["tokenEndpointAuthMethod"] == "client_secret_basic"
    assert failed.failed and "no-such-scope" in failed.msg
    assert len(secret) >= 16 and secret not in run.stdout + run.stderr

    # The secret returned is the one AM keeps: the AM gateway authenticates the client with it.
    introspect = f"{sim.urls['am_gateway']}/mcp/oauth/introspect"
    good = requests.post(introspect, auth=("mcp-client-claude", secret), data={"token": "unknown"}, timeout=10)
    bad = requests.post(introspect, auth=("mcp-client-claude", secret + "x"), data={"token": "unknown"}, timeout=10)
    assert (good.status_code, good.json()) == (200, {"active": False})
    assert bad.status_code == 401


@pytest.mark.profiles("4.12")
def test_bad_input_is_refused_before_any_write(sim):
    admin = AmAdmin(sim)
    domain = admin.domain()
    admin.create_mcp_server(domain["id"], name="Weather", resourceIdentifiers=["https://gw.example.com/weather"],
                            clientId="weather-mcp")
    admin.call("POST", f"/{domain['id']}/applications", json={"name": "Twin", "type": "NATIVE", "redirectUris": ["https://a.example/cb"]})
    admin.call("POST", f"/{domain['id']}/applications", json={"name": "Twin", "type": "NATIVE", "redirectUris": ["https://b.example/cb"]})
    web = admin.call("POST", f"/{domain['id']}/applications",
                     json={"name": "Web", "type": "WEB", "clientId": "web-client", "redirectUris": ["https://w.example/cb"]})
    cases = [
        (VSCODE, ["redirect_uris", LOOPBACK, "localhost"]),  # the seeded domain allows no loopback redirect URI
        (dict(VSCODE, redirect_uris=["https://x.example/cb#frag"]), ["redirect_uris", "#fragment"]),
        (dict(VSCODE, redirect_uris=["not a uri"]), ["redirect_uris", "malformed"]),
        (dict(VSCODE, redirect_uris=["https://x.example/cb"], scopes=["openid", "weather:read"]), ["scopes", "weather:read"]),
        (dict(VSCODE, redirect_uris=["https://x.example/cb"], grant_types=["refresh_token"]), ["grant_types", "refresh_token"]),
        (dict(VSCODE, redirect_uris=["https://x.example/cb"], grant_types=["device_code"]), ["grant_types", "device_code"]),
        (dict(VSCODE, redirect_uris=["https://x.example/cb"], grant_types=["client_credentials"]), ["token_endpoint_auth_method"]),
        (dict(VSCODE, client_id="weather-mcp", redirect_uris=["https://x.example/cb"]), ["client_id", "MCP server 'Weather'"]),
        (dict(VSCODE, redirect_uris=["https://x.example/cb"], default_scopes=["profile"]), ["default_scopes", "profile"]),
        (dict(VSCODE, redirect_uris=["https://x.example/cb"], identity_providers=["nope"]), ["identity_providers", "'nope'"]),
        ({"name": "Twin", "redirect_uris": ["https://c.example/cb"]}, ["name", "2 applications", "client_id"]),
        ({"client_id": "web-client", "type": "native"}, ["type", "web application"]),
        ({"client_id": "new-client", "name": "New"}, ["type is required"]),
        ({"client_id": web["settings"]["oauth"]["clientId"], "id": web["id"] + "x", "name": "Web"}, ["id:"]),
        # real AM answers 403 to an id it does not know: the module says "no application", not "missing permissions"
        ({"id": "0" * 32, "name": "Web"}, ["id: no application with id '%s'" % ("0" * 32), "or no permission"]),
    ]
    sim.clear_requests()
    run = run_tasks(sim, [app(f"case {i}", args, ignore_errors=True) for i, (args, _expected) in enumerate(cases)])
    assert run.rc == 0, run.stdout
    for result, (args, expected) in zip(run.results, cases):
        assert result.failed, (args, result.result)
        assert all(text in result.msg for text in expected), (expected, result.msg)
        assert "Traceback" not in result.msg and "lack the permission" not in result.msg
    assert am_writes(sim) == []
    absent = run_tasks(sim, [app("no such id, absent", {"id": "0" * 32, "state": "absent"})])
    assert absent.rc == 0 and not absent.results[0].changed, absent.stdout
