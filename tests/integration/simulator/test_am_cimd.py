"""Client ID Metadata Documents (AM 4.12): the domain's ``oidc.cimdSettings`` in the Management API and a
client id that is the URL of a metadata document logging a user in through the AM gateway
(CIMDSettings, DomainServiceImpl#validateCIMDSettings, CimdMetadataServiceImpl, CimdUriTrustValidator,
RedirectUriValidationHandler)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.simulator.am_api import ORG_ENV, pkce_pair, query_of
from tests.integration.simulator.cimd_origin import MetadataOrigin
from tests.integration.simulator.test_am_gateway import RESOURCE, introspect, jwt_claims, login
from tests.simulator.profiles import PROFILES

SIMULATOR_PROFILES = PROFILES  # CIMD is 4.12 only: 4.11 must refuse the settings (tests/conftest.py)
CALLBACK = "http://127.0.0.1:33418/callback"
DEFAULTS = {"enabled": False, "allowUnsecuredHttpUri": False, "allowPrivateIpAddress": False, "fetchTimeoutMs": 5000,
            "maxResponseSizeKb": 10, "cacheTtlSeconds": 86400, "cacheMaxEntries": 1000, "revokeOnDocumentChange": False}


@pytest.fixture
def origin():
    server = MetadataOrigin()
    yield server
    server.close()


def cimd_path(domain) -> str:
    return f"{ORG_ENV}/domains/{domain['id']}"


def patch_cimd(am, domain, **settings) -> requests.Response:
    return am.patch_domain(domain["id"], {"oidc": {"cimdSettings": settings}})


@pytest.fixture
def template(am, domain) -> dict:
    """The CIMD template: a NATIVE application marked as template, with the domain's identity provider,
    refresh tokens and the scopes CIMD clients may ask for."""
    settings = {"allowLocalhostRedirectUri": True, "allowHttpSchemeRedirectUri": True}
    am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": settings}}).raise_for_status()
    app = am.call("POST", f"{cimd_path(domain)}/applications",
                  json={"name": "CIMD template", "type": "NATIVE", "redirectUris": ["https://template.invalid/cb"]})
    assert app.status_code == 201, app.text
    idp = am.call("GET", f"{cimd_path(domain)}/identities").json()[0]["id"]
    patched = am.call("PATCH", f"{cimd_path(domain)}/applications/{app.json()['id']}", json={
        "template": True, "identityProviders": [{"identity": idp, "priority": 0}],
        "settings": {"oauth": {"grantTypes": ["authorization_code", "refresh_token"], "scopeSettings": [
            {"scope": "openid", "defaultScope": True}, {"scope": "offline_access"}, {"scope": "mcp:tools"}]}},
    })
    assert patched.status_code == 200, patched.text
    return patched.json()


@pytest.fixture
def cimd_on(sim, am, domain, template):
    if sim.profile != "4.12":
        pytest.skip("CIMD exists from AM 4.12.0")
    response = patch_cimd(am, domain, enabled=True, templateId=template["id"], allowUnsecuredHttpUri=True,
                          allowPrivateIpAddress=True)
    assert response.status_code == 200, response.text
    return response.json()["oidc"]["cimdSettings"]


def document(url: str, **metadata) -> dict:
    return {"client_id": url, "client_name": "Loopback MCP client", "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", **metadata}


def authorize(am, client_id: str, redirect_uri: str = CALLBACK, **params) -> tuple[requests.Response, str]:
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s",
             "code_challenge": challenge, "code_challenge_method": "S256", **params}
    return requests.get(f"{am.gw()}/oauth/authorize", params=query, allow_redirects=False, timeout=30), verifier


def error_of(response: requests.Response) -> dict:
    location = response.headers["Location"]
    assert "/oauth/error?" in location, location
    return query_of(location)


# --- Management API -----------------------------------------------------------------------------------
def test_domain_settings_carry_the_cimd_defaults_from_412(sim, am, domain):
    oidc = am.domain()["oidc"]
    if sim.profile != "4.12":
        assert "cimdSettings" not in oidc
        response = patch_cimd(am, domain, enabled=False)
        assert response.status_code == 400
        assert response.json()["message"] == "Property [cimdSettings] is not recognized as a valid property"
        return
    assert oidc["cimdSettings"] == DEFAULTS


def test_patch_is_partial_and_null_resets(sim, am, domain):
    if sim.profile != "4.12":
        pytest.skip("CIMD exists from AM 4.12.0")
    patched = patch_cimd(am, domain, fetchTimeoutMs=2000, allowedDomains=["vscode.dev", "*.example.com"]).json()
    assert patched["oidc"]["cimdSettings"] == {**DEFAULTS, "fetchTimeoutMs": 2000,
                                               "allowedDomains": ["vscode.dev", "*.example.com"]}
    patched = patch_cimd(am, domain, maxResponseSizeKb=20).json()["oidc"]["cimdSettings"]
    assert patched["fetchTimeoutMs"] == 2000 and patched["maxResponseSizeKb"] == 20
    # explicit null: numbers back to their default, lists to null (served even where the spec says no null)
    serve = {"X-Sim-Expect-Violation": "serve"}
    patched = am.call("PATCH", cimd_path(domain), json={"oidc": {"cimdSettings": {"fetchTimeoutMs": None, "allowedDomains": None}}},
                      headers=serve).json()["oidc"]["cimdSettings"]
    assert patched["fetchTimeoutMs"] == 5000 and "allowedDomains" not in patched
    reset = am.call("PATCH", cimd_path(domain), json={"oidc": {"cimdSettings": None}}, headers=serve)
    assert reset.json()["oidc"]["cimdSettings"] == DEFAULTS
    unknown = am.call("PATCH", cimd_path(domain), json={"oidc": {"cimdSettings": {"enable": True}}}, headers=serve)
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Property [enable] is not recognized as a valid property"


@pytest.mark.parametrize(
    "settings, message",
    [({"enabled": True}, "templateId must be provided when Client ID Metadata Document is enabled"),
     ({"enabled": True, "templateId": "nope"}, "templateId must be a valid application id configured as template"),
     ({"enabled": True, "fetchTimeoutMs": 0}, "CIMD settings are invalid: fetch timeout must be higher than 0"),
     ({"enabled": True, "allowedDomains": ["*.*.example.com"]},
      "CIMD settings are invalid: allowed domains must be a list of valid domains and wildcard is only allowed for "
      "first-level subdomain")],
)
def test_enabling_is_validated(sim, am, domain, settings, message):
    if sim.profile != "4.12":
        pytest.skip("CIMD exists from AM 4.12.0")
    response = patch_cimd(am, domain, **settings)
    assert response.status_code == 400 and response.json() == {"message": message, "http_status": 400}


def test_the_template_must_be_a_template_and_cannot_be_deleted_while_used(sim, am, domain, template):
    if sim.profile != "4.12":
        pytest.skip("CIMD exists from AM 4.12.0")
    plain = am.call("POST", f"{cimd_path(domain)}/applications",
                    json={"name": "plain", "type": "SERVICE"}).json()
    refused = patch_cimd(am, domain, enabled=True, templateId=plain["id"])
    assert refused.json()["message"] == "templateId must be a valid application id configured as template"
    patch_cimd(am, domain, enabled=True, templateId=template["id"]).raise_for_status()
    path = f"{cimd_path(domain)}/applications/{template['id']}"
    for response in (am.call("DELETE", path), am.call("PATCH", path, json={"template": False})):
        assert response.status_code == 400
        assert response.json()["message"] == "Application is referenced as a CIMD template and cannot be modified"


def test_discovery_advertises_cimd_when_enabled(sim, am, domain, template):
    discovery = f"{am.gw()}/oidc/.well-known/openid-configuration"
    assert "client_id_metadata_document_supported" not in requests.get(discovery).json()
    if sim.profile != "4.12":
        return
    patch_cimd(am, domain, enabled=True, templateId=template["id"]).raise_for_status()
    assert requests.get(discovery).json()["client_id_metadata_document_supported"] is True


# --- AM gateway ----------------------------------------------------------------------------------------
def test_a_metadata_document_url_logs_a_user_in(am, domain, cimd_on, origin):
    server = am.create_mcp_server(domain["id"], resourceIdentifiers=[RESOURCE]).json()
    client_id = origin.url("/oauth/client-metadata.json")
    origin.publish("/oauth/client-metadata.json", document(client_id))
    verifier, challenge = pkce_pair()
    url = requests.Request("GET", f"{am.gw()}/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": "mcp:tools offline_access",
        "code_challenge": challenge, "code_challenge_method": "S256", "resource": RESOURCE}).prepare().url
    code = login(url)
    token = requests.post(f"{am.gw()}/oauth/token", data={
        "grant_type": "authorization_code", "code": code.code, "redirect_uri": CALLBACK, "client_id": client_id,
        "code_verifier": verifier, "resource": RESOURCE}, timeout=10)
    assert token.status_code == 200, token.text
    claims = jwt_claims(token.json()["access_token"])
    assert claims["aud"] == RESOURCE and claims["client_id"] == client_id
    assert introspect(am, token.json()["access_token"], server["clientId"], server["clientSecret"])["active"] is True
    assert origin.hits == ["/oauth/client-metadata.json"]  # fetched once, then cached (cacheTtlSeconds)


def test_no_store_documents_are_fetched_every_time(am, cimd_on, origin):
    client_id = origin.url("/doc")
    origin.publish("/doc", document(client_id), headers={"Content-Type": "application/json", "Cache-Control": "no-store"})
    for dummy in range(2):
        response = authorize(am, client_id)[0]
        assert "/login?" in response.headers["Location"]
    assert origin.hits == ["/doc", "/doc"]


@pytest.mark.parametrize(
    "settings, message",
    [({"allowUnsecuredHttpUri": False}, "Unsecured HTTP client_id is not allowed."),
     ({"allowPrivateIpAddress": False}, "client_id resolves to a private or reserved IP address."),
     ({"allowedDomains": ["vscode.dev"]}, "client_id host is not in allowed domains.")],
)
def test_trust_rules_apply_before_any_fetch(am, domain, cimd_on, origin, settings, message):
    patch_cimd(am, domain, **settings).raise_for_status()
    client_id = origin.publish("/doc", document(origin.url("/doc")))
    response = authorize(am, client_id)[0]
    assert error_of(response) == {"error": "invalid_client_metadata", "error_description": message,
                                  "client_id": client_id}
    assert origin.hits == []


@pytest.mark.parametrize(
    "metadata, message",
    [({"client_id": "https://elsewhere.example.com/doc"}, "client_id in metadata does not match requested client_id."),
     ({"redirect_uris": []}, "Missing or invalid redirect_uris."),
     ({"token_endpoint_auth_method": "client_secret_basic"},
      "Secret-based token_endpoint_auth_method is not allowed for CIMD clients."),
     ({"client_secret": "s3cret"}, "client_secret metadata is not allowed for CIMD clients.")],
)
def test_documents_are_validated(am, cimd_on, origin, metadata, message):
    client_id = origin.url("/doc")
    origin.publish("/doc", document(client_id, **metadata))
    response = authorize(am, client_id)[0]
    assert error_of(response)["error_description"] == message


def test_fetch_failures_are_retried_three_times(am, cimd_on, origin):
    missing = origin.url("/missing")
    response = authorize(am, missing)[0]
    assert error_of(response)["error_description"] == "Client metadata endpoint returned HTTP 404."
    assert origin.hits == ["/missing"] * 3


def test_size_limit_and_timeout(am, domain, cimd_on, origin):
    big = origin.url("/big")
    origin.publish("/big", document(big, padding="x" * 11 * 1024))
    response = authorize(am, big)[0]
    assert error_of(response)["error_description"] == "Response exceeds configured max size."
    patch_cimd(am, domain, fetchTimeoutMs=200).raise_for_status()
    slow = origin.url("/slow")
    origin.publish("/slow", document(slow), delay=1.0)
    started = time.monotonic()
    response = authorize(am, slow)[0]
    assert error_of(response)["error_description"] == "Client metadata fetch timed out."
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "registered, requested, localhost_allowed, accepted",
    [("http://127.0.0.1/callback", "http://127.0.0.1:45678/callback", True, True),  # port-less: any port
     ("http://127.0.0.1/callback", "http://127.0.0.1:45678/callback", False, False),  # localhost not allowed
     ("http://127.0.0.1:33418/callback", "http://127.0.0.1:45678/callback", True, False),  # a registered port binds
     ("http://127.0.0.1/callback", "http://127.0.0.1:45678/other", True, False),  # the path must be equal
     ("https://app.example.com/cb", "https://app.example.com/cb/more", True, False)],  # exact for non-loopback
)
def test_loopback_ports_are_ignored_only_for_port_less_registrations(am, domain, cimd_on, origin, registered,
                                                                     requested, localhost_allowed, accepted):
    if not localhost_allowed:
        settings = {"allowLocalhostRedirectUri": False}
        am.patch_domain(domain["id"], {"oidc": {"clientRegistrationSettings": settings}}).raise_for_status()
    client_id = origin.url("/doc")
    origin.publish("/doc", document(client_id, redirect_uris=[registered]))
    response = authorize(am, client_id, redirect_uri=requested)[0]
    location = response.headers["Location"]
    if accepted:
        assert "/login?" in location
    else:
        assert error_of(response)["error"] == "redirect_uri_mismatch"


def test_cimd_is_off_without_a_template_or_before_412(sim, am, origin):
    """Without CIMD the URL is just an unknown client id."""
    client_id = origin.publish("/doc", document(origin.url("/doc")))
    response = authorize(am, client_id)[0]
    assert error_of(response)["error_description"] == f"No client found for client_id {client_id}"
    assert origin.hits == []
