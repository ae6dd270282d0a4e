# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Gravitee APIM Management API v2, as the apim_* modules use it.

``Apim`` has one method per REST call (URLs built from the organization and environment), plus
the lookups the modules share: an API by context path, name or id; the plans of an API; a plugin
schema.  Below it, what the modules share about the objects themselves: the shape of an MCP proxy
API, the read-merge-write of the API object (resources live inside it), and the plan status machine.
No module sends HTTP itself.

Facts: ../shared/gravitee/apim-management-api.md (the sections are cited as "facts §N").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
# The standard library's, not ansible.module_utils.six's: six is to be deprecated in ansible-core 2.22 (a note in
# 2.21's copy of it), and this file is Python 3 only (yield from).
from urllib.parse import quote

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError

MCP_PROXY_TYPE = "MCP_PROXY"
MCP_PROXY_PLUGIN = "mcp-proxy"
PLAN_STATUSES = ("STAGING", "PUBLISHED", "DEPRECATED", "CLOSED")
PAGE_SIZE = 100
# The OAuth2 plan setting that only policy 5.0-5.1 (APIM 4.10.0 to 4.10.11) has; MCP clients need it true there.
WWW_AUTHENTICATE = "addWwwAuthenticateHeader"

# Fields of a V4 API whose change makes it out of sync with its last deployment (@DeploymentRequired in
# rest-api-model v4/api/ApiEntity.java; name, description, labels or visibility do not need a deployment).
DEPLOYMENT_FIELDS = (
    "tags", "listeners", "endpointGroups", "analytics", "failover", "properties", "resources",
    "flowExecution", "flows", "responseTemplates", "services",
)

