#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apim_api
short_description: Manage a Gravitee APIM MCP Proxy API
version_added: 0.1.0
description:
  - Creates, updates, deploys, starts, stops and deletes a V4 API of type C(MCP_PROXY) in Gravitee API Management
    (APIM 4.10 or later). The API has an HTTP listener on O(context_path) with an C(mcp-proxy) entrypoint, and one
    C(mcp-proxy) endpoint that forwards to O(mcp_server_url).
  - The API is found by O(context_path) (unique in an environment) or by O(id).
  - Only the options that are set are compared and changed. An update reads the API, changes those fields and
    writes the whole API back, so resources, plans, flows and settings made by other modules or in the Console are
    kept. The write carries the C(ETag) of the read in C(If-Match), so a concurrent change makes the task fail
    instead of being overwritten.
  - Plans are managed with M(mcpgate.gravitee.apim_plan) and the AM authorization server resource with
    M(mcpgate.gravitee.apim_resource).
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.apim
  - mcpgate.gravitee.apim.known
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  context_path:
    description:
      - Context path of the API on the gateway, for example C(/weather-mcp). Identifies the API.
      - Lower case only, because the URL of the API becomes the identifier of the MCP server in Gravitee AM, which
        lower-cases it and compares it exactly; a path with capital letters is refused.
      - With O(id), the context path of that API is changed to this one.
      - One of O(context_path) and O(id) is required; O(context_path) is also required to create the API.
    type: str
  id:
    description:
      - Id of an existing API, instead of finding it by O(context_path).
    type: str
  name:
    description:
      - Name of the API. Required to create it.
    type: str
  mcp_server_url:
    description:
      - URL of the MCP server (streamable HTTP endpoint) the gateway forwards to, for example C(http://mcp-server:3001/mcp).
      - Required to create the API.
    type: str
  description:
    description:
      - Description of the API.
    type: str
  api_version:
    description:
      - Version label of the API shown in the portal.
      - When not set, C(1.0) is used to create the API and an existing API keeps its version.
    type: str
  visibility:
    description:
      - Visibility of the API in the developer portal. APIM creates APIs C(PRIVATE) when not set.
    type: str
    choices: [PUBLIC, PRIVATE]
  labels:
    description:
      - Labels of the API. The order does not matter.
    type: list
    elements: str
  tags:
    description:
      - Sharding tags of the API (which gateways deploy it). The order does not matter.
    type: list
    elements: str
  gateway_url:
    description:
      - Public base URL of the APIM gateway, for example C(https://gw.example.com).
      - Only used to return RV(endpoint_url), the URL MCP clients use for this API.
    type: str
  state:
    description:
      - V(present) creates or updates the API; a new API is stopped and not deployed.
      - V(started) also makes the gateway run the latest definition, as the Console's "Deploy API" and "Start the
        API" do; it deploys when the API is out of sync (C(deploymentState) C(NEED_REDEPLOY)) and starts it when it
        is stopped. The gateway needs a published plan for that; without one the task fails before any change,
        saying to publish a plan first with M(mcpgate.gravitee.apim_plan). So an API that does not exist yet is
        not created with V(started); create it with V(present), publish a plan, then use V(started).
      - V(stopped) creates or updates the API and stops it if it runs. Pending changes are not deployed.
      - V(absent) stops the API if it runs and deletes it, closing its plans (and their subscriptions) first.
    type: str
    choices: [present, started, stopped, absent]
    default: present
  force_deploy:
    description:
      - With O(state=started), deploy even when the server reports the API in sync.
      - For a change the server may not count as one that needs a deployment, such as deleting a plan the gateway
        still runs (M(mcpgate.gravitee.apim_plan) returns RV(mcpgate.gravitee.apim_plan#module:needs_redeploy)).
        Set it from that change (for example V("{{ keyless_removal is changed }}")) so that a second run deploys
        nothing.
    type: bool
    default: false
notes:
  - APIM stores a context path with a trailing slash; C(/weather-mcp) and C(/weather-mcp/) are the same path here.
  - Labels can not be given when an API is created; when O(labels) is set they are added by an update right after.
seealso:
  - module: mcpgate.gravitee.apim_plan
  - module: mcpgate.gravitee.apim_resource
  - name: Gravitee APIM Management API v2
    description: The REST API this module calls.
    link: https://documentation.gravitee.io/apim/reference/management-api-reference
"""

EXAMPLES = r"""
- name: Put the weather MCP server behind an APIM MCP proxy
  mcpgate.gravitee.apim_api:
    name: Weather MCP
    context_path: /weather-mcp
    mcp_server_url: http://weather-mcp.internal:3001/mcp
    description: MCP proxy to the weather MCP server
    gateway_url: https://gw.example.com
  register: weather_api

- name: Deploy and start it (needs a published plan, see mcpgate.gravitee.apim_plan)
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp
    state: started

- name: Point the proxy at a new MCP server address; nothing else changes
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp
    mcp_server_url: http://weather-mcp-v2.internal:3001/mcp
    state: started

- name: Remove the API
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp
    state: absent
"""

RETURN = r"""
plans:
  description:
    - An empty list when the task created the API (a new API has no plans), to pass to the next task as O(known_plans).
  returned: when the task created the API (or would, in check mode)
  type: list
  elements: dict
  sample: []
api:
  description:
    - The API as the server now has it (in check mode, as it would have it), secrets masked.
    - Server-owned fields such as C(createdAt), C(updatedAt), C(_links) and C(primaryOwner) are left out.
  returned: when the API exists
  type: dict
  sample:
    id: 4b1d0e5c-2f3e-4c6b-9d1d-0e5c2f3e4c6b
    name: Weather MCP
    type: MCP_PROXY
    definitionVersion: V4
    apiVersion: "1.0"
    state: STARTED
    deploymentState: DEPLOYED
    listeners:
      - type: HTTP
        paths: [{path: /weather-mcp/}]
        entrypoints: [{type: mcp-proxy, configuration: {}}]
    endpointGroups:
      - name: Default MCP proxy group
        type: mcp-proxy
        endpoints: [{name: Default MCP proxy, type: mcp-proxy, configuration: {target: "http://weather-mcp.internal:3001/mcp"}}]
id:
  description: Id of the API. Not known in check mode when the API would be created.
  returned: when the API exists
  type: str
  sample: 4b1d0e5c-2f3e-4c6b-9d1d-0e5c2f3e4c6b
state:
  description: Gateway state of the API (C(STARTED), C(STOPPED)...).
  returned: when the API exists
  type: str
  sample: STARTED
deployment_state:
  description:
    - C(DEPLOYED) when the gateways run the latest definition, C(NEED_REDEPLOY) when a change (to the API, its
      plans or resources) waits for a deployment.
  returned: when the API exists and the server reports it
  type: str
  sample: DEPLOYED
endpoint_url:
  description:
    - URL MCP clients use for the API, O(gateway_url) followed by the context path.
    - This is the identifier to give the MCP server in Gravitee AM.
  returned: when O(gateway_url) is set and the API exists
  type: str
  sample: https://gw.example.com/weather-mcp
"""

import copy
import functools

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    MCP_PROXY_TYPE,
    Apim,
    check_context_path,
    check_url,
    context_path,
    context_paths,
    deployment_state_after,
    describe_api,
    known_argument_spec,
    mcp_proxy_api,
    patch_mcp_proxy_api,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

CHECK_MODE_HINT = " (in check mode, what earlier tasks would create does not exist yet)"
# The fields of the API this module manages (compared, and changed when they differ).
MANAGED_KEYS = ("name", "description", "apiVersion", "visibility", "labels", "tags", "listeners", "endpointGroups")


def argument_spec():
    return dict(
        known_argument_spec(),
        context_path=dict(type="str"),
        id=dict(type="str"),
        name=dict(type="str"),
        mcp_server_url=dict(type="str"),
        description=dict(type="str"),
        api_version=dict(type="str"),
        visibility=dict(type="str", choices=["PUBLIC", "PRIVATE"]),
        labels=dict(type="list", elements="str"),
        tags=dict(type="list", elements="str"),
        gateway_url=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "started", "stopped", "absent"]),
        force_deploy=dict(type="bool", default=False),
    )


def run(module):
    params, state = module.params, module.params["state"]
    # An empty context_path is an error, not an absent option (it would search for every API).
    path = check_context_path(params["context_path"]) if params["context_path"] is not None else None
    target = check_url(params["mcp_server_url"], "mcp_server_url", query=True) if params["mcp_server_url"] else None
    gateway_url = check_url(params["gateway_url"], "gateway_url") if params["gateway_url"] else None
    fields = dict(
        name=params["name"], path=path, target=target, description=params["description"],
        api_version=params["api_version"], visibility=params["visibility"], labels=params["labels"], tags=params["tags"],
    )
    apim = Apim(module)

    if apim.known_api is not None:
        current = apim.handed_api(params["id"] or params["context_path"], "id" if params["id"] else "context_path")
    elif params["id"]:
        current = apim.get_api(params["id"], missing_ok=True)
        if current is None and state != "absent":
            raise ModuleError(
                "no API with id %s in environment %s; to create an API, give its context_path instead of an id"
                % (params["id"], apim.environment)
            )
    else:
        current = apim.find_api_by_context_path(path)
    try:
        converge(module, apim, current, path, fields, gateway_url)
    except CreatedMeanwhile as exc:
        # The handed-on "absent" was stale: another run created the API at this path since. Decide again on it.
        module.forget_changes()
        converge(module, apim, exc.api, path, fields, gateway_url)


class CreatedMeanwhile(Exception):
    """The create found the path taken by an API that an earlier task of the play had not seen."""

    def __init__(self, api):
        super(CreatedMeanwhile, self).__init__("created meanwhile")
        self.api = api


def converge(module, apim, current, path, fields, gateway_url):
    """Bring the API found (``current``, or None) to the state asked for, and exit."""
    params, state = module.params, module.params["state"]
    if current is not None and (current.get("definitionVersion") != "V4" or current.get("type") != MCP_PROXY_TYPE):
        kind = "a %s %s API" % (current.get("definitionVersion"), current.get("type") or "")
        if params["id"]:
            raise ModuleError("API %s is %s; this module manages V4 MCP_PROXY APIs only" % (describe_api(current), kind))
        raise ModuleError(
            "context path %s is already used by API %s, %s, which this module does not manage; choose another "
            "context_path" % (path, describe_api(current), kind)
        )

    if state == "absent":
        module.ensure(current, None, "absent", create=None, update=None, delete=lambda api: delete(apim, api))
        module.exit()
        return

    plan_checked = False
    if current is None:
        if state == "started":
            raise ModuleError(
                "the API at %s does not exist yet, and the gateway deploys an API only with a published plan: create "
                "it with state: present, publish a plan with mcpgate.gravitee.apim_plan, then use state: started%s"
                % (path, CHECK_MODE_HINT if module.check_mode else "")
            )
        missing = [option for option in ("name", "context_path", "mcp_server_url") if not params[option]]
        if missing:
            raise ModuleError("%s required to create the API at %s" % (" and ".join(missing) + (" is" if len(missing) == 1 else " are"), path))
        if module.check_mode:
            # The create itself is the check in a real run (a path the server refuses creates nothing); check
            # mode asks the server beforehand, to predict truly.
            apim.verify_path(path)
        desired = mcp_proxy_api(**dict((k, v) for k, v in fields.items() if k != "labels"))
        if params["labels"] is not None:
            desired["labels"] = list(params["labels"])
    else:
        if path is not None and path not in context_paths(current):
            apim.verify_path(path, api_id=current["id"])
        wanted = patch_mcp_proxy_api(copy.deepcopy(current), **fields)
        desired = dict((key, wanted[key]) for key in MANAGED_KEYS if key in wanted)
        if state == "started":
            # Before any write: will a deployment or a start be needed, and can the gateway take it?
            predicted = deployment_state_after(current, dict(wanted, deploymentState=None))
            if current.get("state") != "STARTED" or predicted == "NEED_REDEPLOY":
                require_deployable(apim, current)
                plan_checked = True

    def create(body):
        try:
            created = apim.create_api(dict((k, v) for k, v in body.items() if k != "labels"))
        except ModuleError:
            # Without a lookup of its own (known_api: {}), a refused path may be an API created since at this path.
            found = apim.find_api_by_context_path(path) if apim.known_api == {} else None
            if found is None:
                raise
            raise CreatedMeanwhile(found)
        if "labels" in body:
            # CreateApiV4 has no labels: set them on the new API right away.
            created, _changed = apim.update_api(
                created["id"], lambda api: patch_mcp_proxy_api(api, labels=body["labels"]), current=created
            )
        return created

    def update(api, changes):
        updated, _changed = apim.update_api(api["id"], functools.partial(patch_mcp_proxy_api, **fields))
        return updated

    api = module.ensure(current, desired, "present", create=create, update=update)
    if module.changed:
        if module.check_mode:
            # The prediction is the API read, changed: its gateway state and sync state are predicted too.
            api = dict(api, deploymentState=None, state=api.get("state") or "STOPPED")
        api = dict(api, deploymentState=deployment_state_after(current, api))
    if state == "started":
        api = start(module, apim, api, plan_checked)
    elif state == "stopped" and api.get("state") == "STARTED":
        module.changed = True
        if not module.check_mode:
            apim.stop_api(api["id"])
        api = dict(api, state="STOPPED")
        module.record_diff(current, api)

    result = dict(api=module.present(api), id=api.get("id"), state=api.get("state"))
    if current is None:
        result["plans"] = []  # a new API has none: the next task's known_plans
    if api.get("deploymentState"):
        result["deployment_state"] = api["deploymentState"]
    if gateway_url:
        result["endpoint_url"] = gateway_url + (path or context_path(api) or "")
    module.exit(**result)


def require_deployable(apim, api):
    if not apim.has_deployable_plan(api["id"]):
        raise ModuleError(
            "API %s has no published plan, and the gateway deploys an API only with one: publish a plan first "
            "(mcpgate.gravitee.apim_plan with state: published), then run this task again%s"
            % (describe_api(api), CHECK_MODE_HINT if apim.module.check_mode else "")
        )


def start(module, apim, api, plan_checked):
    """Deploy pending changes and start the API: what the Console's "Deploy API" and "Start" do (facts §6)."""
    deploy = api.get("deploymentState") == "NEED_REDEPLOY" or module.params["force_deploy"]
    run = api.get("state") != "STARTED"
    if not (deploy or run):
        return api
    if not plan_checked:
        require_deployable(apim, api)
    before = copy.deepcopy(api)
    module.changed = True
    if not module.check_mode:
        # The first _start of an API (never deployed: no deployedAt) also deploys it (facts section 6); later
        # ones start the last deployed definition, so pending changes need a deployment first.
        if deploy and not (run and not api.get("deployedAt")):
            apim.deploy_api(api["id"])
        if run:
            try:
                apim.start_api(api["id"])
            except GraviteeError as exc:
                # A run for the same API at the same time started it first (this task decided on a state read
                # earlier in the play): started is what was asked for.
                if exc.status != 400 or "already started" not in (exc.message or ""):
                    raise
    api = dict(api, state="STARTED", deploymentState="DEPLOYED")
    module.record_diff(before, api)
    return api


def delete(apim, api):
    if api.get("state") == "STARTED":
        apim.stop_api(api["id"])  # a started API can not be deleted (400 api.running)
    apim.delete_api(api["id"])


def main():
    module = GraviteeModule("apim", argument_spec(), required_one_of=[("context_path", "id")])
    module.run(run)


if __name__ == "__main__":
    main()
