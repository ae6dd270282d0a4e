"""AM applications (OAuth clients) in the simulated AM Management API, and the client view the AM
gateway reads.

Served under ``/management/organizations/{org}/environments/{env}/domains/{domain}``:

* ``GET /applications`` (``q``, ``page``, ``size``; ``expand=clientId`` from 4.12), ``POST /applications``;
* ``GET|PUT|PATCH|DELETE /applications/{id}`` (PUT runs the same partial code as PATCH, as AM does);
* ``GET /identities`` (the domain's identity providers, which an application must name to log users in).

Every application, whether created here or by Dynamic Client Registration on the gateway, is stored
the same way: the AM ``Application`` model (``model``: name, type, settings.oauth...) plus its client
secrets (raw values kept so the gateway can check them; AM's default secret algorithm is ``None``).
:func:`client_view` flattens a record into what the gateway needs.  Each rule names its upstream
source in ``FIDELITY.md`` (section "AM applications").
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.simulator.profiles import at_least

# --- profiles ---------------------------------------------------------------------------------------
# profile_at_least(profile, "4.11"): whether the profile serves AM 4.11 behaviours (tests/simulator/profiles.py).
profile_at_least = at_least


# --- constants from the AM source -------------------------------------------------------------------
# MODEL/application/ApplicationType.java: AGENT exists from 4.12.0.
APPLICATION_TYPES_410 = ("WEB", "NATIVE", "BROWSER", "SERVICE", "RESOURCE_SERVER")
# The types whose templates the simulator applies; RESOURCE_SERVER needs the UMA scope and AGENT its
# own kinds and constraints (ApplicationResourceServerTemplate, ApplicationAgentTemplate): not simulated.
SIMULATED_TYPES = ("WEB", "NATIVE", "BROWSER", "SERVICE")

AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN = "authorization_code", "implicit", "refresh_token"
CLIENT_CREDENTIALS, PASSWORD = "client_credentials", "password"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
UMA = "urn:ietf:params:oauth:grant-type:uma-ticket"
CIBA = "urn:openid:params:grant-type:ciba"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # GrantTypeUtils from 4.11

CODE_RESPONSE_TYPES = ("code", "code token", "code id_token", "code id_token token")
IMPLICIT_RESPONSE_TYPES = ("token", "id_token", "id_token token")
# Client.DEFAULT_GRANT_TYPES / DEFAULT_RESPONSE_TYPES (used when both lists end up empty).
DEFAULT_GRANT_TYPES = [AUTHORIZATION_CODE]
DEFAULT_RESPONSE_TYPES = ["code"]

# ApplicationOAuthSettings field defaults (MODEL/application/ApplicationOAuthSettings.java).
OAUTH_DEFAULTS = {
    "requireAuthTime": False,
    "enhanceScopesWithUserPermissions": False,
    "accessTokenValiditySeconds": 7200,
    "refreshTokenValiditySeconds": 14400,
    "idTokenValiditySeconds": 14400,
    "tlsClientCertificateBoundAccessTokens": False,
    "forcePKCE": False,
    "forceS256CodeChallengeMethod": False,
    "singleSignOut": False,
    "silentReAuthentication": False,
    "requireParRequest": False,
    "backchannelUserCodeParameter": False,
    "disableRefreshTokenRotation": False,
}

# ApplicationSecretConfig#toSecretSettings with the default algorithm "None" and no properties:
# id = Base64(SHA-256('["NONE",{}]')).
SECRET_SETTINGS = {
    "id": base64.b64encode(hashlib.sha256(b'["NONE",{}]').digest()).decode(),
    "algorithm": "NONE",
    "properties": {},
}

# UriBuilder.isLocalhost (gravitee-am-common): localhost, 127.x, ::1.
LOCALHOST = re.compile(r"^localhost$|^127(?:\.[0-9]+){0,2}\.[0-9]+$|^(?:0*:)*?:?0*1$")


class AppError(Exception):
    """An error the Management API answers with its ErrorEntity ``{"message", "http_status"}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def is_localhost(host: str | None) -> bool:
    return bool(host) and LOCALHOST.match(host.lower().strip("[]")) is not None


# --- JSON shapes (the field-based ObjectMapper fails on unknown properties) ---------------------------
ANY = "any"
_KINDS = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "str_list": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "object": lambda v: isinstance(v, dict),
    "object_list": lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v),
    ANY: lambda v: True,
}


