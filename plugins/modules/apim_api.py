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
        not created with V(started); create it with V(present), publish a plan, then use V(started). In check mode,
        an API that an earlier task would create is predicted started.
      - V(stopped) creates or updates the API and stops it if it runs. Pending changes are not deployed.
      - V(absent) stops the API if it runs and deletes it, closing its plans (and their subscriptions) first.
    type: str
    choices: [present, started, stopped, absent]
    default: present
  force_deploy:
    description:
      - With O(state=started), deploy even when the server reports the API in sync.
      - For a change the server does not count as one that needs a deployment, such as deleting a plan the gateway
        still runs. Set it from what the change returned (for example
        V("{{ keyless_removal.needs_redeploy }}") from M(mcpgate.gravitee.apim_plan)), so that a second run deploys
        nothing.
    type: bool
    default: false
notes:
  - APIM stores a context path with a trailing slash; C(/weather-mcp) and C(/weather-mcp/) are the same path here.
  - Labels can not be given when an API is created; when O(labels) is set they are added by an update right after.
  - Before creating the API, the module asks the server whether the C(mcp-proxy) entrypoint is installed and allowed
    by the licence. A context path the server refuses (taken, or inside another API's) fails the create or update,
    which then writes nothing; check mode asks the server beforehand (C(POST .../apis/_verify/paths)).
seealso:
  - module: mcpgate.gravitee.apim_plan
  - module: mcpgate.gravitee.apim_resource
  - name: Gravitee APIM Management API v2
    description: The REST API this module calls.
    link: https://documentation.gravitee.io/apim/reference/management-api-reference
"""

EXAMPLES = r"""
- name: Put the weather MCP server behind an APIM MCP proxy (a new API is stopped and not deployed)
  mcpgate.gravitee.apim_api:
    name: Weather MCP
    context_path: /weather-mcp
    mcp_server_url: http://weather-mcp.internal:3001/mcp
    description: MCP proxy to the weather MCP server
    gateway_url: https://gw.example.com
  register: weather_api

# Deploying and starting the API (state: started) needs a published plan: the last mcpgate.gravitee.apim_plan
# example does it once the OAuth2 plan is published, so that the API is never served without a token.

- name: Remove the API of a retired MCP server (stopped first, its plans closed)
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp-v1
    state: absent
"""

RETURN = r"""
api:
  description:
    - The API as the server now has it (in check mode, as it would have it), secrets masked. In check mode, an API
      that an earlier task would create holds only what this task's options say.
    - Server-owned fields such as C(createdAt), C(updatedAt), C(deployedAt), C(_links) and C(primaryOwner) are left
      out.
  returned: when the API exists (or would, in check mode)
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
  description: Id of the API.
  returned: when the API exists; not in check mode when the API would be created
  type: str
  sample: 4b1d0e5c-2f3e-4c6b-9d1d-0e5c2f3e4c6b
state:
  description: Gateway state of the API (C(STARTED), C(STOPPED)...).
  returned: when the API exists (or would, in check mode)
  type: str
  sample: STARTED
deployment_state:
  description:
    - The server's C(deploymentState) after the task, C(DEPLOYED) or C(NEED_REDEPLOY) (predicted in check mode).
    - APIM does not count every change as one to deploy (a deleted plan is not), so C(DEPLOYED) does not always mean
      that the gateway runs what the API now holds; see O(force_deploy).
  returned: when the API exists (or would, in check mode)
  type: str
  sample: DEPLOYED
endpoint_url:
  description:
    - URL MCP clients use for the API, O(gateway_url) followed by the context path (without its trailing slash).
    - This is the identifier to give the MCP server in Gravitee AM.
  returned: when O(gateway_url) is set and the API exists (or would, in check mode)
  type: str
  sample: https://gw.example.com/weather-mcp
"""

import re

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    ACTIVE_PLAN_STATUSES,
    MCP_PROXY_PLUGIN,
    MCP_PROXY_TYPE,
    ApimApi,
    check_context_path,
    check_url,
    context_path,
    context_paths,
    describe_api,
    mcp_proxy_api,
    put_context_path,
    put_target,
    require_plugin,
    shown_path,
    target,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

DESCRIPTION = Description(
    Field("name"),
    Field("context_path", get=context_path, put=put_context_path, normalize=check_context_path),
    Field("mcp_server_url", get=target, put=put_target, normalize=lambda url: check_url(url, "mcp_server_url", query=True)),
    # An empty description is no description: AM and APIM may return either.
    Field("description", key=["description"], normalize=lambda text: text.strip() or None),
    Field("api_version", key=["apiVersion"]),
    Field("visibility", key=["visibility"], choices=["PUBLIC", "PRIVATE"]),
    Field("labels", key=["labels"], type="list", elements="str", unordered=True),
    Field("tags", key=["tags"], type="list", elements="str", unordered=True),
)
# Options whose change the gateway gets only with a deployment (@DeploymentRequired fields of ApiEntity).
DEPLOYED_OPTIONS = ("context_path", "mcp_server_url", "tags")


class McpProxyApi(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(McpProxyApi, self).__init__(module)
        self.apim = ApimApi.of(module)
        self.etag = None
        if self.params["gateway_url"]:
            self.gateway_url = check_url(self.params["gateway_url"], "gateway_url")

    def find(self):
        if self.params["id"]:
            api, self.etag = self.apim.get_api(self.params["id"])
            if api is None and self.state != "absent":
                raise ModuleError(
                    "id: no API with id %s in environment %s; to create an API, give its context_path instead of an id"
                    % (self.params["id"], self.apim.environment), "id"
                )
        else:
            path = self.wanted["context_path"]
            api = next((a for a in self.apim.search_apis(path.rstrip("/") or "/") if path in context_paths(a)), None)
        if api is not None and (api.get("definitionVersion") != "V4" or api.get("type") != MCP_PROXY_TYPE):
            kind = "a %s %s API" % (api.get("definitionVersion"), api.get("type") or "")
            if self.params["id"]:
                raise ModuleError("API %s is %s; this module manages V4 MCP_PROXY APIs only" % (describe_api(api), kind),
                                  "id")
            raise ModuleError(
                "context_path %s is already used by API %s, %s, which this module does not manage; choose another "
                "context_path" % (shown_path(self.wanted["context_path"]), describe_api(api), kind), "context_path"
            )
        return api

    def after(self, current, predicted):
        if self.state == "started" and current is not None:
            return self.deploy_and_start(current, predicted)
        if self.state == "stopped" and predicted.get("state") == "STARTED":
            return [Step(lambda api: dict(api, state="STOPPED"), self.stop)]
        return []

    # -- create and update ------------------------------------------------------------------------
    def create(self, wanted):
        if self.state == "started":
            return self.start_missing()
        missing = [option for option in ("name", "context_path", "mcp_server_url") if not wanted.get(option)]
        if missing:
            raise ModuleError("%s required to create the API at %s" % (
                " and ".join(missing) + (" is" if len(missing) == 1 else " are"), shown_path(wanted.get("context_path"))),
                missing[0])
        require_plugin(self.apim, "entrypoints", MCP_PROXY_PLUGIN, needed_by="an MCP proxy API")
        body = self.description.apply(mcp_proxy_api(), wanted, [o for o in wanted if o != "labels"])
        predicted = dict(self.description.apply(body, wanted), state="STOPPED", deploymentState="NEED_REDEPLOY",
                         lifecycleState="CREATED", visibility=wanted.get("visibility") or "PRIVATE")

        def run(_nothing):
            created = self.path_refusal_named(lambda: self.apim.create_api(body))
            if "labels" in wanted:  # CreateApiV4 has no labels: set them right away
                created = self.apim.update_api(created["id"], self.description.apply(created, wanted, ["labels"]))
            return created

        # The create is its own check of the path (one the server refuses creates nothing); check mode asks first.
        return Step(lambda _nothing: predicted, run, lambda _nothing: self.check_path_free(wanted["context_path"]))

    def update(self, current, options):
        redeploy = any(option in DEPLOYED_OPTIONS for option in options)

        def predict(api):
            predicted = self.description.apply(api, self.wanted, options)
            return dict(predicted, deploymentState="NEED_REDEPLOY") if redeploy else predicted

        def run(api):
            full, etag = (api, self.etag) if self.etag else self.apim.get_api(api["id"])
            return self.path_refusal_named(lambda: self.apim.update_api(api["id"], self.description.apply(full, self.wanted, options), etag))

        verify = (lambda api: self.check_path_free(self.wanted["context_path"], api["id"])) if "context_path" in options else None
        return Step(predict, run, verify)

    def path_refusal_named(self, write):
        """A write whose context path the server refuses (taken, or inside another API's) fails naming the option."""
        try:
            return write()
        except GraviteeError as exc:
            if exc.status == 400 and re.match(r"Path \[.*\] (already exists|is duplicated)", exc.message or ""):
                raise ModuleError("context_path %s cannot be used: %s; choose another context_path"
                                  % (shown_path(self.wanted.get("context_path")), exc.message.rstrip(".")), "context_path")
            raise

    def check_path_free(self, path, api_id=None):
        answer = self.apim.verify_paths([path], api_id)
        if answer.get("ok") is False:
            raise ModuleError("context_path %s cannot be used: %s; choose another context_path"
                              % (shown_path(path), (answer.get("reason") or "the server refused it").rstrip(".")),
                              "context_path")

    # -- lifecycle --------------------------------------------------------------------------------
    def deploy_and_start(self, current, api):
        """Deploy pending changes and start the API: the Console's "Deploy API" and "Start" (facts §6).

        The gateway deploys an API only with a published plan: asked before any write, so that nothing is sent.
        """
        deploy = self.params["force_deploy"] or api.get("deploymentState") == "NEED_REDEPLOY"
        start = api.get("state") != "STARTED"
        if not (deploy or start):
            return []
        self.require_plan(current, api)
        steps = []
        # The first _start of an API never deployed (no deployedAt) deploys it too; later ones start the last
        # deployed definition, so pending changes need a deployment first.
        if deploy and not (start and not api.get("deployedAt")):
            steps.append(Step(lambda a: dict(a, deploymentState="DEPLOYED"), self.deploy))
        if start:
            steps.append(Step(lambda a: dict(a, state="STARTED", deploymentState="DEPLOYED"), self.start))
        return steps

    def require_plan(self, current, api):
        if current is None or not self.apim.plans(current["id"], ACTIVE_PLAN_STATUSES):
            raise ModuleError(
                "API %s has no published plan, and the gateway deploys an API only with one: publish a plan first "
                "(mcpgate.gravitee.apim_plan with state: published), then run this task again" % describe_api(api), "state"
            )

    def start_missing(self):
        """started, for an API that does not exist: predicted in check mode (an earlier task would create it)."""
        def run(_nothing):
            raise ModuleError(
                "the API at %s does not exist yet, and the gateway deploys an API only with a published plan: create "
                "it with state: present, publish a plan with mcpgate.gravitee.apim_plan, then use state: started"
                % shown_path(self.wanted.get("context_path")), "state"
            )
        predicted = dict(self.description.apply(mcp_proxy_api(), self.wanted), state="STARTED", deploymentState="DEPLOYED")
        if self.module.check_mode:
            self.module.warn("in check mode, the API at %s does not exist yet: predicted as created by an earlier task "
                             "and started" % shown_path(self.wanted.get("context_path")))
        return Step(lambda _nothing: predicted, run)

    def deploy(self, api):
        self.apim.deploy_api(api["id"])

    def start(self, api):
        try:
            self.apim.start_api(api["id"])
        except GraviteeError as exc:
            # Another run for the same API started it first: started is what was asked for.
            if exc.status != 400 or "already started" not in (exc.message or ""):
                raise

    def stop(self, api):
        self.apim.stop_api(api["id"])

    def delete(self, current):
        def run(api):
            if api.get("state") == "STARTED":
                self.apim.stop_api(api["id"])  # a started API can not be deleted (400 api.running)
            self.apim.delete_api(api["id"])

        return Step(lambda _api: None, run)


def run(module):
    api = McpProxyApi(module)
    _before, after = api.ensure()
    result = {}
    if after is not None:
        result.update(api=api.shown(after), state=after.get("state"), deployment_state=after.get("deploymentState"))
        if after.get("id"):
            result["id"] = after["id"]
        if module.params["gateway_url"]:
            result["endpoint_url"] = api.gateway_url + (context_path(after) or "/").rstrip("/")
    module.exit(**result)


def main():
    spec = dict(
        DESCRIPTION.argument_spec(),
        id=dict(type="str"),
        gateway_url=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "started", "stopped", "absent"]),
        force_deploy=dict(type="bool", default=False),
    )
    module = GraviteeModule("apim", spec, required_one_of=[("context_path", "id")])
    module.run(run)


if __name__ == "__main__":
    main()
