"""The AM modules against real AM (guide step "AM: create the MCP Server resource" and the domain settings).

"No write" is checked on the server's own state before and after (support.Am.snapshot): equal objects,
``updatedAt`` included. No option whose name starts with ``known_`` is used.
"""

from __future__ import annotations

import pytest

from tests.integration.ansible_run import run_tasks
from tests.real.support import Am, task

URL = "http://127.0.0.1:9/real-weather-mcp"
URL_2 = "http://127.0.0.1:9/real-weather-mcp-2"


@pytest.fixture()
def am(real_am):
    return Am(real_am)


def mcp(am, name, args, **keywords):
    return task("am_mcp_server", name, {"domain": am.domain["hrid"], **args}, **keywords)


def test_mcp_server_generated_secret_rerun_check_update_delete(real_am, am, tmp_path):
    secret_file = tmp_path / "secret"
    weather = {"name": "Real Weather", "resource_identifiers": [URL], "client_id": "real-weather",
               "tools": [{"key": "get_forecast", "description": "Forecast", "scopes": ["openid"]}]}
    run = run_tasks(real_am, [
        mcp(am, "create, AM generates the secret", weather, register="created", no_log=True),
        {"name": "keep the secret", "ansible.builtin.copy": {"content": "{{ created.client_secret }}", "dest": str(secret_file)},
         "no_log": True},
    ])
    assert run.rc == 0, run.stdout
    assert run[0].changed and len(secret_file.read_text()) >= 16
    (server,) = [s for s in am.mcp_servers() if s["clientId"] == "real-weather"]
    assert server["resourceIdentifiers"] == [URL]

    before = am.snapshot()
    run = run_tasks(real_am, [
        mcp(am, "same again", weather),
        mcp(am, "check: rename", dict(weather, name="Renamed"), check_mode=True, diff=True),
        mcp(am, "check: delete", {"client_id": "real-weather", "state": "absent"}, check_mode=True),
        mcp(am, "check: another", {"name": "Other", "resource_identifiers": [URL_2], "client_id": "other"}, check_mode=True),
    ])
    assert run.rc == 0, run.stdout
    again, rename, delete, other = run.results
    assert not again.changed and "client_secret" not in again.result
    assert rename.changed and rename.result["diff"]["after"]["name"] == "Renamed"
    assert delete.changed and other.changed
    assert am.snapshot() == before  # nothing written, not even the same values

    run = run_tasks(real_am, [mcp(am, "update name, identifiers, tools", dict(
        weather, name="Real Weather 2", resource_identifiers=[URL, URL_2],
        tools=[{"key": "get_forecast", "scopes": ["openid"]}, {"key": "set_alert", "scopes": ["openid"]}]))], diff=True)
    assert run.rc == 0 and run[0].changed, run.stdout
    read = am.get(f"/{am.domain['id']}/protected-resources/{server['id']}", type="MCP_SERVER").json()
    assert read["name"] == "Real Weather 2" and sorted(read["resourceIdentifiers"]) == sorted([URL, URL_2])
    assert sorted(f["key"] for f in read["features"]) == ["get_forecast", "set_alert"]
    assert "clientSecret" not in read  # reads never carry the secret

    run = run_tasks(real_am, [mcp(am, "delete", {"client_id": "real-weather", "state": "absent"})] * 2)
    assert run.rc == 0, run.stdout
    assert run[0].changed and not run[1].changed
    assert [s for s in am.mcp_servers() if s["clientId"] == "real-weather"] == []


def test_mcp_server_bad_input_refused_before_any_write(real_am, am):
    before = am.snapshot()
    run = run_tasks(real_am, [
        mcp(am, "not a URL", {"name": "Bad", "resource_identifiers": ["not a url"], "client_id": "bad"}, ignore_errors=True),
        mcp(am, "no identifier", {"name": "Bad", "client_id": "bad"}, ignore_errors=True),
    ])
    assert all(r.failed for r in run.results), run.stdout
    assert "resource_identifiers" in run[0].msg
    assert am.snapshot() == before


def test_domain_settings_dcr_and_registration_idempotent_and_check_mode(real_am, am):
    args = {"domain": am.domain["hrid"], "user_registration": True, "dynamic_client_registration": {
        "enabled": True, "open": True, "allow_localhost_redirect_uri": True, "allow_http_scheme_redirect_uri": True}}
    closed = {"domain": am.domain["hrid"], "user_registration": False, "dynamic_client_registration": {"enabled": False}}
    assert run_tasks(real_am, [task("am_domain_settings", "start from DCR off", closed)]).rc == 0  # servers may be reused
    before = am.snapshot()
    check = run_tasks(real_am, [task("am_domain_settings", "check", args, check_mode=True, diff=True)])
    assert check.rc == 0 and check[0].changed, check.stdout
    assert am.snapshot() == before
    run = run_tasks(real_am, [task("am_domain_settings", "apply", args), task("am_domain_settings", "again", args)])
    assert run.rc == 0, run.stdout
    assert run[0].changed and not run[1].changed
    domain = am.domain_doc()
    dcr = domain["oidc"]["clientRegistrationSettings"]
    assert dcr["isDynamicClientRegistrationEnabled"] and dcr["isOpenDynamicClientRegistrationEnabled"]
    assert dcr["allowLocalhostRedirectUri"] and dcr["allowHttpSchemeRedirectUri"]
    assert domain["loginSettings"]["registerEnabled"] is True
    settled = am.snapshot()
    again = run_tasks(real_am, [task("am_domain_settings", "third", args)])
    assert again.rc == 0 and not again[0].changed
    assert am.snapshot() == settled


