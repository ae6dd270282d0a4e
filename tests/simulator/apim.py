"""Simulated Gravitee APIM Management API v2: V4 APIs (MCP proxies), plans, deployments, plugin schemas.

Every rule here is one the real server has; the source of each is listed in FIDELITY.md
("APIM Management API").  Paths are served under both real prefixes:

    /management/v2/organizations/{orgId}/environments/{envId}/...
    /management/v2/environments/{envId}/...            (organization DEFAULT)

and the plugin endpoints under ``/management/v2/organizations/{orgId}/plugins/...`` and the
deprecated root form ``/management/v2/plugins/...``.

State lives in ``sim.state.apim`` (an :class:`ApimState`); the APIM gateway reads the deployments
from there.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.simulator.apim_plugins import (
    MINIMAL_CONNECTOR_SCHEMAS,
    PLAN_SECURITY_POLICIES,
    InvalidConfiguration,
    PluginSchemas,
    catalogue,
)

DEFAULT_ORG = "DEFAULT"
DEFAULT_ENV = "DEFAULT"
ADMIN_USER = ("admin", "admin")

# API types CreateHttpApiUseCase accepts (SUPPORTED_API_TYPES at the profile's tag).
SUPPORTED_API_TYPES = {
    "4.10": ["PROXY", "MESSAGE", "MCP_PROXY", "LLM_PROXY"],
    "4.11": ["PROXY", "MESSAGE", "MCP_PROXY", "LLM_PROXY"],
    "4.12": ["PROXY", "MESSAGE", "MCP_PROXY", "LLM_PROXY", "A2A_PROXY", "AUTHZ"],
}

# Fields of a V4 API marked @DeploymentRequired (rest-api-model v4/api/ApiEntity.java): only a change
# to one of these makes the API out of sync with its last deployment.
DEPLOYMENT_FIELDS = (
    "tags", "listeners", "endpointGroups", "analytics", "failover", "properties", "resources",
    "flowExecution", "flows", "responseTemplates", "services",
)

# UpdateApiV4 fields that a PUT replaces (apim-management-api.md §3.4).  Absent groups and labels
# keep their current value (ApiServiceImpl.update); other absent fields are reset.
UPDATABLE_API_FIELDS = (
    "name", "apiVersion", "description", "tags", "resources", "responseTemplates", "categories",
    "disableMembershipNotifications", "properties", "listeners", "endpointGroups", "analytics",
    "failover", "flowExecution", "flows", "services", "allowedInApiProducts",
    "allowMultiJwtOauth2Subscriptions",
)
KEPT_WHEN_ABSENT = ("groups", "labels", "visibility", "lifecycleState")

# Plan fields that, when changed by a PUT, require a redeployment (PlanSynchronizationService).
PLAN_DEPLOYMENT_FIELDS = ("security", "selectionRule", "tags", "flows", "status")
UPDATABLE_PLAN_FIELDS = (
    "name", "description", "validation", "characteristics", "order", "excludedGroups", "commentRequired",
    "commentMessage", "generalConditions", "selectionRule", "tags", "flows",
)
PLAN_STATUSES = ("STAGING", "PUBLISHED", "DEPRECATED", "CLOSED")
ACTIVE_PLAN_STATUSES = ("PUBLISHED", "DEPRECATED")


# --- state ----------------------------------------------------------------------------------------


@dataclass
class StoredApi:
    body: dict[str, Any]  # the ApiV4 fields as served, without the computed deploymentState and _links
    updated_ms: int
    deployed_seq: int | None = None  # logical time of the last deployment


@dataclass
class StoredPlan:
    body: dict[str, Any]
    need_redeploy_seq: int
    updated_ms: int


@dataclass
class Deployment:
    """What the gateway got with the last PUBLISH_API event: the definition and its active plans."""

    definition: dict[str, Any]
    plans: list[dict[str, Any]]
    label: str | None = None
    # time.monotonic() from which the gateway serves it: the deployment's time plus the sync delay then in force (a
    # delay set later does not hide what the gateway had already synced)
    visible_at: float = 0.0
    previous: "Deployment | None" = None  # what the gateway served before it, until it syncs

    def as_seen(self) -> "Deployment | None":
        """The deployment the gateway serves now (None: none yet)."""
        if time.monotonic() >= self.visible_at:
            return self
        return self.previous.as_seen() if self.previous is not None else None


@dataclass
class ApimState:
    profile: str
    schemas: PluginSchemas
    apis: dict[str, StoredApi] = field(default_factory=dict)
    plans: dict[str, StoredPlan] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    seq: int = 0
    last_ms: int = 0

    def tick(self) -> int:
        """A logical clock: strictly increasing, so 'changed after the deployment' never ties."""
        self.seq += 1
        return self.seq

    def now_ms(self) -> int:
        """Wall-clock milliseconds, strictly increasing so every update gets a new ETag."""
        self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
        return self.last_ms

    def plans_of(self, api_id: str) -> list[StoredPlan]:
        return [p for p in self.plans.values() if p.body["apiId"] == api_id]


def seed(sim) -> None:
    # The personal access token survives resets, as a real token survives data changes; its value
    # has no dot, so the real TokenAuthenticationFilter would look it up as a personal token.
    if not getattr(sim, "apim_personal_token", None):
        sim.apim_personal_token = str(uuid.uuid4())
    sim.state.apim_token = sim.apim_personal_token
    schemas = PluginSchemas(sim.profile, sim.specs_dir)
    sim.state.apim = ApimState(profile=sim.profile, schemas=schemas)
    notice = "APIM plugin schemas not found: plugin configurations are not validated"
    if not schemas.available and notice not in sim.notices:
        sim.notices.append(notice)


# --- helpers: time, errors ------------------------------------------------------------------------


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An error answered in the mAPI v2 error model (``components.schemas.Error``)."""

    def __init__(self, status: int, message: str | None, technical_code: str | None = None, parameters=None, details=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.technical_code, self.parameters, self.details = technical_code, parameters, details

    def response(self) -> Response:
        body: dict[str, Any] = {"httpStatus": self.status}
        if self.message is not None:
            body["message"] = self.message
        if self.technical_code is not None:
            body["technicalCode"] = self.technical_code
        if self.parameters is not None:
            body["parameters"] = self.parameters
        if self.details is not None:
            body["details"] = self.details
        return JSONResponse(body, status_code=self.status)


def api_not_found(api_id: str) -> ApiError:
    return ApiError(404, f"Api [{api_id}] cannot be found.", "api.notFound", {"api": api_id})


def plan_not_found(plan_id: str) -> ApiError:
    return ApiError(404, f"Plan [{plan_id}] cannot be found.", "plan.notFound", {"plan": plan_id})


def validation_error(details: list[dict[str, Any]]) -> ApiError:
    """Bean validation failure (ConstraintValidationExceptionMapper)."""
    return ApiError(400, "Validation error", details=details)


def bad_request(message: str) -> ApiError:
    """A jakarta BadRequestException thrown by a resource (BadRequestExceptionMapper): no technical code."""
    return ApiError(400, message)


def invalid_data(message: str) -> ApiError:
    return ApiError(400, message, "data.invalid")


# --- authentication -------------------------------------------------------------------------------


def authenticated(sim, request: Request) -> bool:
    """Basic admin/admin or a personal access token; anything else is refused (TokenAuthenticationFilter)."""
    header = request.headers.get("authorization", "")
    scheme, value = (header.split(" ", 1) + [""])[:2]
    if scheme.lower() == "basic":
        try:
            user, password = (base64.b64decode(value.strip()).decode().split(":", 1) + [""])[:2]
        except (ValueError, UnicodeDecodeError):
            return False
        return (user, password) == ADMIN_USER
    if scheme.lower() == "bearer":
        token = value.strip()
        # A value with a dot is verified as a console JWT; the simulator issues none.
        return "." not in token and secrets.compare_digest(token, sim.state.apim_token)
    return False


# --- API definition sanitising --------------------------------------------------------------------


def sanitize_path(path: str | None) -> str:
    """The context path as stored: leading and trailing slash, no double slash (core Path.sanitizePath)."""
    path = path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return re.sub(r"/{2,}", "/", path)


def http_paths(listeners: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [p for listener in listeners or [] if listener.get("type") == "HTTP" for p in listener.get("paths") or []]


def sanitize_listeners(state: ApimState, api_id: str | None, listeners: list[dict[str, Any]], on_create: bool) -> list[dict[str, Any]]:
    """Validate and sanitise HTTP listener paths (VerifyApiPathDomainService) and entrypoint defaults."""
    result = copy.deepcopy(listeners)
    for listener in result:
        if listener.get("type") != "HTTP":
            continue
        paths = listener.get("paths") or []
        if not paths:
            raise ApiError(400, "HTTP listener requires a minimum of one path", parameters={})
        for path in paths:
            path["path"] = sanitize_path(path.get("path"))
            path.setdefault("overrideAccess", False)
        seen = set()
        for path in paths:
            key = (path.get("host") or "", path["path"])
            if key in seen:
                raise ApiError(400, f"Path [{path['path']}] is duplicated", parameters={})
            seen.add(key)
        for path in paths:
            conflict = conflicting_path(state, api_id, path)
            if conflict:
                # InvalidPathsException (a ValidationDomainException): no technical code at 4.10.0 and 4.12.17.
                raise ApiError(400, f"Path [{conflict}] already exists", parameters={})
        if on_create and state.profile == "4.12" and listener.get("requestValidation") is None:
            listener["requestValidation"] = {"rejectNullByte": True}  # ApiModelFactory.withRequestValidationDefaults (4.12)
        for entrypoint in listener.get("entrypoints") or []:
            entrypoint.setdefault("qos", "AUTO")
    return result


def conflicting_path(state: ApimState, api_id: str | None, candidate: dict[str, Any]) -> str | None:
    """A path of another API in the environment that is a prefix of the candidate or has it as prefix."""
    host = candidate.get("host") or ""
    for other in state.apis.values():
        if other.body["id"] == api_id:
            continue
        for existing in http_paths(other.body.get("listeners")):
            if (existing.get("host") or "") != host:
                continue
            if existing["path"].startswith(candidate["path"]) or candidate["path"].startswith(existing["path"]):
                return existing["path"]
    return None


def sanitize_endpoint_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Definition-model defaults (AbstractEndpointGroup, AbstractEndpoint); groups and endpoints share one set of names
    (EndpointGroupsValidationServiceImpl#validateUniqueEndpointGroupName / validateUniqueEndpointName)."""
    result = copy.deepcopy(groups)
    names: set[str] = set()
    for group in result:
        if group.get("name") in names:
            raise ApiError(400, f"The endpoint group name [{group['name']}] is already used by another endpoint or endpoint "
                           "group.", "api.endpointsGroup.name.exists", {"api.endpointsGroup[].name": group["name"]}, [])
        names.add(group.get("name"))
        for endpoint in group.get("endpoints") or []:
            if endpoint.get("name") in names:
                raise ApiError(400, f"The endpoint name [{endpoint['name']}] is already used by another endpoint or endpoint "
                               "group.", "api.endpointsGroup.endpoint.name.exists",
                               {"api.endpointsGroup[].endpoint.name": endpoint["name"]}, [])
            names.add(endpoint.get("name"))
        group.setdefault("loadBalancer", {"type": "ROUND_ROBIN"})
        for endpoint in group.get("endpoints") or []:
            endpoint.setdefault("weight", 1)
            endpoint.setdefault("inheritConfiguration", False)
            endpoint.setdefault("secondary", False)
    return result


def sanitize_resources(state: ApimState, resources: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Enabled resources are validated against, and completed from, their plugin schema."""
    result = []
    for resource in copy.deepcopy(resources or []):
        resource.setdefault("enabled", True)
        if resource["enabled"]:
            try:
                resource["configuration"] = state.schemas.sanitize("resources", resource.get("type"), resource.get("configuration"))
            except InvalidConfiguration as exc:
                raise invalid_data(exc.message) from None
        result.append(resource)
    return result


def validate_flows(api_type: str, flows: list[dict[str, Any]] | None) -> None:
    """MCP proxy flows accept only MCP and CONDITION selectors (FlowValidationDomainService)."""
    if api_type != "MCP_PROXY":
        return
    for flow in flows or []:
        invalid = sorted({s.get("type", "").lower() for s in flow.get("selectors") or [] if s.get("type") not in ("MCP", "CONDITION")})
        if invalid:
            name = flow.get("name")
            raise ApiError(
                400,
                f"The flow [{name}] contains selectors that couldn't apply to mcp-proxy API",
                parameters={"flowName": str(name), "invalidSelectors": ",".join(invalid)},
            )


def required_fields(body: dict[str, Any], names: tuple[str, ...], non_empty: tuple[str, ...] = ()) -> None:
    details = []
    for name in names:
        if body.get(name) is None:
            details.append({"message": "must not be null", "location": name, "invalidValue": None})
    for name in non_empty:
        value = body.get(name)
        if value is not None and len(value) < 1:
            details.append({"message": "size must be between 1 and 2147483647", "location": name, "invalidValue": value})
    if details:
        raise validation_error(details)


# --- views ---------------------------------------------------------------------------------------


def deployment_state(state: ApimState, api: StoredApi) -> str:
    """DEPLOYED when the definition equals the last deployed one and no active plan changed since
    (ApiStateServiceImpl.isSynchronized)."""
    deployment = state.deployments.get(api.body["id"])
    if deployment is None or api.deployed_seq is None:
        return "NEED_REDEPLOY"
    current = {name: api.body.get(name) for name in DEPLOYMENT_FIELDS}
    deployed = {name: deployment.definition.get(name) for name in DEPLOYMENT_FIELDS}
    if current != deployed:
        return "NEED_REDEPLOY"
    for plan in state.plans_of(api.body["id"]):
        if plan.body["status"] != "STAGING" and plan.need_redeploy_seq > api.deployed_seq:
            return "NEED_REDEPLOY"
    return "DEPLOYED"


def api_view(state: ApimState, api: StoredApi, base_url: str, with_deployment_state: bool = True) -> dict[str, Any]:
    view = copy.deepcopy(api.body)
    view["updatedAt"] = iso(api.updated_ms)
    if with_deployment_state:
        view["deploymentState"] = deployment_state(state, api)
    api_url = f"{base_url}/apis/{api.body['id']}"
    view["_links"] = {
        "pictureUrl": f"{api_url}/picture?hash={api.updated_ms}",
        "backgroundUrl": f"{api_url}/background?hash={api.updated_ms}",
    }
    return view


def cache_headers(updated_ms: int) -> dict[str, str]:
    """ETag = updatedAt in epoch millis, quoted; Last-Modified as an HTTP-date (AbstractResource.applyCacheHeaders)."""
    return {"ETag": f'"{updated_ms}"', "Last-Modified": formatdate(updated_ms / 1000, usegmt=True)}


def if_match_fails(request: Request, updated_ms: int) -> bool:
    """Optional If-Match: a mismatch is a 412 (AbstractResource.evaluateIfMatch)."""
    header = request.headers.get("if-match")
    if not header:
        return False
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.replace("-gzip", "").split(",")]
    return "*" not in tags and str(updated_ms) not in tags


def paginate(items: list[Any], request: Request, strict: bool) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """Page ``items`` as the mAPI does (PaginationInfo, PaginationLinks; strict = computePaginationData)."""
    page = int(request.query_params.get("page", 1))
    per_page = int(request.query_params.get("perPage", 10))
    if page < 1 or per_page < 1:
        raise validation_error(
            [{"message": f"Pagination {'page' if page < 1 else 'perPage'} param must be >= 1", "location": "page" if page < 1 else "perPage"}]
        )
    total = len(items)
    start = (page - 1) * per_page
    if strict and total and start >= total:
        raise ApiError(400, "Pagination is not valid", "pagination.invalid")
    data = items[start : start + per_page]
    page_count = -(-total // per_page) if total else 0
    pagination = {"page": page, "perPage": per_page, "pageCount": page_count, "pageItemsCount": len(data), "totalCount": total}
    links = pagination_links(str(request.url), request, total, page, per_page, page_count)
    return data, pagination, links


def pagination_links(self_url: str, request: Request, total: int, page: int, per_page: int, pages: int) -> dict[str, Any]:
    if total == 0 or pages == 1 or page > pages:
        return {"self": self_url}
    if not request.query_params:
        template = f"{self_url}?page={{page}}"
    else:
        template = re.sub(r"page=\w*", "page={page}", self_url, count=1) if "page" in request.query_params else f"{self_url}&page={{page}}"
        template = re.sub(r"perPage=\w*", "perPage={perPage}", template, count=1)

    def link(number: int) -> str:
        return template.replace("{page}", str(number)).replace("{perPage}", str(per_page))

    links = {"self": self_url, "first": link(1), "last": link(pages)}
    if page > 1:
        links["previous"] = link(max(1, page - 1))
    if page < pages:
        links["next"] = link(page + 1)
    return links


def query_list(request: Request, name: str) -> list[str]:
    """A comma-separated and/or repeated query parameter (CommaSeparatedQueryParamConverterProvider)."""
    values = []
    for raw in request.query_params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


# --- the Management API --------------------------------------------------------------------------


class ManagementApi:
    """Request handlers; each returns a Starlette Response or raises :class:`ApiError`."""

    def __init__(self, sim):
        self.sim = sim

    @property
    def state(self) -> ApimState:
        return self.sim.state.apim

    # --- lookups ---

    def api(self, api_id: str) -> StoredApi:
        api = self.state.apis.get(api_id)
        if api is None:
            raise api_not_found(api_id)
        return api

    def plan(self, api_id: str, plan_id: str) -> StoredPlan:
        self.api(api_id)
        plan = self.state.plans.get(plan_id)
        if plan is None or plan.body["apiId"] != api_id:
            raise plan_not_found(plan_id)
        return plan

    def touch(self, api: StoredApi) -> None:
        api.updated_ms = self.state.now_ms()

    # --- APIs ---

    async def create_api(self, ctx, request: Request) -> Response:
        body = await json_body(request)
        if body.get("definitionVersion") != "V4":
            raise ApiError(400, "Only V4 API definition is supported", parameters={})
        required_fields(body, ("name", "apiVersion", "type", "listeners", "endpointGroups"), ("listeners", "endpointGroups"))
        supported = SUPPORTED_API_TYPES[self.state.profile]
        if body["type"] not in supported:
            raise ApiError(400, f"Only V4 [{', '.join(supported)}] API definition is supported", parameters={})
        listeners = sanitize_listeners(self.state, None, body["listeners"], on_create=True)
        validate_flows(body["type"], body.get("flows"))
        api_id, now = str(uuid.uuid4()), self.state.now_ms()
        stored = StoredApi(
            body={
                "id": api_id,
                "crossId": str(uuid.uuid4()),
                "name": body["name"],
                **({"description": body["description"]} if body.get("description") is not None else {}),
                "apiVersion": body["apiVersion"],
                "definitionVersion": "V4",
                "type": body["type"],
                "createdAt": iso(now),
                "disableMembershipNotifications": False,
                "groups": body.get("groups") or [],
                "state": "STOPPED",
                "visibility": body.get("visibility") or "PRIVATE",
                "labels": [],
                "lifecycleState": "CREATED",
                "tags": body.get("tags") or [],
                "primaryOwner": {"id": "admin", "displayName": "admin", "type": "USER"},
                "categories": [],
                "definitionContext": {"origin": "MANAGEMENT", "mode": "FULLY_MANAGED", "syncFrom": "MANAGEMENT"},
                "originContext": {"origin": "MANAGEMENT"},
                "responseTemplates": {},
                "resources": [],
                "properties": [],
                "listeners": listeners,
                "endpointGroups": sanitize_endpoint_groups(body["endpointGroups"]),
                "flowExecution": body.get("flowExecution") or {"mode": "DEFAULT", "matchRequired": False},
                "flows": copy.deepcopy(body.get("flows") or []),
                **({"analytics": body["analytics"]} if body.get("analytics") is not None else {}),
                **({"failover": body["failover"]} if body.get("failover") is not None else {}),
            },
            updated_ms=now,
        )
        self.state.apis[api_id] = stored
        return JSONResponse(api_view(self.state, stored, ctx.base), status_code=201, headers={"Location": f"{ctx.base}/apis/{api_id}"})

    async def get_api(self, ctx, request: Request, api_id: str) -> Response:
        api = self.api(api_id)
        return JSONResponse(api_view(self.state, api, ctx.base), headers=cache_headers(api.updated_ms))

    async def update_api(self, ctx, request: Request, api_id: str) -> Response:
        body = await json_body(request)
        api = self.api(api_id)
        if if_match_fails(request, api.updated_ms):
            return Response(status_code=412)
        if body.get("definitionVersion") != "V4":
            raise ApiError(400, f"Api [{api_id}] is not valid.", "api.invalid", {"apiId": api_id})
        required_fields(body, ("name", "apiVersion", "type", "listeners", "endpointGroups"), ("listeners", "endpointGroups"))
        listeners = sanitize_listeners(self.state, api_id, body["listeners"], on_create=False)
        validate_flows(api.body["type"], body.get("flows"))
        resources = sanitize_resources(self.state, body.get("resources"))
        updated = copy.deepcopy(api.body)
        for name in UPDATABLE_API_FIELDS:
            if body.get(name) is not None:
                updated[name] = copy.deepcopy(body[name])
            else:
                updated.pop(name, None)
        for name in KEPT_WHEN_ABSENT:
            if body.get(name) is not None:
                updated[name] = copy.deepcopy(body[name])
        updated.update(
            listeners=listeners,
            endpointGroups=sanitize_endpoint_groups(body["endpointGroups"]),
            resources=resources,
            flowExecution=body.get("flowExecution") or {"mode": "DEFAULT", "matchRequired": False},
            flows=copy.deepcopy(body.get("flows") or []),
            tags=body.get("tags") or [],
            properties=body.get("properties") or [],
            responseTemplates=body.get("responseTemplates") or {},
            categories=body.get("categories") or [],
            disableMembershipNotifications=bool(body.get("disableMembershipNotifications", False)),
        )
        api.body = updated
        self.touch(api)
        return JSONResponse(api_view(self.state, api, ctx.base), headers=cache_headers(api.updated_ms))

    async def delete_api(self, ctx, request: Request, api_id: str) -> Response:
        api = self.api(api_id)
        if api.body["state"] == "STARTED":
            raise ApiError(400, f"API [{api_id}] is still running and must be stopped before being deleted !", "api.running", {"api": api_id})
        plans = self.state.plans_of(api_id)
        if request.query_params.get("closePlans", "").lower() == "true":
            for plan in plans:
                if plan.body["status"] != "CLOSED":
                    self.close_plan_state(plan)
        else:
            published = sorted({p.body["name"] for p in plans if p.body["status"] == "PUBLISHED"})
            if published:
                names = ", ".join(published)
                raise ApiError(400, f"Plan(s) [{names}] must be closed before being able to delete the API !", "api.notDeletable", {"plans": names})
        for plan in plans:
            del self.state.plans[plan.body["id"]]
        del self.state.apis[api_id]
        # The UNPUBLISH_API event removes the API from the gateways.
        self.state.deployments.pop(api_id, None)
        return Response(status_code=204)

    async def list_apis(self, ctx, request: Request) -> Response:
        apis = sorted(self.state.apis.values(), key=lambda a: a.body["createdAt"])
        with_state = "deploymentState" in query_list(request, "expands")
        return self.api_page(ctx, request, apis, with_state)

    async def search_apis(self, ctx, request: Request) -> Response:
        query = await json_body(request)
        apis = [a for a in self.state.apis.values() if matches_search(a.body, query)]
        apis.sort(key=lambda a: a.body["createdAt"])
        with_state = "deploymentState" in query_list(request, "expands")
        return self.api_page(ctx, request, apis, with_state)

    def api_page(self, ctx, request, apis, with_state) -> Response:
        data, pagination, links = paginate(apis, request, strict=False)
        return JSONResponse(
            {"data": [api_view(self.state, a, ctx.base, with_state) for a in data], "pagination": pagination, "links": links}
        )

    async def verify_paths(self, ctx, request: Request) -> Response:
        body = await json_body(request)
        try:
            sanitize_listeners(self.state, body.get("apiId"), [{"type": "HTTP", "paths": body.get("paths") or []}], on_create=False)
        except ApiError as exc:
            return JSONResponse({"ok": False, "reason": exc.message}, status_code=202)
        # 202 whether the path is free or not (ApisResource.verifyPaths: Response.accepted).
        return JSONResponse({"ok": True}, status_code=202)

    # --- deployments and lifecycle ---

    def can_deploy(self, api_id: str) -> bool:
        """At least one PUBLISHED or DEPRECATED plan (ApiValidationServiceImpl.canDeploy)."""
        return any(p.body["status"] in ACTIVE_PLAN_STATUSES for p in self.state.plans_of(api_id))

    def deploy_state(self, api: StoredApi, label: str | None = None) -> None:
        api_id = api.body["id"]
        definition = copy.deepcopy(api.body)
        plans = [copy.deepcopy(p.body) for p in self.state.plans_of(api_id) if p.body["status"] in ACTIVE_PLAN_STATUSES]
        before = self.state.deployments.get(api_id)
        seen = before.as_seen() if before is not None else None
        if seen is not None:
            seen.previous = None  # one step back is all a lagging gateway can still serve
        self.state.deployments[api_id] = Deployment(definition=definition, plans=plans, label=label,
                                                    visible_at=time.monotonic() + self.sim.sync_delay("apim_gateway"),
                                                    previous=seen)
        api.deployed_seq = self.state.tick()
        api.body["deployedAt"] = iso(self.state.now_ms())

    async def deploy(self, ctx, request: Request, api_id: str) -> Response:
        body = await json_body(request, optional=True)
        api = self.api(api_id)
        label = (body or {}).get("deploymentLabel")
        if label is not None and len(label) > 32:
            raise validation_error([{"message": "size must be between 0 and 32", "location": "deploymentLabel", "invalidValue": label}])
        if not self.can_deploy(api_id):
            raise ApiError(400, f"The api {{{api_id}}} can not be deployed without at least one published plan", "api.NotDeployable")
        self.deploy_state(api, label)
        return Response(status_code=202, headers=cache_headers(api.updated_ms))

    async def current_deployment(self, ctx, request: Request, api_id: str) -> Response:
        self.api(api_id)
        deployment = self.state.deployments.get(api_id)
        if deployment is None:
            return JSONResponse({})
        return JSONResponse(gateway_definition(deployment))

    async def verify_deployment(self, ctx, request: Request, api_id: str) -> Response:
        self.api(api_id)
        # The licence check always passes: the simulated install is licensed for the MCP proxy.
        return JSONResponse({"ok": True})

    async def start(self, ctx, request: Request, api_id: str) -> Response:
        api = self.api(api_id)
        if if_match_fails(request, api.updated_ms):
            return Response(status_code=412)
        if api.body["lifecycleState"] == "ARCHIVED":
            raise bad_request("Deleted API cannot be started")
        if api.body["state"] == "STARTED":
            raise bad_request("API is already started")
        if not self.can_deploy(api_id):
            raise ApiError(400, f"The API {{{api_id}}} can not be started without at least one published plan", "api.NotDeployable")
        api.body["state"] = "STARTED"
        self.touch(api)
        if api_id not in self.state.deployments:
            # First start without a previous deployment: a full deploy (ApiStateServiceImpl.deployLastPublishedAPI).
            self.deploy_state(api)
        return Response(status_code=204, headers=cache_headers(api.updated_ms))

    async def stop(self, ctx, request: Request, api_id: str) -> Response:
        api = self.api(api_id)
        if if_match_fails(request, api.updated_ms):
            return Response(status_code=412)
        if api.body["lifecycleState"] == "ARCHIVED":
            raise bad_request("Deleted API cannot be stopped")
        if api.body["state"] == "STOPPED":
            raise bad_request("API is already stopped")
        api.body["state"] = "STOPPED"
        self.touch(api)
        return Response(status_code=204, headers=cache_headers(api.updated_ms))

    # --- plans ---

    async def list_plans(self, ctx, request: Request, api_id: str) -> Response:
        self.api(api_id)
        statuses = [s.upper() for s in query_list(request, "statuses")] or ["PUBLISHED"]
        securities = [s.upper() for s in query_list(request, "securities")]
        mode = request.query_params.get("mode")
        for status in statuses:
            if status not in PLAN_STATUSES:
                raise ApiError(400, f"Invalid value [{status}] for query parameter statuses", parameters={})
        plans = [
            p.body
            for p in self.state.plans_of(api_id)
            if p.body["status"] in statuses
            and (not securities or (p.body.get("security") or {}).get("type") in securities)
            and (mode is None or p.body.get("mode") == mode)
        ]
        plans.sort(key=lambda p: p.get("order", 0))
        data, pagination, links = paginate(plans, request, strict=True)
        return JSONResponse({"data": copy.deepcopy(data), "pagination": pagination, "links": links})

    async def create_plan(self, ctx, request: Request, api_id: str) -> Response:
        body = await json_body(request)
        api = self.api(api_id)
        if body.get("definitionVersion") != "V4":
            raise ApiError(400, "Plan is not valid.", "plan.invalid")
        if api.body["lifecycleState"] == "DEPRECATED":
            raise ApiError(400, "The API is deprecated and cannot be modified.", parameters={"apiId": api_id})
        mode = body.get("mode") or "STANDARD"
        security = copy.deepcopy(body.get("security"))
        self.check_plan_security(mode, security)
        tags = body.get("tags") or []
        if tags and not set(tags) & set(api.body.get("tags") or []):
            raise ApiError(
                400,
                "Plan tags mismatch the tags defined by the API",
                parameters={"planTags": ",".join(tags), "apiTags": ",".join(api.body.get("tags") or [])},
            )
        validate_flows(api.body["type"], body.get("flows"))
        plan_id, now = str(uuid.uuid4()), self.state.now_ms()
        plan = {
            "id": plan_id,
            "crossId": body.get("crossId") or str(uuid.uuid4()),
            "name": body.get("name"),
            **({"description": body["description"]} if body.get("description") is not None else {}),
            "apiId": api_id,
            "definitionVersion": "V4",
            **({"security": self.sanitized_security(security)} if security is not None else {}),
            "mode": mode,
            **({"validation": body["validation"]} if body.get("validation") else {}),
            "characteristics": body.get("characteristics") or [],
            "excludedGroups": body.get("excludedGroups") or [],
            "commentRequired": bool(body.get("commentRequired", False)),
            **({"commentMessage": body["commentMessage"]} if body.get("commentMessage") else {}),
            **({"generalConditions": body["generalConditions"]} if body.get("generalConditions") else {}),
            **({"selectionRule": body["selectionRule"]} if body.get("selectionRule") else {}),
            "order": body.get("order") or 0,
            "status": "STAGING",  # always created in STAGING (CreatePlanUseCase)
            "tags": tags,
            "type": "API",
            "flows": copy.deepcopy(body.get("flows") or []),
            "createdAt": iso(now),
            "updatedAt": iso(now),
        }
        self.state.plans[plan_id] = StoredPlan(body=plan, need_redeploy_seq=self.state.tick(), updated_ms=now)
        return JSONResponse(copy.deepcopy(plan), status_code=201, headers={"Location": f"{ctx.base}/apis/{api_id}/plans/{plan_id}"})

    def check_plan_security(self, mode: str, security: dict[str, Any] | None) -> None:
        """PlanValidatorDomainService.validatePlanSecurity: STANDARD needs a security, PUSH forbids one."""
        if mode == "STANDARD" and security is None:
            raise ApiError(400, "Security type is required for plan with 'STANDARD' mode", parameters={})
        if mode == "PUSH" and security is not None:
            raise ApiError(400, "Security type is forbidden for plan with 'Push' mode", parameters={})

    def sanitized_security(self, security: dict[str, Any]) -> dict[str, Any]:
        policy = PLAN_SECURITY_POLICIES.get(security.get("type"))
        try:
            configuration = self.state.schemas.sanitize("policies", policy, security.get("configuration"))
        except InvalidConfiguration as exc:
            raise invalid_data(exc.message) from None
        if self.sim.profile == "4.10" and security.get("configuration") is not None:
            # Seen on real APIM 4.10.9: a plan's configuration is validated but stored as sent, without the schema's
            # defaults (an OAuth2 plan of {"oauthResource"} alone stays so, and its gateway sends no challenge).
            configuration = copy.deepcopy(security["configuration"])
        result = {"type": security["type"]}
        if configuration is not None:
            result["configuration"] = configuration
        return result

    async def get_plan(self, ctx, request: Request, api_id: str, plan_id: str) -> Response:
        plan = self.plan(api_id, plan_id)
        return JSONResponse(copy.deepcopy(plan.body), headers=cache_headers(plan.updated_ms))

    async def update_plan(self, ctx, request: Request, api_id: str, plan_id: str) -> Response:
        body = await json_body(request)
        plan = self.plan(api_id, plan_id)
        api = self.api(api_id)
        if body.get("definitionVersion") != "V4":
            raise ApiError(400, f"Plan [{plan_id}] is not valid.", "plan.invalid", {"plan": plan_id})
        validate_flows(api.body["type"], body.get("flows"))
        updated = copy.deepcopy(plan.body)
        for name in UPDATABLE_PLAN_FIELDS:
            if body.get(name) is not None:
                updated[name] = copy.deepcopy(body[name])
        # Only the configuration of the security can change, never its type (UpdateGenericPlan.security).
        if plan.body.get("security") is not None and body.get("security") is not None:
            configuration = body["security"].get("configuration")
            updated["security"] = self.sanitized_security({"type": plan.body["security"]["type"], "configuration": configuration})
        now = self.state.now_ms()
        updated["updatedAt"] = iso(now)
        if any(updated.get(f) != plan.body.get(f) for f in PLAN_DEPLOYMENT_FIELDS):
            plan.need_redeploy_seq = self.state.tick()
        plan.body, plan.updated_ms = updated, now
        return JSONResponse(copy.deepcopy(plan.body), headers=cache_headers(plan.updated_ms))

    async def delete_plan(self, ctx, request: Request, api_id: str, plan_id: str) -> Response:
        # A non-keyless PUBLISHED/DEPRECATED plan with subscriptions cannot be deleted; the simulator
        # has no subscriptions (MCP proxies need none), so every plan can be.
        self.plan(api_id, plan_id)
        del self.state.plans[plan_id]
        return Response(status_code=204)

    async def publish_plan(self, ctx, request: Request, api_id: str, plan_id: str) -> Response:
        plan = self.plan(api_id, plan_id)
        status = plan.body["status"]
        if status == "CLOSED":
            raise ApiError(400, f"Plan {plan_id} is already closed !", "plan.closed", {"plan": plan_id})
        if status == "PUBLISHED":
            raise ApiError(400, f"Plan {plan_id} is already published !", "plan.published", {"plan": plan_id})
        if status == "DEPRECATED":
            raise ApiError(400, f"Plan {plan_id} is already deprecated !", "plan.deprecated", {"plan": plan_id})
        others = self.state.plans_of(api_id)
        if (plan.body.get("security") or {}).get("type") == "KEY_LESS":
            if any(p.body["status"] in ACTIVE_PLAN_STATUSES and (p.body.get("security") or {}).get("type") == "KEY_LESS" for p in others):
                raise ApiError(400, "A key-less plan is already published (or has been deprecated)!", "plan.keyless.exists", {"plan": plan_id})
        published_orders = [p.body.get("order", 0) for p in others if p.body["status"] == "PUBLISHED"]
        now = self.state.now_ms()
        plan.body.update(status="PUBLISHED", order=(max(published_orders) + 1) if published_orders else 1, publishedAt=iso(now), updatedAt=iso(now))
        plan.updated_ms, plan.need_redeploy_seq = now, self.state.tick()
        return JSONResponse(copy.deepcopy(plan.body))

    async def deprecate_plan(self, ctx, request: Request, api_id: str, plan_id: str) -> Response:
        plan = self.plan(api_id, plan_id)
        status = plan.body["status"]
        if status == "DEPRECATED":
            raise ApiError(400, f"Plan {plan_id} is already deprecated !", "plan.deprecated", {"plan": plan_id})
        if status == "CLOSED":
            raise ApiError(400, f"Plan {plan_id} is already closed !", "plan.closed", {"plan": plan_id})
        if status == "STAGING":
            raise ApiError(400, f"Plan {plan_id} is not yet published !", "plan.notPublished", {"plan": plan_id})
        now = self.state.now_ms()
        # Deprecating does not touch needRedeployAt (PlanServiceImpl.deprecate).
        plan.body.update(status="DEPRECATED", updatedAt=iso(now))
        plan.updated_ms = now
        return JSONResponse(copy.deepcopy(plan.body))

    def close_plan_state(self, plan: StoredPlan) -> None:
        now = self.state.now_ms()
        plan.body.update(status="CLOSED", closedAt=iso(now), updatedAt=iso(now))
        plan.updated_ms, plan.need_redeploy_seq = now, self.state.tick()

    async def close_plan(self, ctx, request: Request, api_id: str, plan_id: str) -> Response:
        plan = self.plan(api_id, plan_id)
        if plan.body["status"] == "CLOSED":
            raise ApiError(400, f"Plan {plan_id} is already closed !", "plan.closed", {"plan": plan_id})
        self.close_plan_state(plan)
        return JSONResponse(copy.deepcopy(plan.body))

    # --- plugins ---

    async def list_plugins(self, ctx, request: Request, kind: str) -> Response:
        return JSONResponse(list(catalogue(self.state.profile)[kind].values()))

    async def get_plugin(self, ctx, request: Request, kind: str, plugin_id: str) -> Response:
        plugin = catalogue(self.state.profile)[kind].get(plugin_id)
        if plugin is None:
            raise ApiError(404, f"Plugin [{plugin_id}] cannot be found.", "plugin.notFound", {"plugin": plugin_id})
        return JSONResponse(plugin)

    async def plugin_schema(self, ctx, request: Request, kind: str, plugin_id: str, which: str = "schema") -> Response:
        if plugin_id not in catalogue(self.state.profile)[kind]:
            raise ApiError(404, f"Plugin [{plugin_id}] cannot be found.", "plugin.notFound", {"plugin": plugin_id})
        schema = MINIMAL_CONNECTOR_SCHEMAS.get((kind, plugin_id, which))
        if schema is None and which == "schema":
            schema = self.state.schemas.served(kind, plugin_id)
        if schema is None:
            raise ApiError(404, f"Plugin [{plugin_id}] cannot be found.", "plugin.notFound", {"plugin": plugin_id})
        return JSONResponse(schema)


def gateway_definition(deployment: Deployment) -> dict[str, Any]:
    """The definition the gateway runs: the API fields it needs plus its active plans."""
    definition = {
        name: copy.deepcopy(deployment.definition.get(name))
        for name in ("id", "name", "apiVersion", "definitionVersion", "type", *DEPLOYMENT_FIELDS)
        if deployment.definition.get(name) is not None
    }
    definition["plans"] = copy.deepcopy(deployment.plans)
    return definition


def matches_search(api: dict[str, Any], query: dict[str, Any]) -> bool:
    """ApiSearchQuery filters.  ``query`` is a full-text search in the real server (Lucene); here a
    case-insensitive match on the name, description, id or a context path."""
    if query.get("ids") is not None and api["id"] not in query["ids"]:
        return False
    if query.get("apiTypes") and api["type"] not in query["apiTypes"]:
        return False
    versions = query.get("definitionVersions") or ([query["definitionVersion"]] if query.get("definitionVersion") else None)
    if versions and api["definitionVersion"] not in versions:
        return False
    text = (query.get("query") or "").strip().lower()
    if not text:
        return True
    paths = [p["path"] for p in http_paths(api.get("listeners"))]
    haystack = [api["name"].lower(), (api.get("description") or "").lower(), api["id"]]
    return any(text in value for value in haystack) or any(text.rstrip("/") + "/" == p.lower() or text in p.lower() for p in paths)


async def json_body(request: Request, optional: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, "Request body is required", parameters={})
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "Unable to parse the request body as JSON", parameters={}) from None


# --- routing -------------------------------------------------------------------------------------

ENV_PREFIX = re.compile(r"^/management/v2(?:/organizations/(?P<org>[^/]+))?/environments/(?P<env>[^/]+)(?P<rest>/.*)?$")
PLUGIN_PREFIX = re.compile(r"^/management/v2(?:/organizations/(?P<org>[^/]+))?(?P<rest>/plugins/.*)$")

# (method, pattern of the path after the environment prefix, handler name)
ENV_ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/apis", "list_apis"),
    ("POST", r"/apis", "create_api"),
    ("POST", r"/apis/_search", "search_apis"),
    ("POST", r"/apis/_verify/paths", "verify_paths"),
    ("GET", r"/apis/(?P<api_id>[^/_][^/]*)", "get_api"),
    ("PUT", r"/apis/(?P<api_id>[^/_][^/]*)", "update_api"),
    ("DELETE", r"/apis/(?P<api_id>[^/_][^/]*)", "delete_api"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/deployments", "deploy"),
    ("GET", r"/apis/(?P<api_id>[^/]+)/deployments/current", "current_deployment"),
    ("GET", r"/apis/(?P<api_id>[^/]+)/deployments/_verify", "verify_deployment"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/_start", "start"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/_stop", "stop"),
    ("GET", r"/apis/(?P<api_id>[^/]+)/plans", "list_plans"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/plans", "create_plan"),
    ("GET", r"/apis/(?P<api_id>[^/]+)/plans/(?P<plan_id>[^/]+)", "get_plan"),
    ("PUT", r"/apis/(?P<api_id>[^/]+)/plans/(?P<plan_id>[^/]+)", "update_plan"),
    ("DELETE", r"/apis/(?P<api_id>[^/]+)/plans/(?P<plan_id>[^/]+)", "delete_plan"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/plans/(?P<plan_id>[^/]+)/_publish", "publish_plan"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/plans/(?P<plan_id>[^/]+)/_deprecate", "deprecate_plan"),
    ("POST", r"/apis/(?P<api_id>[^/]+)/plans/(?P<plan_id>[^/]+)/_close", "close_plan"),
]
PLUGIN_KINDS = "entrypoints|endpoints|policies|resources"
PLUGIN_ROUTES: list[tuple[str, str, str]] = [
    ("GET", rf"/plugins/(?P<kind>{PLUGIN_KINDS})", "list_plugins"),
    ("GET", rf"/plugins/(?P<kind>{PLUGIN_KINDS})/(?P<plugin_id>[^/]+)", "get_plugin"),
    ("GET", rf"/plugins/(?P<kind>{PLUGIN_KINDS})/(?P<plugin_id>[^/]+)/(?P<which>schema)", "plugin_schema"),
    ("GET", r"/plugins/(?P<kind>endpoints)/(?P<plugin_id>[^/]+)/(?P<which>shared-configuration-schema)", "plugin_schema"),
]


@dataclass
class Context:
    org: str
    env: str | None
    base: str  # absolute URL of the environment (or organization) the request addressed


def match_route(routes, method: str, rest: str) -> tuple[str | None, dict[str, str], bool]:
    """(handler name, path parameters, whether the path exists for another method)."""
    path_exists = False
    for route_method, pattern, handler in routes:
        found = re.fullmatch(pattern, rest)
        if found:
            if route_method == method:
                return handler, found.groupdict(), True
            path_exists = True
    return None, {}, path_exists


def build_app(sim):
    management = ManagementApi(sim)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await handle(request)
        await response(scope, receive, send)

    async def handle(request: Request) -> Response:
        if not authenticated(sim, request):
            return Response(status_code=401)  # res.sendError(401): no JSON error body
        path, method = request.url.path, request.method
        origin = f"{request.url.scheme}://{request.url.netloc}"
        routes, found = ENV_ROUTES, ENV_PREFIX.match(path)
        if found:
            org, env, rest = found["org"] or DEFAULT_ORG, found["env"], found["rest"] or ""
            base = origin + path[: len(path) - len(rest)]
        else:
            found = PLUGIN_PREFIX.match(path)
            if not found:
                return not_found(path)
            if found["org"] is None and sim.profile == "4.10":
                # Seen on real APIM 4.10.9: the deprecated root form fails looking up "Organization [null]": a bare 500.
                return Response(status_code=500)
            routes, org, env, rest = PLUGIN_ROUTES, found["org"] or DEFAULT_ORG, None, found["rest"]
            base = origin + path[: len(path) - len(rest)]
        if org != DEFAULT_ORG:
            return ApiError(404, f"Organization [{org}] cannot be found.", "organization.notFound", {"organization": org}).response()
        if env is not None and env != DEFAULT_ENV:
            return ApiError(404, f"Environment [{env}] cannot be found.", "environment.notFound", {"environment": env}).response()
        handler_name, params, path_exists = match_route(routes, method, rest.rstrip("/") or rest)
        if handler_name is None:
            if path_exists:
                return ApiError(405, "HTTP 405 Method Not Allowed").response()
            return not_found(path)
        handler: Callable = getattr(management, handler_name)
        try:
            return await handler(Context(org, env, base), request, **params)
        except ApiError as error:
            return error.response()

    return app


def not_found(path: str) -> Response:
    return ApiError(404, "HTTP 404 Not Found").response()
