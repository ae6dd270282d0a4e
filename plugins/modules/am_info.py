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
  client_id:
    description:
      - Look up the MCP server with this client id only, instead of reading every MCP server of the domain.
      - On AM 4.11 and later the server narrows the list itself (C(q)); AM 4.10 ignores C(q) and returns the plain
        list, which is read until the MCP server is found.
    type: str
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

- name: The domain's MCP servers, looked up by the weather MCP server's client id first
  mcpgate.gravitee.am_info:
    domain: mcp
    client_id: weather-mcp
  register: am_weather
"""

RETURN = r"""
domain:
  description:
    - The domain as AM returns it to these credentials, with its settings; secrets masked, server-owned fields such
      as C(createdAt) and C(updatedAt) left out.
    - Its keys depend on the AM version and on what the domain has set; those a playbook needs most are below.
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
    description:
      description: Description of the domain.
      type: str
      returned: when it has one
    oidc:
      description: The OpenID settings, among them C(clientRegistrationSettings) (Dynamic Client Registration).
      type: dict
mcp_servers_supported:
  description: Whether AM answers for MCP servers (protected resources), that is whether it is AM 4.10 or later.
  returned: always
  type: bool
mcp_servers:
  description:
    - The MCP servers of the domain as AM lists them, server-owned fields (C(updatedAt), C(createdAt)) left out.
    - With O(client_id), only what answers the question, see O(client_id).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Id of the MCP server.
      type: str
    clientId:
      description: OAuth2 client id.
      type: str
    name:
      description: Name.
      type: str
    description:
      description: Description.
      type: str
      returned: when it has one
    type:
      description: C(mcp_server).
      type: str
    resourceIdentifiers:
      description: Resource identifiers, lower-cased as AM stores them.
      type: list
      elements: str
    features:
      description: The tools, each with C(key), C(description), C(type) (C(mcp_tool)) and C(scopes).
      type: list
      elements: dict
    settings:
      description: The OAuth2 settings of its client (grant types, authentication method), never the secret.
      type: dict
      returned: AM 4.11 and later
    secretSettings:
      description: The id and algorithm of each of its client secrets, never a secret.
      type: list
      elements: dict
      returned: AM 4.11 and later
    certificate:
      description: Id of the certificate its client uses.
      type: str
      returned: AM 4.11 and later, when set
  sample:
    - id: 9f2c3a0e4b6d4c1e8a7b5d3c2e1f0a9b
      clientId: weather-mcp
      name: Weather MCP
      type: mcp_server
      resourceIdentifiers: [https://gw.example.com/weather-mcp]
      features:
        - {key: get_weather, description: Current weather for a city, type: mcp_tool, scopes: ["mcp:tools"]}
      settings:
        oauth: {clientId: weather-mcp, grantTypes: [client_credentials], tokenEndpointAuthMethod: client_secret_basic}
      secretSettings:
        - {id: 3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f, algorithm: NONE}
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi, find_domain, find_mcp_server_by_client_id
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, present


def run(module):
    params = module.params
    am = AmApi.of(module)
    domain = find_domain(am, params["domain"])
    try:
        servers = mcp_servers(am, domain["id"], params["client_id"])
        supported = True
    except GraviteeError as exc:
        # Before AM 4.10 the protected-resources path does not exist.
        if exc.status not in (404, 405):
            raise
        servers, supported = [], False
    module.exit(domain=present(domain), mcp_servers_supported=supported, mcp_servers=present(servers))


def mcp_servers(am, domain_id, client_id):
    """Every MCP server of the domain; with ``client_id``, looked up first by it (the answer holds them all on AM 4.10)."""
    if not client_id:
        return am.mcp_servers(domain_id)
    _mine, every_server = find_mcp_server_by_client_id(am, domain_id, client_id)
    return every_server if every_server is not None else am.mcp_servers(domain_id)


def main():
    module = GraviteeModule(
        "am",
        dict(domain=dict(type="str", required=True), client_id=dict(type="str")),
    )
    module.run(run)


if __name__ == "__main__":
    main()
