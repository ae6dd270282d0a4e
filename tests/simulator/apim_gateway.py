"""Simulated Gravitee APIM gateway: serves the last deployment of every started API at its context path.

For each request the gateway, like the real one (sources in FIDELITY.md, "APIM gateway"):

1. finds the API whose HTTP listener path is the longest prefix of the request path (404 otherwise);
2. lets each OAuth2 plan answer the RFC 9728 protected resource metadata request (``onWellKnown``);
3. runs the security chain: plans ordered by their policy order (OAuth2 100, keyless 1000); the first
   plan that can handle the request runs; if none can, 401 with each OAuth2 plan's
   ``WWW-Authenticate`` challenge (or 503 when a token introspection failed);
4. proxies the request to the endpoint ``target`` of the MCP proxy, streaming the answer (SSE included).

Plans and their behaviour per version profile:

* OAuth2 policy 5.1.4 (profile 4.10): challenge only when ``addWwwAuthenticateHeader`` is true,
  ``resource_metadata="<original URL>/.well-known/oauth-protected-resource"``; metadata served for
  request URLs ending with ``.well-known/oauth-protected-resource``.
* OAuth2 policy 5.2.1 (profile 4.11): the challenge of 5.3.1; metadata served only in the inserted form
  (``/.well-known/oauth-protected-resource/<path>``), without a ``Content-Type``.
* OAuth2 policy 5.3.1 (profile 4.12): challenge always; for MCP proxy APIs
  ``resource_metadata="<scheme>://<host>/.well-known/oauth-protected-resource<path>"`` and
  ``scope="..."`` when required scopes are set; metadata served in the inserted and suffix forms.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.simulator import apim_mcp_acl

WELL_KNOWN = "/.well-known/oauth-protected-resource"
OAUTH2_ORDER, KEYLESS_ORDER = 100, 1000
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}


def seed(sim) -> None:
    # The gateway has no state of its own: it serves what the Management API deployed (sim.state.apim).
    pass


@dataclass
class Route:
    api: dict[str, Any]  # the deployed definition
    plans: list[dict[str, Any]]
    context_path: str  # as stored, with a trailing slash
    sub_path: str  # the rest of the request path, sent on to the endpoint


@dataclass
class Introspection:
    """Result of a token introspection through an AM resource (OAuth2AMResource.introspect)."""

    active: bool
    payload: dict[str, Any] | None = None
    error: str | None = None  # the call failed (transport error or non-200): plan resolution failure

    @property
    def client_id(self) -> str | None:
        if not self.active or self.payload is None:
            return None
        client_id = self.payload.get("client_id")
        if not client_id:  # TokenIntrospectionResult falls back on the first audience
            aud = self.payload.get("aud")
            client_id = aud[0] if isinstance(aud, list) and aud else aud
        return client_id or None


class Gateway:
    def __init__(self, sim):
        self.sim = sim
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), follow_redirects=False)
        return self._client

    # --- routing ---

    def started_apis(self):
        """The deployments the gateway serves: with a sync delay (POST /_sim/sync), the ones it has synced."""
        apim = self.sim.state.apim
        for api_id, deployment in apim.deployments.items():
            stored = apim.apis.get(api_id)
            seen = deployment.as_seen()
            if stored is not None and stored.body["state"] == "STARTED" and seen is not None:
                yield seen

    def route(self, host: str, path: str) -> Route | None:
        best: Route | None = None
        candidate = path if path.endswith("/") else path + "/"
        for deployment in self.started_apis():
            for listener in deployment.definition.get("listeners") or []:
                if listener.get("type") != "HTTP":
                    continue
                for entry in listener.get("paths") or []:
                    if entry.get("host") and entry["host"].split(":")[0] != host.split(":")[0]:
                        continue
                    context = entry["path"]
                    if candidate.startswith(context) and (best is None or len(context) > len(best.context_path)):
                        sub_path = path[len(context.rstrip("/")) :]
                        best = Route(deployment.definition, deployment.plans, context, sub_path)
        return best

    def route_inserted_well_known(self, host: str, path: str) -> Route | None:
        """4.11 and 4.12: ``/.well-known/oauth-protected-resource/<ctx>`` reaches the MCP proxy API at ``<ctx>``.

        Gravitee's own gateway test PlanOAuth2McpProxyV4IntegrationTest (4.10.x line, policy 5.2.x) gets 200 from
        that form (source-audit-2026-12.md); for 4.12 it is implied by policy 5.3.1 answering it."""
        if not self.sim.at_least("4.11") or not path.startswith(WELL_KNOWN + "/"):
            return None
        route = self.route(host, path[len(WELL_KNOWN) :])
        if route is None or route.api.get("type") != "MCP_PROXY":
            return None
        return route

    # --- request handling ---

    async def handle(self, request: Request) -> Response:
        host = request.headers.get("host", "")
        path = request.url.path
        route = self.route(host, path) or self.route_inserted_well_known(host, path)
        if route is None:
            return Response("No context-path matches the request URI.", status_code=404, media_type="text/plain")

        plans = sorted(
            (p for p in route.plans if security_type(p) in ("OAUTH2", "KEY_LESS")),
            key=lambda p: OAUTH2_ORDER if security_type(p) == "OAUTH2" else KEYLESS_ORDER,
        )
        for plan in plans:
            if security_type(plan) == "OAUTH2":
                answer = self.well_known(request, route, plan)
                if answer is not None:
                    return answer

        selected, strip_authorization, failure = await self.security_chain(request, route, plans)
        if failure is not None:
            return failure
        if selected is None:
            return self.unauthorized(request, route, plans)
        return await self.proxy(request, route, strip_authorization, selected)

    async def security_chain(self, request: Request, route: Route, plans: list[dict[str, Any]]):
        """(selected plan, strip Authorization, an error response) as AbstractSecurityChain decides."""
        token = extract_token(request)
        token_extracted = False  # ATTR_INTERNAL_SECURITY_TOKEN: a previous plan found a token
        resolution_failed = False
        for plan in plans:
            if security_type(plan) == "KEY_LESS":
                if token_extracted:
                    continue  # a request with credentials never falls back to keyless
                return plan, False, None
            config = plan.get("security", {}).get("configuration") or {}
            resource = oauth2_resource(route.api, config)
            if resource is None or token is None:
                continue
            introspection = await self.introspect(resource, token)
            if introspection.error is not None:
                resolution_failed = True
                continue
            token_extracted = True
            if introspection.client_id is None:
                continue  # invalid token: this plan cannot handle the request
            if route.api.get("type") != "MCP_PROXY":
                continue  # OAuth2 needs a subscription except on MCP proxies; none are simulated
            # The plan runs the policy: scopes check (Oauth2PolicyV3.hasRequiredScopes).
            if config.get("checkRequiredScopes") and not has_required_scopes(
                token_scopes(introspection.payload), config.get("requiredScopes") or [], config.get("modeStrict", True)
            ):
                return None, False, failure_response(request, 401, "Unauthorized", {"WWW-Authenticate": 'Bearer realm="gravitee.io"'})
            # Oauth2Policy#validateOAuth2Payload: ctx.setAttribute(ATTR_USER_ROLES, scopes) ("user.roles").
            request.state.user_roles = [s for s in token_scopes(introspection.payload) if s]
            return plan, not config.get("propagateAuthHeader", True), None
        if resolution_failed:
            return None, False, failure_response(request, 503, "Temporarily Unavailable")
        return None, False, None

    def unauthorized(self, request: Request, route: Route, plans: list[dict[str, Any]]) -> Response:
        """No plan can handle the request: 401 GATEWAY_PLAN_UNRESOLVABLE, with the OAuth2 plans' challenge."""
        headers = {}
        for plan in plans:
            if security_type(plan) == "OAUTH2":
                challenge = self.www_authenticate(request, route, plan)
                if challenge is not None:
                    headers["WWW-Authenticate"] = challenge  # each plan sets (replaces) the header
        return failure_response(request, 401, "Unauthorized", headers)

    def www_authenticate(self, request: Request, route: Route, plan: dict[str, Any]) -> str | None:
        config = plan["security"].get("configuration") or {}
        if self.sim.profile == "4.10":
            if not config.get("addWwwAuthenticateHeader"):
                return None
            return f'Bearer resource_metadata="{original_url(request)}{WELL_KNOWN}"'
        challenge = "Bearer"
        if route.api.get("type") == "MCP_PROXY":
            origin = original_origin(request)
            challenge += f' resource_metadata="{origin}{WELL_KNOWN}{request.url.path}"'
        if config.get("requiredScopes"):
            challenge += f' scope="{" ".join(config["requiredScopes"])}"'
        return challenge

    def well_known(self, request: Request, route: Route, plan: dict[str, Any]) -> Response | None:
        """RFC 9728 metadata from the plan's AM resource (Oauth2Policy.onWellKnown)."""
        config = plan["security"].get("configuration") or {}
        resource = oauth2_resource(route.api, config)
        if resource is None:
            return None
        path = request.url.path
        if self.sim.profile == "4.10":
            url = original_url(request)
            if not url.endswith(WELL_KNOWN.lstrip("/")):
                return None
            protected = url[: -len(WELL_KNOWN)]
            # AM resource 4.0.0 always returns an empty scopes_supported.
            return Response(json.dumps(resource_metadata(resource, protected, [])).encode(), status_code=200)
        if path.startswith(WELL_KNOWN):
            protected_path = path[len(WELL_KNOWN) :]
        elif path.endswith(WELL_KNOWN) and self.sim.profile != "4.11":  # 5.2.x answers the inserted form only
            protected_path = path[: -len(WELL_KNOWN)]
        else:
            return None
        protected = original_origin(request) + (protected_path or "/")
        body = resource_metadata(resource, protected, config.get("requiredScopes") or [])
        if self.sim.profile == "4.11":  # Oauth2Policy.onWellKnown @5.2.1 sets no Content-Type
            return Response(json.dumps(body).encode(), status_code=200)
        return Response(json.dumps(body).encode(), status_code=200, media_type="application/json")

    async def introspect(self, resource: dict[str, Any], token: str) -> Introspection:
        """POST {serverURL}/{securityDomain}/oauth/introspect (V2_X/V3_X) or /oauth/check_token (V1_X)."""
        config = resource.get("configuration") or {}
        server = urlsplit(config.get("serverURL") or "")
        base_path = server.path or "/"
        if not base_path.endswith("/"):
            base_path += "/"
        version = config.get("version") or "V1_X"  # the Java default when the key is absent
        endpoint = "/oauth/check_token" if version == "V1_X" else "/oauth/introspect"
        url = f"{server.scheme}://{server.netloc}{base_path}{config.get('securityDomain')}{endpoint}"
        credentials = base64.b64encode(f"{config.get('clientId')}:{config.get('clientSecret')}".encode()).decode()
        try:
            answer = await self.client.post(
                url,
                content=f"token={token}",
                headers={
                    "Authorization": f"Basic {credentials}",
                    "Accept": "application/json",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Gravitee-Request-Id": str(uuid.uuid4()),
                },
                timeout=30.0,
            )
        except httpx.HTTPError as exc:
            return Introspection(active=False, error=f"introspection call failed: {exc}")
        if answer.status_code != 200:
            return Introspection(active=False, error=f"introspection answered {answer.status_code}")
        try:
            payload = answer.json()
        except ValueError:
            return Introspection(active=False, error="introspection answer is not JSON")
        if version == "V1_X":
            return Introspection(active=True, payload=payload if isinstance(payload, dict) else None)
        active = isinstance(payload, dict) and payload.get("active") is True
        return Introspection(active=active, payload=payload if active else None)

    def mcp_acl(self, request: Request, route: Route, plan: dict[str, Any] | None, body: bytes):
        """The mcp-acl steps of the request's flows (apim_mcp_acl.py): None, a refusal, or a decision whose
        list answer must be filtered."""
        if route.api.get("type") != "MCP_PROXY" or request.method != "POST":
            return None, None
        try:
            message = json.loads(body) if body else None
        except ValueError:
            return None, None
        if not isinstance(message, dict):
            return None, None  # JSON-RPC batches: what the policy does with them is not documented
        scopes = getattr(request.state, "user_roles", None)
        try:
            decision = apim_mcp_acl.decide(route.api, plan, message.get("method"), scopes)
            if not decision.applies or decision.feature is None:
                return None, None
            if decision.list_key is None:
                params = message.get("params") if isinstance(message.get("params"), dict) else {}
                if not decision.allows(apim_mcp_acl.target_name(decision.feature, params)):
                    # The refusal's status and body are not documented (FIDELITY.md, mcp-acl).
                    return failure_response(request, 403, "Forbidden"), None
                return None, None
            return None, decision
        except apim_mcp_acl.NotSimulated as exc:
            return failure_response(request, 500, f"simulator: {exc}"), None

    async def proxy(self, request: Request, route: Route, strip_authorization: bool,
                    plan: dict[str, Any] | None = None) -> Response:
        """Forward to the endpoint target and stream the answer back (MCP proxy endpoint)."""
        refusal, acl = self.mcp_acl(request, route, plan, await request.body())
        if refusal is not None:
            return refusal
        target = endpoint_target(route.api)
        if target is None:
            return failure_response(request, 502, "Bad Gateway")
        url = target.rstrip("/") + route.sub_path if route.sub_path not in ("", "/") else target
        if request.url.query:
            url += ("&" if "?" in url else "?") + request.url.query
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        if strip_authorization:
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        upstream_request = self.client.build_request(request.method, url, headers=headers, content=await request.body())
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.HTTPError:
            return failure_response(request, 502, "Bad Gateway")
        # The gateway's HTTP server writes its own Date and Server headers.
        dropped = (HOP_BY_HOP - {"content-length"}) | {"date", "server"}
        response_headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in dropped]
        if acl is not None:
            # mcp-acl filters the list in the answer and updates Content-Length (policy changelog 1.0.0).
            try:
                body = await upstream.aread()
            finally:
                await upstream.aclose()
            try:
                filtered = apim_mcp_acl.filter_body(body, upstream.headers.get("content-type", ""), acl)
            except apim_mcp_acl.NotSimulated as exc:
                return failure_response(request, 500, f"simulator: {exc}")
            response = Response(filtered, status_code=upstream.status_code)
            kept = [(k, v) for k, v in response_headers if k.lower() != "content-length"]
            response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in kept] + [
                (b"content-length", str(len(filtered)).encode())]
            return response
        response = StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose))
        response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers]
        return response


