"""A service client registered by DCR, as mcp_probe registers one: registration without redirect URIs, RFC 7592
read and delete with the registration access token, client_credentials for an MCP server's resource.

Each rule comes from the AM source (FIDELITY.md, "AM gateway"); DCR is the same code in 4.10.20, 4.11.14 and 4.12.4.
"""

from __future__ import annotations

import base64
import json

import time

import pytest
import requests

from tests.simulator.profiles import PROFILES, at_least

SIMULATOR_PROFILES = PROFILES
RESOURCE = "https://gw.example.com/weather"
SERVICE_CLIENT = {"client_name": "probe", "grant_types": ["client_credentials"], "response_types": [],
                  "token_endpoint_auth_method": "client_secret_basic"}


def gw(am) -> str:
    return am.gw()


def register(am, **metadata) -> requests.Response:
    return requests.post(f"{gw(am)}/oidc/register", json=metadata, timeout=10)


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def client_credentials(am, client_id, secret, **form) -> requests.Response:
    return requests.post(f"{gw(am)}/oauth/token", data={"grant_type": "client_credentials", **form},
                         auth=(client_id, secret), timeout=10)


@pytest.fixture
def mcp_server(am, domain) -> dict:
    response = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE])
    response.raise_for_status()
    return response.json()


@pytest.fixture
def service_client(am, domain) -> dict:
    am.open_dcr(domain["id"])
    response = register(am, redirect_uris=[], **SERVICE_CLIENT)
    assert response.status_code == 201, response.text
    return response.json()


