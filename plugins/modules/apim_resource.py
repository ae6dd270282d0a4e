#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apim_resource
short_description: Manage a resource of a Gravitee APIM API, such as the Gravitee AM authorization server
version_added: 0.1.0
description:
  - Adds, updates and removes a resource of a V4 API in Gravitee API Management. The default type,
    C(oauth2-am-resource) ("Gravitee.io AM Authorization Server"), is the resource an OAuth2 plan uses to check
    access tokens with Gravitee Access Management; it has typed options here (O(am_url), O(security_domain),
    O(client_id), O(client_secret)...). Other types take a free O(configuration).
  - The resource is found by O(name) within the API given by O(api).
  - Resources are part of the API object; the module reads the API, changes this one resource and writes the
    whole API back, so everything else (other resources, flows, settings made in the Console) is kept.
  - Only the configuration keys that are set are compared, so the defaults the server fills in are no difference.
  - The module does not deploy the API; a change reaches the gateway at the next deployment (RV(needs_redeploy)).
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.apim
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  api:
    description:
      - The API of the resource, by context path (a value starting with C(/), for example C(/weather-mcp)), by id,
        or by name.
    type: str
    required: true
  name:
    description:
      - Name of the resource. Identifies the resource within the API; an OAuth2 plan refers to it by this name.
    type: str
    required: true
  type:
    description:
      - Plugin id of the resource.
    type: str
    default: oauth2-am-resource
  enabled:
    description:
      - Whether the gateway loads the resource.
    type: bool
    default: true
  am_url:
    description:
      - Base URL of the Gravitee AM B(gateway) (not of its Management API), for example
        C(https://am-gateway.example.com). The resource checks tokens at C(<am_url>/<security_domain>/oauth/...).
      - Required to create an C(oauth2-am-resource) resource unless O(configuration) is used.
    type: str
  security_domain:
    description:
      - The AM security domain that issues the tokens (its path, or hrid).
      - Required to create an C(oauth2-am-resource) resource unless O(configuration) is used.
    type: str
  client_id:
    description:
      - Client id the resource authenticates with at AM to introspect tokens; for an MCP server, the client id of
        the AM MCP server (protected resource).
      - Required to create an C(oauth2-am-resource) resource unless O(configuration) is used.
    type: str
  client_secret:
    description:
      - Client secret of O(client_id).
      - Required to create an C(oauth2-am-resource) resource unless O(configuration) is used.
      - When the server returns the stored secret, it is compared; when it does not (or masks it), it can not be
        compared, and O(update_secret) decides whether it is sent again.
    type: str
  version:
    description:
      - Version of the AM API the resource talks to. V(V3_X) is right for AM 3.x and 4.x.
      - Always sent with the typed options, because the server's own default differs from the schema's.
      - When not set, V(V3_X) is used with the typed options.
    type: str
    choices: [V1_X, V2_X, V3_X]
  user_claim:
    description:
      - Token claim that names the end user in the gateway's analytics. The server's default is C(sub).
    type: str
  configuration:
    description:
      - The whole configuration of a resource of another O(type), as its plugin schema describes it.
      - Only the keys given are compared. Mutually exclusive with the typed options.
      - Values under the keys C(clientSecret), C(password), C(secret), C(token) and C(apiKey) are treated as
        secrets, like O(client_secret), hidden in the output and the diff.
    type: dict
  update_secret:
    description:
      - V(on_create) sends O(client_secret) when the resource is created, and afterwards only when the server
        returns a stored secret that differs from it.
      - V(always) sends it on every run, so the task reports a change on every run.
      - APIM returns the stored secret to users who may read the API, so with V(on_create) a changed secret is
        sent too.
    type: str
    choices: [always, on_create]
    default: on_create
  state:
    description:
      - V(present) adds the resource or updates it; V(absent) removes it. With V(absent), an API that does not
        exist has no such resource, and the task changes nothing.
      - In check mode, a resource of an API that does not exist yet (an earlier task would create it) is predicted
        created; the task warns.
      - A resource that a plan which is not closed refers to (O(mcpgate.gravitee.apim_plan#module:oauth_resource))
        can not be removed; the task fails before any change and names the plans.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The secret is never shown in the output, the diff or an error message.
seealso:
  - module: mcpgate.gravitee.apim_plan
  - module: mcpgate.gravitee.apim_api
"""

EXAMPLES = r"""
- name: Let the API check tokens with the AM MCP server's client
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: AM authorization server
    am_url: https://am-gateway.example.com
    security_domain: mcp
    client_id: weather-mcp
    # mcp_server: registered by the mcpgate.gravitee.am_mcp_server example. AM shows a generated secret only to the
    # task that created the MCP server; on later runs the resource keeps the one it holds. In check mode an MCP
    # server that would be created has no id and no secret yet: a stand-in lets the check predict the resource.
    client_secret: "{{ mcp_server.client_secret | default('(generated by AM)' if ansible_check_mode and mcp_server.id is undefined else omit) }}"
  register: am_resource

- name: A resource of another type, configured freely
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: token-cache
    type: cache
    configuration:
      timeToLiveSeconds: 300
      maxEntriesLocalHeap: 1000

- name: Remove a resource the API no longer uses
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: old-cache
    state: absent
"""

RETURN = r"""
resource:
  description:
    - The resource as the server now has it, with the defaults the server filled in (in check mode, as it would
      have it, without the defaults of a resource that would be created). Secrets are masked.
  returned: when the resource exists (or would, in check mode)
  type: dict
  sample:
    name: AM authorization server
    type: oauth2-am-resource
    enabled: true
    configuration:
      serverURL: https://am-gateway.example.com
      securityDomain: mcp
      clientId: weather-mcp
      clientSecret: "********"
      version: V3_X
      userClaim: sub
api_id:
  description: Id of the API.
  returned: when the API exists
  type: str
needs_redeploy:
  description:
    - Whether the gateway gets the resource as it now is only at the next deployment of the API (this task
      changed it, or the server already reported the API out of sync).
  returned: always
  type: bool
"""

import re

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    ACTIVE_PLAN_STATUSES,
    ApimApi,
    check_url,
    describe_api,
    describe_plan,
    find_api,
    is_api_id,
    missing_api,
    require_v4,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

AM_RESOURCE = "oauth2-am-resource"
CONFIGURATION = ("configuration",)


def am_url(url):
    url = check_url(url, "am_url")
    if re.search(r"/(oidc|management)$", url):
        raise ModuleError("am_url must be the base URL of the AM gateway, such as https://am-gateway.example.com, "
                          "without the security domain, /oidc or /management; got %s" % url, "am_url")
    return url


DESCRIPTION = Description(
    Field("name", key=["name"], required=True),
    Field("type", key=["type"], default=AM_RESOURCE),
    # The definition model's default when the server leaves it out.
    Field("enabled", get=lambda resource: resource.get("enabled") is not False, key=["enabled"], type="bool", default=True),
    # The oauth2-am-resource configuration (resource-oauth2-am-resource schema-form.json).
    Field("am_url", key=CONFIGURATION + ("serverURL",), normalize=am_url),
    Field("security_domain", key=CONFIGURATION + ("securityDomain",)),
    Field("client_id", key=CONFIGURATION + ("clientId",)),
    Field("client_secret", key=CONFIGURATION + ("clientSecret",), secret=True),
    Field("version", key=CONFIGURATION + ("version",), choices=["V1_X", "V2_X", "V3_X"]),
    Field("user_claim", key=CONFIGURATION + ("userClaim",)),
    Field("configuration", key=CONFIGURATION, type="dict", subset=True),
)
AM_OPTIONS = ("am_url", "security_domain", "client_id", "client_secret", "version", "user_claim")
AM_REQUIRED = ("am_url", "security_domain", "client_id", "client_secret")


class ApiResource(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(ApiResource, self).__init__(module)
        self.apim = ApimApi.of(module)
        self.api, self.etag = None, None
        self.update_secrets = self.params["update_secret"] == "always"
        typed = [option for option in AM_OPTIONS if option in self.wanted]
        if self.wanted["type"] != AM_RESOURCE and typed:
            raise ModuleError("%s apply to type %s only; give the settings of a %s resource in configuration"
                              % (", ".join(typed), AM_RESOURCE, self.wanted["type"]), typed[0])
        if self.wanted["type"] == AM_RESOURCE and "configuration" not in self.wanted:
            self.wanted.setdefault("version", "V3_X")  # the plugin's Java default is V1_X

    def find(self):
        ref = self.params["api"]
        # The API as the server has it now, with its ETag for the write: its resources hold their secrets as stored.
        if is_api_id(ref):
            self.api, self.etag = self.apim.get_api(ref)
        else:
            found = find_api(self.apim, ref)
            self.api, self.etag = self.apim.get_api(found["id"]) if found else (None, None)
        if self.api is None:
            self.missing_parent(missing_api(self.apim, self.params["api"]), "API %r" % self.params["api"])
            return None
        require_v4(self.api)
        return next((r for r in self.api.get("resources") or [] if r.get("name") == self.wanted["name"]), None)

    def check(self, current):
        if self.state == "absent":
            self.check_unused()
        elif current is None and self.wanted["type"] == AM_RESOURCE and "configuration" not in self.wanted:
            missing = [option for option in AM_REQUIRED if option not in self.wanted]
            if missing:
                raise ModuleError("%s required to create the %s resource %r" % (
                    " and ".join(missing) + (" is" if len(missing) == 1 else " are"), AM_RESOURCE, self.wanted["name"]),
                    missing[0])

    def create(self, wanted):
        resource = self.description.apply({}, wanted)
        return Step(lambda _nothing: resource, lambda _nothing: self.write(lambda resources: resources + [resource]))

    def update(self, current, options):
        def change(resource):
            return self.description.apply(resource, self.wanted, options)

        return Step(change, lambda resource: self.write(
            lambda resources: [change(r) if r.get("name") == resource["name"] else r for r in resources]))

    def delete(self, current):
        return Step(lambda _resource: None, lambda resource: self.write(
            lambda resources: [r for r in resources if r.get("name") != resource["name"]]))

    def write(self, change):
        """Read-merge-write of the API: everything else in it is sent back as read (If-Match: its ETag)."""
        api = dict(self.api, resources=change(list(self.api.get("resources") or [])))
        updated = self.apim.update_api(self.api["id"], api, self.etag)
        return next((r for r in (updated or api).get("resources") or [] if r.get("name") == self.wanted["name"]), None)

    def check_unused(self):
        """A resource that an open plan checks tokens with can't go: the plan would stop working."""
        users = [
            plan for plan in self.apim.plans(self.api["id"], ("STAGING",) + ACTIVE_PLAN_STATUSES)
            if ((plan.get("security") or {}).get("configuration") or {}).get("oauthResource") == self.wanted["name"]
        ]
        if users:
            raise ModuleError(
                "resource %r of API %s is used by plan %s: close or delete the plan first (mcpgate.gravitee.apim_plan)"
                % (self.wanted["name"], describe_api(self.api), ", ".join(describe_plan(p) for p in users)),
                "state"
            )


def run(module):
    resource = ApiResource(module)
    _before, after = resource.ensure()
    api = resource.api or {}
    result = dict(needs_redeploy=module.changed or api.get("deploymentState") == "NEED_REDEPLOY")
    if api.get("id"):
        result["api_id"] = api["id"]
    if after is not None:
        result["resource"] = resource.shown(after)
    module.exit(**result)


def main():
    spec = dict(
        DESCRIPTION.argument_spec(),
        api=dict(type="str", required=True),
        update_secret=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = GraviteeModule("apim", spec, mutually_exclusive=[("configuration", option) for option in AM_OPTIONS])
    module.run(run)


if __name__ == "__main__":
    main()