# The server accepts [/.a-zA-Z0-9-_] in a path (core/api/model/Path.java VALID_PATH).  Capitals are
# refused here: AM lower-cases MCP server identifiers and compares `resource=` exactly, so an API
# whose URL has capitals could never receive a token (DESIGN.md section 4).
_CONTEXT_PATH_RE = re.compile(r"^/[a-z0-9._/-]*$")
_URL_RE = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
_URL_WITH_QUERY_RE = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?(\?[^\s#]*)?$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# -- input checks -----------------------------------------------------------------------------------
def check_context_path(value, option="context_path"):
    """A valid, lower-case context path, normalised (no trailing slash), or ModuleError."""
    if not value or not value.startswith("/"):
        raise ModuleError("%s must start with '/', for example /weather-mcp; got %r" % (option, value))
    if value != value.lower():
        raise ModuleError(
            "%s %r has capital letters: AM lower-cases the MCP server identifier (the gateway URL of the API) "
            "and compares it exactly, so MCP clients could never get a token for this API; use %r"
            % (option, value, value.lower())
        )
    if not _CONTEXT_PATH_RE.match(value):
        raise ModuleError(
            "%s %r may contain only lower-case letters, digits and the characters - _ . /" % (option, value)
        )
    return normalize_path(value)


def normalize_path(path):
    """A context path as compared here: duplicate and trailing slashes removed.

    The server stores a path with a trailing slash (Path.sanitizePath: ``/weather-mcp`` is kept as
    ``/weather-mcp/``), so both forms name the same API.
    """
    path = re.sub(r"/+", "/", path or "/")
    return path.rstrip("/") or "/"


def check_url(value, option, query=False):
    """An http(s) URL (a base URL: no query string unless ``query``), without trailing slash, or ModuleError."""
    if not value or not (_URL_WITH_QUERY_RE if query else _URL_RE).match(value.strip()):
        raise ModuleError(
            "%s must be an http(s) URL such as https://host.example.com/path%s; got %r"
            % (option, "" if query else " (no query string)", value)
        )
    value = value.strip()
    return value if "?" in value else value.rstrip("/")


def context_paths(api):
    """The normalised paths of the API's HTTP listeners."""
    found = []
    for listener in api.get("listeners") or []:
        if listener.get("type") == "HTTP":
            found.extend(normalize_path(p.get("path")) for p in listener.get("paths") or [])
    return found


def context_path(api):
    """The API's main context path (the first path of its HTTP listener), or None."""
    paths = context_paths(api)
    return paths[0] if paths else None


def path_refused(path, reason, option="context_path"):
    return ModuleError(
        "%s %s cannot be used: %s; choose another %s" % (option, path, (reason or "the server refused it").rstrip("."), option)
    )


def describe_api(api):
    return "%r (id %s, context path %s)" % (api.get("name"), api.get("id"), context_path(api) or "none")


# -- the Management API ------------------------------------------------------------------------------
class Apim(object):
    """The APIM Management API v2 of one organization and environment, for one module run."""

    def __init__(self, module):
        self.module = module
        self.organization = module.params["organization"]
        self.environment = module.params["environment"]
        self._full = {}  # api id -> (api as GET returns it, its ETag): no object is read twice
        # What an earlier task of the play read or wrote, handed on so that it is not read again (known_api,
        # known_plans; doc fragment apim_known).  Decisions use it; a read-merge-write still reads first.
        self.known_api = module.params.get("known_api")  # {}: an earlier task found no such API
        self.known_plans = module.params.get("known_plans")

    @property
    def client(self):
        return self.module.client

    def _org(self, *parts):
        return "/management/v2/organizations/%s%s" % (_q(self.organization), "".join("/" + _q(p) for p in parts))

    def _env(self, *parts):
        return self._org("environments", self.environment, *parts)

    def _apis(self, *parts):
        return self._env("apis", *parts)

    # -- APIs ---------------------------------------------------------------------------------------
    def search_apis(self, query):
        """POST /apis/_search: the APIs matching ``query`` (full text, narrowed by the server), page by page.

        A generator, so that a caller can stop at the first page holding what it looks for.
        ``expands=deploymentState`` because lists carry it only on request (facts §6).
        """
        page = 1
        while True:
            answer = self.client.post(
                self._apis("_search"),
                {"query": query},
                params={"page": page, "perPage": PAGE_SIZE, "expands": "deploymentState"},
                expected=(200,),
            ) or {}
            yield from answer.get("data") or []
            if page >= ((answer.get("pagination") or {}).get("pageCount") or 1):
                return
            page += 1

    def find_api_by_context_path(self, path):
        """The API whose HTTP listener has ``path`` (paths are unique in an environment), or None."""
        return next((api for api in self.search_apis(path) if path in context_paths(api)), None)

    def find_api_by_name(self, name):
        """The API named exactly ``name``, None, or ModuleError when several are (names may repeat)."""
        matches = [api for api in self.search_apis(name) if api.get("name") == name]
        if len(matches) > 1:
            raise ModuleError(
                "%d APIs are named %r (%s): give the API by its context path or id instead"
                % (len(matches), name, ", ".join(describe_api(a) for a in matches))
            )
        return matches[0] if matches else None

    def get_api(self, api_id, missing_ok=False, refresh=False):
        """GET /apis/{id}: the whole API (with deploymentState) and its ETag, read once per run
        (``refresh``: again, after this run changed what the API depends on, such as its plans)."""
        if refresh or api_id not in self._full:
            try:
                api = self.client.get(self._apis(api_id))
            except GraviteeError as exc:
                if missing_ok and exc.status == 404:
                    return None
                raise
            self._full[api_id] = (api, self.client.last_headers.get("ETag"))
        return self._full[api_id][0]

    def find_api(self, ref, option="api"):
        """An API by reference: a context path (starts with '/'), else an id (a UUID), else a name."""
        if self.known_api is not None:
            return self.handed_api(ref, option)
        if ref.startswith("/"):
            return self.find_api_by_context_path(check_context_path(ref, option))
        if _UUID_RE.match(ref):
            return self.get_api(ref, missing_ok=True)
        return self.find_api_by_name(ref)

    def require_api(self, ref, option="api", missing_ok=False):
        """The V4 API ``ref`` names, or a ModuleError saying how to create it (None if ``missing_ok``)."""
        api = self.find_api(ref, option)
        if api is None and missing_ok:
            return None
        if api is None:
            kind = "context path" if ref.startswith("/") else ("id" if _UUID_RE.match(ref) else "name")
            hint = ""
            if self.module.check_mode:
                hint = " (in check mode, an API that an earlier task would create does not exist yet)"
            raise ModuleError(
                "no API with %s %r in organization %s, environment %s: create it first with mcpgate.gravitee.apim_api%s"
                % (kind, ref, self.organization, self.environment, hint)
            )
        if api.get("definitionVersion") != "V4":
            raise ModuleError(
                "API %s is a %s API; this collection manages V4 APIs" % (describe_api(api), api.get("definitionVersion"))
            )
        return api

    def handed_api(self, ref, option):
        """known_api, once checked to be the API that ``ref`` (a context path, id or name) names; None when empty."""
        api = self.known_api
        if not api:
            return None
        if ref.startswith("/"):
            same = check_context_path(ref, option) in context_paths(api)
        else:
            same = ref in (api.get("id"), api.get("name"))
        if not api.get("id") or not same:
            raise ModuleError(
                "known_api is the API %s, not the one %s %r names: pass the api returned by an earlier task for this "
                "API, or leave known_api out" % (describe_api(api), option, ref)
            )
        return api

    def verify_path(self, path, api_id=None, option="context_path"):
        """POST /apis/_verify/paths: fail unless the server would accept ``path`` (free, valid) for this API."""
        body = {"paths": [{"path": path}]}
        if api_id:
            body["apiId"] = api_id
        answer = self.client.post(self._apis("_verify", "paths"), body, expected=(200,)) or {}
        if answer.get("ok") is False:
            raise path_refused(path, answer.get("reason"), option)

    def create_api(self, body, option="context_path"):
        """POST /apis; a context path the server refuses (taken, or inside another API's) is the option's error."""
        try:
            return self.client.post(self._apis(), body, expected=(201, 200))
        except GraviteeError as exc:
            if exc.status == 400 and re.match(r"Path \[.*\] (already exists|is duplicated)", exc.message or ""):
                raise path_refused(context_path(body), exc.message, option)
            raise

    def update_api(self, api_id, patch, current=None):
        """Read-merge-write of the whole API: ``patch(api)`` edits a copy of the API as GET returns it.

        The PUT is a full replacement (facts §3.4), so everything the patch leaves alone (resources
        and plans added by other modules or in the Console, flows, properties...) is sent back as
        read.  That includes secrets: if the server masks them on read it must take the mask back as
        "unchanged", as it does for its own Console, which saves the same way.  ``If-Match`` carries
        the ETag of the GET, so a change made in between fails (412) instead of being overwritten.
        ``current``: the API as the server just returned it from a write of this run (no GET, no ETag).
        Returns (api, changed); in check mode, the API the PUT would produce.
        """
        etag = None
        if current is None:
            current = self.get_api(api_id)
            etag = self._full[api_id][1]
        wanted = patch(copy.deepcopy(current))
        if wanted == current:
            return current, False
        if self.module.check_mode:
            return wanted, True
        headers = {"If-Match": etag} if etag else None
        try:
            updated = self.client.put(self._apis(api_id), wanted, headers=headers)
        except GraviteeError as exc:
            if exc.status == 412:
                exc.hint = "The API was changed by someone else while this task ran; run the task again"
            raise
        self._full.pop(api_id, None)
        return updated or wanted, True

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
    def list_plans(self, api_id, statuses=PLAN_STATUSES, fresh=False):
        """GET /apis/{id}/plans for the given statuses, all pages (known_plans instead, unless ``fresh``)."""
        if self.known_plans is not None and not fresh:
            return [copy.deepcopy(p) for p in self.handed_plans(api_id) if p.get("status") in statuses]
        found, page = [], 1
        while True:
            answer = self.client.get(
                self._apis(api_id, "plans"),
                params={"statuses": ",".join(statuses), "page": page, "perPage": PAGE_SIZE},
            ) or {}
            found.extend(answer.get("data") or [])
            if page >= ((answer.get("pagination") or {}).get("pageCount") or 1):
                return found
            page += 1

    def handed_plans(self, api_id):
        """known_plans, once checked to be plans of the API ``api_id``."""
        others = [p for p in self.known_plans if p.get("apiId") not in (None, api_id)]
        if others:
            raise ModuleError(
                "known_plans holds plan %s of API %s, not of API %s: pass the plans returned by an earlier task for "
                "this API, or leave known_plans out" % (describe_plan(others[0]), others[0].get("apiId"), api_id)
            )
        return self.known_plans

    def has_deployable_plan(self, api_id):
        """The gateway deploys an API only with a PUBLISHED or DEPRECATED plan (ApiValidationService.canDeploy)."""
        if self.known_plans is not None:
            return any(p.get("status") in ("PUBLISHED", "DEPRECATED") for p in self.handed_plans(api_id))
        answer = self.client.get(
            self._apis(api_id, "plans"), params={"statuses": "PUBLISHED,DEPRECATED", "page": 1, "perPage": 1}
        ) or {}
        return bool(answer.get("data"))

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
    def entrypoint_plugin(self, plugin_id):
        """GET /plugins/entrypoints/{id}: the plugin (with ``deployed``: installed and licensed), or None."""
        return self.client.get_or_none(self._org("plugins", "entrypoints", plugin_id))

    def policy_schema(self, policy_id):
        """GET /plugins/policies/{id}/schema: the configuration schema the server itself validates with."""
        return self.client.get(self._org("plugins", "policies", policy_id, "schema")) or {}

    def oauth2_policy(self):
        """What the server's OAuth2 policy offers, as apim_info returns it (and apim_plan takes it back as
        known_oauth2_policy): whether its schema has addWwwAuthenticateHeader (APIM 4.10.0 to 4.10.11)."""
        return {"add_www_authenticate_header": WWW_AUTHENTICATE in (self.policy_schema("oauth2").get("properties") or {})}


def known_argument_spec():
    """known_api and known_plans (doc fragment mcpgate.gravitee.apim.known)."""
    return dict(known_api=dict(type="dict"), known_plans=dict(type="list", elements="dict"))


def _q(part):
    return quote(str(part), safe="")


# -- the MCP proxy API -------------------------------------------------------------------------------
def mcp_proxy_api(name, path, target, description=None, api_version=None, visibility=None, tags=None):
    """The CreateApiV4 body of an MCP proxy API (facts §3.1, §3.2).  Labels are not accepted on create."""
    body = {
        "definitionVersion": "V4",
        "type": MCP_PROXY_TYPE,
        "name": name,
        "apiVersion": api_version or "1.0",
        "description": description,
        "visibility": visibility,
        "tags": tags,
        "listeners": [
            {"type": "HTTP", "paths": [{"path": path}], "entrypoints": [{"type": MCP_PROXY_PLUGIN, "configuration": {}}]}
        ],
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
                        "configuration": {"target": target},
                    }
                ],
            }
        ],
        "flowExecution": {"mode": "DEFAULT", "matchRequired": False},
        "flows": [],
    }
    return dict((k, v) for k, v in body.items() if v is not None)