# --- registration ----------------------------------------------------------------------------------
@pytest.mark.parametrize("redirect_uris", [[], None])
def test_a_client_credentials_client_registers_with_no_redirect_uri(am, domain, redirect_uris):
    """validateRedirectUri: the key is required, null or [] accepted; SERVICE clients need no redirect URI."""
    am.open_dcr(domain["id"])
    response = register(am, redirect_uris=redirect_uris, **SERVICE_CLIENT)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["grant_types"] == ["client_credentials"] and body["client_secret"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body.get("redirect_uris", []) == []
    app = next(a for a in am.call("GET", am.domain_path(domain["id"]) + "/applications").json()["data"]
               if a["name"] == "probe")
    assert app["type"] == "service"  # the Management API lower-cases enums


def test_redirect_uris_absent_is_refused(am, domain):
    am.open_dcr(domain["id"])
    response = register(am, **SERVICE_CLIENT)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_redirect_uri", "error_description": "Missing or invalid redirect_uris."}


def test_without_response_types_the_client_gets_authorization_code_and_needs_a_redirect_uri(am, domain):
    """Client's default response type "code" makes getType add authorization_code: a WEB client."""
    am.open_dcr(domain["id"])
    metadata = {k: v for k, v in SERVICE_CLIENT.items() if k != "response_types"}
    response = register(am, redirect_uris=[], **metadata)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_redirect_uri", "error_description": "At least one redirect_uri is required"}


def test_registration_access_token_and_client_uri(am, service_client):
    assert service_client["registration_client_uri"] == f"{gw(am)}/oidc/register/{service_client['client_id']}"
    token = claims(service_client["registration_access_token"])
    assert token["sub"] == token["aud"] == service_client["client_id"] and token["scope"] == "dcr"
    assert token["iss"] == f"{gw(am)}/oidc"


def test_dcr_disabled_is_forbidden_with_ams_description(am):
    response = register(am, redirect_uris=[], **SERVICE_CLIENT)
    assert response.status_code == 403
    assert response.json() == {"error": "registration_forbidden", "error_description": "Not allowed to access to this resource."}


def test_dcr_scopes_are_the_clients_without_default(am, domain, mcp_server):
    """validateScopes: asked scopes (allowed ones) else the DCR default scopes; updateScopeSettings marks none default."""
    am.open_dcr(domain["id"], defaultScopes=["openid"])
    body = register(am, redirect_uris=[], **SERVICE_CLIENT).json()
    assert body["scope"] == "openid"
    token = client_credentials(am, body["client_id"], body["client_secret"], resource=RESOURCE)
    assert token.status_code == 200, token.text
    assert "scope" not in claims(token.json()["access_token"])  # no default scope: nothing asked, nothing granted
    asked = client_credentials(am, body["client_id"], body["client_secret"], resource=RESOURCE, scope="openid")
    assert claims(asked.json()["access_token"])["scope"] == "openid"


# --- RFC 7592 ----------------------------------------------------------------------------------------
def test_read_with_the_registration_access_token(am, service_client):
    uri, token = service_client["registration_client_uri"], service_client["registration_access_token"]
    response = requests.get(uri, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_id"] == service_client["client_id"]
    assert "registration_access_token" not in body and "registration_client_uri" not in body and "client_secret" not in body


def test_delete_with_the_registration_access_token_removes_the_client(am, domain, service_client):
    uri, token = service_client["registration_client_uri"], service_client["registration_access_token"]
    response = requests.delete(uri, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 204 and not response.content
    names = [a["name"] for a in am.call("GET", am.domain_path(domain["id"]) + "/applications").json()["data"]]
    assert "probe" not in names
    # The token's audience (the client) is gone: OAuth2AuthProviderImpl finds no client for it.
    again = requests.delete(uri, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert again.status_code == 401 and again.json()["error"] == "invalid_token"
    assert again.headers["WWW-Authenticate"] == 'Bearer realm="gravitee-io"'
    refused = client_credentials(am, service_client["client_id"], service_client["client_secret"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_client_configuration_needs_the_clients_own_token(sim, am, domain, service_client):
    uri = service_client["registration_client_uri"]
    missing = requests.delete(uri, timeout=10)
    assert missing.status_code == 401
    assert (missing.content == b"") if sim.profile == "4.10" else (missing.json()["error"] == "invalid_token")
    other = register(am, redirect_uris=[], **SERVICE_CLIENT).json()
    foreign = requests.delete(uri, headers={"Authorization": f"Bearer {other['registration_access_token']}"}, timeout=10)
    # Another client's registration token: not its own resource, not a dcr_admin token.
    assert foreign.status_code == 403 and foreign.json()["error"] == "insufficient_scope"
    assert requests.get(uri, headers={"Authorization": f"Bearer {service_client['registration_access_token']}"},
                        timeout=10).status_code == 200


def test_client_configuration_needs_dcr_enabled_but_not_open(am, domain, service_client):
    uri, token = service_client["registration_client_uri"], service_client["registration_access_token"]
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": {"isOpenDynamicClientRegistrationEnabled": False}}})
    assert requests.get(uri, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": {"isDynamicClientRegistrationEnabled": False}}})
    off = requests.delete(uri, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert off.status_code == 403 and off.json() == {"error": "registration_forbidden",
                                                     "error_description": "Not allowed to access to this resource."}


# --- client_credentials for an MCP server's resource -------------------------------------------------
def test_client_credentials_with_resource_gives_a_token_for_the_mcp_server(am, mcp_server, service_client):
    response = client_credentials(am, service_client["client_id"], service_client["client_secret"], resource=RESOURCE)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert claims(token)["aud"] == RESOURCE and "refresh_token" not in response.json()
    # Active for the MCP server's own client only (introspection with its credentials).
    own = requests.post(f"{gw(am)}/oauth/introspect", data={"token": token},
                        auth=(mcp_server["clientId"], mcp_server["clientSecret"]), timeout=10).json()
    # introspected within 10 s of its issue: client_id is the token's first aud (seen on AM 4.10.20)
    assert own["active"] is True and own["client_id"] == RESOURCE
    other = requests.post(f"{gw(am)}/oauth/introspect", data={"token": token},
                          auth=(service_client["client_id"], service_client["client_secret"]), timeout=10).json()
    assert other == {"active": False}


def test_several_resources_give_an_aud_array_and_the_client_id_becomes_the_clients_after_10_s(am, domain, service_client):
    """DefaultJWTBuilder writes one audience as a string, several as an array; introspection within 10 s of the
    token's issue (offline check) gives the first aud as client_id, later the client it was issued to."""
    photos, albums = "https://api.example.com/photos", "https://api.example.com/albums"
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[photos, albums]).json()
    response = requests.post(f"{gw(am)}/oauth/token", data=[("grant_type", "client_credentials"), ("resource", photos),
                                                            ("resource", albums)],
                             auth=(service_client["client_id"], service_client["client_secret"]), timeout=10)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert claims(token)["aud"] == [photos, albums]
    body = requests.post(f"{gw(am)}/oauth/introspect", data={"token": token},
                         auth=(server["clientId"], server["clientSecret"]), timeout=10).json()
    assert body["active"] is True and body["aud"] == [photos, albums] and body["client_id"] == photos
    time.sleep(11)  # the simulator runs in another process: wait the 10 s out
    later = requests.post(f"{gw(am)}/oauth/introspect", data={"token": token},
                          auth=(server["clientId"], server["clientSecret"]), timeout=10).json()
    assert later["active"] is True and later["client_id"] == service_client["client_id"]


def test_client_credentials_resource_must_be_known(am, mcp_server, service_client):
    response = client_credentials(am, service_client["client_id"], service_client["client_secret"],
                                  resource=RESOURCE.replace("weather", "Weather"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def test_client_credentials_gets_the_mcp_servers_tool_scopes_with_resource(am, domain):
    """resolveAuthorizedScopes: a scope the client lacks is granted when it is a tool scope of the resource."""
    response = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE],
                                    features=[{"key": "forecast", "type": "MCP_TOOL", "scopes": ["mcp:tools"]}])
    response.raise_for_status()
    am.open_dcr(domain["id"])
    client = register(am, redirect_uris=[], **SERVICE_CLIENT).json()
    granted = client_credentials(am, client["client_id"], client["client_secret"], resource=RESOURCE, scope="mcp:tools")
    assert granted.status_code == 200, granted.text
    assert claims(granted.json()["access_token"])["scope"] == "mcp:tools"
    without_resource = client_credentials(am, client["client_id"], client["client_secret"], scope="mcp:tools")
    assert without_resource.status_code == 400 and without_resource.json() == {
        "error": "invalid_scope", "error_description": "Invalid scope(s): mcp:tools"}


def test_an_mcp_servers_own_client_and_client_credentials(sim, am, mcp_server):
    """ProtectedResource#toClient: 4.10 gives the bare Client (authorization_code only); 4.11+ copies the settings,
    whose default grant is client_credentials."""
    response = client_credentials(am, mcp_server["clientId"], mcp_server["clientSecret"], resource=RESOURCE)
    if at_least(sim.profile, "4.11"):
        assert response.status_code == 200, response.text
        assert claims(response.json()["access_token"])["aud"] == RESOURCE
    else:
        assert response.status_code == 400
        assert response.json() == {"error": "unauthorized_client", "error_description": "Unauthorized grant type: client_credentials"}


def test_a_grant_the_client_lacks(sim, am, service_client):
    response = requests.post(f"{gw(am)}/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                             auth=(service_client["client_id"], service_client["client_secret"]), timeout=10)
    expected = "unsupported_grant_type" if at_least(sim.profile, "4.11") else "unauthorized_client"
    assert response.status_code == 400 and response.json()["error"] == expected


def test_dcr_on_but_not_open_asks_for_a_token_as_ams_auth_handler_does(sim, am, domain):
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": {"isDynamicClientRegistrationEnabled": True}}})
    response = register(am, redirect_uris=[], **SERVICE_CLIENT)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="gravitee-io"'
    if at_least(sim.profile, "4.11"):
        assert response.json()["error"] == "invalid_token"
        assert response.json()["error_description"].startswith("Missing access token.")
    else:  # a bare HttpException(401): seen on AM 4.10.20, an empty body
        assert response.content == b""
