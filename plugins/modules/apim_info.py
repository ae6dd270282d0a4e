#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apim_info
short_description: Read what Gravitee APIM offers for MCP proxy APIs, and an API with its plans
version_added: 0.1.0
description:
  - Reads, without changing anything, what a playbook needs to know before it secures an MCP server with
    Gravitee API Management (the preflight of the P(mcpgate.gravitee.secure_mcp#role) role).
  - The C(mcp-proxy) entrypoint plugin, which exists from APIM 4.10.0 on, and whether the licence allows it
    (RV(mcp_proxy_entrypoint.deployed)).
  - With O(api), that API and all its plans, whatever their status.
  - The credentials are checked on the way; a wrong password or token fails the task.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.apim
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes.info
options:
  api:
    description:
      - An API to read, by context path (a value starting with C(/)), by id, or by name.
      - When no such API exists, RV(api) is V(null) and RV(plans) is empty.
    type: str
  policies:
    description:
      - Policy plugins to read, by id, for example V(mcp-acl) (the "AI - MCP ACL" policy of per-tool access control),
        each returned in RV(policies) with whether the licence allows it.
    type: list
    elements: str
    default: []
  require_plugins:
    description:
      - Fail, naming the plugin, when the C(mcp-proxy) entrypoint or one of O(policies) is not installed or not
        allowed by the licence, instead of returning it as V(null) or with C(deployed) V(false).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: APIM can run MCP proxy APIs, and what it holds for the weather MCP server already
  mcpgate.gravitee.apim_info:
    url: https://apim.example.com
    token: "{{ apim_token }}"
    api: /weather-mcp
  register: apim

- name: Fail early when the MCP proxy or the mcp-acl policy is missing or not licensed
  mcpgate.gravitee.apim_info:
    policies: [mcp-acl]
    require_plugins: true
"""

RETURN = r"""
mcp_proxy_entrypoint:
  description:
    - The C(mcp-proxy) entrypoint plugin, or V(null) when the server has none (APIM older than 4.10, or the plugin
      is not installed).
  returned: always
  type: dict
  contains:
    id:
      description: Plugin id.
      type: str
      sample: mcp-proxy
    name:
      description: Plugin name.
      type: str
    version:
      description: Plugin version.
      type: str
    deployed:
      description: Whether the plugin is deployed on the installation and the licence allows its use.
      type: bool
api:
  description: The API named by O(api) as the server has it (secrets masked), or V(null).
  returned: always
  type: dict
plans:
  description: All the plans of that API, whatever their status (secrets masked).
  returned: always
  type: list
  elements: dict
policies:
  description:
    - The policy plugins of O(policies) by id, each with C(id), C(name), C(version) and C(deployed) (installed and
      allowed by the licence), or V(null) when the server does not have it.
  returned: always
  type: dict
  sample: {"mcp-acl": {"id": "mcp-acl", "name": "AI - MCP ACL", "version": "1.0.4", "deployed": true}}
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.apim import MCP_PROXY_PLUGIN, ApimApi, find_api, require_plugin
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, present


PLUGIN_KEYS = ("id", "name", "version", "deployed")


def plugin_view(plugin):
    return dict((key, plugin.get(key)) for key in PLUGIN_KEYS) if plugin else None


def run(module):
    apim = ApimApi.of(module)

    def read(kind, plugin_id, option=None):
        return require_plugin(apim, kind, plugin_id, option) if module.params["require_plugins"] else apim.plugin(kind, plugin_id)

    result = {
        "mcp_proxy_entrypoint": plugin_view(read("entrypoints", MCP_PROXY_PLUGIN)),
        "api": None,
        "plans": [],
        "policies": dict((policy, plugin_view(read("policies", policy, "policies"))) for policy in module.params["policies"]),
    }
    if module.params["api"]:
        api = find_api(apim, module.params["api"])
        if api is not None:
            result["api"] = present(api)
            result["plans"] = [present(plan) for plan in apim.plans(api["id"])]
    module.exit(**result)


def main():
    module = GraviteeModule("apim", dict(api=dict(type="str"), policies=dict(type="list", elements="str", default=[]),
                                         require_plugins=dict(type="bool", default=False)))
    module.run(run)


if __name__ == "__main__":
    main()
