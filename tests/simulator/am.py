"""Simulated Gravitee AM Management API (AM 4.10.x and 4.12.x behaviours), default port 8093.

Served (all under ``/management``): ``POST /auth/token``, account access tokens, domains (list/search,
``_hrid``, get, create, PATCH/PUT with the real partial semantics, delete), scopes (list, create) and
MCP servers (``protected-resources``, with the ``secrets`` sub-resource in the 4.12 profile).

Every rule here comes from ``shared/gravitee/am-management-api.md``; ``FIDELITY.md`` names the
upstream source of each.  The state (``sim.state.am``) is shared with the AM gateway module, which
reads domains, users and MCP servers and writes the applications that Dynamic Client Registration
creates.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
import unicodedata
import uuid
from types import SimpleNamespace
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.simulator import am_applications, am_cimd
from tests.simulator.am_applications import AppError

ORGANIZATION = "DEFAULT"
ENVIRONMENT = "DEFAULT"
ADMIN_USERNAME, ADMIN_PASSWORD = "admin", "adminadmin"
TOKEN_LIFETIME_SECONDS = 604800  # jwt.expire-after default: 7 days
SECRETS_MAX = 10  # applications.secretsMax default

SEEDED_DOMAIN_NAME = "mcp"
DEMO_USERNAME, DEMO_PASSWORD = "demo", "demo-password"
# The AM release each profile serves (FIDELITY.md), as its Management API's OpenAPI document names it.
AM_VERSIONS = {"4.10": "4.10.20", "4.11": "4.11.14", "4.12": "4.12.4"}
# The system scopes every new domain gets: one per constant of AM's io.gravitee.am.common.oidc.Scope enum, in its
# order (DomainServiceImpl#createSystemScopes; ScopeServiceImpl#create(Domain, NewSystemScope) stores key, label as
# name, description, discovery and claims, system true).  Same 14 at 4.10.20, 4.11.14 and 4.12.4.
# (key, name, description, discovery, claims)
SYSTEM_SCOPES = (
    ("profile", "Profile", "Access to the End-User default profile Claims", True,
     ["name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile", "picture",
      "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"]),
    ("full_profile", "Extended profile", "Access to the End-User extended profile Claims", True, []),
    ("email", "Email", "Access to the email and email_verified Claims", True, ["email", "email_verified"]),
    ("address", "Address", "Access to the address Claim", True, ["address"]),
    ("phone", "Phone", "Access to the phone_number and phone_number_verified Claims", True,
     ["phone_number", "phone_number_verified"]),
    ("openid", "Openid", "Used to perform Openid requests", True, []),
    ("offline_access", "Offline_access", "Access to End-User UserInfo even when he is not logged in.", True, []),
    ("dcr", "Client_registration", "Access to client information through openid register endpoint.", False, []),
    ("dcr_admin", "Client_registration_admin", "Access to Dynamic Client Registration endpoint.", False, []),
    ("scim", "SCIM", "Access to System for Cross-domain Identity Management endpoint.", False, []),
    ("uma_protection", "UMA_2.0", "Access and manage user protected resources", False, []),
    ("consent_admin", "Consent_admin", "Access to End-User consents", False, []),
    ("groups", "Groups", "Access to the groups Claim.", True, ["groups"]),
    ("roles", "Roles", "Access to the roles Claim.", True, ["roles"]),
)
# Plus one custom scope for MCP tools in the seeded domain.
SEEDED_CUSTOM_SCOPES = ("mcp:tools",)
# PermissionService keeps the parent of each application, MCP server and domain it resolved for 60 s
# (PARENT_CACHE_EXPIRE_AFTER_WRITE_SECONDS).
PARENT_CACHE_SECONDS = 60

PROTECTED_RESOURCE_TYPE = "MCP_SERVER"
MCP_TOOL = "MCP_TOOL"

MCP_SERVER_NAME_RULES = (
    "Name must be between 1 and 64 characters",
    "Name must begin with a non-whitespace character",
)
FEATURE_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")


class AmError(Exception):
    """An error the Management API answers with its ``ErrorEntity`` body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def malformed_json() -> AmError:
    return AmError(400, "Malformed json")


def unrecognized(prop: str) -> AmError:
    return AmError(400, f"Property [{prop}] is not recognized as a valid property")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "http_status": status}, status_code=status, headers=headers)


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return uuid.uuid4().hex


def secure_random_string() -> str:
    # URL-safe characters only, so generated ids and secrets survive Basic auth untouched.
    return secrets.token_urlsafe(24)


def java_date_string(epoch_seconds: float) -> str:
    """``java.util.Date.toString()`` in UTC, e.g. ``Tue Dec 02 10:00:00 UTC 2025``."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch_seconds))


def generate_hrid(name: str) -> str:
    """gravitee-common ``IdGenerator.generate``: what AM derives a domain's hrid from."""
    text = unicodedata.normalize("NFD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^a-z0-9\s-]", "", text).strip()
    return re.sub(r"[^a-z0-9]+", "-", text)


