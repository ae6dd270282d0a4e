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
  - The module does not deploy the API; a change leaves it out of sync until it is deployed (RV(needs_redeploy)).
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.apim
  - mcpgate.gravitee.apim.known
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
      - V(always) sends it on every run, so the task reports a change on every run; use it to rotate the secret.
    type: str
    choices: [always, on_create]
    default: on_create
  state:
    description:
      - V(present) adds the resource or updates it; V(absent) removes it. With V(absent), an API that does not
        exist has no such resource, and the task changes nothing.
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
    name: am-resource
    am_url: https://am-gateway.example.com
    security_domain: mcp
    client_id: "{{ mcp_server.client_id }}"
    client_secret: "{{ mcp_server_client_secret }}"
  register: am_resource

- name: Rotate the client secret (reports a change on every run)
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: am-resource
    am_url: https://am-gateway.example.com
    security_domain: mcp
    client_id: "{{ mcp_server.client_id }}"
    client_secret: "{{ new_client_secret }}"
    update_secret: always

- name: A resource of another type, configured freely
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: token-cache
    type: cache
    configuration:
      timeToLiveSeconds: 300
      maxEntriesLocalHeap: 1000

- name: Remove it
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: token-cache
    state: absent
"""

RETURN = r"""
resource:
  description:
    - The resource as the server now has it (in check mode, as it would have it), with the defaults the server
      filled in. Secrets are masked.
  returned: when the resource exists
  type: dict
  sample:
    name: am-resource
    type: oauth2-am-resource
    enabled: true
    configuration:
      serverURL: https://am-gateway.example.com
      securityDomain: mcp
      clientId: 7d3c0e1a-mcp-server
      clientSecret: "********"
      version: V3_X
      userClaim: sub
api_id:
  description: Id of the API.
  returned: when the API exists
  type: str
api:
  description:
    - The API as this task leaves it (secrets masked; in check mode, as it would be), to pass to the next task as
      O(known_api).
  returned: when the API exists
  type: dict
needs_redeploy:
  description: Whether the API now waits for a deployment to serve its current definition (C(NEED_REDEPLOY)).
  returned: always
  type: bool
"""

import re

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import (
    Apim,
    check_url,
    describe_api,
    describe_plan,
    find_resource,
    known_argument_spec,
    put_resource,
    remove_resource,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError, differs, merge

AM_RESOURCE = "oauth2-am-resource"
# Typed option -> key of the oauth2-am-resource configuration (resource-oauth2-am-resource schema-form.json).
AM_OPTIONS = (
    ("am_url", "serverURL"),
    ("security_domain", "securityDomain"),
    ("client_id", "clientId"),
    ("client_secret", "clientSecret"),
    ("version", "version"),
    ("user_claim", "userClaim"),
)
AM_REQUIRED = ("am_url", "security_domain", "client_id", "client_secret")


def argument_spec():
    return dict(
        known_argument_spec(),
        api=dict(type="str", required=True),
        name=dict(type="str", required=True),
        type=dict(type="str", default=AM_RESOURCE),
        enabled=dict(type="bool", default=True),
        am_url=dict(type="str"),
        security_domain=dict(type="str"),
        client_id=dict(type="str"),
        client_secret=dict(type="str", no_log=True),
        version=dict(type="str", choices=["V1_X", "V2_X", "V3_X"]),
        user_claim=dict(type="str"),
        configuration=dict(type="dict"),
        update_secret=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )


def desired_configuration(params):
    """The configuration the user set: the typed options mapped onto the AM resource's keys, or ``configuration``."""
    if params["configuration"] is not None:
        return params["configuration"]
    typed = [option for option, _key in AM_OPTIONS if params[option] is not None]
    if params["type"] != AM_RESOURCE:
        if typed:
            raise ModuleError("%s apply to type %s only; give the settings of a %s resource in configuration"
                              % (", ".join(typed), AM_RESOURCE, params["type"]))
        return {}
    if params["am_url"] is not None:
        url = check_url(params["am_url"], "am_url")
        if re.search(r"/(oidc|management)$", url):
            raise ModuleError(
                "am_url must be the base URL of the AM gateway, such as https://am-gateway.example.com, without the "
                "security domain, /oidc or /management; got %s" % url
            )
        params = dict(params, am_url=url)
    configuration = dict((key, params[option]) for option, key in AM_OPTIONS if params[option] is not None)
    configuration["version"] = params["version"] or "V3_X"  # the plugin's Java default is V1_X
    return configuration