# --- helpers --------------------------------------------------------------------------------------


def security_type(plan: dict[str, Any]) -> str | None:
    return (plan.get("security") or {}).get("type")


def oauth2_resource(api: dict[str, Any], config: dict[str, Any]) -> dict[str, Any] | None:
    """The enabled resource the plan names, if its type is an OAuth2 one (the policy looks it up by name)."""
    name = config.get("oauthResource")
    for resource in api.get("resources") or []:
        if resource.get("name") == name and resource.get("enabled", True) and str(resource.get("type", "")).startswith("oauth2"):
            return resource
    return None


def endpoint_target(api: dict[str, Any]) -> str | None:
    for group in api.get("endpointGroups") or []:
        for endpoint in group.get("endpoints") or []:
            configuration = endpoint.get("configuration") or {}
            if isinstance(configuration, dict) and configuration.get("target"):
                return configuration["target"]
    return None


def extract_token(request: Request) -> str | None:
    """First ``Authorization: Bearer`` header, else the ``access_token`` query parameter (TokenExtractor)."""
    for key, value in request.headers.items():
        if key.lower() == "authorization" and value[:6].lower() == "bearer":
            return value[6:].strip()
    return request.query_params.get("access_token")


def token_scopes(payload: dict[str, Any] | None) -> list[str]:
    if not payload:
        return []
    scopes = payload.get("scope", payload.get("scp"))
    if isinstance(scopes, list):
        return [str(s) for s in scopes]
    return str(scopes or "").split(" ")


