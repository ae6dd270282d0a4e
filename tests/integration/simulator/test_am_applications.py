"""AM applications: the Management API (ApplicationsResource, ApplicationResource, ApplicationServiceImpl
and its type templates) and a pre-registered public client logging a user in through the AM gateway
(authorization code + PKCE, ``resource`` = the MCP server), with AM's redirect URI matching."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.integration.simulator.am_api import ORG_ENV, pkce_pair, query_of
from tests.integration.simulator.test_am_gateway import RESOURCE, introspect, jwt_claims, login
from tests.simulator.mcp_client import HeadlessLoginError
from tests.simulator.profiles import PROFILES

SIMULATOR_PROFILES = PROFILES  # 4.11: q ignores case, token exchange (tests/conftest.py)
LOOPBACK = "http://127.0.0.1:33418/callback"


def apps_path(domain: dict) -> str:
    return f"{ORG_ENV}/domains/{domain['id']}/applications"


def create_app(am, domain, **fields) -> requests.Response:
    body = {"name": "VS Code", "type": "NATIVE", "redirectUris": [LOOPBACK], **fields}
    return am.call("POST", apps_path(domain), json=body)


@pytest.fixture
def loopback_allowed(am, domain):
    """The domain settings a loopback http callback needs (am-management-api.md §3.2)."""
    settings = {"allowLocalhostRedirectUri": True, "allowHttpSchemeRedirectUri": True}
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": settings}}).raise_for_status()


@pytest.fixture
def public_client(am, domain, loopback_allowed) -> dict:
    """A NATIVE application made ready for MCP: its identity provider, refresh tokens and scopes."""
    created = create_app(am, domain)
    assert created.status_code == 201, created.text
    idp = am.call("GET", f"{ORG_ENV}/domains/{domain['id']}/identities").json()[0]["id"]
    patch = {
        "identityProviders": [{"identity": idp, "priority": 0}],
        "settings": {"oauth": {"grantTypes": ["authorization_code", "refresh_token"],
                               "scopeSettings": [{"scope": "openid", "defaultScope": True}, {"scope": "mcp:tools"}]}},
    }
    patched = am.call("PATCH", f"{apps_path(domain)}/{created.json()['id']}", json=patch)
    assert patched.status_code == 200, patched.text
    return patched.json()


# --- Management API -----------------------------------------------------------------------------------
def test_create_native_application_returns_its_generated_client(am, domain, loopback_allowed):
    response = create_app(am, domain, type="native")  # enums are read in any case
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"].endswith(f"/domains/{domain['id']}/applications/{created['id']}")
    oauth = created["settings"]["oauth"]
    uuid.UUID(oauth["clientId"])  # RandomString.generate(): a UUID
    # NativeTemplate: code flow with PKCE, no client authentication; a secret is generated all the same
    assert created["type"] == "native" and created["enabled"] is True and created["template"] is False
    assert oauth["tokenEndpointAuthMethod"] == "none" and oauth["clientType"] == "public"
    assert oauth["grantTypes"] == ["authorization_code"]
    assert set(oauth["responseTypes"]) == {"code", "code token", "code id_token", "code id_token token"}
    assert oauth["forcePKCE"] is True and oauth["forceS256CodeChallengeMethod"] is True
    assert oauth["redirectUris"] == [LOOPBACK] and oauth["clientName"] == "VS Code"
    assert oauth["clientSecret"] and created["secrets"][0]["name"] == "Default"
    assert created["secretSettings"][0]["algorithm"] == "NONE"

    read = am.call("GET", f"{apps_path(domain)}/{created['id']}").json()
    assert "clientSecret" not in read["settings"]["oauth"]  # never shown again
    assert [set(s) for s in read["secrets"]] == [{"id", "settingsId", "name", "createdAt"}]
    assert read["settings"]["oauth"]["clientId"] == oauth["clientId"]


@pytest.mark.parametrize(
    "app_type, grant_types, auth_method, client_type",
    [("WEB", ["authorization_code", "password"], "client_secret_basic", "confidential"),
     ("BROWSER", ["authorization_code"], "none", "public"),
     ("SERVICE", ["client_credentials"], "client_secret_basic", "confidential")],
)
def test_type_templates(am, domain, loopback_allowed, app_type, grant_types, auth_method, client_type):
    fields = {"redirectUris": []} if app_type == "SERVICE" else {}
    created = create_app(am, domain, name=app_type, type=app_type, **fields)
    assert created.status_code == 201, created.text
    oauth = created.json()["settings"]["oauth"]
    assert oauth["grantTypes"] == grant_types and oauth["tokenEndpointAuthMethod"] == auth_method
    assert oauth["clientType"] == client_type


def test_user_given_client_id_and_secret(am, domain, loopback_allowed):
    created = create_app(am, domain, type="WEB", clientId="my-web-client", clientSecret="my-own-secret").json()
    assert created["settings"]["oauth"]["clientId"] == "my-web-client"
    assert created["settings"]["oauth"]["clientSecret"] == "my-own-secret"


@pytest.mark.parametrize(
    "settings, uri, message",
    [({}, LOOPBACK, "localhost is forbidden"),
     ({"allowLocalhostRedirectUri": True}, LOOPBACK, "Unsecured http scheme is forbidden"),
     ({}, "http://mcp.example.com/cb", "Unsecured http scheme is forbidden"),
     ({}, "https://*.example.com/cb", "Wildcard are forbidden"),
     ({}, "https://app.example.com/cb#frag", "redirect_uri with fragment is forbidden")],
)
def test_redirect_uris_follow_the_domain_settings(am, domain, settings, uri, message):
    if settings:
        am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": settings}}).raise_for_status()
    response = create_app(am, domain, redirectUris=[uri])
    assert response.status_code == 400 and response.json() == {"message": message, "http_status": 400}


def test_custom_scheme_and_https_callbacks_need_no_switch(am, domain):
    response = create_app(am, domain, redirectUris=["cursor://anysphere.cursor-mcp/oauth/callback",
                                                    "https://claude.ai/api/mcp/auth_callback"])
    assert response.status_code == 201, response.text


def test_user_facing_applications_need_a_redirect_uri(am, domain):
    response = create_app(am, domain, redirectUris=[])
    assert response.status_code == 400 and response.json()["message"] == "At least one redirect_uri is required"


def test_client_ids_are_unique_across_applications_and_mcp_servers(am, domain, loopback_allowed):
    am.create_mcp_server(domain["id"], clientId="shared-id").raise_for_status()
    response = create_app(am, domain, clientId="shared-id")
    assert response.status_code == 400
    assert response.json()["message"] == f"A client [shared-id] already exists for domain [{domain['id']}]"


def test_agent_and_resource_server_types_are_not_simulated(sim, am, domain):
    response = create_app(am, domain, type="RESOURCE_SERVER")
    assert response.status_code == 501


def test_list_and_search(sim, am, domain, loopback_allowed):
    first = create_app(am, domain, name="Cursor", clientId="cursor-client").json()
    create_app(am, domain, name="Claude Code").raise_for_status()
    listed = am.call("GET", apps_path(domain)).json()
    assert listed["totalCount"] == 2 and listed["currentPage"] == 0
    assert listed["data"][0]["name"] == "Claude Code"  # updatedAt descending
    assert set(listed["data"][0]) == {"id", "name", "type", "enabled", "template", "updatedAt"}

    by_client_id = am.call("GET", apps_path(domain), params={"q": "cursor-client"}).json()
    assert [a["id"] for a in by_client_id["data"]] == [first["id"]]
    by_prefix = am.call("GET", apps_path(domain), params={"q": "clau*"}).json()
    assert [a["name"] for a in by_prefix["data"]] == ["Claude Code"]
    upper = am.call("GET", apps_path(domain), params={"q": "CURSOR"}).json()
    # exact match: Mongo's case-insensitive collation from 4.11, case-sensitive in 4.10
    assert upper["totalCount"] == (0 if sim.profile == "4.10" else 1)
    expanded = am.call("GET", apps_path(domain), params={"q": "cursor-client", "expand": "clientId"}).json()
    assert ("clientId" in expanded["data"][0]) is (sim.profile == "4.12")


def test_patch_oauth_settings(am, domain, public_client):
    oauth = public_client["settings"]["oauth"]
    assert oauth["grantTypes"] == ["authorization_code", "refresh_token"]
    assert oauth["scopeSettings"] == [{"scope": "openid", "defaultScope": True}, {"scope": "mcp:tools"}]
    assert public_client["identityProviders"] == [{"identity": f"default-idp-{domain['id'].lower()}", "priority": 0}]
    path = f"{apps_path(domain)}/{public_client['id']}"
    # PUT takes the same PatchApplication body and is just as partial
    put = am.call("PUT", path, json={"description": "VS Code on my laptop"}).json()
    assert put["description"] == "VS Code on my laptop" and put["settings"]["oauth"]["grantTypes"] == oauth["grantTypes"]
    renamed = am.call("PATCH", path, json={"name": "VS Code (work)"}).json()
    assert renamed["settings"]["oauth"]["clientName"] == "VS Code (work)"  # clientName follows the name


@pytest.mark.parametrize(
    "oauth, message",
    [({"grantTypes": ["refresh_token"]}, "refresh_token grant type must be associated with one of authorization_code, "
                                         "password, urn:ietf:params:oauth:grant-type:jwt-bearer"),
     ({"grantTypes": ["device_code"]}, "Missing or invalid grant type."),
     ({"scopeSettings": [{"scope": "nope"}]}, "non valid scopes"),
     ({"scopeSettings": [{"scope": "openid"}, {"scope": "mcp:tools", "defaultScope": True}], "grantTypes": ["client_credentials"]},
      "Invalid token_endpoint_auth_method for service application (client_credentials grant type)"),
     ({"redirectUris": ["https://ok.example.com/cb", "http://localhost:6274/oauth/callback"]}, None)],
)
def test_patch_validation(am, domain, public_client, oauth, message):
    response = am.call("PATCH", f"{apps_path(domain)}/{public_client['id']}", json={"settings": {"oauth": oauth}})
    if message is None:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400 and response.json()["message"] == message


def test_patch_refuses_client_credentials_fields_and_empty_bodies(am, domain, public_client):
    path = f"{apps_path(domain)}/{public_client['id']}"
    for field in ("clientId", "clientSecret"):
        response = am.call("PATCH", path, json={"settings": {"oauth": {field: "x"}}},
                           headers={"X-Sim-Expect-Violation": "serve"})
        assert response.status_code == 400
        assert response.json()["message"] == f"Property [{field}] is not recognized as a valid property"
    empty = am.call("PATCH", path, json={})
    assert empty.status_code == 400 and empty.json()["message"] == "You need to specify at least one value to update."


def test_unknown_identity_providers_are_dropped(am, domain, public_client):
    patched = am.call("PATCH", f"{apps_path(domain)}/{public_client['id']}",
                      json={"identityProviders": [{"identity": "no-such-idp", "priority": 0}]}).json()
    assert "identityProviders" not in patched or patched["identityProviders"] == []


def test_get_and_delete(am, domain, public_client):
    path = f"{apps_path(domain)}/{public_client['id']}"
    assert am.call("DELETE", path).status_code == 204
    missing = am.call("GET", path)
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Application [{public_client['id']}] can not be found."
    assert am.call("DELETE", path).status_code == 404


def test_identity_providers_of_the_domain(am, domain):
    listed = am.call("GET", f"{ORG_ENV}/domains/{domain['id']}/identities").json()
    assert listed == [{"id": f"default-idp-{domain['id'].lower()}", "name": "Default Identity Provider",
                       "type": "mongo-am-idp", "system": True, "external": False}]


def test_dcr_clients_are_applications_too(am, domain):
    am.open_dcr(domain["id"])
    registered = am.register_client(token_endpoint_auth_method="none").json()
    listed = am.call("GET", apps_path(domain), params={"q": registered["client_id"]}).json()
    assert listed["totalCount"] == 1 and listed["data"][0]["name"] == "test client"
    assert listed["data"][0]["type"] == "web"


# --- AM gateway: a pre-registered public client ---------------------------------------------------------
def authorize(am, client_id: str, redirect_uri: str = LOOPBACK, **params) -> tuple[requests.Response, str]:
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s1",
             "code_challenge": challenge, "code_challenge_method": "S256", **params}
    return requests.get(f"{am.gw()}/oauth/authorize", params=query, allow_redirects=False, timeout=10), verifier


def test_pre_registered_client_logs_in_with_pkce_and_gets_a_token_for_the_mcp_server(am, domain, public_client):
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE]).json()
    client_id = public_client["settings"]["oauth"]["clientId"]
    verifier, challenge = pkce_pair()
    url = requests.Request("GET", f"{am.gw()}/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": LOOPBACK, "state": "s1", "scope": "mcp:tools",
        "code_challenge": challenge, "code_challenge_method": "S256", "resource": RESOURCE}).prepare().url
    code = login(url, "demo", "demo-password")
    token = requests.post(f"{am.gw()}/oauth/token", data={
        "grant_type": "authorization_code", "code": code.code, "redirect_uri": LOOPBACK, "client_id": client_id,
        "code_verifier": verifier, "resource": RESOURCE}, timeout=10)
    assert token.status_code == 200, token.text
    body = token.json()
    assert jwt_claims(body["access_token"])["aud"] == RESOURCE and body["scope"] == "mcp:tools"
    assert "refresh_token" in body
    assert introspect(am, body["access_token"], server["clientId"], server["clientSecret"])["active"] is True


def test_a_tool_scope_of_the_mcp_server_is_granted_with_its_resource(am, domain, public_client):
    """AbstractRequestResolver: with ``resource``, the scopes of that MCP server's tools are allowed even
    when the client itself does not list them."""
    am.call("POST", f"{ORG_ENV}/domains/{domain['id']}/scopes",
            json={"key": "weather:read", "name": "weather:read", "description": "Read the weather"}).raise_for_status()
    am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE], features=[
        {"type": "MCP_TOOL", "key": "get_weather", "description": "Weather", "scopes": ["weather:read"]}]).raise_for_status()
    client_id = public_client["settings"]["oauth"]["clientId"]
    # scopes are resolved after the login (AuthorizationRequestResolveHandler follows the authentication flow)
    verifier, challenge = pkce_pair()
    url = requests.Request("GET", f"{am.gw()}/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": LOOPBACK, "state": "s1", "scope": "weather:read",
        "code_challenge": challenge, "code_challenge_method": "S256"}).prepare().url
    with pytest.raises(HeadlessLoginError, match=r"invalid_scope: Invalid scope\(s\): weather:read"):
        login(url, "demo", "demo-password")
    allowed = authorize(am, client_id, scope="weather:read", resource=RESOURCE)[0]
    assert allowed.status_code == 302 and "/login?" in allowed.headers["Location"]


def test_an_application_without_identity_provider_cannot_log_users_in(am, domain, loopback_allowed):
    created = create_app(am, domain).json()
    verifier, challenge = pkce_pair()
    url = requests.Request("GET", f"{am.gw()}/oauth/authorize", params={
        "response_type": "code", "client_id": created["settings"]["oauth"]["clientId"], "redirect_uri": LOOPBACK,
        "code_challenge": challenge, "code_challenge_method": "S256"}).prepare().url
    with pytest.raises(Exception):
        login(url)


def test_pkce_is_forced_for_native_clients(am, domain, public_client):
    client_id = public_client["settings"]["oauth"]["clientId"]
    no_pkce = requests.get(f"{am.gw()}/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": LOOPBACK}, allow_redirects=False, timeout=10)
    assert query_of(no_pkce.headers["Location"])["error_description"] == "Missing parameter: code_challenge"
    plain = authorize(am, client_id, code_challenge_method="plain")[0]
    assert query_of(plain.headers["Location"])["error_description"] == "Invalid parameter: code_challenge_method"


@pytest.mark.parametrize(
    "requested, strict, accepted",
    [(LOOPBACK, False, True),
     ("http://127.0.0.1:40111/callback", False, False),  # another port: refused (not a CIMD client)
     ("http://127.0.0.1:33418/callback/more?x=1", False, True),  # non-strict: path prefix, query ignored
     ("http://127.0.0.1:33418/callback/more", True, False),  # strict: string equality
     ("http://localhost:33418/callback", False, False)],
)
def test_redirect_uri_matching_of_registered_clients(am, domain, public_client, requested, strict, accepted):
    if strict:
        am.patch_domain(domain["id"], {"oidc": {"redirectUriStrictMatching": True}}).raise_for_status()
    response = authorize(am, public_client["settings"]["oauth"]["clientId"], redirect_uri=requested)[0]
    location = response.headers["Location"]
    if accepted:
        assert "/login?" in location
    else:
        assert "/oauth/error?" in location and query_of(location)["error"] == "redirect_uri_mismatch"
        assert query_of(location)["error_description"] == (
            f"The redirect_uri [ {requested} ] MUST match the registered callback URL for this application")
