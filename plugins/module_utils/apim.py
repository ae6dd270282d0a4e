# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Gravitee APIM Management API v2, as the apim_* modules use it.

``ApimApi`` has one method per REST call (URLs built from the organization and environment) and one pager.
Below it, what the modules share about APIM objects: finding an API by context path, id or name; the shape of
an MCP proxy API and where its context path and target live; the plan status machine.  No module builds a URL.

Facts: ../shared/gravitee/apim-management-api.md and source-audit-2026-12.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from urllib.parse import quote

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError, ManagementApi, is_http_url
from ansible_collections.mcpgate.gravitee.plugins.module_utils.errors import ModuleError

MCP_PROXY_TYPE = "MCP_PROXY"
MCP_PROXY_PLUGIN = "mcp-proxy"
PLAN_STATUSES = ("STAGING", "PUBLISHED", "DEPRECATED", "CLOSED")
ACTIVE_PLAN_STATUSES = ("PUBLISHED", "DEPRECATED")
PAGE_SIZE = 100
# The OAuth2 plan setting that only policy 5.0-5.1 (APIM 4.10.0 to 4.10.11) has; MCP clients need it true there.
WWW_AUTHENTICATE = "addWwwAuthenticateHeader"

# The server accepts [/.a-zA-Z0-9-_] in a path (core/api/model/Path.java VALID_PATH).  Capitals are refused here:
# AM lower-cases MCP server identifiers and compares `resource=` exactly, so an API whose URL has capitals could
# never receive a token (DESIGN.md section 4).
_CONTEXT_PATH_RE = re.compile(r"^/[a-z0-9._/-]*$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _q(part):
    return quote(str(part), safe="")


class ApimApi(ManagementApi):
    """The APIM Management API v2 of one organization and environment, one method per REST call, and one pager."""

    def _org(self, *parts):
        return "/management/v2/organizations/%s%s" % (_q(self.organization), "".join("/" + _q(p) for p in parts))

    def _apis(self, *parts):
        return self._org("environments", self.environment, "apis", *parts)

    def _pages(self, method, path, params=None, body=None):
        """Every item of a paged answer (``{data, pagination{pageCount}}``, pages from 1), page by page."""
        page = 1
        while True:
            query = dict(params or {}, page=page, perPage=PAGE_SIZE)
            if method == "POST":
                answer = self.client.post(path, body, params=query, expected=(200,), safe=True)
            else:
                answer = self.client.get(path, params=query)
            answer = answer or {}
            yield from answer.get("data") or []
            if page >= ((answer.get("pagination") or {}).get("pageCount") or 1):
                return
            page += 1

    # -- APIs ---------------------------------------------------------------------------------------
    def search_apis(self, query):
        """POST /apis/_search: the APIs matching ``query`` (full text); lists carry deploymentState on request."""
        return self._pages("POST", self._apis("_search"), {"expands": "deploymentState"}, {"query": query})

    def get_api(self, api_id):
        """GET /apis/{id}: ``(api, etag)``, or ``(None, None)`` when there is no such API."""
        try:
            api = self.client.get(self._apis(api_id))
        except GraviteeError as exc:
            if exc.status == 404:
                return None, None
            raise
        return api, self.client.last_headers.get("ETag")

    def verify_paths(self, paths, api_id=None):
        """POST /apis/_verify/paths: ``{ok, reason}``.  Real APIM answers 202 (ApisResource.verifyPaths; the
        OpenAPI document says 200)."""
        body = {"paths": [{"path": path} for path in paths]}
        if api_id:
            body["apiId"] = api_id
        return self.client.post(self._apis("_verify", "paths"), body, expected=(200, 202), safe=True) or {}

    def create_api(self, body):
        return self.client.post(self._apis(), body, expected=(201, 200))

    def update_api(self, api_id, body, etag=None):
        """PUT /apis/{id}, a full replacement; ``If-Match`` with the ETag of the read makes a concurrent change a 412."""
        try:
            return self.client.put(self._apis(api_id), body, headers={"If-Match": etag} if etag else None)
        except GraviteeError as exc:
            if exc.status == 412:
                exc.hint = "The API was changed by someone else while this task ran; run the task again"
            raise

    def delete_api(self, api_id):
        """DELETE /apis/{id}?closePlans=true (a started API must be stopped first, facts §3.5)."""
        self.client.delete(self._apis(api_id), params={"closePlans": "true"}, expected=(204, 200))

    def deploy_api(self, api_id, label="ansible"):
        self.client.post(self._apis(api_id, "deployments"), {"deploymentLabel": label}, expected=(202, 200, 204))

    def start_api(self, api_id):
        self.client.post(self._apis(api_id, "_start"), expected=(204, 200))

    def stop_api(self, api_id):
        self.client.post(self._apis(api_id, "_stop"), expected=(204, 200))

    # -- plans --------------------------------------------------------------------------------------
    def plans(self, api_id, statuses=PLAN_STATUSES):
        """GET /apis/{id}/plans of the given statuses, every page."""
        return list(self._pages("GET", self._apis(api_id, "plans"), {"statuses": ",".join(statuses)}))

    def create_plan(self, api_id, body):
        return self.client.post(self._apis(api_id, "plans"), body, expected=(201, 200))

    def update_plan(self, api_id, plan_id, body):
        return self.client.put(self._apis(api_id, "plans", plan_id), body)

    def plan_action(self, api_id, plan_id, action):
        """POST /plans/{id}/_publish | _deprecate | _close; returns the plan."""
        return self.client.post(self._apis(api_id, "plans", plan_id, "_" + action), expected=(200, 204))

    def delete_plan(self, api_id, plan_id):
        self.client.delete(self._apis(api_id, "plans", plan_id), expected=(204, 200))

    # -- plugins ------------------------------------------------------------------------------------
    def plugin(self, kind, plugin_id):
        """GET /plugins/{kind}/{id}: the plugin (with ``deployed``: installed and licensed), or None."""
        return self.client.get_or_none(self._org("plugins", kind, plugin_id))

    def plugin_schema(self, kind, plugin_id):
        """GET /plugins/{kind}/{id}/schema: the configuration schema the server itself validates with."""
        return self.client.get(self._org("plugins", kind, plugin_id, "schema")) or {}


# -- plugins ---------------------------------------------------------------------------------------------
# The plugins the collection needs, by (kind, id): what makes them available.
PLUGIN_SOURCES = {
    ("entrypoints", MCP_PROXY_PLUGIN): "APIM 4.10 or later with the MCP proxy plugins",
    ("policies", "mcp-acl"): "AI - MCP ACL, an enterprise plugin of APIM 4.10 and later",
}
_PLUGIN_KINDS = {"entrypoints": "entrypoint", "endpoints": "endpoint", "policies": "policy", "resources": "resource"}


def require_plugin(apim, kind, plugin_id, option=None, needed_by=None):
    """The plugin, installed and allowed by the licence; otherwise ModuleError naming ``option`` (and what needs it)."""
    plugin = apim.plugin(kind, plugin_id)
    name = "%s %s plugin" % (plugin_id, _PLUGIN_KINDS.get(kind, kind))
    if plugin is None:
        problem = "APIM has no %s (%s)" % (name, PLUGIN_SOURCES.get((kind, plugin_id), "not installed"))
    elif plugin.get("deployed") is False:
        problem = "the %s is installed but not deployable: the APIM licence does not allow it" % name
    else:
        return plugin
    raise ModuleError("%s%s%s" % (option + ": " if option else "", problem, ", which %s needs" % needed_by if needed_by else ""),
                      option)


# -- input checks -----------------------------------------------------------------------------------
def check_context_path(value, option="context_path"):
    """A valid, lower-case context path in the server's form (with its trailing slash), or ModuleError."""
    if not value or not value.startswith("/"):
        raise ModuleError("%s must start with '/', for example /weather-mcp; got %r" % (option, value), option)
    if value != value.lower():
        raise ModuleError(
            "%s %r has capital letters: AM lower-cases the MCP server identifier (the gateway URL of the API) "
            "and compares it exactly, so MCP clients could never get a token for an API whose URL has capitals; use %r"
            % (option, value, value.lower()), option
        )
    if not _CONTEXT_PATH_RE.match(value):
        raise ModuleError("%s %r may contain only lower-case letters, digits and the characters - _ . /" % (option, value), option)
    return server_path(value)


def server_path(path):
    """A context path as the server stores it (Path.sanitizePath): no duplicate slashes, one trailing slash."""
    return re.sub(r"/+", "/", (path or "/") + "/")


def check_url(value, option, query=False):
    """An http(s) URL (a base URL: no query string unless ``query``), without trailing slash, or ModuleError."""
    if not is_http_url(value, query):
        raise ModuleError(
            "%s must be an http(s) URL%s, such as https://host.example.com/path; got %r"
            % (option, "" if query else " without a query string", value), option
        )
    value = value.strip()
    return value if "?" in value else value.rstrip("/")


# -- the MCP proxy API ------------------------------------------------------------------------------
def first_of_type(items, type_):
    return next((item for item in items or [] if item.get("type") == type_), None)


def context_paths(api):
    """The paths of the API's HTTP listeners, in the server's form."""
    found = []
    for listener in (api or {}).get("listeners") or []:
        if listener.get("type") == "HTTP":
            found.extend(server_path(p.get("path")) for p in listener.get("paths") or [])
    return found


def context_path(api):
    """The API's main context path (the first path of its HTTP listener), or None."""
    paths = context_paths(api)
    return paths[0] if paths else None


def put_context_path(api, path):
    if path in context_paths(api):
        return
    listener = first_of_type(api.get("listeners"), "HTTP")
    if listener is None:
        raise ModuleError("API %s has no HTTP listener to hold the context path" % describe_api(api), "context_path")
    paths = listener.setdefault("paths", [])
    if paths:
        paths[0]["path"] = path
    else:
        paths.append({"path": path})


def mcp_endpoint(api):
    return first_of_type((first_of_type(api.get("endpointGroups"), MCP_PROXY_PLUGIN) or {}).get("endpoints"), MCP_PROXY_PLUGIN)


def target(api):
    return ((mcp_endpoint(api) or {}).get("configuration") or {}).get("target")


def put_target(api, url):
    endpoint = mcp_endpoint(api)
    if endpoint is None:
        raise ModuleError("API %s has no mcp-proxy endpoint to point at mcp_server_url" % describe_api(api), "mcp_server_url")
    if not isinstance(endpoint.get("configuration"), dict):
        endpoint["configuration"] = {}
    endpoint["configuration"]["target"] = url


def mcp_proxy_api():
    """The skeleton of a CreateApiV4 body for an MCP proxy API (facts §3.1, §3.2); the fields fill it."""
    return {
        "definitionVersion": "V4",
        "type": MCP_PROXY_TYPE,
        "apiVersion": "1.0",
        "listeners": [{"type": "HTTP", "paths": [{"path": "/"}], "entrypoints": [{"type": MCP_PROXY_PLUGIN, "configuration": {}}]}],
        "endpointGroups": [
            {
                "name": "Default MCP proxy group",
                "type": MCP_PROXY_PLUGIN,
                "sharedConfiguration": {},
                "endpoints": [
                    {
                        "name": "Default MCP proxy",
                        "type": MCP_PROXY_PLUGIN,
                        "weight": 1,
                        "inheritConfiguration": False,
                        "configuration": {"target": None},
                    }
                ],
            }
        ],
        "flowExecution": {"mode": "DEFAULT", "matchRequired": False},
        "flows": [],
    }


def shown_path(path):
    """A context path as people write it: without the trailing slash the server stores."""
    return (path.rstrip("/") or "/") if path else path


def describe_api(api):
    return "%r (id %s, context path %s)" % (api.get("name"), api.get("id"), shown_path(context_path(api)) or "none")


def is_api_id(ref):
    return bool(_UUID_RE.match(ref or ""))


def find_api(apim, ref, option="api"):
    """An API by reference: a context path (starts with '/'), an id (a UUID), else a name; None if absent."""
    if ref.startswith("/"):
        path = check_context_path(ref, option)
        return next((api for api in apim.search_apis(path.rstrip("/") or "/") if path in context_paths(api)), None)
    if is_api_id(ref):
        return apim.get_api(ref)[0]
    matches = [api for api in apim.search_apis(ref) if api.get("name") == ref]
    if len(matches) > 1:
        raise ModuleError(
            "%s: %d APIs are named %r (%s): give the API by its context path or id instead"
            % (option, len(matches), ref, ", ".join(describe_api(a) for a in matches)), option
        )
    return matches[0] if matches else None


def require_v4(api):
    if api.get("definitionVersion") != "V4":
        raise ModuleError("API %s is a %s API; this collection manages V4 APIs" % (describe_api(api), api.get("definitionVersion")),
                          "api")
    return api


def missing_api(apim, ref):
    """The error for an API that does not exist."""
    kind = "context path" if ref.startswith("/") else ("id" if _UUID_RE.match(ref) else "name")
    return ModuleError(
        "api: no API with %s %r in organization %s, environment %s: create it first with mcpgate.gravitee.apim_api"
        % (kind, ref, apim.organization, apim.environment), "api"
    )


# -- plans ---------------------------------------------------------------------------------------------
SECURITY_TYPES = {"keyless": "KEY_LESS", "oauth2": "OAUTH2"}


def plan_security_type(plan):
    return ((plan or {}).get("security") or {}).get("type")


def describe_plan(plan):
    return "%r (id %s, %s, %s)" % (plan.get("name"), plan.get("id"), plan_security_type(plan), plan.get("status"))