def non_null(value: Any) -> Any:
    """Jackson ``NON_NULL``: drop null fields (recursively)."""
    if isinstance(value, dict):
        return {k: non_null(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [non_null(v) for v in value]
    return value


def java_string(value: Any) -> str:
    """How Java prints a constraint's invalid value (``List.toString``, ``String``)."""
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Violations:
    """Bean-validation violations, reported as AM's ``ValidationExceptionMapper`` does:
    ``[<invalid value, or the field name when the value is null>: <message>,...]``."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, field: str, value: Any, message: str) -> None:
        self.items.append(f"{field if value is None else java_string(value)}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise AmError(400, "[" + ",".join(self.items) + "]")


def check_not_blank(v: Violations, field: str, value: Any) -> None:
    if value is None or not str(value).strip():
        v.add(field, value, "must not be blank")


def check_mcp_server_name(v: Violations, value: Any) -> None:
    check_not_blank(v, "name", value)
    if value is not None and not 1 <= len(value) <= 64:
        v.add("name", value, MCP_SERVER_NAME_RULES[0])
    if value is not None and not re.match(r"^[^\s]", value):
        v.add("name", value, MCP_SERVER_NAME_RULES[1])


def is_valid_resource_url(value: str) -> bool:
    """``@Url(allowFragment=false)``: ``URI.create(value)`` with a scheme and a host, and no fragment.

    ``URI.create`` parses the value as given (``UrlValidator#isValid``, same @4.10.20 and @4.12.4): a space anywhere,
    leading and trailing ones included, or another character a URI can't hold unescaped, makes it invalid."""
    if not value or re.search(r"[\s<>\"{}|\\^`]", value):
        return False
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$", value)
    if not match:
        return False
    rest = match.group(2)
    if "#" in rest or not rest.startswith("//"):
        return False
    authority = rest[2:].split("/", 1)[0].split("?", 1)[0]
    host = authority.rsplit("@", 1)[-1]
    host = host[: host.rfind(":")] if ":" in host and not host.endswith("]") else host
    return bool(host)


def check_resource_identifiers(v: Violations, value: Any) -> None:
    if not value:
        v.add("resourceIdentifiers", value, "must not be empty")
        return
    for item in value:
        if item is None or not item.strip():
            v.add("resourceIdentifiers", item, "must not be blank")
        elif not is_valid_resource_url(item):
            v.add("resourceIdentifiers", item, "Invalid URL")


# --- JSON body shapes -----------------------------------------------------------------------------
# The Management API ObjectMapper is field based and fails on unknown properties.  A "shape" lists the
# accepted keys and their JSON kinds; anything else is answered as Jackson's mappers answer it.
STR, BOOL, INT, STR_LIST, OBJECT, OBJECT_LIST = "str", "bool", "int", "str_list", "object", "object_list"


def check_kind(value: Any, kind: str) -> None:
    if value is None:
        return
    ok = {
        STR: isinstance(value, str),
        BOOL: isinstance(value, bool),
        INT: isinstance(value, int) and not isinstance(value, bool),
        STR_LIST: isinstance(value, list) and all(isinstance(i, str) or i is None for i in value),
        OBJECT: isinstance(value, dict),
        OBJECT_LIST: isinstance(value, list) and all(isinstance(i, dict) for i in value),
    }[kind]
    if not ok:
        raise malformed_json()


def read_object(body: Any, shape: dict[str, str], ignore_unknown: bool = False) -> dict[str, Any]:
    """Check a JSON object against a shape; returns only the known keys."""
    if not isinstance(body, dict):
        raise malformed_json()
    known = {}
    for key, value in body.items():
        if key not in shape:
            if ignore_unknown:
                continue
            raise unrecognized(key)
        check_kind(value, shape[key])
        known[key] = value
    return known


# --- state ----------------------------------------------------------------------------------------
def seed(sim) -> None:
    state = SimpleNamespace(
        jwt_secret=secrets.token_hex(32),
        org_users={},  # username -> {"id", "username", "password"}
        account_tokens={},  # token value -> {"tokenId", "userId", "name", ...}
        domains={},  # id -> domain (output field names)
        scopes={},  # domain id -> {key: scope}
        identity_providers={},  # domain id -> [idp]
        domain_users={},  # domain id -> {username: user}
        protected_resources={},  # id -> internal MCP server record
        applications={},  # id -> application created by DCR (written by the AM gateway)
        parent_cache={},  # (kind, id) -> (parent reference, time.monotonic() when written): PermissionService
    )
    sim.state.am = state
    state.org_users[ADMIN_USERNAME] = {"id": new_id(), "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}

    domain = create_domain(
        state, ENVIRONMENT, {"name": SEEDED_DOMAIN_NAME, "description": "MCP servers", "dataPlaneId": "default"}
    )
    domain["enabled"] = True
    for key in SEEDED_CUSTOM_SCOPES:
        add_scope(state, domain["id"], {"key": key, "name": key, "description": "Call the MCP server's tools"})
    add_domain_user(state, domain["id"], DEMO_USERNAME, DEMO_PASSWORD, email="demo@example.com")


def create_domain(state, environment: str, new_domain: dict[str, Any]) -> dict[str, Any]:
    name = new_domain["name"].strip()
    hrid = generate_hrid(name)
    if any(d["hrid"] == hrid for d in state.domains.values()):
        raise AmError(400, f"A domain [{name}] already exists.")
    created = now_ms()
    domain = {
        "id": new_id(),
        "hrid": hrid,
        "name": name,
        "description": new_domain.get("description"),
        "enabled": False,
        "alertEnabled": False,
        "path": "/" + hrid,
        "vhostMode": False,
        "referenceType": "environment",
        "referenceId": environment,
        "dataPlaneId": new_domain["dataPlaneId"],
        "oidc": default_oidc_settings(),
        "createdAt": created,
        "updatedAt": created,
    }
    state.domains[domain["id"]] = domain
    state.scopes[domain["id"]] = {}
    for key, name, description, discovery, claims in SYSTEM_SCOPES:
        add_scope(state, domain["id"], {"key": key, "name": name, "description": description, "discovery": discovery,
                                        "claims": claims}, system=True)
    state.identity_providers[domain["id"]] = [
        # DefaultIdentityProviderServiceImpl#populateDefault: "default-idp-" + the domain id in lower case
        {"id": "default-idp-" + domain["id"].lower(), "name": "Default Identity Provider", "type": "mongo-am-idp",
         "system": True}
    ]
    state.domain_users[domain["id"]] = {}
    return domain


def default_client_registration_settings() -> dict[str, Any]:
    return {
        "allowLocalhostRedirectUri": False,
        "allowHttpSchemeRedirectUri": False,
        "allowWildCardRedirectUri": False,
        "allowRedirectUriParamsExpressionLanguage": False,
        "isDynamicClientRegistrationEnabled": False,
        "isOpenDynamicClientRegistrationEnabled": False,
        "isAllowedScopesEnabled": False,
        "isClientTemplateEnabled": False,
    }


def default_oidc_settings() -> dict[str, Any]:
    return {"clientRegistrationSettings": default_client_registration_settings(), "redirectUriStrictMatching": False}


def add_scope(state, domain_id: str, new_scope: dict[str, Any], system: bool = False) -> dict[str, Any]:
    created = now_ms()
    scope = {
        "id": new_id(),
        "key": new_scope["key"],
        "name": new_scope["name"],
        "description": new_scope.get("description"),
        "iconUri": new_scope.get("iconUri"),
        "expiresIn": new_scope.get("expiresIn"),
        "domain": domain_id,
        "system": system,
        "discovery": bool(new_scope.get("discovery", system)),
        "parameterized": bool(new_scope.get("parameterized", False)),
        "claims": new_scope.get("claims"),
        "createdAt": created,
        "updatedAt": created,
    }
    state.scopes[domain_id][scope["key"]] = scope
    return scope


def add_domain_user(state, domain_id: str, username: str, password: str, **profile: Any) -> dict[str, Any]:
    idp = state.identity_providers[domain_id][0]
    user = {"id": new_id(), "username": username, "password": password, "source": idp["id"], **profile}
    state.domain_users[domain_id][username] = user
    return user


def client_id_taken(state, domain_id: str, client_id: str) -> bool:
    """OAuthClientUniquenessValidator: client ids are unique across applications and MCP servers."""
    records = list(state.applications.values()) + list(state.protected_resources.values())
    return any(r["domainId"] == domain_id and r["clientId"] == client_id for r in records)


def mcp_servers_of(state, domain_id: str) -> list[dict[str, Any]]:
    return [r for r in state.protected_resources.values() if r["domainId"] == domain_id]


# --- permissions ----------------------------------------------------------------------------------
# AbstractResource#checkAnyPermission(org, env, domain[, type, id]) runs PermissionService#hasPermission, whose
# haveConsistentReferenceIds first checks that each id is attached to the next: the application or MCP server to
# the domain, the domain to the environment, by resolving their parents (applicationService / protectedResourceService
# / domainService#findById).  An id that resolves to nothing, or to another parent, is "inconsistent": 403
# "Permission denied" before any lookup, so an unknown id never answers 404.  Resolved parents are cached 60 s: an
# id deleted less than 60 s after its parent was cached still passes, and then answers the lookup's 404.
def resolve_parent(state, kind: str, ref_id: str) -> tuple[str, str] | None:
    if kind == "domain":
        domain = state.domains.get(ref_id)
        return (domain["referenceType"], domain["referenceId"]) if domain else None
    store = {"application": state.applications, "protected_resource": state.protected_resources}[kind]
    record = store.get(ref_id)
    return ("domain", record["domainId"]) if record else None


def parent_of(state, kind: str, ref_id: str) -> tuple[str, str] | None:
    """PermissionService#parentOf: the cached parent (60 s after it was written), else the resolved one (cached)."""
    now = time.monotonic()
    cached = state.parent_cache.get((kind, ref_id))
    if cached is not None and now - cached[1] < PARENT_CACHE_SECONDS:
        return cached[0]
    parent = resolve_parent(state, kind, ref_id)
    if parent is None:
        state.parent_cache.pop((kind, ref_id), None)
    else:
        state.parent_cache[(kind, ref_id)] = (parent, now)
    return parent


def check_permission(state, environment: str, domain_id: str, kind: str | None = None, ref_id: str | None = None) -> None:
    """checkAnyPermission on a domain (and an application or MCP server of it) for the seeded admin, who holds
    every permission on the organization: 403 when the ids are not consistent."""
    if kind is not None and parent_of(state, kind, ref_id) != ("domain", domain_id):
        raise AmError(403, "Permission denied")
    if parent_of(state, "domain", domain_id) != ("environment", environment):
        raise AmError(403, "Permission denied")


# --- authentication -------------------------------------------------------------------------------
def issue_jwt(state, user: dict[str, Any]) -> tuple[str, float]:
    issued = time.time()
    expires = issued + TOKEN_LIFETIME_SECONDS
    claims = {
        "sub": user["id"],
        "org": ORGANIZATION,
        "preferred_username": user["username"],
        "jti": new_id(),
        "iat": int(issued),
        "exp": int(expires),
    }
    return jwt.encode(claims, state.jwt_secret, algorithm="HS256"), expires


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def authenticated_user(state, request: Request) -> dict[str, Any] | None:
    """BearerTokenAuthenticator: a value with a dot is a JWT, anything else an account access token."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        cookie = request.cookies.get("Auth-Graviteeio-AM", "")
        if not cookie.lower().startswith("bearer "):
            return None
        header = cookie
    token = header[7:].strip()
    if "." in token:
        try:
            claims = jwt.decode(token, state.jwt_secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        return next((u for u in state.org_users.values() if u["id"] == claims.get("sub")), None)
    account_token = state.account_tokens.get(token)
    if account_token is None:
        return None
    return next((u for u in state.org_users.values() if u["id"] == account_token["userId"]), None)


# --- the app --------------------------------------------------------------------------------------
def build_app(sim):
    api = ManagementApi(sim)
    base = "/management/organizations/{org}/environments/{env}/domains"
    resources = base + "/{domain}/protected-resources"
    routes = [
        Route("/management/auth/token", api.token, methods=["POST"]),
        Route("/management/openapi.json", api.openapi, methods=["GET"]),
        Route("/management/organizations/{org}/users/{user}/tokens", api.endpoint(api.account_tokens), methods=["GET", "POST"]),
        Route(base, api.endpoint(api.domains), methods=["GET", "POST"]),
        Route(base + "/_hrid/{hrid}", api.endpoint(api.domain_by_hrid), methods=["GET"]),
        Route(base + "/{domain}", api.endpoint(api.domain), methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route(base + "/{domain}/scopes", api.endpoint(api.scopes), methods=["GET", "POST"]),
        Route(resources, api.endpoint(api.protected_resources), methods=["GET", "POST"]),
        Route(resources + "/{id}", api.endpoint(api.protected_resource), methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route(resources + "/{id}/secrets", api.endpoint(api.secrets), methods=["GET", "POST"]),
        Route(resources + "/{id}/secrets/{secret}", api.endpoint(api.secret), methods=["DELETE"]),
        Route(resources + "/{id}/secrets/{secret}/_renew", api.endpoint(api.renew_secret), methods=["POST"]),
        # AM applications and identity providers (am_applications.py)
        Route(base + "/{domain}/applications", api.endpoint(api.applications.collection), methods=["GET", "POST"]),
        Route(base + "/{domain}/applications/{app}", api.endpoint(api.applications.item),
              methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route(base + "/{domain}/identities", api.endpoint(api.applications.identities), methods=["GET"]),
        Route("/{path:path}", api.endpoint(api.not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return Starlette(routes=routes)


class ManagementApi:
    def __init__(self, sim):
        self.sim = sim
        self.applications = am_applications.Applications(self)

    @property
    def state(self):
        return self.sim.state.am

    @property
    def is_412(self) -> bool:
        """AM >= 4.11 behaviours (the 4.12 profile)."""
        return self.sim.profile != "4.10"

    # -- plumbing --
    def endpoint(self, handler):
        """Bearer authentication (Http401UnauthorizedEntryPoint), then the handler; errors as ErrorEntity."""

        async def run(request: Request) -> Response:
            try:
                if authenticated_user(self.state, request) is None:
                    return error_response(401, "Full authentication is required to access this resource")
                org, env = request.path_params.get("org"), request.path_params.get("env")
                # All seeded users are organisation admins of DEFAULT; elsewhere they hold no role, and
                # permission checks come before existence checks.
                if (org is not None and org != ORGANIZATION) or (env is not None and env != ENVIRONMENT):
                    return error_response(403, "Permission denied")
                return await handler(request)
            except (AmError, AppError) as exc:
                return error_response(exc.status, exc.message)

        return run

    async def body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            raise malformed_json() from None

    def checked_domain(self, request: Request, kind: str | None = None, ref_id: str | None = None) -> dict[str, Any]:
        """checkAnyPermission on the path's domain (and on an application or MCP server of it: ``kind``, ``ref_id``),
        then the domain itself (DomainNotFoundException).  Unknown ids answer 403 (see check_permission)."""
        domain_id = request.path_params["domain"]
        check_permission(self.state, request.path_params["env"], domain_id, kind, ref_id)
        domain = self.state.domains.get(domain_id)
        if domain is None:
            raise AmError(404, f"Domain [{domain_id}] can not be found.")
        return domain

    @staticmethod
    def location(request: Request, *parts: str) -> str:
        """``Response.created(URI.create("/organizations/.../<id>"))``: JAX-RS resolves the path against the base URI
        (``http://host:port/management/``); the path is absolute, so the ``/management`` context path is lost
        (seen on AM 4.10.20: ``Location`` omits ``/management``)."""
        org, env = request.path_params["org"], request.path_params["env"]
        return f"{str(request.base_url).rstrip('/')}/organizations/{org}/environments/{env}/" + "/".join(parts)

    @staticmethod
    def page_params(request: Request) -> tuple[int, int]:
        try:
            page = int(request.query_params.get("page", 0))
            size = int(request.query_params.get("size", 50))
        except ValueError:
            raise AmError(404, "HTTP 404 Not Found") from None  # JAX-RS: an unparsable query param is a 404
        return page, size

    @staticmethod
    def paged(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
        return {"data": items[page * size : (page + 1) * size], "currentPage": page, "totalCount": len(items)}

    async def not_found(self, request: Request) -> Response:
        return error_response(404, "HTTP 404 Not Found")

    # -- /auth/token --
    async def token(self, request: Request) -> Response:
        """Spring Security Basic auth on /auth/token; the body is ignored."""
        credentials = basic_credentials(request)
        user = self.state.org_users.get(credentials[0]) if credentials else None
        if user is None or user["password"] != credentials[1]:
            return Response(
                status_code=401, headers={"WWW-Authenticate": 'Basic realm="Gravitee.io AM Management API"'}
            )
        token, expires = issue_jwt(self.state, user)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_at": java_date_string(expires)})

    async def openapi(self, request: Request) -> Response:
        """GET /management/openapi.json, served without authentication (ManagementSecurityConfiguration
        #webSecurityCustomizer); ``info.version`` is the runtime version (GraviteeApiDefinition#afterScan).  Only
        ``info`` and ``servers`` are simulated, not the paths and schemas."""
        return JSONResponse({"openapi": "3.0.1", "info": {"title": "Gravitee.io - Access Management API",
                                                          "version": AM_VERSIONS[self.sim.profile]},
                             "servers": [{"url": "/management"}], "paths": {}})

    # -- account access tokens --
    async def account_tokens(self, request: Request) -> Response:
        user_id = request.path_params["user"]
        user = next((u for u in self.state.org_users.values() if u["id"] == user_id), None)
        if user is None:
            raise AmError(404, f"User [{user_id}] can not be found.")
        if request.method == "GET":
            listed = [
                {k: v for k, v in t.items() if k != "token"}
                for t in self.state.account_tokens.values()
                if t["userId"] == user_id
            ]
            return JSONResponse(non_null(listed))
        body = read_object(await self.body(request), {"name": STR})
        violations = Violations()
        check_not_blank(violations, "name", body.get("name"))
        violations.raise_if_any()
        token_id, raw = new_id(), secure_random_string()
        value = base64.b64encode(f"{token_id}.{raw}".encode()).decode()  # no dot: not taken for a JWT
        created = now_ms()
        record = {
            "tokenId": token_id,
            "referenceType": "organization",
            "referenceId": ORGANIZATION,
            "userId": user_id,
            "issuerUsername": user["username"],
            "issuerId": user["id"],
            "name": body["name"],
            "createdAt": created,
            "updatedAt": created,
        }
        self.state.account_tokens[value] = record
        return JSONResponse({**record, "token": value}, status_code=201)

    # -- domains --
    def domain_view(self, domain: dict[str, Any]) -> dict[str, Any]:
        return non_null(am_cimd.with_cimd_defaults(domain, self.sim.profile))

    @staticmethod
    def domain_summary(domain: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "hrid", "name", "description", "enabled", "path", "vhostMode", "referenceType", "referenceId",
                "createdAt", "updatedAt")
        return non_null({k: domain.get(k) for k in keys})

    async def domains(self, request: Request) -> Response:
        if request.method == "POST":
            body = read_object(await self.body(request), {"name": STR, "description": STR, "dataPlaneId": STR})
            violations = Violations()
            check_not_blank(violations, "name", body.get("name"))
            # The 4.10.20 and 4.12.4 specs (generated from the bean annotations) mark dataPlaneId required.
            if body.get("dataPlaneId") is None:
                violations.add("dataPlaneId", None, "must not be null")
            violations.raise_if_any()
            domain = create_domain(self.state, request.path_params["env"], body)
            return JSONResponse(self.domain_view(domain), status_code=201,
                                headers={"Location": self.location(request, "domains", domain["id"])})

        page, size = self.page_params(request)
        q = request.query_params.get("q")
        # DomainsResource#list: sorted by name with String.CASE_INSENSITIVE_ORDER
        found = sorted(self.state.domains.values(), key=lambda d: d["name"].lower())
        if q:
            if "*" in q:  # MongoDomainRepository#search: a '*' makes it a case-insensitive prefix regex
                pattern = re.compile("^" + re.escape(q).replace(r"\*", ".*"), re.IGNORECASE)
                found = [d for d in found if pattern.match(d["name"]) or pattern.match(d["hrid"])]
            else:
                found = [d for d in found if q in (d["name"], d["hrid"])]
        return JSONResponse(self.paged([self.domain_summary(d) for d in found], page, size))

    async def domain_by_hrid(self, request: Request) -> Response:
        hrid = request.path_params["hrid"]
        domain = next((d for d in self.state.domains.values() if d["hrid"] == hrid), None)
        if domain is None:
            raise AmError(404, f"Domain [{hrid}] can not be found.")
        return JSONResponse(self.domain_view(domain))

    async def domain(self, request: Request) -> Response:
        if request.method in ("GET", "DELETE"):
            domain = self.checked_domain(request)
            if request.method == "DELETE":
                self.delete_domain(domain["id"])
                return Response(status_code=204)
            return JSONResponse(self.domain_view(domain))
        # PUT and PATCH run the same code (DomainResource#updateInternal): both are partial.  The body is read, and an
        # empty one refused, before the permission check.
        domain_patch = DomainPatch(self.sim.profile)
        parsed = domain_patch.parse(await self.body(request))
        domain = self.checked_domain(request)
        patched = domain_patch.apply(domain, parsed)
        am_cimd.validate_settings(self.state, patched, self.sim.profile)  # DomainServiceImpl#validateCIMDSettings
        if patched["hrid"] != domain["hrid"] and any(
            d["hrid"] == patched["hrid"] for d in self.state.domains.values() if d["id"] != domain["id"]
        ):
            raise AmError(400, f"A domain [{patched['name']}] already exists.")
        patched["updatedAt"] = now_ms()
        self.state.domains[domain["id"]] = patched
        return JSONResponse(self.domain_view(patched))

    def delete_domain(self, domain_id: str) -> None:
        state = self.state
        state.domains.pop(domain_id)
        for store in (state.protected_resources, state.applications):
            for key in [k for k, r in store.items() if r["domainId"] == domain_id]:
                del store[key]
        for store in (state.scopes, state.identity_providers, state.domain_users):
            store.pop(domain_id, None)

    # -- scopes --
    async def scopes(self, request: Request) -> Response:
        if request.method == "POST":
            body = read_object(
                await self.body(request),
                {"key": STR, "name": STR, "description": STR, "iconUri": STR, "expiresIn": INT,
                 "discovery": BOOL, "parameterized": BOOL},
            )
            violations = Violations()
            for field in ("description", "key", "name"):
                if body.get(field) is None:
                    violations.add(field, None, "must not be null")
            violations.raise_if_any()
        domain = self.checked_domain(request)
        scopes = self.state.scopes[domain["id"]]
        if request.method == "POST":
            if body["key"] in scopes:
                raise AmError(400, f"A scope [{body['key']}] already exists for domain [{domain['id']}]")
            scope = add_scope(self.state, domain["id"], body)
            return JSONResponse(non_null(scope), status_code=201,
                                headers={"Location": self.location(request, "domains", domain["id"], "scopes", scope["id"])})
        page, size = self.page_params(request)
        q = request.query_params.get("q")
        listed = sorted(scopes.values(), key=lambda s: s["key"])
        if q:
            pattern = re.compile("^" + re.escape(q).replace(r"\*", ".*") + "$", re.IGNORECASE)
            listed = [s for s in listed if pattern.match(s["key"]) or pattern.match(s["name"])]
        basic = ("id", "key", "name", "description", "system", "discovery")
        return JSONResponse(self.paged([non_null({k: s.get(k) for k in basic}) for s in listed], page, size))

    # -- MCP servers (protected resources) --
    def require_type(self, request: Request) -> None:
        """Released AM (<= 4.12.4) converts ``type`` with ``Type.fromString`` outside any validation: a
        missing or unknown value raises IllegalArgumentException, which ThrowableMapper answers 500."""
        value = request.query_params.get("type")
        if value is None or value.upper() != PROTECTED_RESOURCE_TYPE:
            raise AmError(500, "Internal error")

    def resource_or_404(self, domain: dict[str, Any], resource_id: str) -> dict[str, Any]:
        resource = self.state.protected_resources.get(resource_id)
        if resource is None or resource["domainId"] != domain["id"]:
            raise AmError(404, f"ProtectedResource [{resource_id}] can not be found.")
        return resource

    def resource_view(self, resource: dict[str, Any]) -> dict[str, Any]:
        """ProtectedResourcePrimaryData: no secret, enums in lower case."""
        view = {
            "id": resource["id"],
            "clientId": resource["clientId"],
            "name": resource["name"],
            "description": resource["description"],
            "type": resource["type"].lower(),
            "resourceIdentifiers": list(resource["resourceIdentifiers"]),
            # Features sorted by key, case-insensitively: MongoProtectedResourceRepository#convert (:205-212 @4.10.20,
            # "to match JDBC behavior (OrderByKeyName)"); JdbcProtectedResourceRepository orders by key_name.
            "features": [feature_view(f) for f in sorted(resource["features"], key=lambda f: f["key"].lower())],
            "updatedAt": resource["updatedAt"],
        }
        if self.is_412:
            settings = json.loads(json.dumps(resource.get("settings"))) if resource.get("settings") else None
            if settings and isinstance(settings.get("oauth"), dict):
                settings["oauth"]["clientSecret"] = None  # ProtectedResourcePrimaryData.sanitizeSettings
            view["settings"] = settings
            view["secretSettings"] = resource.get("secretSettings")
            view["certificate"] = resource.get("certificate")
        return non_null(view)

    async def protected_resources(self, request: Request) -> Response:
        if request.method == "POST":
            return self.create_protected_resource(request, await self.body(request))
        page, size = self.page_params(request)
        # type is parsed before the q branch: required with q too (ProtectedResourcesResource.java :144, :159 @4.12.4).
        self.require_type(request)
        domain = self.checked_domain(request)
        q = request.query_params.get("q") if self.is_412 else None
        found = mcp_servers_of(self.state, domain["id"])
        if q:
            # search(domainId, q): clientId or name, exactly but ignoring case (Mongo collation, JDBC UPPER), or with
            # '*' a case-insensitive prefix; no type filter on this path.
            if "*" in q:
                pattern = re.compile("^" + re.escape(q).replace(r"\*", ".*"), re.IGNORECASE)
                found = [r for r in found if pattern.match(r["clientId"]) or pattern.match(r["name"])]
            else:
                found = [r for r in found if q.upper() in (r["clientId"].upper(), r["name"].upper())]
        # sort: SortParamConverter#fromString ("<field>[.asc|.desc]", no direction = ascending, default updatedAt.desc);
        # JdbcProtectedResourceRepository#transformSortValue: "name", anything else is updatedAt (the real tier runs
        # JDBC; the name order is the database collation's, code points here).
        sort_by, dummy_dot, direction = (request.query_params.get("sort") or "updatedAt.desc").partition(".")
        field = "name" if sort_by == "name" else "updatedAt"
        found.sort(key=lambda r: r[field], reverse=(direction or "asc") != "asc")
        return FeaturesJSONResponse(self.paged([self.resource_view(r) for r in found], page, size))

    async def protected_resource(self, request: Request) -> Response:
        resource_id = request.path_params["id"]
        if request.method in ("GET", "DELETE"):
            self.require_type(request)  # Type.fromString, first thing in the method: 500 before the permission check
            domain = self.checked_domain(request, "protected_resource", resource_id)
            resource = self.resource_or_404(domain, resource_id)
            if request.method == "GET":
                return FeaturesJSONResponse(self.resource_view(resource))
            del self.state.protected_resources[resource_id]
            return Response(status_code=204)
        body = await self.body(request)

        def locate() -> tuple[dict[str, Any], dict[str, Any]]:
            """After the body's validation: the permission check, the domain, then the MCP server."""
            domain = self.checked_domain(request, "protected_resource", resource_id)
            return domain, self.resource_or_404(domain, resource_id)

        if request.method == "PUT":
            updated = self.put_protected_resource(locate, body)
        else:
            updated = self.patch_protected_resource(locate, body)
        self.state.protected_resources[resource_id] = updated
        return FeaturesJSONResponse(self.resource_view(updated))

    def read_features(self, features: list[dict[str, Any]] | None, on_update: bool) -> list[dict[str, Any]]:
        """Polymorphic feature list: the subtype id must be ``MCP_TOOL`` (also ``mcp_tool`` on update
        from 4.11); an unknown or missing subtype is a Jackson error, i.e. "Malformed json"."""
        accepted = {MCP_TOOL} | ({"mcp_tool"} if on_update and self.is_412 else set())
        ignore_unknown = on_update and self.is_412
        tools = []
        for feature in features or []:
            if feature.get("type") not in accepted:
                raise malformed_json()
            tools.append(
                read_object(
                    feature, {"type": STR, "key": STR, "description": STR, "scopes": STR_LIST}, ignore_unknown
                )
            )
        return tools

    @staticmethod
    def validate_features(v: Violations, features: list[dict[str, Any]]) -> None:
        for feature in features:
            key = feature.get("key")
            check_not_blank(v, "key", key)
            if key is not None and not 1 <= len(key) <= 64:
                v.add("key", key, "size must be between 1 and 64")
            if key is not None and not FEATURE_KEY_PATTERN.match(key):
                v.add("key", key, "must match regex ^[a-zA-Z0-9_-]+$")
            for scope in feature.get("scopes") or []:
                check_not_blank(v, "scopes", scope)

    @staticmethod
    def check_feature_keys_unique(features: list[dict[str, Any]]) -> None:
        keys = [f["key"].strip() for f in features]
        if len(set(keys)) < len(keys):
            raise AmError(400, "Feature key names must be unique")

    def check_feature_scopes_exist(self, domain: dict[str, Any], features: list[dict[str, Any]]) -> None:
        wanted = {s for f in features for s in f.get("scopes") or []}
        if not wanted <= set(self.state.scopes[domain["id"]]):
            raise AmError(400, "One or more scopes are not valid")

    def check_identifiers_free(self, domain: dict[str, Any], identifiers: list[str], own_id: str | None) -> None:
        for other in mcp_servers_of(self.state, domain["id"]):
            if other["id"] != own_id and set(other["resourceIdentifiers"]) & set(identifiers):
                raise AmError(400, "Resource identifier already exists")

    @staticmethod
    def normalise_identifiers(identifiers: list[str]) -> list[str]:
        return [i.strip().lower() for i in identifiers]

    @staticmethod
    def stored_features(features: list[dict[str, Any]], previous: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
        """Tool ``createdAt`` is kept per key across updates (preserveFeatureTimestamps)."""
        created = {f["key"]: f["createdAt"] for f in previous}
        return [
            {
                "key": f["key"].strip(),
                "description": (f.get("description") or "").strip() or None,
                "type": MCP_TOOL,
                "scopes": list(f.get("scopes") or []),
                "createdAt": created.get(f["key"].strip(), at),
                "updatedAt": at,
            }
            for f in features
        ]

    def default_oauth_settings(self, settings: dict[str, Any] | None, client_id: str, with_auth_method: bool):
        """applyDefaultOAuthSettings / applyDefaultAuthMethod (AM >= 4.11)."""
        settings = json.loads(json.dumps(settings or {}))
        oauth = settings.setdefault("oauth", {}) or {}
        settings["oauth"] = oauth
        oauth.setdefault("grantTypes", ["client_credentials"])
        oauth.setdefault("responseTypes", ["code"])
        oauth["clientId"] = client_id
        if with_auth_method:
            oauth.setdefault("tokenEndpointAuthMethod", "client_secret_basic")
        return settings

    def create_protected_resource(self, request: Request, body: Any) -> Response:
        shape = {"name": STR, "description": STR, "resourceIdentifiers": STR_LIST, "clientId": STR,
                 "clientSecret": STR, "type": STR, "features": OBJECT_LIST}
        if self.is_412:
            shape["settings"] = OBJECT
        new = read_object(body, shape)
        features = self.read_features(new.get("features"), on_update=False)

        violations = Violations()
        check_mcp_server_name(violations, new.get("name"))
        check_resource_identifiers(violations, new.get("resourceIdentifiers"))
        resource_type = new.get("type")
        if not resource_type:
            violations.add("type", resource_type, "must not be empty")
        elif resource_type != PROTECTED_RESOURCE_TYPE:  # exact case on create
            violations.add("type", resource_type, "Available types: [MCP_SERVER]")
        self.validate_features(violations, features)
        violations.raise_if_any()
        # ProtectedResourcesResource#create: checkKeyUniqueness, then the permission check, then the domain
        # (feature scopes are not checked on create).
        self.check_feature_keys_unique(features)
        domain = self.checked_domain(request)

        client_id = new.get("clientId") or secure_random_string()
        if client_id_taken(self.state, domain["id"], client_id):
            raise AmError(400, f"A client [{client_id}] already exists for domain [{domain['id']}]")
        identifiers = self.normalise_identifiers(new["resourceIdentifiers"])
        self.check_identifiers_free(domain, identifiers, own_id=None)

        created = now_ms()
        raw_secret = new.get("clientSecret") or secure_random_string()
        settings_id = new_id()
        resource = {
            "id": new_id(),
            "domainId": domain["id"],
            "clientId": client_id,
            "name": new["name"].strip(),
            "description": (new.get("description") or "").strip() or None,
            "type": PROTECTED_RESOURCE_TYPE,
            "resourceIdentifiers": identifiers,
            "features": self.stored_features(features, [], created),
            # createDefaultSecret (:497 @4.10.20, :745 @4.12.4): the domain's expiry settings only
            "secrets": [new_client_secret("Default", raw_secret, settings_id, secret_expires_at(domain, None))],
            "createdAt": created,
            "updatedAt": created,
        }
        if self.is_412:
            resource["settings"] = self.default_oauth_settings(new.get("settings"), client_id, with_auth_method=True)
            resource["secretSettings"] = [{"id": settings_id, "algorithm": "NONE"}]
        self.state.protected_resources[resource["id"]] = resource

        location = self.location(request, "domains", domain["id"], "protected-resources", resource["id"])
        created_body = {"id": resource["id"], "name": resource["name"], "clientId": client_id, "clientSecret": raw_secret}
        return JSONResponse(created_body, status_code=201, headers={"Location": location})

    def put_protected_resource(self, locate, body: Any) -> dict[str, Any]:
        shape = {"name": STR, "description": STR, "resourceIdentifiers": STR_LIST, "features": OBJECT_LIST}
        if self.is_412:
            shape["settings"] = OBJECT
        # 4.10: unknown properties (clientId, clientSecret, type...) are refused; >= 4.11 ignores them.
        update = read_object(body, shape, ignore_unknown=self.is_412)
        features = self.read_features(update.get("features"), on_update=True)
        violations = Violations()
        check_mcp_server_name(violations, update.get("name"))
        check_resource_identifiers(violations, update.get("resourceIdentifiers"))
        self.validate_features(violations, features)
        violations.raise_if_any()
        domain, resource = locate()

        updated = dict(resource, updatedAt=now_ms())
        updated["name"] = update["name"].strip()
        updated["description"] = (update.get("description") or "").strip() or None
        updated["resourceIdentifiers"] = self.normalise_identifiers(update["resourceIdentifiers"])
        updated["features"] = self.stored_features(features, resource["features"], updated["updatedAt"])
        if self.is_412:
            # PUT sets settings to what was sent: the OAuth defaults come back, but not the auth method.
            updated["settings"] = self.default_oauth_settings(
                update.get("settings"), resource["clientId"], with_auth_method=False
            )
        self.validate_update(domain, resource, updated)
        return updated

    def patch_protected_resource(self, locate, body: Any) -> dict[str, Any]:
        shape = {"name": STR, "description": STR, "resourceIdentifiers": STR_LIST, "features": OBJECT_LIST}
        if self.is_412:
            shape.update({"certificate": STR, "secretSettings": OBJECT_LIST, "settings": OBJECT})
        patch = read_object(body, shape)
        if not patch:
            raise AmError(400, "You need to specify at least one value to update.")
        features = self.read_features(patch.get("features"), on_update=True) if "features" in patch else None

        violations = Violations()
        if "name" in patch:
            check_mcp_server_name(violations, patch["name"])
        if patch.get("resourceIdentifiers"):
            check_resource_identifiers(violations, patch["resourceIdentifiers"])
        self.validate_features(violations, features or [])
        violations.raise_if_any()
        domain, resource = locate()

        updated = dict(resource, updatedAt=now_ms())
        if "name" in patch:
            updated["name"] = patch["name"].strip()
        if "description" in patch:
            updated["description"] = (patch["description"] or "").strip() or None
        if "resourceIdentifiers" in patch:
            if not patch["resourceIdentifiers"]:
                raise AmError(400, "Field [resourceIdentifiers] must not be empty")
            updated["resourceIdentifiers"] = self.normalise_identifiers(patch["resourceIdentifiers"])
        if features is not None:
            updated["features"] = self.stored_features(features, resource["features"], updated["updatedAt"])
        for key in ("certificate", "secretSettings", "settings"):
            if key in patch:
                updated[key] = patch[key]
        if "settings" in patch:
            updated["settings"] = self.default_oauth_settings(patch["settings"], resource["clientId"], True)
        self.validate_update(domain, resource, updated)
        return updated

    def validate_update(self, domain: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
        """processUpdate: unique keys, identifiers (only when the set changed), feature scopes."""
        self.check_feature_keys_unique(new["features"])
        if set(new["resourceIdentifiers"]) != set(old["resourceIdentifiers"]):
            self.check_identifiers_free(domain, new["resourceIdentifiers"], own_id=old["id"])
        self.check_feature_scopes_exist(domain, new["features"])

    # -- MCP server secrets (AM >= 4.11) --
    def secrets_resource(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """ProtectedResourceSecretsResource: the permission check on the MCP server, the domain, then the server."""
        if not self.is_412:
            raise AmError(404, "HTTP 404 Not Found")  # no such sub-resource before 4.11
        domain = self.checked_domain(request, "protected_resource", request.path_params["id"])
        return domain, self.resource_or_404(domain, request.path_params["id"])

    async def secrets(self, request: Request) -> Response:
        if not self.is_412:
            raise AmError(404, "HTTP 404 Not Found")  # no such sub-resource before 4.11
        if request.method == "GET":
            dummy_domain, resource = self.secrets_resource(request)
            return JSONResponse([safe_secret(s) for s in resource["secrets"]])
        body = read_object(await self.body(request), {"name": STR})  # @Valid NewClientSecret: before the method
        violations = Violations()
        check_not_blank(violations, "name", body.get("name"))
        violations.raise_if_any()
        domain, resource = self.secrets_resource(request)
        name = body["name"].strip()
        if any(s["name"] == name for s in resource["secrets"]):
            raise AmError(400, f"Secret with description {name} already exists")
        if len(resource["secrets"]) >= SECRETS_MAX:
            # TooManyClientSecretsException: 400 in every release (4.10.20, 4.11.14, 4.12.4)
            raise AmError(400, f"Too many Client Secrets. Cannot create more than {SECRETS_MAX} secrets")
        raw = secure_random_string()
        secret = new_client_secret(name, raw, resource["secretSettings"][0]["id"],
                                   secret_expires_at(domain, resource_expiration_settings(resource)))
        resource["secrets"].append(secret)
        resource["updatedAt"] = now_ms()
        return JSONResponse(non_null({**safe_secret(secret), "secret": raw}), status_code=201)

    def secret_or_404(self, resource: dict[str, Any], secret_id: str) -> dict[str, Any]:
        secret = next((s for s in resource["secrets"] if s["id"] == secret_id), None)
        if secret is None:
            raise AmError(404, f"Secret [{secret_id}] can not be found.")  # ClientSecretNotFoundException
        return secret

    async def renew_secret(self, request: Request) -> Response:
        domain, resource = self.secrets_resource(request)
        secret = self.secret_or_404(resource, request.path_params["secret"])
        retire_secret(resource, secret["raw"])
        secret["raw"], secret["_since"] = secure_random_string(), time.monotonic()
        # ProtectedResourceServiceImpl#renewSecret :632 @4.12.4: a new expiry date from the same settings
        secret["expiresAt"] = secret_expires_at(domain, resource_expiration_settings(resource))
        resource["updatedAt"] = now_ms()
        return JSONResponse(non_null({**safe_secret(secret), "secret": secret["raw"]}))

    async def secret(self, request: Request) -> Response:
        dummy_domain, resource = self.secrets_resource(request)
        # ProtectedResourceServiceImpl#deleteSecret checks the count before looking the secret up.
        if len(resource["secrets"]) <= 1:
            raise AmError(400, "Cannot remove last secret")
        secret = self.secret_or_404(resource, request.path_params["secret"])
        retire_secret(resource, secret["raw"])
        resource["secrets"].remove(secret)
        resource["updatedAt"] = now_ms()
        return Response(status_code=204)


# A feature's subtype id, written as "type" (see FeaturesJSONResponse).
TYPE_ID = "\x00type-id"


def feature_view(feature: dict[str, Any]) -> dict[str, Any]:
    """A feature as Jackson writes a ProtectedResourceFeature (same @4.10.20 and @4.12.4): the subtype id first
    (``@JsonTypeInfo(use = NAME, include = PROPERTY, property = "type")``: ``"type": "MCP_TOOL"``), then the fields in
    declaration order, among them the ``type`` enum, written lower case (``"type": "mcp_tool"``): the key twice, as
    seen on AM 4.10.20.  JSON parsers keep the last one."""
    view = {TYPE_ID: feature["type"].upper(), "key": feature["key"], "description": feature.get("description"),
            "type": feature["type"].lower(), "createdAt": feature.get("createdAt"), "updatedAt": feature.get("updatedAt")}
    if feature["type"].upper() == MCP_TOOL:
        view["scopes"] = feature.get("scopes")
    return view


class FeaturesJSONResponse(JSONResponse):
    """JSON with each feature's subtype id written as a first ``type`` key (feature_view)."""

    def render(self, content: Any) -> bytes:
        return super().render(content).replace(b'"\\u0000type-id":', b'"type":')


def new_client_secret(name: str, raw: str, settings_id: str, expires_at: int | None = None) -> dict[str, Any]:
    # Real AM stores a hash; the simulator keeps the raw value (never returned after creation) so the
    # gateway can check Basic credentials.  "_since": when the value was made (time.monotonic()), for the gateway's
    # sync delay; keys starting with "_" are never served.
    return {"id": new_id(), "settingsId": settings_id, "name": name, "raw": raw, "createdAt": now_ms(),
            "expiresAt": expires_at, "_since": time.monotonic()}


def resource_expiration_settings(resource: dict[str, Any]) -> dict[str, Any] | None:
    """ProtectedResourceServiceImpl#getExpirationSettings (:600-605 @4.12.4): the MCP server's own
    ``settings.secretExpirationSettings`` (AM >= 4.11), else none."""
    return (resource.get("settings") or {}).get("secretExpirationSettings")


def secret_expires_at(domain: dict[str, Any], own: dict[str, Any] | None) -> int | None:
    """SecretService#determinateExpireDate (:103-115 @4.12.4, same @4.10.20): the client's own enabled settings win
    (an expiry of 0 or less: never expires), else the domain's enabled ones with an expiry above 0, else none."""
    def seconds(settings: dict[str, Any] | None) -> Any:
        if isinstance(settings, dict) and settings.get("enabled") is True and settings.get("expiryTimeSeconds") is not None:
            return settings["expiryTimeSeconds"]
        return None

    own_seconds = seconds(own)
    if own_seconds is not None:
        return now_ms() + own_seconds * 1000 if own_seconds > 0 else None
    domain_seconds = seconds(domain.get("secretExpirationSettings"))
    return now_ms() + domain_seconds * 1000 if domain_seconds is not None and domain_seconds > 0 else None


def secret_expired(secret: dict[str, Any]) -> bool:
    """SecretService#validateSecret: a secret past its ``expiresAt`` no longer authenticates."""
    return secret.get("expiresAt") is not None and secret["expiresAt"] < now_ms()


def safe_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """ClientSecret.safeSecret(): everything but the secret."""
    return non_null({k: v for k, v in secret.items() if k != "raw" and not k.startswith("_")})


def retire_secret(resource: dict[str, Any], raw: str) -> None:
    """A value deleted or renewed: a gateway that syncs late still accepts it for its sync delay."""
    resource.setdefault("_retired", []).append({"raw": raw, "_until": time.monotonic()})


def mcp_server_secret_matches(resource: dict[str, Any], secret: str, delay: float = 0.0) -> bool:
    """Whether ``secret`` authenticates the MCP server's client at a gateway that syncs ``delay`` seconds late: the
    values it has synced, and the ones retired less than ``delay`` seconds ago (ScheduledSyncService polls events)."""
    now = time.monotonic()
    current = [s["raw"] for s in resource["secrets"] if now - s.get("_since", 0.0) >= delay and not secret_expired(s)]
    retired = [r["raw"] for r in resource.get("_retired") or [] if now - r["_until"] < delay]
    return any(secrets.compare_digest(raw, secret) for raw in current + retired)


# --- domain PATCH/PUT (PatchDomain) ----------------------------------------------------------------
class DomainPatch:
    """PatchDomain semantics: every field Optional, applied with SetterUtils.safeSet.

    absent key: unchanged; value: set; explicit null: booleans become false, anything else null.
    Special cases: ``"oidc": null`` resets OIDC settings to defaults, ``"oidc": {"clientRegistrationSettings":
    null}`` resets DCR settings, ``"loginSettings": null`` is ignored.
    """

    # Nested settings the simulator models field by field; other known top-level settings are stored
    # as given (objects the simulator does not interpret).
    DOMAIN_FIELDS = {
        "name": STR, "description": STR, "enabled": BOOL, "alertEnabled": BOOL, "path": STR, "vhostMode": BOOL,
        "vhosts": OBJECT_LIST, "tags": STR_LIST, "master": BOOL, "dataPlaneId": STR, "oidc": OBJECT,
        "loginSettings": OBJECT, "secretSettings": OBJECT, "accountSettings": OBJECT, "passwordSettings": OBJECT,
        "selfServiceAccountManagementSettings": OBJECT, "webAuthnSettings": OBJECT, "uma": OBJECT, "scim": OBJECT,
        "saml": OBJECT, "corsSettings": OBJECT,
    }
    DOMAIN_FIELDS_412 = {"certificateSettings": OBJECT, "tokenExchangeSettings": OBJECT}
    OIDC_FIELDS = {
        "clientRegistrationSettings": OBJECT, "redirectUriStrictMatching": BOOL, "postLogoutRedirectUris": STR_LIST,
        "requestUris": STR_LIST, "securityProfileSettings": OBJECT, "cibaSettings": OBJECT,
    }
    OIDC_FIELDS_412 = {"cimdSettings": OBJECT, "dpopSettings": OBJECT, "workloadIdentitySettings": OBJECT}
    DCR_FIELDS = {
        "isDynamicClientRegistrationEnabled": BOOL, "isOpenDynamicClientRegistrationEnabled": BOOL,
        "allowLocalhostRedirectUri": BOOL, "allowHttpSchemeRedirectUri": BOOL, "allowWildCardRedirectUri": BOOL,
        "allowRedirectUriParamsExpressionLanguage": BOOL, "defaultScopes": STR_LIST, "isAllowedScopesEnabled": BOOL,
        "allowedScopes": STR_LIST, "isClientTemplateEnabled": BOOL,
    }
    LOGIN_FIELDS = {
        "inherited": BOOL, "forgotPasswordEnabled": BOOL, "registerEnabled": BOOL, "rememberMeEnabled": BOOL,
        "passwordlessEnabled": BOOL, "passwordlessRememberDeviceEnabled": BOOL,
        "passwordlessEnforcePasswordEnabled": BOOL, "passwordlessEnforcePasswordMaxAge": INT,
        "passwordlessDeviceNamingEnabled": BOOL, "certificateBasedAuthEnabled": BOOL, "certificateBasedAuthUrl": STR,
        "hideForm": BOOL, "identifierFirstEnabled": BOOL, "resetPasswordOnExpiration": BOOL,
    }
    LOGIN_FIELDS_412 = {"magicLinkAuthEnabled": BOOL}
    # LoginSettings model defaults (a domain without loginSettings starts from `new LoginSettings()`).
    LOGIN_DEFAULTS = {"inherited": True}

    def __init__(self, profile: str):
        self.profile = profile
        is_412 = profile != "4.10"
        self.domain_fields = {**self.DOMAIN_FIELDS, **(self.DOMAIN_FIELDS_412 if is_412 else {})}
        self.oidc_fields = {**self.OIDC_FIELDS, **(self.OIDC_FIELDS_412 if is_412 else {})}
        self.login_fields = {**self.LOGIN_FIELDS, **(self.LOGIN_FIELDS_412 if is_412 else {})}

    def parse(self, body: Any) -> tuple:
        """Jackson's reading of the body (unknown properties, wrong kinds) and DomainResource#updateInternal's check
        for an empty patch: both before the permission check."""
        patch = read_object(body, self.domain_fields)
        oidc = read_object(patch["oidc"], self.oidc_fields) if patch.get("oidc") is not None else None
        dcr = None
        if oidc and oidc.get("clientRegistrationSettings") is not None:
            dcr = read_object(oidc["clientRegistrationSettings"], self.DCR_FIELDS)
        login = None
        if patch.get("loginSettings") is not None:
            login = read_object(patch["loginSettings"], self.login_fields)
        if not patch:
            raise AmError(400, "You need to specify at least one value to update.")
        return patch, oidc, dcr, login

    def apply(self, domain: dict[str, Any], parsed: tuple) -> dict[str, Any]:
        patch, oidc, dcr, login = parsed
        if "dataPlaneId" in patch and patch["dataPlaneId"] != domain.get("dataPlaneId"):
            raise AmError(400, "Domain dataPlaneId cannot be changed")

        result = json.loads(json.dumps(domain))
        for key, value in patch.items():
            if key == "oidc":
                result["oidc"] = default_oidc_settings() if value is None else self.patch_oidc(result["oidc"], oidc, dcr)
            elif key == "loginSettings":
                if value is not None:
                    base = result.get("loginSettings") or dict(self.LOGIN_DEFAULTS)
                    result["loginSettings"] = self.safe_set_all(base, login, self.login_fields)
            elif key == "secretSettings":
                result["secretExpirationSettings"] = value  # the GET key differs from the PATCH key
            else:
                result[key] = self.safe_value(value, self.domain_fields[key])
        if "name" in patch:
            if not (patch["name"] or "").strip():
                raise AmError(400, "[name: must not be blank]")
            result["name"] = patch["name"].strip()
            result["hrid"] = generate_hrid(result["name"])  # recomputed on every patch with a name
        return result

    @staticmethod
    def safe_value(value: Any, kind: str) -> Any:
        return False if value is None and kind == BOOL else value

    def safe_set_all(self, target: dict[str, Any], patch: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        for key, value in patch.items():
            target[key] = self.safe_value(value, fields[key])
        return target

    def patch_oidc(self, current: dict[str, Any], oidc: dict[str, Any], dcr: dict[str, Any] | None) -> dict[str, Any]:
        for key, value in oidc.items():
            if key == "cimdSettings":  # PatchCIMDSettings (am_cimd.py)
                current[key] = am_cimd.patch_settings(self.profile, current.get(key), value)
            elif key == "clientRegistrationSettings":
                current[key] = (
                    default_client_registration_settings()
                    if value is None
                    else self.safe_set_all(current.get(key) or default_client_registration_settings(), dcr, self.DCR_FIELDS)
                )
            else:
                current[key] = self.safe_value(value, self.oidc_fields[key])
        return current


def domain_by_path(state, path: str) -> dict[str, Any] | None:
    """The domain a gateway request belongs to, by its context path (``/mcp``)."""
    return next((d for d in state.domains.values() if d["path"].rstrip("/") == "/" + path.strip("/")), None)