def has_required_scopes(token: list[str], required: list[str], strict: bool) -> bool:
    if not required:
        return True
    if not token:
        return False
    return all(s in token for s in required) if strict else any(s in required for s in token)


def original_origin(request: Request) -> str:
    """Scheme and host the client used, honouring X-Forwarded-Proto/Host (XForwardProcessor)."""
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = (request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc).split(",")[0].strip()
    return f"{scheme}://{host}"


def original_url(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return original_origin(request) + request.url.path + query


def resource_metadata(resource: dict[str, Any], protected_uri: str, scopes: list[str]) -> dict[str, Any]:
    """OAuth2AMResource.getProtectedResourceMetadata: authorization server = serverURL/securityDomain/oidc."""
    config = resource.get("configuration") or {}
    server = f"{config.get('serverURL')}/{config.get('securityDomain')}/oidc"
    parts = urlsplit(server)
    path = "/".join(segment for segment in parts.path.split("/") if segment)  # URI.normalize drops empty segments
    authorization_server = f"{parts.scheme}://{parts.netloc}/{path}".rstrip("/")
    return {"resource": protected_uri, "authorization_servers": [authorization_server], "scopes_supported": list(scopes)}


def failure_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An execution failure as the gateway writes it: JSON when accepted, else text (ExecutionFailureMessageHelper)."""
    accepts = request.headers.getlist("accept")
    if any("application/json" in a or "*/*" in a for a in accepts):
        body = json.dumps({"message": message, "http_status_code": status})
        return Response(body, status_code=status, media_type="application/json", headers=headers)
    return Response(message, status_code=status, media_type="text/plain", headers=headers)


def build_app(sim):
    gateway = Gateway(sim)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await gateway.handle(request)
        await response(scope, receive, send)

    return app