def patch_mcp_proxy_api(api, name=None, path=None, target=None, description=None, api_version=None,
                        visibility=None, labels=None, tags=None):
    """Set on ``api`` (in place) what the user asked for, leaving everything else as the server has it.

    Values already equivalent are left untouched (a path with or without its trailing slash, lists
    holding the same items in another order), so that an unchanged API compares equal.
    """
    for key, value in (("name", name), ("description", description), ("apiVersion", api_version),
                       ("visibility", visibility)):
        # An empty description may come back as no description at all.
        if value is not None and api.get(key) != value and not (key == "description" and not value and not api.get(key)):
            api[key] = value
    for key, value in (("labels", labels), ("tags", tags)):
        if value is not None and sorted(set(api.get(key) or [])) != sorted(set(value)):
            api[key] = list(value)
    if path is not None and path not in context_paths(api):
        listener = _first(api.get("listeners"), "HTTP")
        if listener is None:
            raise ModuleError("API %s has no HTTP listener to hold the context path" % describe_api(api))
        paths = listener.setdefault("paths", [])
        if paths:
            paths[0]["path"] = path
        else:
            paths.append({"path": path})
    if target is not None:
        endpoint = _first((_first(api.get("endpointGroups"), MCP_PROXY_PLUGIN) or {}).get("endpoints"), MCP_PROXY_PLUGIN)
        if endpoint is None:
            raise ModuleError("API %s has no mcp-proxy endpoint to point at mcp_server_url" % describe_api(api))
        configuration = endpoint.get("configuration")
        if not isinstance(configuration, dict):
            configuration = endpoint["configuration"] = {}
        if configuration.get("target") != target:
            configuration["target"] = target
    return api


