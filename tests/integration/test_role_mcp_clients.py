"""The secure_mcp role with MCP clients that do not register themselves: pre-registered AM applications from
secure_mcp_clients with Dynamic Client Registration off, and Client ID Metadata Documents (AM 4.12).

Each ends with a real MCP SDK client logging a user in through the gateway and listing the tools; second runs change
nothing; bad input is refused before any write, naming the variable.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.ansible_run import run_tasks
from tests.integration.role_support import am, changed, failures, role_vars
from tests.integration.simulator.cimd_origin import MetadataOrigin
from tests.integration.test_role_secure_mcp import CONTEXT_PATH, ROLE, assert_secured
from tests.simulator.mcp_client import run_mcp_client

ROLE_TASK = {"name": "secure_mcp", "ansible.builtin.include_role": {"name": "mcpgate.gravitee.secure_mcp"}}
CLIENTS_TASK = ROLE + "MCP clients | Create an AM application for each MCP client, with the client's redirect URLs"
TEMPLATE_TASK = ROLE + "MCP clients | Create the template application clients with a Client ID Metadata Document are made from"
CIMD_TASK = ROLE + "MCP clients | Enable Client ID Metadata Documents"
OUTPUTS_TASK = ROLE + "Verification | Tell what MCP clients need (secure_mcp_result, and set_stats for an AWX workflow)"
CLIENTS = [{"preset": "vscode"}, {"preset": "claude", "confidential": True},
           {"name": "Headless agent", "redirect_uris": ["https://agent.example.com/oauth/callback"], "scopes": ["mcp:tools"]}]


def run_role(sim, after=(), check=False, verbosity=0, **overrides):
    """The role, then ``after`` (tasks that read what it left, as a next play would)."""
    return run_tasks(sim, [ROLE_TASK, *after], check=check, verbosity=verbosity, extra_vars=role_vars(sim, **overrides))


def outputs(run):
    return next(r for r in run.results if r.task == OUTPUTS_TASK).result["ansible_stats"]["data"]["secure_mcp_results"]["localhost"]


def applications(sim):
    domain = am(sim, "/_hrid/mcp")
    return {app["name"]: am(sim, f"/{domain['id']}/applications/{app['id']}")
            for app in am(sim, f"/{domain['id']}/applications", params={"size": 100})["data"]}


@pytest.mark.profiles("4.12")
def test_pre_registered_applications_and_a_metadata_document_let_real_clients_in_with_dcr_off(sim, tmp_path):
    """(a) a pre-registered application from secure_mcp_clients, (b) a client id that is the URL of a Client ID Metadata
    Document served on loopback; check mode on the fresh install predicts the run, a second run changes nothing."""
    secrets_file = tmp_path / "secrets.json"
    keep_secrets = {"name": "keep the secrets", "no_log": True, "ansible.builtin.copy": {
        "content": "{{ secure_mcp_clients_secrets | to_json }}", "dest": str(secrets_file)}}
    origin = MetadataOrigin(tls=True)  # the MCP SDK takes only an https client_metadata_url
    try:
        document_url = origin.publish("/oauth/client-metadata.json", {
            "client_id": origin.url("/oauth/client-metadata.json"), "client_name": "mcpgate headless client",
            "redirect_uris": ["http://127.0.0.1/callback"], "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "token_endpoint_auth_method": "none"})
        variables = {"secure_mcp_dcr_enabled": False, "secure_mcp_clients": CLIENTS, "secure_mcp_cimd_enabled": True,
                     "secure_mcp_cimd_allowed_domains": ["127.0.0.1"],
                     "secure_mcp_cimd_allow_private_addresses": True}  # the document is served on loopback
        check = run_role(sim, check=True, **variables)
        assert check.rc == 0, failures(check)
        assert sim.writes() == []
        first = run_role(sim, [keep_secrets], verbosity=3, **variables)
        assert first.rc == 0, failures(first) or first.stdout[-3000:]
        assert changed(check) == [task for task in changed(first) if task != keep_secrets["name"]]
        assert {CLIENTS_TASK, TEMPLATE_TASK, CIMD_TASK} <= set(changed(first))
        assert_secured(sim)
        domain = am(sim, "/_hrid/mcp")
        assert domain["oidc"]["clientRegistrationSettings"]["isDynamicClientRegistrationEnabled"] is False
        cimd = domain["oidc"]["cimdSettings"]
        assert (cimd["enabled"], cimd["allowedDomains"], cimd["allowPrivateIpAddress"]) == (True, ["127.0.0.1"], True)
        assert outputs(first)["mcp_clients"] == ["mcp-client-claude", "mcp-client-headless-agent", "mcp-client-vscode"]
        assert outputs(first)["cimd"] is True
        apps = applications(sim)
        vscode, claude = apps["VS Code"]["settings"]["oauth"], apps["Claude"]["settings"]["oauth"]
        assert sorted(vscode["redirectUris"]) == ["http://127.0.0.1:33418/", "https://insiders.vscode.dev/redirect",
                                                  "https://vscode.dev/redirect"]
        assert (vscode["tokenEndpointAuthMethod"], vscode["forcePKCE"], sorted(vscode["grantTypes"])) == (
            "none", True, ["authorization_code", "refresh_token"])
        assert (claude["tokenEndpointAuthMethod"], apps["Claude"]["type"]) == ("client_secret_basic", "web")
        assert "mcp:tools" in [s["scope"] for s in apps["Headless agent"]["settings"]["oauth"]["scopeSettings"]]
        assert apps["MCP clients by Client ID Metadata Document (template)"]["template"] is True
        # The confidential client's secret, generated by AM and shown once, reached the next task and was never printed.
        secrets = json.loads(secrets_file.read_text())
        assert list(secrets) == ["mcp-client-claude"] and len(secrets["mcp-client-claude"]) >= 16
        assert secrets["mcp-client-claude"] not in first.stdout + first.stderr

        # (a) What VS Code does with the client id given to it: 401, discovery, PKCE and the login, no registration.
        sim.clear_requests()
        outcome = run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password", client_id="mcp-client-vscode")
        assert {"echo", "add"} <= set(outcome["tools"]) and outcome["call"]["text"] == "hello from mcpgate"
        paths = [r["path"] for r in sim.requests("am_gateway")]
        assert "/mcp/oidc/register" not in paths and "/mcp/login" in paths

        # (b) A native client on a random loopback port: AM ignores the port of a port-less CIMD redirect URI.
        sim.clear_requests()
        outcome = run_mcp_client(sim.urls["apim_gateway"] + CONTEXT_PATH, "demo", "demo-password",
                                 redirect_uri="http://127.0.0.1:47011/callback", client_metadata_url=document_url)
        assert {"echo", "add"} <= set(outcome["tools"]) and outcome["client_id"] == document_url
        assert "/mcp/oidc/register" not in [r["path"] for r in sim.requests("am_gateway")]
        assert origin.hits == ["/oauth/client-metadata.json"]

        sim.clear_requests()
        second = run_role(sim, **variables)
        assert second.rc == 0, failures(second)
        assert changed(second) == [] and sim.writes() == []
    finally:
        origin.close()


@pytest.mark.profiles("4.12")
def test_bad_clients_are_refused_before_any_write_naming_the_variable(sim):
    """Every problem of a run is reported at once: two runs cover the role argument checks and the preflight's."""
    sim.clear_requests()
    arguments = run_role(sim, secure_mcp_clients=[{"preset": "vscodee"}, {"preset": "claude-code"}])
    preflight = run_role(sim, secure_mcp_dcr_allow_localhost_redirect_uri=False, secure_mcp_cimd_enabled=True,
                         secure_mcp_cimd_allowed_domains=["localhost"], secure_mcp_clients=[
                             {"preset": "vscode"}, {"name": "Fragment", "redirect_uris": ["https://x.example/cb#frag"]},
                             {"preset": "cursor"}, {"name": "Cursor", "redirect_uris": ["cursor://x/cb"]}])
    assert arguments.rc != 0 and preflight.rc != 0
    assert sim.writes() == []
    report = failures(arguments)[-1]
    assert "got: vscodee found in secure_mcp_clients" in report, report
    assert "preset is claude-code but all of the following are missing: port found in secure_mcp_clients" in report, report
    report = failures(preflight)[-1]
    for expected in ("secure_mcp_clients - AM refuses the loopback redirect URIs http://127.0.0.1:33418/",
                     "set secure_mcp_dcr_allow_localhost_redirect_uri to true",
                     "secure_mcp_clients - AM refuses redirect URIs with a #fragment or a wildcard: https://x.example/cb#frag",
                     "secure_mcp_clients - two clients have the same client id", "mcp-client-cursor",
                     "secure_mcp_cimd_allowed_domains - AM accepts only domain names with a dot"):
        assert expected in report, (expected, report)


@pytest.mark.profiles("4.10")
def test_cimd_on_am_4_10_is_refused_before_any_write_naming_the_version_and_the_variable(sim):
    sim.clear_requests()
    run = run_role(sim, secure_mcp_cimd_enabled=True)
    assert run.rc != 0
    report = failures(run)[-1]
    assert "AM 4.10.20" in report and "4.12.0" in report and "secure_mcp_cimd_enabled" in report, report
    assert sim.writes() == []
