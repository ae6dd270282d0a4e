"""The simulated AM gateway behaves as AM does for an MCP client (rules: am-management-api.md §3-§4)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import requests

from tests.integration.simulator.am_api import ORG_ENV, pkce_pair, query_of
from tests.simulator.mcp_client import HeadlessBrowser, HeadlessLoginError, parse_forms

REDIRECT_URI = "http://127.0.0.1:33418/callback"
RESOURCE = "https://gw.example.com/weather"


@pytest.fixture
def mcp_server(am, domain) -> dict:
    """An MCP server whose identifier is RESOURCE, with its create response (client id and secret)."""
    response = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE.upper().replace("HTTPS", "https")])
    response.raise_for_status()
    return response.json()


@pytest.fixture
def client(am, domain) -> dict:
    """A public client registered by open DCR, as MCP SDK clients register."""
    am.open_dcr(domain["id"])
    response = am.register_client(
        token_endpoint_auth_method="none", grant_types=["authorization_code", "refresh_token"], scope="openid mcp:tools"
    )
    assert response.status_code == 201, response.text
    return response.json()


def authorize_url(am, client_id, challenge, **params) -> str:
    query = {"response_type": "code", "client_id": params.pop("client", client_id), "redirect_uri": REDIRECT_URI, "state": "xyz",
             "code_challenge": challenge, "code_challenge_method": "S256", **params}
    return requests.Request("GET", f"{am.gw()}/oauth/authorize", params=query).prepare().url


def login(url: str, username: str = "demo", password: str = "demo-password"):
    return asyncio.run(HeadlessBrowser(username, password, REDIRECT_URI).authorize(url))


def token_request(am, **form) -> requests.Response:
    return requests.post(f"{am.gw()}/oauth/token", data=form, timeout=10)


def user_token(am, client, resource=RESOURCE, scope=None) -> dict:
    verifier, challenge = pkce_pair()
    params = {"resource": resource} if resource else {}
    if scope:
        params["scope"] = scope
    code = login(authorize_url(am, client["client_id"], challenge, **params))
    response = token_request(am, grant_type="authorization_code", code=code.code, redirect_uri=REDIRECT_URI,
                             client_id=client["client_id"], code_verifier=verifier, **params)
    assert response.status_code == 200, response.text
    return response.json()


def introspect(am, token: str, client_id: str, secret: str) -> dict:
    response = requests.post(f"{am.gw()}/oauth/introspect", data={"token": token, "token_type_hint": "access_token"},
                             auth=(client_id, secret), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# --- discovery -----------------------------------------------------------------------------------
def test_oidc_discovery_document(am):
    response = requests.get(f"{am.gw()}/oidc/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == f"{am.gw()}/oidc"
    assert document["authorization_endpoint"] == f"{am.gw()}/oauth/authorize"
    assert document["token_endpoint"] == f"{am.gw()}/oauth/token"
    assert document["introspection_endpoint"] == f"{am.gw()}/oauth/introspect"
    assert document["revocation_endpoint"] == f"{am.gw()}/oauth/revoke"
    # DCR is off in the seeded domain, and the endpoint is advertised all the same.
    assert document["registration_endpoint"] == f"{am.gw()}/oidc/register"
    assert "S256" in document["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(document["token_endpoint_auth_methods_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(document["grant_types_supported"])
    # custom scopes are not listed unless created with discovery=true
    assert "openid" in document["scopes_supported"] and "mcp:tools" not in document["scopes_supported"]
    assert requests.get(document["jwks_uri"]).json() == {"keys": []}


def test_discovery_follows_forwarded_headers(am):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "am.example.com"}
    document = requests.get(f"{am.gw()}/oidc/.well-known/openid-configuration", headers=headers).json()
    assert document["issuer"] == "https://am.example.com/mcp/oidc"


@pytest.mark.parametrize("suffix", ["oauth-authorization-server", "oauth-protected-resource", "anything/else"])
def test_domain_well_known_answers_the_index(am, suffix):
    response = requests.get(f"{am.gw()}/.well-known/{suffix}")
    assert response.status_code == 200
    assert response.json() == {"openid-configuration": f"{am.gw()}/oidc/.well-known/openid-configuration"}


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server/mcp/oidc", "/.well-known/openid-configuration/mcp/oidc",
             "/.well-known/oauth-authorization-server"]
)
def test_no_rfc8414_metadata_at_the_root(am, path):
    assert requests.get(f"{am.gateway}{path}").status_code == 404


def test_disabled_or_unknown_domain_is_not_served(am):
    created = am.call("POST", f"{ORG_ENV}/domains", json={"name": "Sleeping", "dataPlaneId": "default"}).json()
    assert requests.get(f"{am.gateway}{created['path']}/oidc/.well-known/openid-configuration").status_code == 404
    am.patch_domain(created["id"], {"enabled": True}).raise_for_status()
    assert requests.get(f"{am.gateway}{created['path']}/oidc/.well-known/openid-configuration").status_code == 200
    unknown = requests.get(f"{am.gateway}/nowhere/oidc/.well-known/openid-configuration")
    assert unknown.status_code == 404 and unknown.text == "No security domain matches the request URI."


# --- Dynamic Client Registration -----------------------------------------------------------------
def test_dcr_disabled_is_registration_forbidden(am):
    response = am.register_client()
    assert response.status_code == 403 and response.json()["error"] == "registration_forbidden"


def test_dcr_not_open_needs_a_bearer_token(sim, am, domain):
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": {"isDynamicClientRegistrationEnabled": True}}})
    response = am.register_client()
    assert response.status_code == 401
    if sim.profile == "4.10":
        assert response.content == b""  # seen on AM 4.10.20: HttpException(401), no body
    else:
        assert response.json()["error"] == "invalid_token"


def test_open_dcr_registers_a_confidential_client_by_default(am, domain):
    am.open_dcr(domain["id"], defaultScopes=["openid"])
    response = am.register_client()
    assert response.status_code == 201
    body = response.json()
    assert body["client_id"] and body["client_secret"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["redirect_uris"] == [REDIRECT_URI] and body["scope"] == "openid"  # domain default scopes
    assert body["registration_client_uri"] == f"{am.gw()}/oidc/register/{body['client_id']}"


def test_public_client_registration(client):
    assert client["token_endpoint_auth_method"] == "none" and "client_secret" not in client


def test_dcr_requires_redirect_uris(am, domain):
    am.open_dcr(domain["id"])
    response = requests.post(f"{am.gw()}/oidc/register", json={"client_name": "no redirect"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "setting, redirect_uri, message",
    [
        ("allowLocalhostRedirectUri", "https://localhost:8443/cb", "localhost is forbidden"),
        ("allowLocalhostRedirectUri", "https://127.0.0.1:8443/cb", "localhost is forbidden"),
        ("allowHttpSchemeRedirectUri", "http://client.example.com/cb", "Unsecured http scheme is forbidden"),
        ("allowWildCardRedirectUri", "https://client.example.com/*", "Wildcard are forbidden"),
    ],
)
def test_dcr_redirect_uri_rules(am, domain, setting, redirect_uri, message):
    settings = {"isDynamicClientRegistrationEnabled": True, "isOpenDynamicClientRegistrationEnabled": True}
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": settings}}).raise_for_status()
    refused = am.register_client(redirect_uri=redirect_uri)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_redirect_uri", "error_description": message}
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": {setting: True}}}).raise_for_status()
    assert am.register_client(redirect_uri=redirect_uri).status_code == 201


def test_dcr_fragment_is_always_refused(am, domain):
    am.open_dcr(domain["id"])
    response = am.register_client(redirect_uri="https://client.example.com/cb#frag")
    assert response.json()["error_description"] == "redirect_uri with fragment is forbidden"


def test_dcr_scopes_must_exist_and_allowed_scopes_filter(am, domain):
    am.open_dcr(domain["id"])
    unknown = am.register_client(scope="openid unknown:scope")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client_metadata"
    am.open_dcr(domain["id"], isAllowedScopesEnabled=True, allowedScopes=["openid"])
    filtered = am.register_client(scope="openid mcp:tools")
    assert filtered.status_code == 201 and filtered.json()["scope"] == "openid"


# --- authorization endpoint, login, consent ------------------------------------------------------
def test_authorize_redirects_to_a_login_form_with_csrf(am, client, mcp_server):
    challenge = pkce_pair()[1]
    response = requests.get(authorize_url(am, client["client_id"], challenge, resource=RESOURCE), allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"].startswith(f"{am.gw()}/login?")
    page = requests.get(response.headers["Location"])
    form = parse_forms(page.text)[0]
    assert form.method == "post" and {"username", "password"} <= {name for name, _kind in form.inputs}
    assert form.fields["X-XSRF-TOKEN"] and form.fields["client_id"] == client["client_id"]
    # Without the session's CSRF token the form is refused.
    forged = requests.post(form.action, data={"username": "demo", "password": "demo-password"}, allow_redirects=False)
    assert forged.status_code == 403


def test_login_consent_and_code(am, client, mcp_server):
    challenge = pkce_pair()[1]
    result = login(authorize_url(am, client["client_id"], challenge, resource=RESOURCE, scope="mcp:tools"))
    assert result.code and result.state == "xyz"


def test_wrong_password_is_refused(am, client, mcp_server):
    challenge = pkce_pair()[1]
    with pytest.raises(HeadlessLoginError, match="login refused"):
        login(authorize_url(am, client["client_id"], challenge, resource=RESOURCE), password="wrong")


@pytest.mark.parametrize(
    "params, error",
    [
        ({"client": "unknown"}, "invalid_request"),
        ({"redirect_uri": "http://127.0.0.1:1/elsewhere"}, "redirect_uri_mismatch"),
    ],
)
def test_untrusted_redirect_errors_go_to_the_error_page(am, client, params, error):
    challenge = pkce_pair()[1]
    url = authorize_url(am, client["client_id"], challenge, **params)
    response = requests.get(url, allow_redirects=False)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{am.gw()}/oauth/error?") and query_of(location)["error"] == error


@pytest.mark.parametrize(
    "resource", ["https://gw.example.com/unknown", RESOURCE.upper().replace("HTTPS", "https"), RESOURCE + "/"]
)
def test_resource_must_equal_a_stored_identifier(am, client, mcp_server, resource):
    # The /authorize chain validates resources after the authentication flow (OAuth2Provider :290-307 @4.10.20):
    # first the login page, then, once logged in, the error redirect to the client.
    challenge = pkce_pair()[1]
    url = authorize_url(am, client["client_id"], challenge, resource=resource)
    response = requests.get(url, allow_redirects=False)
    assert "/login?" in response.headers["Location"]
    with pytest.raises(HeadlessLoginError) as failed:
        login(url)
    assert str(failed.value) == (
        "authorization failed: invalid_target: The requested resource is not recognized by this authorization server."
    )


def test_unknown_scope_and_bad_pkce_method(am, client, mcp_server):
    challenge = pkce_pair()[1]
    # PKCE parameters are parsed before the login, scopes resolved after it (AuthorizationRequestResolveHandler)
    response = requests.get(authorize_url(am, client["client_id"], challenge, code_challenge_method="S512"),
                            allow_redirects=False)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    url = authorize_url(am, client["client_id"], challenge, scope="files:write")
    assert "/login?" in requests.get(url, allow_redirects=False).headers["Location"]
    with pytest.raises(HeadlessLoginError, match="authorization failed: invalid_scope: Invalid scope"):
        login(url)


# --- token endpoint ------------------------------------------------------------------------------
def test_code_exchange_with_pkce_and_resource(am, client, mcp_server):
    tokens = user_token(am, client, scope="mcp:tools")
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0 and tokens["refresh_token"]
    claims = jwt_claims(tokens["access_token"])
    # one resource: aud is a string (Nimbus writes a one-element audience so), several: an array
    assert claims["aud"] == RESOURCE and claims["iss"] == f"{am.gw()}/oidc" and claims["scope"] == "mcp:tools"


def test_pkce_verifier_must_match_and_codes_are_single_use(am, client, mcp_server):
    verifier, challenge = pkce_pair()
    code = login(authorize_url(am, client["client_id"], challenge, resource=RESOURCE)).code
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "client_id": client["client_id"]}
    wrong = token_request(am, **form, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # the failed attempt consumed the code
    assert token_request(am, **form, code_verifier=verifier).json()["error"] == "invalid_grant"


def test_token_resource_must_be_known(am, client, mcp_server):
    verifier, challenge = pkce_pair()
    code = login(authorize_url(am, client["client_id"], challenge)).code
    response = token_request(am, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                             client_id=client["client_id"], code_verifier=verifier, resource="https://nowhere.example.com")
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def test_refresh_token_grant_keeps_the_audience(am, client, mcp_server):
    tokens = user_token(am, client)
    refreshed = token_request(am, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"])
    assert refreshed.status_code == 200
    assert jwt_claims(refreshed.json()["access_token"])["aud"] == RESOURCE


def test_client_credentials_and_client_authentication(am, domain):
    am.open_dcr(domain["id"])
    app = am.register_client(grant_types=["client_credentials"], token_endpoint_auth_method="client_secret_post").json()
    by_post = token_request(am, grant_type="client_credentials", client_id=app["client_id"], client_secret=app["client_secret"])
    assert by_post.status_code == 200 and jwt_claims(by_post.json()["access_token"])["aud"] == app["client_id"]
    bad = token_request(am, grant_type="client_credentials", client_id=app["client_id"], client_secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    unsupported = token_request(am, grant_type="password", client_id=app["client_id"], client_secret=app["client_secret"])
    assert unsupported.json()["error"] == "unsupported_grant_type"


# --- introspection -------------------------------------------------------------------------------
def test_introspection_with_the_mcp_server_credentials(am, client, mcp_server):
    token = user_token(am, client, scope="mcp:tools")["access_token"]
    body = introspect(am, token, mcp_server["clientId"], mcp_server["clientSecret"])
    assert body["active"] is True
    # Within 10 s of its issue the token is checked offline: client_id is then the first aud (seen on AM 4.10.20);
    # every JWT claim is copied (domain, iss, jti...).
    assert body["aud"] == RESOURCE and body["client_id"] == RESOURCE and body["scope"] == "mcp:tools"
    assert body["username"] == "demo" and body["exp"] > body["iat"]
    assert body["domain"] == jwt_claims(token)["domain"] and body["jti"] == jwt_claims(token)["jti"]
    assert body["iss"] == f"{am.gw()}/oidc" and body["token_type"] == "bearer"


def test_resource_token_is_inactive_for_another_client(am, domain, client, mcp_server):
    other = am.create_mcp_server(domain["id"], resourceIdentifiers=["https://gw.example.com/other"]).json()
    token = user_token(am, client)["access_token"]
    assert introspect(am, token, other["clientId"], other["clientSecret"]) == {"active": False}


def test_token_without_resource_is_active_for_any_client(am, client, mcp_server):
    token = user_token(am, client, resource=None)["access_token"]
    assert introspect(am, token, mcp_server["clientId"], mcp_server["clientSecret"])["aud"] == client["client_id"]


def test_introspection_needs_client_authentication(am, client, mcp_server):
    token = user_token(am, client)["access_token"]
    response = requests.post(f"{am.gw()}/oauth/introspect", data={"token": token}, auth=(mcp_server["clientId"], "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert introspect(am, "not-a-token", mcp_server["clientId"], mcp_server["clientSecret"]) == {"active": False}


def test_user_given_and_rotated_secrets_authenticate(sim, am, domain, client):
    created = am.create_mcp_server(domain["id"], clientId="weather-mcp", clientSecret="my-own_secret-123",
                                   resourceIdentifiers=[RESOURCE]).json()
    token = user_token(am, client)["access_token"]
    assert introspect(am, token, "weather-mcp", "my-own_secret-123")["active"] is True
    if sim.profile == "4.12":
        secrets_path = f"{am.resources_path(domain['id'])}/{created['id']}/secrets"
        rotated = am.call("POST", secrets_path, json={"name": "next"}).json()["secret"]
        assert introspect(am, token, "weather-mcp", rotated)["active"] is True


def test_revocation(am, client, mcp_server):
    token = user_token(am, client)["access_token"]
    response = requests.post(f"{am.gw()}/oauth/revoke", data={"token": token, "client_id": client["client_id"]})
    assert response.status_code == 200
    assert introspect(am, token, mcp_server["clientId"], mcp_server["clientSecret"]) == {"active": False}


def test_userinfo(am, client, mcp_server):
    token = user_token(am, client, scope="openid")["access_token"]
    response = requests.get(f"{am.gw()}/oidc/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["preferred_username"] == "demo"
    assert requests.get(f"{am.gw()}/oidc/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401


# --- user registration ---------------------------------------------------------------------------
def test_user_registration_when_enabled(am, domain, client, mcp_server):
    challenge = pkce_pair()[1]
    url = authorize_url(am, client["client_id"], challenge, resource=RESOURCE)
    session = requests.Session()
    login_page = session.get(url)
    assert "Register" not in login_page.text
    assert session.get(f"{am.gw()}/register", params={"client_id": client["client_id"]}).status_code == 404

    am.patch_domain(domain["id"], {"loginSettings": {"inherited": False, "registerEnabled": True}}).raise_for_status()
    login_page = session.get(url)
    register_link = login_page.text.split('href="')[1].split('"')[0].replace("&amp;", "&")
    form = parse_forms(session.get(register_link).text)[0]
    data = {**form.fields, "username": "newcomer", "password": "n3w-Password!", "email": "new@example.com",
            "firstName": "New", "lastName": "Comer"}
    registered = session.post(form.action.replace("&amp;", "&"), data=data, allow_redirects=False)
    assert "success=registration_succeed" in registered.headers["Location"]
    assert login(url, "newcomer", "n3w-Password!").code