def deployment_state_after(before, after):
    """``after``'s deploymentState: as the server answered, else predicted (check mode, or an answer without it)."""
    if after.get("deploymentState"):
        return after["deploymentState"]
    if before is None or any(before.get(key) != after.get(key) for key in DEPLOYMENT_FIELDS):
        return "NEED_REDEPLOY"
    return before.get("deploymentState")


def mcp_server_url(api):
    endpoint = _first((_first(api.get("endpointGroups"), MCP_PROXY_PLUGIN) or {}).get("endpoints"), MCP_PROXY_PLUGIN)
    return ((endpoint or {}).get("configuration") or {}).get("target")


def _first(items, type_):
    return next((item for item in items or [] if item.get("type") == type_), None)


# -- resources (inside the API object) ---------------------------------------------------------------
def find_resource(api, name):
    return next((r for r in api.get("resources") or [] if r.get("name") == name), None)


def put_resource(api, resource):
    """``api`` with ``resource`` replacing the one of the same name, or appended."""
    resources = api.setdefault("resources", [])
    for index, existing in enumerate(resources):
        if existing.get("name") == resource["name"]:
            resources[index] = resource
            return api
    resources.append(resource)
    return api


def remove_resource(api, name):
    api["resources"] = [r for r in api.get("resources") or [] if r.get("name") != name]
    return api


