"""End to end with the MCP SDK client and DCR off: (a) a pre-registered AM application, (b) on AM 4.12, a
client id that is the https URL of a Client ID Metadata Document served on loopback.  Both reach
``tools/list`` and ``tools/call`` through the simulated APIM gateway."""

from __future__ import annotations

import pytest

from tests.integration.simulator.am_api import ORG_ENV, AmApi
from tests.integration.simulator.cimd_origin import MetadataOrigin
from tests.integration.simulator.test_e2e_mcp_oauth import CONTEXT_PATH, configure_apim
from tests.simulator.mcp_client import run_mcp_client
from tests.simulator.mcp_server import TOOL_NAMES

CALLBACK = "http://127.0.0.1:33418/callback"


def prepare_am(am: AmApi, gateway_url: str) -> tuple[dict, dict, str]:
    """DCR off (the seeded domain's default), loopback http callbacks allowed, the MCP server."""
    domain = am.domain("mcp")
    settings = {"allowLocalhostRedirectUri": True, "allowHttpSchemeRedirectUri": True}
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": settings}}).raise_for_status()
    server = am.create_mcp_server(domain["id"], name="Weather MCP", resourceIdentifiers=[gateway_url])
    assert server.status_code == 201, server.text
    idp = am.call("GET", f"{ORG_ENV}/domains/{domain['id']}/identities").json()[0]["id"]
    return domain, server.json(), idp


def application(am: AmApi, domain: dict, idp: str, **patch) -> dict:
    path = f"{ORG_ENV}/domains/{domain['id']}/applications"
    created = am.call("POST", path, json={"name": "MCP client", "type": "NATIVE", "redirectUris": [CALLBACK]})
    assert created.status_code == 201, created.text
    body = {"identityProviders": [{"identity": idp, "priority": 0}],
            "settings": {"oauth": {"grantTypes": ["authorization_code", "refresh_token"],
                                   "scopeSettings": [{"scope": "openid"}, {"scope": "offline_access"}]}}, **patch}
    patched = am.call("PATCH", f"{path}/{created.json()['id']}", json=body)
    assert patched.status_code == 200, patched.text
    return patched.json()


def test_pre_registered_application_with_dcr_off(sim):
    am = AmApi(sim)
    gateway_url = sim.urls["apim_gateway"] + CONTEXT_PATH
    domain, server, idp = prepare_am(am, gateway_url)
    configure_apim(sim, server)
    app = application(am, domain, idp)
    sim.clear_requests()

    outcome = run_mcp_client(gateway_url, "demo", "demo-password", tool="add", arguments={"a": 2, "b": 40},
                             redirect_uri=CALLBACK, client_id=app["settings"]["oauth"]["clientId"])

    assert set(TOOL_NAMES) <= set(outcome["tools"]) and outcome["call"]["text"] == "42"
    paths = [r["path"] for r in sim.requests("am_gateway")]
    assert "/mcp/oidc/register" not in paths and "/mcp/login" in paths
    # the MCP SDK asks for offline_access when AM advertises it and the client may refresh (SEP-2207)
    assert "offline_access" in outcome["scope"].split()


def test_client_id_metadata_document(sim):
    if sim.profile != "4.12":
        pytest.skip("CIMD exists from AM 4.12.0")
    am = AmApi(sim)
    gateway_url = sim.urls["apim_gateway"] + CONTEXT_PATH
    domain, server, idp = prepare_am(am, gateway_url)
    configure_apim(sim, server)
    template = application(am, domain, idp, template=True)
    cimd = {"enabled": True, "templateId": template["id"], "allowPrivateIpAddress": True}  # the origin is on loopback
    am.patch_domain(domain["id"], {"oidc": {"cimdSettings": cimd}}).raise_for_status()

    origin = MetadataOrigin(tls=True)  # the MCP SDK accepts only an https client_metadata_url
    try:
        client_id = origin.url("/oauth/client-metadata.json")
        origin.publish("/oauth/client-metadata.json", {
            "client_id": client_id, "client_name": "mcpgate headless client", "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"})
        sim.clear_requests()
        # a random loopback port, as native clients pick one: allowed against the port-less registration
        outcome = run_mcp_client(gateway_url, "demo", "demo-password", tool="add", arguments={"a": 1, "b": 2},
                                 redirect_uri="http://127.0.0.1:47001/callback", client_metadata_url=client_id)
    finally:
        origin.close()

    assert set(TOOL_NAMES) <= set(outcome["tools"]) and outcome["call"]["text"] == "3"
    assert outcome["client_id"] == client_id
    paths = [r["path"] for r in sim.requests("am_gateway")]
    assert "/mcp/oidc/register" not in paths
    assert origin.hits == ["/oauth/client-metadata.json"]