def read_shape(body: Any, shape: dict[str, str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AppError(400, "Malformed json")
    for key, value in body.items():
        if key not in shape:
            raise AppError(400, f"Property [{key}] is not recognized as a valid property")
        if value is not None and not _KINDS[shape[key]](value):
            raise AppError(400, "Malformed json")
    return dict(body)


NEW_APPLICATION = {
    "name": "str", "type": "str", "description": "str", "clientId": "str", "clientSecret": "str",
    "redirectUris": "str_list", "metadata": "object",
}
PATCH_APPLICATION = {
    "name": "str", "description": "str", "enabled": "bool", "template": "bool", "identityProviders": "object_list",
    "factors": "str_list", "certificate": "str", "metadata": "object", "settings": "object",
}
PATCH_SETTINGS = {
    "account": "object", "login": "object", "oauth": "object", "saml": "object", "advanced": "object",
    "passwordSettings": "object", "mfa": "object", "cookieSettings": "object", "riskAssessment": "object",
    "secretExpirationSettings": "object",
}
# SVC/model/PatchApplicationOAuthSettings.java: neither clientId nor clientSecret can be patched.
PATCH_OAUTH = {
    "redirectUris": "str_list", "responseTypes": "str_list", "grantTypes": "str_list", "applicationType": "str",
    "contacts": "str_list", "clientName": "str", "logoUri": "str", "clientUri": "str", "policyUri": "str",
    "tosUri": "str", "jwksUri": "str", "jwks": "object", "sectorIdentifierUri": "str", "subjectType": "str",
    "idTokenSignedResponseAlg": "str", "idTokenEncryptedResponseAlg": "str", "idTokenEncryptedResponseEnc": "str",
    "userinfoSignedResponseAlg": "str", "userinfoEncryptedResponseAlg": "str", "userinfoEncryptedResponseEnc": "str",
    "requestObjectSigningAlg": "str", "requestObjectEncryptionAlg": "str", "requestObjectEncryptionEnc": "str",
    "tokenEndpointAuthMethod": "str", "tokenEndpointAuthSigningAlg": "str", "defaultMaxAge": "int",
    "requireAuthTime": "bool", "defaultACRvalues": "str_list", "initiateLoginUri": "str", "requestUris": "str_list",
    "softwareId": "str", "softwareVersion": "str", "softwareStatement": "str", "registrationAccessToken": "str",
    "registrationClientUri": "str", "clientIdIssuedAt": ANY, "clientSecretExpiresAt": ANY,
    "enhanceScopesWithUserPermissions": "bool", "accessTokenValiditySeconds": "int",
    "refreshTokenValiditySeconds": "int", "idTokenValiditySeconds": "int", "tokenCustomClaims": "object_list",
    "userinfoCustomClaims": "object_list", "tlsClientAuthSubjectDn": "str", "tlsClientAuthSanDns": "str",
    "tlsClientAuthSanUri": "str", "tlsClientAuthSanIp": "str", "tlsClientAuthSanEmail": "str",
    "tlsClientCertificateBoundAccessTokens": "bool", "authorizationSignedResponseAlg": "str",
    "authorizationEncryptedResponseAlg": "str", "authorizationEncryptedResponseEnc": "str", "forcePKCE": "bool",
    "forceS256CodeChallengeMethod": "bool", "postLogoutRedirectUris": "str_list", "singleSignOut": "bool",
    "silentReAuthentication": "bool", "scopeSettings": "object_list", "disableRefreshTokenRotation": "bool",
}
PATCH_OAUTH_411 = {"tokenExchangeOAuthSettings": "object"}
SCOPE_SETTINGS = {"scope": "str", "defaultScope": "bool", "scopeApproval": "int"}
IDENTITY_PROVIDER = {"identity": "str", "selectionRule": "str", "priority": "int"}
# Keys whose explicit JSON null patches a primitive boolean to false (SetterUtils.safeSet(..., boolean.class)).
PRIMITIVE_BOOLEANS = {"enabled", "template", "requireAuthTime", "enhanceScopesWithUserPermissions"}


# --- the application model ---------------------------------------------------------------------------
def random_client_id() -> str:
    """RandomString.generate(): a random UUID string."""
    return str(uuid.uuid4())


def secure_random_string() -> str:
    """SecureRandomString.generate(): 32 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")


def new_client_secret(name: str, raw: str, now_ms: int) -> dict[str, Any]:
    """SecretService#generateClientSecret with the NONE algorithm: the stored value is the raw one."""
    return {"id": str(uuid.uuid4()), "settingsId": SECRET_SETTINGS["id"], "name": name, "secret": raw, "createdAt": now_ms}


def root_url(url: str) -> str | None:
    """UriBuilder.fromHttpUrl(url).buildRootUrl(), or None when the URI is not http(s)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def apply_template(model: dict[str, Any], force: bool = False) -> None:
    """ApplicationWebTemplate / NativeTemplate / BrowserTemplate / ServiceTemplate ``handle`` (force=False)
    and ``changeType`` (force=True)."""
    settings = model.setdefault("settings", {}) or {}
    model["settings"] = settings
    oauth = settings.setdefault("oauth", {}) or {}
    settings["oauth"] = oauth
    app_type = model["type"]
    if oauth.get("clientId") is None:
        oauth["clientId"] = random_client_id()
    if oauth.get("clientSecret") is None:
        oauth["clientSecret"] = secure_random_string()  # generated for public clients too, as AM does
    if oauth.get("clientName") is None:
        oauth["clientName"] = model.get("name")
    oauth["clientType"] = "public" if app_type in ("NATIVE", "BROWSER") else "confidential"
    oauth["applicationType"] = "native" if app_type == "NATIVE" else "web"
    grant_types = oauth.get("grantTypes")
    if app_type == "SERVICE":
        if force or not grant_types:
            oauth["grantTypes"] = [CLIENT_CREDENTIALS]
            oauth["responseTypes"] = []
            oauth["tokenEndpointAuthMethod"] = "client_secret_basic"
        return
    if force or not grant_types:
        if app_type == "WEB":
            oauth["grantTypes"] = [AUTHORIZATION_CODE, PASSWORD]
            oauth["tokenEndpointAuthMethod"] = "client_secret_basic"
        else:  # NATIVE, BROWSER: code flow with PKCE, no client authentication
            oauth["grantTypes"] = [AUTHORIZATION_CODE]
            oauth["forcePKCE"] = True
            oauth["forceS256CodeChallengeMethod"] = True
            oauth["tokenEndpointAuthMethod"] = "none"
        oauth["responseTypes"] = list(CODE_RESPONSE_TYPES)
        return
    response_types = list(oauth.get("responseTypes") or [])
    if AUTHORIZATION_CODE in grant_types:
        if not set(response_types) & set(CODE_RESPONSE_TYPES):
            response_types += [t for t in CODE_RESPONSE_TYPES if t not in response_types]
    else:
        response_types = [t for t in response_types if t not in CODE_RESPONSE_TYPES]
    if IMPLICIT in grant_types:
        if not set(response_types) & set(IMPLICIT_RESPONSE_TYPES):
            response_types += [t for t in IMPLICIT_RESPONSE_TYPES if t not in response_types]
    else:
        response_types = [t for t in response_types if t not in IMPLICIT_RESPONSE_TYPES]
    oauth["responseTypes"] = response_types


def complete_grant_type_correspondance(oauth: dict[str, Any]) -> None:
    """GrantTypeUtils.completeGrantTypeCorrespondance (response types imply grant types and back)."""
    response_types = set(oauth.get("responseTypes") or [])
    grant_types = list(oauth.get("grantTypes") or [])
    needs_code = bool(response_types & set(CODE_RESPONSE_TYPES))
    needs_implicit = bool(response_types & set(IMPLICIT_RESPONSE_TYPES))
    changed = False
    if needs_code and AUTHORIZATION_CODE not in grant_types:
        grant_types.append(AUTHORIZATION_CODE)
        changed = True
    if needs_implicit and IMPLICIT not in grant_types:
        grant_types.append(IMPLICIT)
        changed = True
    if AUTHORIZATION_CODE in grant_types and not needs_code:
        grant_types.remove(AUTHORIZATION_CODE)
        changed = True
    if IMPLICIT in grant_types and not needs_implicit:
        grant_types.remove(IMPLICIT)
        changed = True
    if not response_types and not grant_types:
        oauth["responseTypes"] = list(DEFAULT_RESPONSE_TYPES)
        oauth["grantTypes"] = list(DEFAULT_GRANT_TYPES)
    elif changed:
        oauth["grantTypes"] = grant_types


def supported_grant_types(profile: str) -> set[str]:
    types = {AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN, CLIENT_CREDENTIALS, PASSWORD, JWT_BEARER, UMA, CIBA}
    if profile_at_least(profile, "4.11"):
        types.add(TOKEN_EXCHANGE)
    return types


# --- validation (ApplicationServiceImpl#validateApplicationMetadata) -----------------------------------
def redirect_uri_error(domain: dict[str, Any], uri: str, field: str = "redirect_uri") -> str | None:
    """One redirect URI against the domain's DCR settings, in AM's order: malformed, localhost,
    unsecured http, wildcard, fragment.  Returns the message or None."""
    dcr = (domain.get("oidc") or {}).get("clientRegistrationSettings") or {}
    if not isinstance(uri, str):
        return f"{field} : {uri} is malformed"
    parts = urlsplit(uri)
    if not parts.scheme or any(c.isspace() for c in uri):
        return f"{field} : {uri} is malformed"
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname
    except ValueError:
        return f"{field} : {uri} is malformed"
    is_http = scheme in ("http", "https")
    if is_http and not host:
        return f"{field} : {uri} is malformed"
    # The host as java.net.URL#getHost gives it: an IPv6 literal keeps its brackets, so AM's localhost pattern does
    # not match http://[::1]/ here (only the http-scheme check applies to it).
    url_host = f"[{host}]" if host and ":" in host else host
    if not dcr.get("allowLocalhostRedirectUri") and is_http and url_host and LOCALHOST.match(url_host.lower()):
        return "localhost is forbidden"
    if not dcr.get("allowHttpSchemeRedirectUri") and scheme == "http":
        return "Unsecured http scheme is forbidden"
    if not dcr.get("allowWildCardRedirectUri") and ("*" in parts.path or "*" in (host or "")):
        return "Wildcard are forbidden"
    if "#" in uri:
        return f"{field} with fragment is forbidden"
    return None


def validate_application(state, profile: str, domain: dict[str, Any], model: dict[str, Any],
                         update_type_only: bool = False) -> None:
    """GrantTypeUtils.validateGrantTypes, then validateRedirectUris, validateScopes and
    validateTokenEndpointAuthMethod (the TLS, logout-URI, request-URI, agent and SPIFFE checks are not
    simulated)."""
    oauth = (model.get("settings") or {}).get("oauth")
    if oauth is None:
        return
    grant_types = oauth.get("grantTypes") or []
    base_types = [g.split("~")[0] for g in grant_types]
    if not base_types or any(g not in supported_grant_types(profile) for g in base_types):
        raise AppError(400, "Missing or invalid grant type.")
    complete_grant_type_correspondance(oauth)
    if REFRESH_TOKEN in (oauth.get("grantTypes") or []) and not {AUTHORIZATION_CODE, PASSWORD, JWT_BEARER} & set(base_types):
        raise AppError(400, "refresh_token grant type must be associated with one of authorization_code, password, "
                            "urn:ietf:params:oauth:grant-type:jwt-bearer")

    redirect_uris = oauth.get("redirectUris") or []
    if IMPLICIT in (oauth.get("grantTypes") or []) and not redirect_uris:
        raise AppError(400, "Missing or invalid redirect_uris.")
    for uri in redirect_uris:
        message = redirect_uri_error(domain, uri)
        if message:
            raise AppError(400, message)
    if not redirect_uris and model["type"] not in ("SERVICE", "AGENT") and not update_type_only:
        raise AppError(400, "At least one redirect_uri is required")

    scope_settings = oauth.get("scopeSettings") or []
    scopes = [s.get("scope") for s in scope_settings]
    defaults = [s.get("scope") for s in scope_settings if s.get("defaultScope")]
    approvals = [s.get("scope") for s in scope_settings if s.get("scopeApproval") is not None]
    if not set(defaults) <= set(scopes):
        raise AppError(400, "non valid default scopes")
    if not set(approvals) <= set(scopes):
        raise AppError(400, "non valid scope approvals")
    if not set(scopes) <= set(state.scopes[domain["id"]]):
        raise AppError(400, "non valid scopes")

    method = oauth.get("tokenEndpointAuthMethod")
    if method == "none" and (model["type"] == "SERVICE" or CLIENT_CREDENTIALS in (oauth.get("grantTypes") or [])):
        raise AppError(400, "Invalid token_endpoint_auth_method for service application (client_credentials grant type)")


# --- views ---------------------------------------------------------------------------------------------
def _lower_enums(model: dict[str, Any]) -> dict[str, Any]:
    view = copy.deepcopy(model)
    view["type"] = view["type"].lower()
    return view


def _non_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _non_null(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_non_null(v) for v in value]
    return value


def with_oauth_defaults(model: dict[str, Any]) -> dict[str, Any]:
    view = _lower_enums(model)
    oauth = (view.get("settings") or {}).get("oauth")
    if oauth is not None:
        for key, value in OAUTH_DEFAULTS.items():
            oauth.setdefault(key, value)
    return view


def application_view(record: dict[str, Any]) -> dict[str, Any]:
    """ApplicationResource#filterApplicationInfos for a caller with every read permission: the stored
    application, secrets without their value (ClientSecret.safeSecret)."""
    view = with_oauth_defaults(record["model"])
    view["secrets"] = [{k: v for k, v in s.items() if k != "secret"} for s in record["secrets"]]
    view["secretSettings"] = copy.deepcopy(record["model"].get("secretSettings") or [SECRET_SETTINGS])
    return _non_null(view)


def created_view(record: dict[str, Any], raw_secret: str | None) -> dict[str, Any]:
    """The 201 body: the Application as created, unfiltered, with the raw secret restored into
    ``settings.oauth.clientSecret`` (ApplicationServiceImpl#create0) and the stored secrets."""
    view = with_oauth_defaults(record["model"])
    view["settings"]["oauth"]["clientSecret"] = raw_secret
    view["secrets"] = copy.deepcopy(record["secrets"])
    view["secretSettings"] = copy.deepcopy(record["model"].get("secretSettings") or [SECRET_SETTINGS])
    return _non_null(view)


def summary_view(record: dict[str, Any], expand_client_id: bool) -> dict[str, Any]:
    """FilteredApplication: id, name, description, type, (kind), enabled, template, updatedAt, and
    clientId only with ``expand=clientId`` (4.12)."""
    model = record["model"]
    view = {
        "id": model["id"], "name": model.get("name"), "description": model.get("description"),
        "type": model["type"].lower(), "enabled": model.get("enabled", True), "template": model.get("template", False),
        "updatedAt": model["updatedAt"],
    }
    if expand_client_id:
        view["clientId"] = record["clientId"]
    return _non_null(view)


def client_view(record: dict[str, Any]) -> dict[str, Any]:
    """What the AM gateway needs of an application (its ``Client``)."""
    model = record["model"]
    settings = model.get("settings") or {}
    oauth = settings.get("oauth") or {}
    scope_settings = oauth.get("scopeSettings") or []
    return {
        "id": model["id"],
        "domainId": record["domainId"],
        "clientId": record["clientId"],
        "clientName": oauth.get("clientName") or model.get("name"),
        "redirectUris": list(oauth.get("redirectUris") or []),
        "grantTypes": list(oauth.get("grantTypes") or []),
        "responseTypes": list(oauth.get("responseTypes") or []),
        "tokenEndpointAuthMethod": oauth.get("tokenEndpointAuthMethod"),
        "scopes": [s.get("scope") for s in scope_settings],
        "defaultScopes": [s.get("scope") for s in scope_settings if s.get("defaultScope")],
        "forcePKCE": bool(oauth.get("forcePKCE")),
        "forceS256CodeChallengeMethod": bool(oauth.get("forceS256CodeChallengeMethod")),
        "enabled": model.get("enabled", True),
        "template": model.get("template", False),
        "identityProviders": [i.get("identity") for i in model.get("identityProviders") or []],
        "secrets": record["secrets"],
        "skipConsent": bool((settings.get("advanced") or {}).get("skipConsent")),
        "applicationType": oauth.get("applicationType"),
        "registrationAccessToken": oauth.get("registrationAccessToken"),
        "createdAt": model.get("createdAt"),
        "cimd": False,
    }


def secret_matches(client: dict[str, Any], secret: str | None) -> bool:
    """SecretService#validateSecret: any of the client's secrets (NONE algorithm: plain comparison)."""
    import secrets as _secrets

    return secret is not None and any(_secrets.compare_digest(s["secret"], secret) for s in client.get("secrets") or [])


def new_record(domain_id: str, model: dict[str, Any], raw_secret: str | None, now_ms: int) -> dict[str, Any]:
    """Store an application the way create0 does: the raw secret moves out of the settings into a
    ``Default`` client secret."""
    oauth = model["settings"]["oauth"]
    oauth["clientSecret"] = None
    model["secretSettings"] = [copy.deepcopy(SECRET_SETTINGS)]
    secrets = [new_client_secret("Default", raw_secret, now_ms)] if raw_secret is not None else []
    return {"id": model["id"], "domainId": domain_id, "clientId": oauth["clientId"], "model": model, "secrets": secrets}


def dcr_application_type(grant_types: list[str], application_type: str | None) -> str:
    """Gateway ClientServiceImpl#getType: no grant or only client_credentials -> SERVICE, only implicit ->
    BROWSER, else the application_type (web, native, browser; anything else SERVICE)."""
    if not grant_types or grant_types == [CLIENT_CREDENTIALS]:
        return "SERVICE"
    if grant_types == [IMPLICIT]:
        return "BROWSER"
    return {"web": "WEB", "native": "NATIVE", "browser": "BROWSER"}.get(application_type or "web", "SERVICE")


def dcr_record(domain_id: str, metadata: dict[str, Any], client_id: str, raw_secret: str | None, scopes: list[str],
               identity_provider: str, registration_access_token: str, now_ms: int, now_s: int) -> dict[str, Any]:
    """An application registered by DCR (gateway ClientServiceImpl#convert): name = client_name, the DCR
    metadata in settings.oauth.  ``metadata`` holds the client as DynamicClientRegistrationRequest#patch left
    it on a new ``Client`` (its defaults: grant types ``authorization_code``, response types ``code``,
    application type ``web``), grant types already completed to correspond to the response types.  Every
    scope is a plain scope setting (``updateScopeSettings``: no default scope, no approval)."""
    grant_types = list(metadata.get("grant_types") or [])
    application_type = metadata.get("application_type") or "web"
    model = {
        "id": str(uuid.uuid4()),
        "name": metadata.get("client_name") or "Unknown Client",
        "type": dcr_application_type(grant_types, application_type),
        "domain": domain_id,
        "enabled": True,
        "template": False,
        "identityProviders": [{"identity": identity_provider, "priority": -1}],
        "settings": {
            "oauth": {
                "clientId": client_id,
                "clientSecret": raw_secret,
                "clientName": metadata.get("client_name") or "Unknown Client",
                "redirectUris": metadata.get("redirect_uris"),
                "grantTypes": grant_types,
                "responseTypes": metadata.get("response_types"),
                "applicationType": application_type,
                "tokenEndpointAuthMethod": metadata.get("token_endpoint_auth_method") or "client_secret_basic",
                "scopeSettings": [{"scope": s, "defaultScope": False} for s in scopes],
                "registrationAccessToken": registration_access_token,
                "clientIdIssuedAt": now_s,
            },
            "advanced": {"skipConsent": False, "flowsInherited": True},
        },
        "createdAt": now_ms,
        "updatedAt": now_ms,
    }
    return new_record(domain_id, model, raw_secret, now_ms)


# --- the Management API handlers -----------------------------------------------------------------------
class Applications:
    """Handlers for the routes in :func:`routes`; ``api`` is the AM ManagementApi (plumbing, state)."""

    def __init__(self, api):
        self.api = api

    @property
    def state(self):
        return self.api.state

    @property
    def profile(self) -> str:
        return self.api.sim.profile

    def types(self) -> tuple[str, ...]:
        return APPLICATION_TYPES_410 + (("AGENT",) if profile_at_least(self.profile, "4.12") else ())

    def of_domain(self, domain: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.state.applications.values() if r["domainId"] == domain["id"]]

    def record_or_error(self, app_id: str) -> dict[str, Any]:
        """After the permission check (am.check_permission: an application of another domain answers 403 there,
        so ApplicationResource#get's "Application does not belong to domain" is not reached)."""
        record = self.state.applications.get(app_id)
        if record is None:
            raise AppError(404, f"Application [{app_id}] can not be found.")
        return record

    def now(self) -> int:
        from tests.simulator.am import now_ms

        return now_ms()

    def read_type(self, value: Any) -> str:
        """The enum deserializer upper-cases the value before ``valueOf``; anything else is a Jackson
        error ("Malformed json")."""
        upper = str(value).upper()
        if upper not in self.types():
            raise AppError(400, "Malformed json")
        if upper not in SIMULATED_TYPES:
            raise AppError(501, f"simulator: {upper} applications are not simulated")
        return upper

    # -- list / create --
    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        domain = self.api.checked_domain(request)
        page, size = self.api.page_params(request)
        found = self.of_domain(domain)
        q = request.query_params.get("q")
        if q:
            # MongoApplicationRepository#search: exact clientId or name (case-insensitive collation from
            # 4.11), '*' = case-insensitive prefix regex.
            if "*" in q:
                pattern = re.compile("^" + re.escape(q).replace(r"\*", ".*"), re.IGNORECASE)
                found = [r for r in found if pattern.match(r["clientId"]) or pattern.match(r["model"].get("name") or "")]
            elif profile_at_least(self.profile, "4.11"):
                found = [r for r in found if q.lower() in (r["clientId"].lower(), (r["model"].get("name") or "").lower())]
            else:
                found = [r for r in found if q in (r["clientId"], r["model"].get("name"))]
        found.sort(key=lambda r: r["model"]["updatedAt"], reverse=True)
        expand = profile_at_least(self.profile, "4.12") and "clientId" in request.query_params.getlist("expand")
        items = [summary_view(r, expand) for r in found]
        return JSONResponse(self.api.paged(items, page, size))

    async def create(self, request: Request) -> Response:
        shape = dict(NEW_APPLICATION)
        if profile_at_least(self.profile, "4.12"):
            shape["kind"] = "str"
        new = read_shape(await self.api.body(request), shape)
        violations = []
        for field in ("name", "type"):
            if new.get(field) is None:
                violations.append(f"{field}: must not be null")
        if violations:
            raise AppError(400, "[" + ",".join(violations) + "]")
        app_type = self.read_type(new["type"])
        domain = self.api.checked_domain(request)  # ApplicationsResource#createApplication, after the body's validation
        now = self.now()
        oauth = {
            "clientId": new.get("clientId") or None,
            "clientSecret": new.get("clientSecret") or None,
            "tokenEndpointAuthMethod": "client_secret_basic",
            "redirectUris": new.get("redirectUris"),
        }
        settings: dict[str, Any] = {"oauth": oauth}
        redirect_uris = new.get("redirectUris") or []
        if app_type != "SERVICE" and redirect_uris and root_url(redirect_uris[0]):
            settings["saml"] = {"entityId": root_url(redirect_uris[0]), "attributeConsumeServiceUrl": redirect_uris[0],
                                "wantResponseSigned": True, "wantAssertionsSigned": False,
                                "wantAssertionsEncrypted": False,
                                "responseBinding": "urn:oasis:names:tc:SAML:2.0:bindings:custom:Initial-Request",
                                "includeAssertionConditions": False}
        model = {
            "id": str(uuid.uuid4()), "name": new["name"], "type": app_type, "description": new.get("description"),
            "domain": domain["id"], "enabled": True, "template": False, "metadata": new.get("metadata"),
            "settings": settings, "createdAt": now, "updatedAt": now,
        }
        apply_template(model)
        raw_secret = oauth.get("clientSecret")
        from tests.simulator.am import client_id_taken

        if client_id_taken(self.state, domain["id"], oauth["clientId"]):
            raise AppError(400, f"A client [{oauth['clientId']}] already exists for domain [{domain['id']}]")
        validate_application(self.state, self.profile, domain, model)
        record = new_record(domain["id"], model, raw_secret, now)
        self.state.applications[record["id"]] = record
        location = self.api.location(request, "domains", domain["id"], "applications", record["id"])
        return JSONResponse(created_view(record, raw_secret), status_code=201, headers={"Location": location})

    # -- one application --
    async def item(self, request: Request) -> Response:
        app_id = request.path_params["app"]
        if request.method in ("GET", "DELETE"):
            # ApplicationResource#get/#delete: the permission check on the application and its domain first
            domain = self.api.checked_domain(request, "application", app_id)
            record = self.record_or_error(app_id)
            if request.method == "GET":
                return JSONResponse(application_view(record))
            if app_id == cimd_template_id(domain):
                raise AppError(400, "Application is referenced as a CIMD template and cannot be modified")
            del self.state.applications[app_id]
            return Response(status_code=204)
        # PUT and PATCH both take PatchApplication and run updateInternal (partial update).
        body = await self.api.body(request)
        patched = self.patch(request, app_id, body)
        self.state.applications[app_id] = patched
        return JSONResponse(application_view(patched))

    def patch(self, request: Request, app_id: str, body: Any) -> dict[str, Any]:
        shape = dict(PATCH_APPLICATION)
        if profile_at_least(self.profile, "4.12"):
            shape["kind"] = "str"
        patch = read_shape(body, shape)
        settings_patch = read_shape(patch["settings"], PATCH_SETTINGS) if patch.get("settings") is not None else None
        oauth_patch = None
        if settings_patch and settings_patch.get("oauth") is not None:
            oauth_shape = dict(PATCH_OAUTH)
            if profile_at_least(self.profile, "4.11"):
                oauth_shape.update(PATCH_OAUTH_411)
            oauth_patch = read_shape(settings_patch["oauth"], oauth_shape)
            for item in oauth_patch.get("scopeSettings") or []:
                read_shape(item, SCOPE_SETTINGS)
        for item in patch.get("identityProviders") or []:
            read_shape(item, IDENTITY_PROVIDER)
        if not patch:
            # PatchApplication#getRequiredPermissions is empty: nothing to update.
            raise AppError(400, "You need to specify at least one value to update.")
        # ApplicationResource#updateInternal: the permission check, the domain, then the application
        domain = self.api.checked_domain(request, "application", app_id)
        record = self.record_or_error(app_id)
        if patch.get("template") is False and record["model"].get("template") and app_id == cimd_template_id(domain):
            raise AppError(400, "Application is referenced as a CIMD template and cannot be modified")

        model = copy.deepcopy(record["model"])
        for key in ("name", "description", "enabled", "template", "factors", "certificate", "metadata"):
            if key in patch:
                value = patch[key]
                model[key] = False if value is None and key in PRIMITIVE_BOOLEANS else value
        if settings_patch is not None:
            settings = model.setdefault("settings", {}) or {}
            model["settings"] = settings
            for key, value in settings_patch.items():
                if key == "oauth":
                    if value is not None:
                        oauth = settings.setdefault("oauth", {}) or {}
                        settings["oauth"] = oauth
                        for okey, ovalue in oauth_patch.items():
                            oauth[okey] = False if ovalue is None and okey in PRIMITIVE_BOOLEANS else ovalue
                elif value is not None or key in ("account", "cookieSettings", "riskAssessment", "secretExpirationSettings"):
                    # nested patch objects are merged key by key; the plain objects are replaced
                    if isinstance(value, dict) and isinstance(settings.get(key), dict) and key in ("login", "advanced", "passwordSettings", "mfa", "saml"):
                        settings[key] = {**settings[key], **value}
                    else:
                        settings[key] = value
        if "identityProviders" in patch:
            known = {idp["id"] for idp in self.state.identity_providers.get(domain["id"], [])}
            # validateApplicationIdentityProviders keeps only the identity providers that exist.
            model["identityProviders"] = sorted(
                [{k: v for k, v in idp.items() if v is not None} | {"priority": idp.get("priority") or 0}
                 for idp in patch["identityProviders"] or [] if idp.get("identity") in known],
                key=lambda idp: (idp["priority"], idp["identity"]),
            )
        oauth = model["settings"].get("oauth") if model.get("settings") else None
        if oauth is not None:
            oauth["clientName"] = model.get("name")  # PatchApplication#patch: clientName follows the name
        apply_template(model)
        if oauth is not None:
            oauth["clientSecret"] = None  # hashed secrets are never re-initialised by an update
        validate_application(self.state, self.profile, domain, model)
        model["updatedAt"] = self.now()
        return {**record, "model": model}

    # -- identity providers --
    async def identities(self, request: Request) -> Response:
        """IdentityProvidersResource#list: FilteredIdentityProviderInfo, sorted by name (case-insensitive)."""
        domain = self.api.checked_domain(request)
        providers = sorted(self.state.identity_providers.get(domain["id"], []), key=lambda p: p["name"].lower())
        return JSONResponse([
            {"id": p["id"], "name": p["name"], "type": p["type"], "system": bool(p.get("system")),
             "external": bool(p.get("external"))}
            for p in providers
        ])


def cimd_template_id(domain: dict[str, Any]) -> str | None:
    """ApplicationServiceImpl#retrieveCIMDTemplateId: the template id while CIMD is enabled."""
    cimd = (domain.get("oidc") or {}).get("cimdSettings") or {}
    return cimd.get("templateId") if cimd.get("enabled") else None


def json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))