# -- plans ---------------------------------------------------------------------------------------------
SECURITY_TYPES = {"keyless": "KEY_LESS", "oauth2": "OAUTH2"}


def plan_security_type(plan):
    return (plan.get("security") or {}).get("type")


def describe_plan(plan):
    return "%r (id %s, %s, %s)" % (plan.get("name"), plan.get("id"), plan_security_type(plan), plan.get("status"))


def select_plan(plans, name=None, plan_id=None):
    """The plan with ``plan_id``, else the one named ``name``; ModuleError when the name is ambiguous."""
    if plan_id:
        return next((p for p in plans if p.get("id") == plan_id), None)
    matches = [p for p in plans if p.get("name") == name]
    if len(matches) > 1:
        raise ModuleError(
            "%d plans of this API are named %r: %s; set id to choose one, or rename or delete the others"
            % (len(matches), name, ", ".join(describe_plan(p) for p in matches))
        )
    return matches[0] if matches else None


def check_plan_move(plan, state):
    """Refuse, before any write, a status change the server's plan status machine does not allow (facts §4.2).

    STAGING -> PUBLISHED -> DEPRECATED -> CLOSED; CLOSED is terminal.
    """
    status = plan.get("status") if plan else None
    name = (plan or {}).get("name")
    if status == "CLOSED" and state in ("published", "deprecated"):
        raise ModuleError(
            "plan %r is closed; a closed plan cannot be reopened: create a new plan with another name" % name
        )
    if state == "published" and status == "DEPRECATED":
        raise ModuleError(
            "plan %r is deprecated; a deprecated plan cannot be published again: create a new plan with another name"
            % name
        )
    if state == "deprecated" and status in (None, "STAGING"):
        raise ModuleError(
            "plan %r is %s; only a published plan can be deprecated: publish it first (state: published)"
            % (name, "not created yet" if status is None else "in staging")
        )


def check_single_keyless(plans, plan, api):
    """Only one KEY_LESS plan may be PUBLISHED or DEPRECATED per API (400 plan.keyless.exists, facts §4.2)."""
    others = [
        p for p in plans
        if plan_security_type(p) == "KEY_LESS" and p.get("status") in ("PUBLISHED", "DEPRECATED")
        and (plan is None or p.get("id") != plan.get("id"))
    ]
    if others:
        raise ModuleError(
            "API %s already has a published keyless plan %s; only one keyless plan may be published per API: "
            "close it first (mcpgate.gravitee.apim_plan with state: closed)" % (describe_api(api), describe_plan(others[0]))
        )
