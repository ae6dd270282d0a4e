#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: am_info
short_description: Read a Gravitee AM domain and whether it can hold MCP servers
version_added: 0.1.0
description:
  - Reads, without changing anything, what a playbook needs to know before it registers an MCP server in Gravitee
    Access Management (the preflight of the P(mcpgate.gravitee.secure_mcp#role) role).
  - The domain given by name, hrid or id, with its gateway path, and its MCP servers, whose existence shows that
    the server is AM 4.10 or later (MCP servers appeared in AM 4.10.0).
  - The credentials are checked on the way; a wrong password or token fails the task.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.am
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes.info
options:
  domain:
    description:
      - The AM security domain, by name, hrid or id.
      - The task fails, saying so, when no such domain exists.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The AM domain exists and can hold MCP servers
  mcpgate.gravitee.am_info:
    url: https://am.example.com
    username: admin
    password: "{{ am_password }}"
    domain: mcp
  register: am

- name: Where MCP clients find the authorization server
  ansible.builtin.debug:
    msg: "https://am-gateway.example.com/{{ am.domain.path | trim('/') }}/oidc"
"""

RETURN = r"""
domain:
  description: The domain as AM returns it (what the credentials may read), secrets masked.
  returned: always
  type: dict
  contains:
    id:
      description: Domain id.
      type: str
    name:
      description: Domain name.
      type: str
    hrid:
      description: Human readable id, derived from the name.
      type: str
    path:
      description: Path of the domain on the AM gateway, C(/) followed by the hrid unless changed.
      type: str
    enabled:
      description: Whether the domain is enabled.
      type: bool
mcp_servers_supported:
  description: Whether AM answers for MCP servers (protected resources), that is whether it is AM 4.10 or later.
  returned: always
  type: bool
mcp_servers:
  description: The MCP servers of the domain (id, name, clientId, resourceIdentifiers, features).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule


def run(module):
    params = module.params
    am = AmApi(module.client, params["organization"], params["environment"])
    domain, full = am.find_domain(params["domain"])
    if not full:  # a search result holds only the basic fields
        domain = am.get_domain(domain["id"]) or domain
    try:
        servers, dummy_complete = am.list_mcp_servers(domain["id"])
        supported = True
    except GraviteeError as exc:
        # Before AM 4.10 the protected-resources path does not exist.
        if exc.status not in (404, 405):
            raise
        servers, supported = [], False
    module.exit(domain=module.present(domain), mcp_servers_supported=supported, mcp_servers=module.present(servers))


def main():
    module = GraviteeModule("am", dict(domain=dict(type="str", required=True)))
    module.run(run)


if __name__ == "__main__":
    main()