def run(module):
    params, state = module.params, module.params["state"]
    configuration = desired_configuration(params) if state == "present" else None

    apim = Apim(module)
    found = apim.require_api(params["api"], missing_ok=state == "absent")
    if found is None:
        return module.exit(needs_redeploy=False)  # without its API, the resource is absent
    # The API as the server has it now: its resources hold their secrets as stored (APIM does not mask them), so a
    # secret is compared with the one given.
    api = apim.get_api(found["id"])
    current = find_resource(api, params["name"])
    if current is not None and current.get("enabled") is None:
        current = dict(current, enabled=True)  # the definition model's default when the server leaves it out

    if state == "present" and current is None and params["type"] == AM_RESOURCE and params["configuration"] is None:
        missing = [option for option in AM_REQUIRED if params[option] is None]
        if missing:
            raise ModuleError("%s required to create the %s resource %r" % (
                " and ".join(missing) + (" is" if len(missing) == 1 else " are"), AM_RESOURCE, params["name"]))
    if state == "absent" and current is not None:
        check_unused(apim, api, params["name"])

    desired = None
    if state == "present":
        desired = dict(name=params["name"], type=params["type"], enabled=params["enabled"], configuration=configuration)
    name, always = params["name"], params["update_secret"] == "always"
    after = {"api": api}

    def write(patch):
        after["api"], _changed = apim.update_api(api["id"], patch)
        return find_resource(after["api"], name)

    resource = module.ensure(
        current,
        desired,
        state,
        create=lambda body: write(lambda full: put_resource(full, body)),
        update=lambda res, changes: write(lambda full: put_resource(full, updated(find_resource(full, name) or res, changes, always))),
        delete=lambda res: write(lambda full: remove_resource(full, name)),
        update_secrets=always,
    )
    if module.changed:
        # Any change of the API definition leaves it NEED_REDEPLOY until deployed (facts section 3.4).
        needs_redeploy = module.check_mode or after["api"].get("deploymentState", "NEED_REDEPLOY") == "NEED_REDEPLOY"
    else:
        needs_redeploy = api.get("deploymentState") == "NEED_REDEPLOY"
    result = dict(api_id=api["id"], needs_redeploy=needs_redeploy, api=module.present(after["api"]))
    if resource is not None:
        result["resource"] = module.present(resource)
    module.exit(**result)


def updated(resource, changes, update_secrets):
    """``resource`` with ``changes``; in its configuration only the keys that differ, so that a secret the server
    does not show is sent again only when update_secret is always (awx.awx's update_secrets)."""
    if isinstance(changes.get("configuration"), dict):
        current = resource.get("configuration") or {}
        changes = dict(changes, configuration=dict(
            (key, value) for key, value in changes["configuration"].items()
            if differs(value, current.get(key), update_secrets, key)
        ))
    return merge(resource, changes)


def check_unused(apim, api, name):
    """Refuse to remove a resource that an open plan checks tokens with: the plan would stop working."""
    users = [
        plan for plan in apim.list_plans(api["id"], statuses=("STAGING", "PUBLISHED", "DEPRECATED"))
        if ((plan.get("security") or {}).get("configuration") or {}).get("oauthResource") == name
    ]
    if users:
        raise ModuleError(
            "resource %r of API %s is used by plan %s: close or delete the plan first (mcpgate.gravitee.apim_plan)"
            % (name, describe_api(api), ", ".join(describe_plan(p) for p in users))
        )


def main():
    module = GraviteeModule(
        "apim",
        argument_spec(),
        mutually_exclusive=[("configuration", option) for option, _key in AM_OPTIONS],
    )
    module.run(run)


if __name__ == "__main__":
    main()
