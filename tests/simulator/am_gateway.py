"""Simulated Gravitee AM gateway (OAuth 2.0 / OIDC endpoints of a security domain), default port 8092.

Per domain, under ``{gateway}/{domainPath}`` (``/mcp`` for the seeded domain):

* ``/oidc/.well-known/openid-configuration`` and ``/oidc/.well-known/jwks.json`` (OIDC discovery);
* ``/.well-known/*``: every GET answers the small index that points at OIDC discovery (AM serves no
  RFC 8414 or RFC 9728 metadata, and nothing at the root ``/.well-known/...``);
* ``/oidc/register``: Dynamic Client Registration, gated and checked by the domain's DCR settings;
* ``/oauth/authorize`` → ``/login`` (HTML form) → ``/oauth/consent`` (HTML form) → redirect with a code,
  as AM's browser flow does, with a session cookie and a CSRF token in each form; ``/register`` when the
  domain allows user registration;
* ``/oauth/token`` (authorization_code with PKCE, client_credentials, refresh_token),
  ``/oauth/introspect``, ``/oauth/revoke``, ``/oidc/userinfo``.

RFC 8707 as AM does it: ``resource`` must equal one of the domain's MCP server identifiers (stored lower
case), the token's ``aud`` is that identifier, and introspection reports such a token active only to
the MCP server's own client.  Tokens are HS256 JWTs kept in memory with their expiry.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.simulator import am_cimd
from tests.simulator.profiles import at_least
from tests.simulator.am import (
    add_domain_user,
    client_id_taken,
    domain_by_path,
    mcp_server_secret_matches,
    mcp_servers_of,
    now_ms,
    secure_random_string,
)
from tests.simulator.am_applications import (
    AUTHORIZATION_CODE,
    AppError,
    client_view,
    complete_grant_type_correspondance,
    dcr_record,
    is_localhost as am_is_localhost,
    secret_matches,
    supported_grant_types,
    validate_application,
)

ACCESS_TOKEN_SECONDS = 7200  # AM application defaults
REFRESH_TOKEN_SECONDS = 14400
# BaseIntrospectionTokenService.OFFLINE_VERIFICATION_TIMER_SECONDS (:53 @4.10.20; a setting defaulting to 10 from 4.11)
INTROSPECTION_OFFLINE_SECONDS = 10
CODE_SECONDS = 60
ID_TOKEN_SECONDS = 14400
SESSION_COOKIE = "GRAVITEE_IO_AM_SESSION"
CSRF_FIELD = "X-XSRF-TOKEN"
DCR_ADMIN_SCOPE = "dcr_admin"
DCR_SCOPE = "dcr"  # Scope.DCR: the registration access token's scope
REGISTRATION_TOKEN_SECONDS = 3600 * 24 * 365 * 2  # applyRegistrationAccessToken: two years
FORBIDDEN_DESCRIPTION = "Not allowed to access to this resource."  # ClientRegistrationForbiddenException()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# OAuth2AuthHandlerImpl#parseAuthorization :217-219; its 401s carry REALM_CHALLENGE (:236-245)
MISSING_TOKEN = ("Missing access token. The access token must be sent using the Authorization header field (Bearer scheme) "
                 "or the 'access_token' body parameter")
REALM_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gravitee-io"'}
# ResponseTypeUtils.SUPPORTED_RESPONSE_TYPES
SUPPORTED_RESPONSE_TYPES = ("code", "code token", "code id_token", "code id_token token", "token", "id_token", "id_token token")
INVALID_RESOURCE = "The requested resource is not recognized by this authorization server."
PKCE_VALUE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
TOKEN_ENDPOINT_AUTH_METHODS = (
    "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "tls_client_auth",
    "self_signed_tls_client_auth", "none",
)


class OAuthError(Exception):
    """An RFC 6749 error: ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self, headers: dict[str, str] | None = None) -> Response:
        if self.error is None:  # a bare HttpException: the status alone, no body
            return Response(status_code=self.status, headers=headers)
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


def no_token_error(profile: str, message: str = "") -> OAuthError:
    """OAuth2AuthHandlerImpl#parseAuthorization without a token, or with another scheme than Bearer: 4.10 fails with a
    bare ``HttpException(401)`` (:208, :218 @4.10.20; seen on AM 4.10.20: 401 with an empty body), 4.11 and later with
    an InvalidTokenException (:208, :218 @4.11.14)."""
    if at_least(profile, "4.11"):
        return OAuthError("invalid_token", message or MISSING_TOKEN, 401)
    return OAuthError(None, "", 401)


def is_redirect_uri_error(message: str) -> bool:
    """The ApplicationServiceImpl#validateRedirectUris failures are InvalidRedirectUriException
    (``invalid_redirect_uri``); the other metadata failures are InvalidClientMetadataException."""
    return message in REDIRECT_URI_ERRORS or message.endswith(" is malformed")


REDIRECT_URI_ERRORS = (
    "Missing or invalid redirect_uris.", "At least one redirect_uri is required", "localhost is forbidden",
    "Unsecured http scheme is forbidden", "Wildcard are forbidden", "redirect_uri with fragment is forbidden",
)


def seed(sim) -> None:
    sim.state.am_gateway = SimpleNamespace(
        signing_keys={},  # domain id -> HMAC key (AM's default certificate is HMAC)
        codes={},  # code -> grant
        access_tokens={},  # token -> record
        refresh_tokens={},  # token -> record
        sessions={},  # session id -> {"csrf", "users": {domain id: user id}, "consents": set}
    )


def base_url(request: Request) -> str:
    """Scheme and host as AM resolves them (UriBuilderRequest.resolveProxyRequest honours X-Forwarded-*)."""
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{scheme}://{host}"


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def is_localhost(host: str | None) -> bool:
    """UriBuilder.isLocalhost: localhost, 127.x.y.z, ::1."""
    return am_is_localhost(host)