def test_am_info_reads_the_domain_and_its_mcp_servers(real_am, am):
    run = run_tasks(real_am, [
        mcp(am, "one server", {"name": "Info", "resource_identifiers": [URL_2], "client_id": "real-info"}),
        task("am_info", "read", {"domain": am.domain["hrid"]}),
        mcp(am, "clean up", {"client_id": "real-info", "state": "absent"}),
    ])
    assert run.rc == 0, run.stdout
    info = run[1].result
    assert not run[1].changed
    assert info["domain"]["id"] == am.domain["id"]
    assert info["mcp_servers_supported"] is True
    assert "real-info" in [s["clientId"] for s in info["mcp_servers"]]


def applications(am):
    response = am.get(f"/{am.domain['id']}/applications", page=0, size=200)
    response.raise_for_status()
    return {a["name"]: a for a in response.json()["data"]}


def test_application_for_a_client_without_dcr_life_cycle(real_am, am):
    """The guide's "without DCR, create an application in AM for each MCP client": native and web."""
    vscode = {"domain": am.domain["hrid"], "name": "Real VS Code", "client_id": "real-vscode", "type": "native",
              "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
              "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "offline_access"]}
    web = {"domain": am.domain["hrid"], "name": "Real Web", "client_id": "real-web", "type": "web",
           "redirect_uris": ["https://client.example.com/callback"]}
    run = run_tasks(real_am, [
        task("am_domain_settings", "loopback redirect URIs allowed", {
            "domain": am.domain["hrid"], "dynamic_client_registration": {
                "allow_localhost_redirect_uri": True, "allow_http_scheme_redirect_uri": True}}),
        task("am_application", "check: native", vscode, check_mode=True),
        task("am_application", "native", vscode, no_log=True),
        task("am_application", "web", web, register="web", no_log=True),
    ])
    assert run.rc == 0, run.stdout
    assert run[1].changed and run[2].changed and run[3].changed
    made = applications(am)
    assert made["Real VS Code"]["type"] == "native" and made["Real Web"]["type"] == "web"

    before = am.snapshot() | {"applications": applications(am)}
    again = run_tasks(real_am, [task("am_application", "native again", vscode), task("am_application", "web again", web),
                                task("am_application", "check: rename", dict(web, name="Real Web 2"), check_mode=True,
                                     diff=True)])
    assert again.rc == 0, again.stdout
    assert not again[0].changed and not again[1].changed and again[2].changed
    assert am.snapshot() | {"applications": applications(am)} == before

    gone = run_tasks(real_am, [task("am_application", "delete", {"domain": am.domain["hrid"], "client_id": c,
                                                                 "state": "absent"}) for c in ("real-vscode", "real-web")] * 2)
    assert gone.rc == 0, gone.stdout
    assert [r.changed for r in gone.results] == [True, True, False, False]
    assert not {"Real VS Code", "Real Web"} & set(applications(am))


def test_mcp_server_secrets_are_refused_on_am_4_10_before_any_write(real_am, am):
    """AM 4.10 has no secrets sub-resource (404 there): am_mcp_server_secret says which AM it needs."""
    run = run_tasks(real_am, [
        mcp(am, "one server", {"name": "Secrets", "resource_identifiers": [URL_2], "client_id": "real-secrets"}),
    ])
    assert run.rc == 0, run.stdout
    try:
        before = am.snapshot()
        refused = run_tasks(real_am, [task("am_mcp_server_secret", "a second secret", {
            "domain": am.domain["hrid"], "client_id": "real-secrets", "name": "second"}, ignore_errors=True)])
        assert refused[0].failed
        assert "4.11" in refused[0].msg, refused[0].msg
        assert am.snapshot() == before
    finally:
        run_tasks(real_am, [mcp(am, "clean up", {"client_id": "real-secrets", "state": "absent"})])


@pytest.mark.parametrize("domain", ["no-such-domain", "MCP-REAL", "0f1e2d3c-no-such-domain-id"])
def test_a_domain_that_does_not_exist_is_named_as_such(real_am, am, domain):
    """Real AM answers 403 "Permission denied" to an unknown domain id; the module still says first what is wrong."""
    run = run_tasks(real_am, [task("am_info", "read", {"domain": domain}, ignore_errors=True),
                              mcp(am, "an MCP server", {"domain": domain, "name": "X", "client_id": "x",
                                                        "resource_identifiers": [URL]}, ignore_errors=True)])
    for result in run.results:
        assert result.failed
        # Said first: the domain is not there (403 is also what a user without the permission gets, said second).
        assert result.msg.startswith(f"domain: no AM domain named '{domain}'"), result.msg
    if domain == "MCP-REAL":
        assert "did you mean the domain named 'mcp-real'" in run[0].msg, run[0].msg


def test_an_mcp_server_id_that_does_not_exist_is_named_as_such(real_am, am):
    run = run_tasks(real_am, [mcp(am, "by id", {"id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "name": "X",
                                                "resource_identifiers": [URL]}, ignore_errors=True)])
    assert run[0].failed
    assert run[0].msg.startswith("id: no MCP server with id '0f1e2d3c4b5a69788796a5b4c3d2e1f0'"), run[0].msg