def _url_parts(url: str) -> tuple[str, str, int, str] | None:
    """java.net.URL for http(s): protocol, host (case kept), port or the default one, path; None for
    other schemes (MalformedURLException: unknown protocol)."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in ("http", "https"):
        return None
    host_port = parts.netloc.rsplit("@", 1)[-1]
    match = re.match(r"^(\[[^\]]*\]|[^:]*)(?::(\d*))?$", host_port)
    if not match:
        return None
    port = int(match.group(2)) if match.group(2) else (80 if scheme == "http" else 443)
    return scheme, match.group(1), port, parts.path


def _wildcard_regex(pattern: str) -> str:
    """WildcardUtils.toRegex: '*' becomes '.*', the rest is quoted."""
    return ".*".join(re.escape(part) for part in pattern.split("*"))


def redirect_matches(requested: str, registered: str, strict: bool) -> bool:
    """ParamUtils#redirectMatches: strict = string equality; otherwise same protocol and port (default
    ports applied), then the same host and a path that starts with the registered path, or (with '*')
    the wildcard patterns; anything unparsable falls back to equality."""
    if strict:
        return requested == registered
    req, reg = _url_parts(requested), _url_parts(registered)
    if req and reg and req[0] == reg[0] and req[2] == reg[2]:
        if "*" not in registered and req[1] == reg[1]:
            return req[3].startswith(reg[3])
        if re.fullmatch(_wildcard_regex(reg[1]), req[1]):
            if not req[3] and (not reg[3] or reg[3].startswith("*") or reg[3].startswith("/*")):
                return True
            return re.fullmatch(_wildcard_regex(reg[3]), req[3]) is not None
    return requested == registered


def loopback_uri(uri: str | None) -> bool:
    try:
        return bool(uri) and is_localhost(urlsplit(uri).hostname)
    except ValueError:
        return False


def loopback_matches(requested: str, registered: str) -> bool:
    """RedirectUriValidationHandler#loopbackMatches (CIMD clients): same scheme, host (any case) and
    path; the port is ignored only when the registered URI has none."""
    if not loopback_uri(registered):
        return False
    try:
        req, reg = urlsplit(requested), urlsplit(registered)
        req_port, reg_port = req.port, reg.port
    except ValueError:
        return False

    def default_port(parts, port):
        return port if port is not None else {"http": 80, "https": 443}.get((parts.scheme or "").lower(), -1)

    return (req.scheme == reg.scheme and (req.hostname or "").lower() == (reg.hostname or "").lower()
            and req.path == reg.path and (reg_port is None or default_port(req, req_port) == default_port(reg, reg_port)))


def with_query(url: str, params: dict[str, str]) -> str:
    params = {k: v for k, v in params.items() if v is not None}
    return url + ("&" if "?" in url else "?") + urlencode(params)


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body>{body}</body></html>"
    )


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}"/>'


def build_app(sim):
    gateway = Gateway(sim)
    d = "/{domain}"
    routes = [
        Route(d + "/oidc/.well-known/openid-configuration", gateway.endpoint(gateway.discovery), methods=["GET"]),
        Route(d + "/oidc/.well-known/jwks.json", gateway.endpoint(gateway.jwks), methods=["GET"]),
        Route(d + "/.well-known/{rest:path}", gateway.endpoint(gateway.well_known_index), methods=["GET"]),
        Route(d + "/oidc/register", gateway.endpoint(gateway.register_client), methods=["POST"]),
        Route(d + "/oidc/register/{client_id}", gateway.endpoint(gateway.client_configuration), methods=["GET", "DELETE"]),
        Route(d + "/oauth/authorize", gateway.endpoint(gateway.authorize), methods=["GET"]),
        Route(d + "/login", gateway.endpoint(gateway.login), methods=["GET", "POST"]),
        Route(d + "/oauth/consent", gateway.endpoint(gateway.consent), methods=["GET", "POST"]),
        Route(d + "/register", gateway.endpoint(gateway.register_user), methods=["GET", "POST"]),
        Route(d + "/oauth/error", gateway.endpoint(gateway.error_page), methods=["GET"]),
        Route(d + "/oauth/token", gateway.endpoint(gateway.token), methods=["POST"]),
        Route(d + "/oauth/introspect", gateway.endpoint(gateway.introspect), methods=["POST"]),
        Route(d + "/oauth/revoke", gateway.endpoint(gateway.revoke), methods=["POST"]),
        Route(d + "/oidc/userinfo", gateway.endpoint(gateway.userinfo), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)


class Gateway:
    def __init__(self, sim):
        self.sim = sim
        self.cimd = am_cimd.CimdResolver(sim)

    @property
    def am(self):
        return self.sim.state.am

    @property
    def state(self):
        return self.sim.state.am_gateway

    def endpoint(self, handler):
        """Resolve the security domain from the first path segment; unknown or disabled: DefaultReactor#sendNotFound's
        404 (:156-167 @4.10.20, :224 @4.12.4; seen on AM 4.10.20 until the domain synced)."""

        async def run(request: Request) -> Response:
            domain = domain_by_path(self.am, request.path_params["domain"])
            if domain is None or not domain.get("enabled"):
                return Response("No security domain matches the request URI.", status_code=404, media_type="text/plain")
            return await handler(request, domain)

        return run

    def domain_base(self, request: Request, domain: dict[str, Any]) -> str:
        return base_url(request) + domain["path"].rstrip("/")

    # -- discovery --
    async def discovery(self, request: Request, domain: dict[str, Any]) -> Response:
        base = self.domain_base(request, domain)
        scopes = sorted(s["key"] for s in self.am.scopes[domain["id"]].values() if s.get("discovery"))
        document = {
            "issuer": f"{base}/oidc",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "jwks_uri": f"{base}/oidc/.well-known/jwks.json",
            "end_session_endpoint": f"{base}/logout",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "introspection_endpoint": f"{base}/oauth/introspect",
            # Advertised whether DCR is enabled or not, as AM does.
            "registration_endpoint": f"{base}/oidc/register",
            "pushed_authorization_request_endpoint": f"{base}/oauth/par",
            "scopes_supported": scopes,
            "response_types_supported": ["code", "code id_token", "code token", "code id_token token", "id_token",
                                         "id_token token", "token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "client_credentials", "implicit", "password",
                                      "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
            "code_challenge_methods_supported": ["plain", "S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "claims_supported": ["sub", "iss", "auth_time", "name", "given_name", "family_name", "email",
                                 "email_verified", "preferred_username"],
            "request_parameter_supported": True,
        }
        if domain["oidc"]["clientRegistrationSettings"].get("isClientTemplateEnabled"):
            document["registration_templates_endpoint"] = f"{base}/oidc/register_templates"
        # OpenIDDiscoveryServiceImpl :119-122 (Domain#useCimd: cimdSettings.enabled), AM 4.12
        if am_cimd.supported(self.sim.profile) and am_cimd.settings_of(domain)["enabled"]:
            document["client_id_metadata_document_supported"] = True
        return JSONResponse(document)

    async def jwks(self, request: Request, domain: dict[str, Any]) -> Response:
        # The default certificate is an HMAC key: nothing public to publish.
        return JSONResponse({"keys": []})

    async def well_known_index(self, request: Request, domain: dict[str, Any]) -> Response:
        base = self.domain_base(request, domain)
        return JSONResponse({"openid-configuration": f"{base}/oidc/.well-known/openid-configuration"})

    # -- Dynamic Client Registration --
    def dcr_settings(self, domain: dict[str, Any]) -> dict[str, Any]:
        return domain["oidc"]["clientRegistrationSettings"]

    async def register_client(self, request: Request, domain: dict[str, Any]) -> Response:
        settings = self.dcr_settings(domain)
        try:
            # DynamicClientRegistrationHandler :50-67: open DCR (enabled and open) skips authentication.
            if not settings.get("isDynamicClientRegistrationEnabled"):
                raise OAuthError("registration_forbidden", FORBIDDEN_DESCRIPTION, 403)
            if not settings.get("isOpenDynamicClientRegistrationEnabled"):
                self.require_dcr_admin_token(request, domain)
            try:
                metadata = await request.json()
            except ValueError:
                raise OAuthError("invalid_client_metadata", "Unable to parse body") from None
            if not isinstance(metadata, dict):
                raise OAuthError("invalid_client_metadata", "Unable to parse body")
            record, raw_secret = self.new_dcr_application(request, domain, metadata)
        except OAuthError as exc:
            return exc.response(REALM_CHALLENGE if exc.status == 401 else None)
        self.am.applications[record["id"]] = record
        body = self.registration_response(request, domain, record, raw_secret)
        return JSONResponse(body, status_code=201, headers=NO_STORE)

    def require_dcr_admin_token(self, request: Request, domain: dict[str, Any]) -> None:
        """OAuth2AuthHandlerImpl with the dcr_admin scope (OIDCProvider :239-250)."""
        header = request.headers.get("authorization", "")
        if not header:
            raise no_token_error(self.sim.profile)
        record = self.state.access_tokens.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if record is None or record["domainId"] != domain["id"] or record["exp"] < time.time():
            raise OAuthError("invalid_token", "An access token is required", 401)  # wording not confirmed
        if DCR_ADMIN_SCOPE not in record["scope"].split():
            raise OAuthError("insufficient_scope", "Invalid scope", 403)

    def new_dcr_application(self, request: Request, domain: dict[str, Any], metadata: dict[str, Any]) -> tuple[dict, str | None]:
        """DynamicClientRegistrationServiceImpl#createClientFromRequest, then the gateway ClientServiceImpl#create
        and ApplicationServiceImpl#create0 (validateApplicationMetadata), in their order."""
        settings = self.dcr_settings(domain)
        # validateRedirectUri :501-509: the key is required, but null or [] is accepted here; whether the client
        # may have none is ApplicationServiceImpl#validateRedirectUris' call (SERVICE clients may).
        if "redirect_uris" not in metadata:
            raise OAuthError("invalid_redirect_uri", "Missing or invalid redirect_uris.")
        redirect_uris = metadata["redirect_uris"]
        if redirect_uris is not None and not (isinstance(redirect_uris, list) and all(isinstance(u, str) for u in redirect_uris)):
            raise OAuthError("invalid_redirect_uri", "Missing or invalid redirect_uris.")
        scopes = self.dcr_scopes(domain, metadata.get("scope"))
        # validateGrantType :521-529 and validateResponseType :511-519 (only when the key is sent)
        grant_types = metadata["grant_types"] if "grant_types" in metadata else [AUTHORIZATION_CODE]
        if "grant_types" in metadata and not (
            isinstance(grant_types, list) and grant_types and all(g in supported_grant_types(self.sim.profile) for g in grant_types)
        ):
            raise OAuthError("invalid_client_metadata", "Missing or invalid grant type.")
        response_types = metadata["response_types"] if "response_types" in metadata else ["code"]
        if response_types is not None and not (
            isinstance(response_types, list) and all(r in SUPPORTED_RESPONSE_TYPES for r in response_types)
        ):
            raise OAuthError("invalid_client_metadata", "Invalid response type.")
        auth_method = metadata.get("token_endpoint_auth_method") or "client_secret_basic"
        if auth_method not in TOKEN_ENDPOINT_AUTH_METHODS:
            raise OAuthError("invalid_client_metadata", f"Unsupported token_endpoint_auth_method: {auth_method}")
        # ClientServiceImpl#getType :177 completes the grant types from the response types first: a client
        # that sends grant_types [client_credentials] without response_types keeps Client's default response
        # type "code", so it also gets authorization_code and is a WEB client, which needs a redirect URI.
        oauth = {"grantTypes": list(grant_types or []), "responseTypes": list(response_types or [])}
        complete_grant_type_correspondance(oauth)
        client_id = secure_random_string()
        while client_id_taken(self.am, domain["id"], client_id):
            client_id = secure_random_string()
        raw_secret = None if auth_method == "none" else secure_random_string()
        client = {
            **metadata,
            "redirect_uris": redirect_uris,
            "grant_types": oauth["grantTypes"],
            "response_types": oauth["responseTypes"] if response_types is not None or oauth["responseTypes"] else None,
            "token_endpoint_auth_method": auth_method,
        }
        record = dcr_record(
            domain["id"], client, client_id, raw_secret, scopes,
            self.am.identity_providers[domain["id"]][0]["id"],  # first IdP of the domain
            self.registration_access_token(request, domain, client_id), now_ms(), int(time.time()),
        )
        try:
            validate_application(self.am, self.sim.profile, domain, record["model"])
        except AppError as exc:
            error = "invalid_redirect_uri" if is_redirect_uri_error(exc.message) else "invalid_client_metadata"
            raise OAuthError(error, exc.message) from None
        return record, raw_secret

    def dcr_scopes(self, domain: dict[str, Any], scope: Any) -> list[str]:
        """DynamicClientRegistrationServiceImpl#validateScopes :749-779: with allowed scopes on, the scopes not
        allowed are dropped silently; none left (or none asked) -> the domain's DCR default scopes."""
        settings = self.dcr_settings(domain)
        requested = [s for s in str(scope or "").split(" ") if s] if isinstance(scope, str) else []
        if requested and settings.get("isAllowedScopesEnabled") and settings.get("allowedScopes") is not None:
            allowed = set(settings["allowedScopes"])
            requested = [s for s in requested if s in allowed]
        return requested or list(settings.get("defaultScopes") or [])

    def registration_access_token(self, request: Request, domain: dict[str, Any], client_id: str) -> str:
        """applyRegistrationAccessToken :341-361: a JWT for the client itself (sub = aud = client_id), scope
        ``dcr``, valid two years, signed like the domain's tokens."""
        now = int(time.time())
        claims = {"iss": f"{self.domain_base(request, domain)}/oidc", "sub": client_id, "aud": client_id,
                  "domain": domain["id"], "iat": now, "exp": now + REGISTRATION_TOKEN_SECONDS, "scope": DCR_SCOPE,
                  "jti": secure_random_string()}
        return jwt.encode(claims, self.signing_key(domain), algorithm="HS256")

    def signing_key(self, domain: dict[str, Any]) -> bytes:
        return self.state.signing_keys.setdefault(domain["id"], secrets.token_bytes(32))

    def registration_response(self, request: Request, domain: dict[str, Any], record: dict[str, Any],
                              raw_secret: str | None, with_registration: bool = True) -> dict:
        """DynamicClientRegistrationResponse#fromClient (null fields left out)."""
        oauth = record["model"]["settings"]["oauth"]
        base = self.domain_base(request, domain)
        body = {
            "client_id": record["clientId"],
            "client_secret": raw_secret,
            "client_name": oauth["clientName"],
            "redirect_uris": oauth.get("redirectUris"),
            "grant_types": oauth.get("grantTypes"),
            "response_types": oauth.get("responseTypes"),
            "token_endpoint_auth_method": oauth["tokenEndpointAuthMethod"],
            "application_type": oauth["applicationType"],
            "scope": " ".join(s["scope"] for s in oauth.get("scopeSettings") or []) or None,
            "client_id_issued_at": oauth["clientIdIssuedAt"],
            "client_secret_expires_at": 0,
            "domain": domain["id"],
            "id": record["id"],
            "enabled": record["model"].get("enabled", True),
        }
        if with_registration:
            body["registration_access_token"] = oauth["registrationAccessToken"]
            # the discovery document's registration_endpoint + "/" + client_id
            body["registration_client_uri"] = f"{base}/oidc/register/{record['clientId']}"
        return {k: v for k, v in body.items() if v is not None}

    # -- RFC 7592 client configuration endpoint --
    async def client_configuration(self, request: Request, domain: dict[str, Any]) -> Response:
        """GET / DELETE ``/oidc/register/{client_id}`` (OIDCProvider :252-295): DynamicClientAccessHandler,
        OAuth2AuthHandler (offline, dcr_admin, self resource with scope ``dcr``), DynamicClientAccessTokenHandler,
        then DynamicClientAccessEndpoint#read / #delete."""
        path_client_id = request.path_params["client_id"]
        try:
            if not self.dcr_settings(domain).get("isDynamicClientRegistrationEnabled"):
                raise OAuthError("registration_forbidden", FORBIDDEN_DESCRIPTION, 403)
            raw_token, claims = self.client_access_token(request, domain, path_client_id)
            scopes = str(claims.get("scope") or "").split()
            if DCR_ADMIN_SCOPE not in scopes:
                owner = self.application_record(domain, claims.get("aud"))
                registered = owner["model"]["settings"]["oauth"].get("registrationAccessToken") if owner else None
                if not registered or not secrets.compare_digest(raw_token, registered):
                    raise OAuthError("registration_forbidden", "Non matching registration_access_token", 403)
                if claims.get("sub") != path_client_id:
                    raise OAuthError("registration_forbidden", f"Not allowed to access to : {path_client_id}", 403)
            record = self.application_record(domain, path_client_id)
            if record is None:
                raise OAuthError("not_found", "client not found", 404)
        except OAuthError as exc:
            return exc.response(REALM_CHALLENGE if exc.status == 401 else None)
        if request.method == "DELETE":
            del self.am.applications[record["id"]]
            return Response(status_code=204)
        # read: the registration access token and client URI are left out, and no secret is returned
        # (the client comes from the sync service, whose secrets are stored hashed: inferred).
        body = self.registration_response(request, domain, record, None, with_registration=False)
        return JSONResponse(body, headers=NO_STORE)

    def client_access_token(self, request: Request, domain: dict[str, Any], path_client_id: str) -> tuple[str, dict]:
        """OAuth2AuthHandlerImpl#handle :75-156 for the client configuration routes: the raw token and its claims."""
        header = request.headers.get("authorization")
        if header is not None:
            index = header.find(" ")
            if index <= 0:
                raise OAuthError("invalid_request", "The access token must be sent using the Authorization header field")
            if header[:index].lower() != "bearer":
                raise no_token_error(self.sim.profile, "Authorization header must use Bearer scheme")
            raw_token = header[index + 1:]
        else:
            raw_token = request.query_params.get("access_token")
        if not raw_token:
            raise no_token_error(self.sim.profile)
        try:
            claims = jwt.decode(raw_token, self.signing_key(domain), algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_token", "The access token is invalid", 401) from None  # wording not confirmed
        audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        if claims.get("domain") != domain["id"] or not any(self.application_record(domain, a) for a in audiences):
            raise OAuthError("invalid_token", "The token is invalid", 401)  # Client or resource not found
        scopes = str(claims.get("scope") or "").split()
        if path_client_id == claims.get("sub") and DCR_SCOPE in scopes:
            return raw_token, claims  # selfResource(true, CLIENT_ID, "dcr")
        if claims.get("sub") != claims.get("aud"):
            raise OAuthError("invalid_token", "The access token was not issued for a Client", 401)
        if DCR_ADMIN_SCOPE not in scopes:
            raise OAuthError("insufficient_scope", "Invalid access token scopes. The access token should have at least "
                             f"'{DCR_ADMIN_SCOPE}' scope", 403)
        return raw_token, claims

    def application_record(self, domain: dict[str, Any], client_id: Any) -> dict[str, Any] | None:
        return next(
            (a for a in self.am.applications.values() if a["domainId"] == domain["id"] and a["clientId"] == client_id),
            None,
        )

    # -- clients --
    def application(self, domain: dict[str, Any], client_id: str | None) -> dict[str, Any] | None:
        """A registered application's client view (created in the Management API or by DCR)."""
        record = next(
            (a for a in self.am.applications.values() if a["domainId"] == domain["id"] and a["clientId"] == client_id),
            None,
        )
        return client_view(record) if record is not None else None

    async def client(self, domain: dict[str, Any], client_id: str | None) -> dict[str, Any] | None:
        """ClientLookupService: registered applications first, then (AM 4.12, CIMD enabled with a template)
        a URL-shaped client id resolved from its metadata document.  am_cimd.CimdError on a CIMD failure."""
        return self.application(domain, client_id) or await self.cimd.resolve(domain, client_id)

    def mcp_server(self, domain: dict[str, Any], client_id: str | None) -> dict[str, Any] | None:
        return next((r for r in mcp_servers_of(self.am, domain["id"]) if r["clientId"] == client_id), None)

    async def authenticate_client(self, request: Request, domain: dict[str, Any], form) -> SimpleNamespace:
        """ClientAuthHandler: applications first, then MCP servers (protected resources) by client_id."""
        client_id, secret, method = None, None, "none"
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except ValueError:
                raise OAuthError("invalid_client", "Invalid client: malformed Basic credentials", 401) from None
            raw_id, raw_secret = (decoded.split(":", 1) + [""])[:2]
            # ClientBasicAuthProvider URL-decodes both parts (so '+' becomes a space).
            client_id, secret, method = unquote(raw_id.replace("+", " ")), unquote(raw_secret.replace("+", " ")), "client_secret_basic"
        elif form.get("client_secret") is not None:
            client_id, secret, method = form.get("client_id"), form.get("client_secret"), "client_secret_post"
        else:
            client_id = form.get("client_id")
        if not client_id:
            raise OAuthError("invalid_client", "Invalid client: missing client_id", 401)

        try:
            app = await self.client(domain, client_id)
        except am_cimd.CimdError as exc:
            raise OAuthError("invalid_client_metadata", str(exc)) from None
        if app is not None:
            expected = app["tokenEndpointAuthMethod"]
            if method == "none" and expected != "none":
                raise OAuthError("invalid_client", "Invalid client: missing or unsupported authentication method", 401)
            if method != "none" and not secret_matches(app, secret):
                raise OAuthError("invalid_client", "Invalid client: bad credentials", 401)
            return SimpleNamespace(client_id=app["clientId"], application=app, mcp_server=None)

        server = self.mcp_server(domain, client_id)
        if server is not None:
            auth_method = ((server.get("settings") or {}).get("oauth") or {}).get("tokenEndpointAuthMethod")
            basic_ok = method == "client_secret_basic" and auth_method in (None, "client_secret_basic")
            post_ok = method == "client_secret_post" and auth_method == "client_secret_post"
            if (basic_ok or post_ok) and mcp_server_secret_matches(server, secret, self.sim.sync_delay("am_gateway")):
                return SimpleNamespace(client_id=client_id, application=None, mcp_server=server)
        raise OAuthError("invalid_client", "Invalid client: bad credentials", 401)

    # -- RFC 8707 --
    def check_resources(self, domain: dict[str, Any], resources: list[str]) -> None:
        """ResourceValidationServiceImpl: exact match against the stored (lower-cased) identifiers."""
        known = {i for r in mcp_servers_of(self.am, domain["id"]) for i in r["resourceIdentifiers"]}
        if any(resource not in known for resource in resources):
            raise OAuthError("invalid_target", INVALID_RESOURCE)

    # -- sessions --
    def session(self, request: Request) -> tuple[str, dict[str, Any]]:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id not in self.state.sessions:
            session_id = secrets.token_urlsafe(24)
            self.state.sessions[session_id] = {"csrf": secrets.token_urlsafe(16), "users": {}, "consents": set()}
        return session_id, self.state.sessions[session_id]

    @staticmethod
    def with_session(response: Response, session_id: str, domain: dict[str, Any]) -> Response:
        response.set_cookie(SESSION_COOKIE, session_id, path=domain["path"], httponly=True)
        return response

    def check_csrf(self, session: dict[str, Any], form) -> Response | None:
        if not secrets.compare_digest(str(form.get(CSRF_FIELD, "")), session["csrf"]):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        return None

    # -- authorization endpoint --
    def error_page_redirect(self, request: Request, domain: dict[str, Any], error: OAuthError) -> Response:
        params = {"client_id": request.query_params.get("client_id"), "error": error.error,
                  "error_description": error.description}
        return RedirectResponse(with_query(f"{self.domain_base(request, domain)}/oauth/error", params), 302)

    async def error_page(self, request: Request, domain: dict[str, Any]) -> Response:
        error = html.escape(request.query_params.get("error", "server_error"))
        description = html.escape(request.query_params.get("error_description", ""))
        return page("Error", f'<h1>Error</h1><p class="error">{error}</p><p class="error_description">{description}</p>')

    async def authorize(self, request: Request, domain: dict[str, Any]) -> Response:
        params = request.query_params
        # Until the redirect_uri is known to belong to the client, errors go to AM's own error page.
        if not params.get("client_id"):
            return self.error_page_redirect(request, domain, OAuthError("invalid_request", "Missing parameter: client_id"))
        try:
            app = await self.client(domain, params.get("client_id"))
        except am_cimd.CimdError as exc:
            # AuthorizationRequestParseClientHandler: an OAuth2Exception from the lookup fails the request.
            return self.error_page_redirect(request, domain, OAuthError("invalid_client_metadata", str(exc)))
        if app is None:
            return self.error_page_redirect(
                request, domain, OAuthError("invalid_request", f"No client found for client_id {params['client_id']}")
            )
        redirect_uri = params.get("redirect_uri")
        try:
            redirect_uri = self.checked_redirect_uri(domain, app, redirect_uri)
        except OAuthError as exc:
            return self.error_page_redirect(request, domain, exc)

        state = params.get("state")
        try:
            grant = self.authorization_request(domain, app, params, redirect_uri)
        except OAuthError as exc:
            # RFC 6749 4.1.2.1 error response to the client; AM's status/body for invalid_target is not
            # documented, this is the standard redirect form.
            return RedirectResponse(
                with_query(redirect_uri, {"error": exc.error, "error_description": exc.description, "state": state}), 302
            )

        session_id, session = self.session(request)
        user_id = session["users"].get(domain["id"])
        query = request.url.query
        if user_id is None:
            return self.with_session(RedirectResponse(f"{self.domain_base(request, domain)}/login?{query}", 302), session_id, domain)
        # OAuth2Provider's /authorize chain (:290-307 @4.10.20): the authentication flow comes before
        # AuthorizationRequestResolveHandler (scopes) and AuthorizationRequestResourceValidationHandler (resource), so
        # an unknown scope or resource is reported only once the user has logged in.
        try:
            grant.update(self.resolved_authorization(domain, app, params))
        except OAuthError as exc:
            return RedirectResponse(
                with_query(redirect_uri, {"error": exc.error, "error_description": exc.description, "state": state}), 302
            )
        consent_key = (app["clientId"], user_id, frozenset(grant["scopes"]))
        if grant["scopes"] and not app.get("skipConsent") and consent_key not in session["consents"]:
            return self.with_session(
                RedirectResponse(f"{self.domain_base(request, domain)}/oauth/consent?{query}", 302), session_id, domain
            )
        code = secrets.token_urlsafe(32)
        self.state.codes[code] = {**grant, "userId": user_id, "exp": time.time() + CODE_SECONDS}
        return RedirectResponse(with_query(redirect_uri, {"code": code, "state": state}), 302)

    def checked_redirect_uri(self, domain: dict[str, Any], app: dict[str, Any], requested: str | None) -> str:
        """RedirectUriValidator#validate with RedirectUriValidationHandler#getCheckMethod: CIMD clients
        match exactly, except loopback callbacks (port of a port-less registered URI ignored) when the
        domain allows localhost; other clients use ParamUtils#redirectMatches (strict when the domain's
        redirectUriStrictMatching is on)."""
        registered = app["redirectUris"]
        if not requested:
            if not registered:
                raise OAuthError("invalid_request", "A redirect_uri must be supplied")
            if len(registered) > 1:
                raise OAuthError("invalid_request", "Unable to find suitable redirect_uri, a redirect_uri must be supplied")
            return registered[0]
        if urlsplit(requested).username is not None:
            raise OAuthError("redirect_uri_mismatch",
                             f"The redirect_uri [ {requested} ] MUST NOT contain userInfo part")
        if registered:
            strict = bool(domain["oidc"].get("redirectUriStrictMatching"))
            allow_localhost = bool(domain["oidc"]["clientRegistrationSettings"].get("allowLocalhostRedirectUri"))
            if app.get("cimd"):
                if loopback_uri(requested) and allow_localhost:
                    ok = any(loopback_matches(requested, r) for r in registered)
                else:
                    ok = requested in registered
            else:
                ok = any(redirect_matches(requested, r, strict) for r in registered)
            if not ok:
                raise OAuthError("redirect_uri_mismatch",
                                 f"The redirect_uri [ {requested} ] MUST match the registered callback URL for this application")
        return requested

    def authorization_request(self, domain, app, params, redirect_uri: str) -> dict[str, Any]:
        response_type = params.get("response_type")
        if not response_type:
            raise OAuthError("invalid_request", "Missing parameter: response_type")
        if response_type != "code" or response_type not in app["responseTypes"]:
            raise OAuthError("unsupported_response_type", f"Unsupported response type: {response_type}")
        if "authorization_code" not in app["grantTypes"]:
            raise OAuthError("unauthorized_client", "Client must at least have authorization_code grant type")

        # AuthorizationRequestParseParametersHandler#parsePKCEParameter
        challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
        if challenge is None and method is not None:
            raise OAuthError("invalid_request", "Missing parameter: code_challenge")
        if challenge is None and app.get("forcePKCE"):
            raise OAuthError("invalid_request", "Missing parameter: code_challenge")
        if challenge is not None:
            if method is not None:
                if method not in ("plain", "S256") or (app.get("forceS256CodeChallengeMethod") and method != "S256"):
                    raise OAuthError("invalid_request", "Invalid parameter: code_challenge_method")
            elif app.get("forceS256CodeChallengeMethod"):
                raise OAuthError("invalid_request", "Invalid parameter: code_challenge_method")
            method = method or "plain"
            if not PKCE_VALUE.match(challenge):
                raise OAuthError("invalid_request", "Invalid parameter: code_challenge")

        return {
            "clientId": app["clientId"], "domainId": domain["id"], "redirectUri": redirect_uri,
            "redirectUriGiven": params.get("redirect_uri") is not None,
            "codeChallenge": challenge, "codeChallengeMethod": method,
        }

    def resolved_authorization(self, domain, app, params) -> dict[str, Any]:
        """After login: AuthorizationRequestResolveHandler (scopes), then AuthorizationRequestResourceValidationHandler."""
        resources = params.getlist("resource")
        scopes = self.resolve_scopes(domain, app, (params.get("scope") or "").split(), resources)
        self.check_resources(domain, resources)
        return {"scopes": scopes, "resources": resources}

    def resolve_scopes(self, domain, app, requested: list[str], resources: list[str]) -> list[str]:
        """AbstractRequestResolver#resolveAuthorizedScopes: the client's scopes (its default scopes when
        none is requested), then, with ``resource``, the scopes of the MCP servers' tools for those
        resources; anything else requested is ``invalid_scope``.  Requested scopes are kept as asked unless
        none (or only ``openid``) was asked."""
        resolved, invalid, client_resolved = [], [], set()
        if app["scopes"]:
            if not requested:
                resolved += list(app["defaultScopes"])
            else:
                for scope in requested:
                    if scope in app["scopes"]:
                        resolved.append(scope)
                        client_resolved.add(scope)
                    else:
                        invalid.append(scope)
        if resources and requested:
            tool_scopes = {
                scope
                for server in mcp_servers_of(self.am, domain["id"])
                if set(server["resourceIdentifiers"]) & set(resources)
                for feature in server["features"]
                for scope in feature.get("scopes") or []
            }
            for scope in requested:
                if tool_scopes and scope in tool_scopes:
                    if scope not in resolved:
                        resolved.append(scope)
                    if scope in invalid:
                        invalid.remove(scope)
                elif scope not in resolved and scope not in client_resolved and scope not in invalid:
                    invalid.append(scope)
        if invalid:
            raise OAuthError("invalid_scope", f"Invalid scope(s): {' '.join(invalid)}")
        if not resolved and requested:
            raise OAuthError("invalid_scope", f"Invalid scope(s): {' '.join(requested)}")
        if not requested or all(s == "openid" for s in requested):
            return resolved
        return list(dict.fromkeys(requested))

    # -- login --
    def login_settings(self, domain: dict[str, Any]) -> dict[str, Any]:
        return domain.get("loginSettings") or {}

    async def login(self, request: Request, domain: dict[str, Any]) -> Response:
        session_id, session = self.session(request)
        base = self.domain_base(request, domain)
        query = request.url.query
        if request.method == "POST":
            form = await request.form()
            forbidden = self.check_csrf(session, form)
            if forbidden:
                return forbidden
            user = self.am.domain_users[domain["id"]].get(str(form.get("username", "")))
            try:
                client = await self.client(domain, request.query_params.get("client_id") or form.get("client_id"))
            except am_cimd.CimdError:
                client = None
            if client is not None and user is not None and user["source"] not in client["identityProviders"]:
                # UserAuthenticationManagerImpl#authenticate: only the client's identity providers are asked
                # (none at all: InternalAuthenticationServiceException); wording of the page not confirmed.
                user = None
            if user is None or not secrets.compare_digest(user["password"], str(form.get("password", ""))):
                failed = with_query(f"{base}/login?{query}" if query else f"{base}/login",
                                    {"error": "login_failed", "error_description": "Wrong user or password"})
                return self.with_session(RedirectResponse(failed, 302), session_id, domain)
            session["users"][domain["id"]] = user["id"]
            return self.with_session(RedirectResponse(f"{base}/oauth/authorize?{self.without_login_error(request)}", 302), session_id, domain)

        error = ""
        if request.query_params.get("error"):
            error = f'<div class="login-error-info"><span class="error">{html.escape(request.query_params["error"])}</span>' \
                    f'<small class="error_description">{html.escape(request.query_params.get("error_description", ""))}</small></div>'
        register = ""
        if self.login_settings(domain).get("registerEnabled"):
            register = f'<div><a href="{html.escape(base)}/register?{html.escape(self.without_login_error(request))}">Register</a></div>'
        form_query = self.without_login_error(request)
        body = (
            f"<h1>Sign in</h1><p>to continue to {html.escape(domain['name'])}</p>{error}"
            f'<form role="form" method="post" action="{html.escape(base)}/login?{html.escape(form_query)}">'
            '<label for="username">Username</label><input type="text" id="username" name="username" required/>'
            '<label for="password">Password</label><input type="password" id="password" name="password" required/>'
            f"{hidden(CSRF_FIELD, session['csrf'])}{hidden('client_id', request.query_params.get('client_id', ''))}"
            '<button type="submit">Sign in</button></form>'
            f"{register}"
        )
        return self.with_session(page("Login", body), session_id, domain)

    @staticmethod
    def without_login_error(request: Request) -> str:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("error", "error_description", "success")]
        return urlencode(kept)

    # -- consent --
    async def consent(self, request: Request, domain: dict[str, Any]) -> Response:
        session_id, session = self.session(request)
        base = self.domain_base(request, domain)
        user_id = session["users"].get(domain["id"])
        try:
            app = await self.client(domain, request.query_params.get("client_id"))
        except am_cimd.CimdError:
            app = None
        if user_id is None or app is None:
            return RedirectResponse(f"{base}/login?{request.url.query}", 302)
        requested = (request.query_params.get("scope") or "").split() or list(app["defaultScopes"])
        if request.method == "POST":
            form = await request.form()
            forbidden = self.check_csrf(session, form)
            if forbidden:
                return forbidden
            approved = str(form.get("user_oauth_approval", "")).lower()
            if approved == "true" or approved.startswith("approve"):
                session["consents"].add((app["clientId"], user_id, frozenset(requested)))
                return RedirectResponse(f"{base}/oauth/authorize?{request.url.query}", 302)
            redirect_uri = request.query_params.get("redirect_uri") or app["redirectUris"][0]
            denied = {"error": "access_denied", "error_description": "User denied access",
                      "state": request.query_params.get("state")}
            return RedirectResponse(with_query(redirect_uri, denied), 302)
        scope_inputs = "".join(hidden(f"scope.{s}", "true") for s in requested)
        items = "".join(f"<li>{html.escape(s)}</li>" for s in requested)
        body = (
            f"<h1>{html.escape(app['clientName'])} wants to access your account</h1><ul>{items}</ul>"
            f'<form method="post" action="{html.escape(base)}/oauth/consent?{html.escape(request.url.query)}">'
            f"{hidden(CSRF_FIELD, session['csrf'])}{scope_inputs}"
            '<button type="submit" name="user_oauth_approval" value="true">Accept</button>'
            '<button type="submit" name="user_oauth_approval" value="false">Deny</button></form>'
        )
        return self.with_session(page("Consent", body), session_id, domain)

    # -- user registration --
    async def register_user(self, request: Request, domain: dict[str, Any]) -> Response:
        if not self.login_settings(domain).get("registerEnabled"):
            return Response("Not Found", status_code=404, media_type="text/plain")
        session_id, session = self.session(request)
        base = self.domain_base(request, domain)
        query = self.without_login_error(request)
        if request.method == "POST":
            form = await request.form()
            forbidden = self.check_csrf(session, form)
            if forbidden:
                return forbidden
            username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
            if not username or not password:
                return RedirectResponse(with_query(f"{base}/register?{query}", {"error": "registration_failed"}), 302)
            if username in self.am.domain_users[domain["id"]]:
                return RedirectResponse(with_query(f"{base}/register?{query}", {"error": "registration_failed"}), 302)
            add_domain_user(self.am, domain["id"], username, password, email=form.get("email"),
                            firstName=form.get("firstName"), lastName=form.get("lastName"))
            return RedirectResponse(with_query(f"{base}/register?{query}", {"success": "registration_succeed"}), 302)
        message = ""
        if request.query_params.get("success"):
            message = f'<p class="success">registration_succeed</p><a href="{html.escape(base)}/login?{html.escape(query)}">Sign in</a>'
        elif request.query_params.get("error"):
            message = f'<p class="error">{html.escape(request.query_params["error"])}</p>'
        body = (
            f"<h1>Register</h1>{message}"
            f'<form method="post" action="{html.escape(base)}/register?{html.escape(query)}">'
            '<input type="text" name="firstName"/><input type="text" name="lastName"/><input type="email" name="email"/>'
            '<input type="text" name="username" required/><input type="password" name="password" required/>'
            f"{hidden(CSRF_FIELD, session['csrf'])}{hidden('client_id', request.query_params.get('client_id', ''))}"
            '<button type="submit">Register</button></form>'
        )
        return self.with_session(page("Register", body), session_id, domain)

    # -- token endpoint --
    def issue_tokens(self, request, domain, client_id, user_id, scopes, resources, with_refresh: bool) -> dict:
        now = time.time()
        issuer = f"{self.domain_base(request, domain)}/oidc"
        key = self.state.signing_keys.setdefault(domain["id"], secrets.token_bytes(32))
        audience = resources if resources else [client_id]
        # TokenServiceImpl#createJWT: aud = the client id; #setResources (:407-419 @4.10.20, :529-541 @4.12.4) replaces
        # it with a JSON array of the requested resources, which DefaultJWTBuilder#sign writes through Nimbus's
        # JWTClaimsSet: one audience as a string, several as an array (AM's e2e introspection-cimd-enabled at 4.12.4
        # expects the string).  #createAccessTokenJWT adds a client_id claim from 4.11 (:460 @4.11.14 and @4.12.4;
        # absent @4.10.20).  No scope claim without scopes.
        claims = {
            "sub": user_id or client_id, "aud": audience[0] if len(audience) == 1 else list(audience), "domain": domain["id"],
            "iss": issuer, "iat": int(now), "exp": int(now + ACCESS_TOKEN_SECONDS), "jti": secrets.token_urlsafe(16),
        }
        if at_least(self.sim.profile, "4.11"):
            claims["client_id"] = client_id
        if scopes:
            claims["scope"] = " ".join(scopes)
        access_token = jwt.encode(claims, key, algorithm="HS256")
        record = {"domainId": domain["id"], "clientId": client_id, "userId": user_id, "scope": " ".join(scopes),
                  "aud": audience, "resources": list(resources), "iat": claims["iat"], "exp": claims["exp"],
                  "iss": issuer, "jti": claims["jti"], "claims": claims}
        self.state.access_tokens[access_token] = record
        body = {"access_token": access_token, "token_type": "bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                "scope": " ".join(scopes) or None}
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self.state.refresh_tokens[refresh] = {**record, "exp": now + REFRESH_TOKEN_SECONDS}
            body["refresh_token"] = refresh
        if user_id and "openid" in scopes:
            body["id_token"] = jwt.encode(
                {"sub": user_id, "aud": client_id, "iss": issuer, "iat": int(now), "exp": int(now + ID_TOKEN_SECONDS)},
                key, algorithm="HS256",
            )
        return {k: v for k, v in body.items() if v is not None}

    async def token(self, request: Request, domain: dict[str, Any]) -> Response:
        form = await request.form()
        try:
            client = await self.authenticate_client(request, domain, form)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "Missing parameter: grant_type")
            grant_types = client.application["grantTypes"] if client.application else self.mcp_server_grant_types(client.mcp_server)
            if grant_type not in ("authorization_code", "client_credentials", "refresh_token"):
                raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant_type}")
            if grant_type not in grant_types:
                if at_least(self.sim.profile, "4.11"):
                    # CompositeTokenGranter#findGranter: no strategy supports a grant the client lacks.
                    raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant_type}")
                # AbstractTokenGranter#parseRequest (4.10)
                raise OAuthError("unauthorized_client", f"Unauthorized grant type: {grant_type}")
            resources = form.getlist("resource")
            self.check_resources(domain, resources)
            if grant_type == "authorization_code":
                body = self.exchange_code(request, domain, client, form, resources)
            elif grant_type == "refresh_token":
                body = self.refresh(request, domain, client, form, resources)
            else:
                body = self.client_credentials(request, domain, client, form, resources)
        except OAuthError as exc:
            return exc.response()
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def exchange_code(self, request, domain, client, form, resources: list[str]) -> dict:
        code = form.get("code")
        if not code:
            raise OAuthError("invalid_request", "Missing parameter: code")
        grant = self.state.codes.pop(code, None)  # a code is good for one exchange only
        if grant is None or grant["exp"] < time.time() or grant["clientId"] != client.client_id:
            raise OAuthError("invalid_grant", "Invalid authorization code")
        if grant["redirectUriGiven"] and form.get("redirect_uri") != grant["redirectUri"]:
            raise OAuthError("invalid_grant", "Redirect URI mismatch.")
        if grant["codeChallenge"] is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                raise OAuthError("invalid_grant", "Missing parameter: code_verifier")
            if not PKCE_VALUE.match(verifier):
                raise OAuthError("invalid_grant", "Invalid parameter: code_verifier")
            computed = pkce_s256(verifier) if grant["codeChallengeMethod"] == "S256" else verifier
            if not secrets.compare_digest(computed, grant["codeChallenge"]):
                raise OAuthError("invalid_grant", "Invalid code_verifier")
        if resources and grant["resources"] and not set(resources) <= set(grant["resources"]):
            raise OAuthError("invalid_target", INVALID_RESOURCE)
        granted_resources = resources or grant["resources"]
        with_refresh = "refresh_token" in client.application["grantTypes"]
        return self.issue_tokens(request, domain, client.client_id, grant["userId"], grant["scopes"],
                                 granted_resources, with_refresh)

    def refresh(self, request, domain, client, form, resources: list[str]) -> dict:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "Missing parameter: refresh_token")
        record = self.state.refresh_tokens.get(token)
        if record is None or record["exp"] < time.time() or record["clientId"] != client.client_id:
            raise OAuthError("invalid_grant", "Refresh token is invalid")
        del self.state.refresh_tokens[token]  # a new refresh token replaces it
        if resources and record["resources"] and not set(resources) <= set(record["resources"]):
            raise OAuthError("invalid_target", INVALID_RESOURCE)
        return self.issue_tokens(request, domain, client.client_id, record["userId"], record["scope"].split(),
                                 resources or record["resources"], with_refresh=True)

    def client_credentials(self, request, domain, client, form, resources: list[str]) -> dict:
        """ClientCredentialsStrategy, then TokenRequestResolver#resolve (AbstractRequestResolver#resolveAuthorizedScopes,
        the same rules as on authorize): the client's scopes (its default scopes when none is asked), and with
        ``resource`` the scopes of those MCP servers' tools."""
        scopes_of = client.application or self.mcp_server_scopes(client.mcp_server)
        requested = (form.get("scope") or "").split()
        scopes = self.resolve_scopes(domain, scopes_of, requested, resources)
        return self.issue_tokens(request, domain, client.client_id, None, scopes, resources, with_refresh=False)

    def mcp_server_grant_types(self, server: dict[str, Any]) -> list[str]:
        """ProtectedResource#toClient: AM 4.10 builds a bare Client (grant types: Client's default,
        authorization_code); from 4.11 the resource's settings are copied (client_credentials by default)."""
        oauth = (server.get("settings") or {}).get("oauth") or {}
        if not at_least(self.sim.profile, "4.11"):
            return [AUTHORIZATION_CODE]
        return list(oauth.get("grantTypes") or [])

    @staticmethod
    def mcp_server_scopes(server: dict[str, Any]) -> dict[str, list[str]]:
        settings = ((server.get("settings") or {}).get("oauth") or {}).get("scopeSettings") or []
        return {"scopes": [s.get("scope") for s in settings], "defaultScopes": [s.get("scope") for s in settings if s.get("defaultScope")]}

    # -- introspection, revocation, userinfo --
    async def client_and_token(self, request: Request, domain: dict[str, Any]):
        """Introspection and revocation: the authenticated client, the form and its required ``token``."""
        form = await request.form()
        client = await self.authenticate_client(request, domain, form)
        token = form.get("token")
        if not token:
            raise OAuthError("invalid_request", "Missing parameter: token")
        return client, form, token

    async def introspect(self, request: Request, domain: dict[str, Any]) -> Response:
        try:
            client, form, token = await self.client_and_token(request, domain)
        except OAuthError as exc:
            return exc.response()
        record = self.state.access_tokens.get(token)
        if record is None and form.get("token_type_hint") != "access_token":
            record = self.state.refresh_tokens.get(token)
        if record is None or record["domainId"] != domain["id"] or record["exp"] < time.time():
            return JSONResponse({"active": False})
        if not self.audiences_known(domain, record["aud"]):
            # BaseIntrospectionTokenService#resolveCertificateIdFromAudMatches: every aud must be a client or an MCP
            # server identifier of the domain, else the token is invalid.
            return JSONResponse({"active": False})
        if record["resources"] and not self.owns_resources(domain, client.client_id, record["resources"]):
            # validateResourcesBelongToAuthorizedClient: only the MCP server's own client sees it active.
            return JSONResponse({"active": False})
        user = self.user_by_id(domain, record["userId"])
        claims = record.get("claims") or {}
        # BaseIntrospectionTokenService#introspectToken: within 10 s of iat (OFFLINE_VERIFICATION_TIMER_SECONDS) the
        # token is checked offline and the result carries no client id, so IntrospectionServiceImpl#convert takes
        # TokenServiceImpl#convert's fallback, the first aud (for a resource token: the resource URL, seen on AM
        # 4.10.20); later the stored token's client.  Then every JWT claim is copied where the key is free.
        if time.time() < record["iat"] + INTROSPECTION_OFFLINE_SECONDS:
            client_id = record["aud"][0]
        else:
            client_id = record["clientId"]
        body = {
            "active": True, "client_id": client_id, "exp": record["exp"], "iat": record["iat"], "token_type": "bearer",
            "sub": claims.get("sub", record["userId"] or record["clientId"]),
            "username": user["username"] if user else None, "scope": record["scope"] or None,
        }
        body = {k: v for k, v in body.items() if v is not None}
        for key, value in claims.items():
            body.setdefault(key, value)
        return JSONResponse(body)

    def audiences_known(self, domain: dict[str, Any], audiences: list[str]) -> bool:
        identifiers = {i for server in mcp_servers_of(self.am, domain["id"]) for i in server["resourceIdentifiers"]}
        clients = {s["clientId"] for s in mcp_servers_of(self.am, domain["id"])}
        return all(a in identifiers or a in clients or self.application_record(domain, a) for a in audiences)

    def owns_resources(self, domain: dict[str, Any], client_id: str, resources: list[str]) -> bool:
        owners = {
            identifier: server["clientId"]
            for server in mcp_servers_of(self.am, domain["id"])
            for identifier in server["resourceIdentifiers"]
        }
        return all(owners.get(resource) == client_id for resource in resources)

    def user_by_id(self, domain: dict[str, Any], user_id: str | None) -> dict[str, Any] | None:
        return next((u for u in self.am.domain_users[domain["id"]].values() if u["id"] == user_id), None)

    async def revoke(self, request: Request, domain: dict[str, Any]) -> Response:
        try:
            client, dummy_form, token = await self.client_and_token(request, domain)
        except OAuthError as exc:
            return exc.response()
        for store in (self.state.access_tokens, self.state.refresh_tokens):
            record = store.get(token)
            if record is not None and record["clientId"] == client.client_id:
                del store[token]
        return Response(status_code=200)

    async def userinfo(self, request: Request, domain: dict[str, Any]) -> Response:
        header = request.headers.get("authorization", "")
        record = self.state.access_tokens.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if record is None or record["domainId"] != domain["id"] or record["exp"] < time.time():
            return OAuthError("invalid_token", "The access token is invalid or has expired", 401).response(challenge)
        user = self.user_by_id(domain, record["userId"])
        if user is None:
            return OAuthError("invalid_token", "The access token has no end-user", 401).response(challenge)
        claims = {"sub": user["id"], "preferred_username": user["username"], "email": user.get("email"),
                  "given_name": user.get("firstName"), "family_name": user.get("lastName")}
        return JSONResponse({k: v for k, v in claims.items() if v is not None})
