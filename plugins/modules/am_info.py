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
  - What it returns can be handed to the AM tasks that follow in the play, so that they read nothing again, RV(domain)
    as their O(mcpgate.gravitee.am_mcp_server#module:known_domain), RV(mcp_servers) as
    O(mcpgate.gravitee.am_mcp_server#module:known_mcp_servers), and, with O(return_access_token), RV(access_token) as
    their O(mcpgate.gravitee.am_mcp_server#module:token).
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
      - With O(resource_identifier), RV(mcp_servers) holds that MCP server alone when it already has the
        identifier (identifiers are unique in a domain, so no other MCP server holds it); otherwise every MCP
        server of the domain, since AM has no lookup by resource identifier.
    type: str
  resource_identifier:
    description:
      - The resource identifier the MCP server with O(client_id) should have; see O(client_id).
    type: str
  return_access_token:
    description:
      - Return the Bearer token the module got for O(username) and O(password) as RV(access_token), for the AM tasks
        that follow, which then need no exchange of their own.
      - Nothing is returned when O(token) is set (the play has the token already).
      - The token is a credential; register the task with C(no_log=true).
    type: bool
    default: false
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

- name: Read once for the AM tasks that follow, with a token they can use
  mcpgate.gravitee.am_info:
    domain: mcp
    client_id: weather-mcp
    resource_identifier: https://gw.example.com/weather-mcp
    return_access_token: true
  register: am
  no_log: true  # the result holds the access token

- name: Let MCP clients register themselves, without looking the domain up again
  mcpgate.gravitee.am_domain_settings:
    domain: mcp
    token: "{{ am.access_token | default(omit) }}"
    known_domain: "{{ am.domain }}"
    dynamic_client_registration:
      enabled: true
      open: true
"""

RETURN = r"""
domain:
  description:
    - The domain as AM returns it (what the credentials may read), with its settings, secrets masked.
    - The O(mcpgate.gravitee.am_mcp_server#module:known_domain) of the AM tasks that follow.
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
  description:
    - The MCP servers of the domain (id, name, clientId, resourceIdentifiers, features).
    - With O(client_id), only what answers the question, see O(client_id).
    - The O(mcpgate.gravitee.am_mcp_server#module:known_mcp_servers) of an M(mcpgate.gravitee.am_mcp_server) task with
      the same client id that follows in the play.
  returned: always
  type: list
  elements: dict
access_token:
  description:
    - The Bearer token the module got for O(username) and O(password) (C(POST /management/auth/token)), to pass to
      the AM tasks that follow as their O(mcpgate.gravitee.am_mcp_server#module:token).
    - It is a credential that grants what the user may do in AM. Register the task with C(no_log=true) and pass the
      token on only as O(mcpgate.gravitee.am_mcp_server#module:token), which Ansible hides.
    - AM tokens are valid for 7 days by default (AM setting C(jwt.expire-after), 604800 seconds); use it in the same
      play only.
  returned: when O(return_access_token=true) and the module exchanged credentials for a token
  type: str
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
        servers = mcp_servers(am, domain["id"], params["client_id"], params["resource_identifier"])
        supported = True
    except GraviteeError as exc:
        # Before AM 4.10 the protected-resources path does not exist.
        if exc.status not in (404, 405):
            raise
        servers, supported = [], False
    result = dict(domain=module.present(domain), mcp_servers_supported=supported, mcp_servers=module.present(servers))
    # Only a token this run got for the credentials: one given as the token option is the play's already.
    exchanged = module.client.bearer_token if params["return_access_token"] else None
    if exchanged:
        result["access_token"] = exchanged
    module.exit(**result)


def mcp_servers(am, domain_id, client_id, identifier):
    """Every MCP server of the domain, or, with ``client_id``, the fewest that answer who holds what."""
    if not client_id:
        return am.list_mcp_servers(domain_id)[0]
    mine, every_server = am.find_mcp_server_by_client_id(domain_id, client_id)
    if mine is not None and identifier is not None:
        held = [(item or "").strip().lower() for item in mine.get("resourceIdentifiers") or []]
        if identifier.strip().lower() in held:
            return [mine]
    if every_server is not None:
        return every_server  # AM 4.10 ignored q: this is already every MCP server of the domain
    return am.list_mcp_servers(domain_id)[0]


def main():
    module = GraviteeModule(
        "am",
        dict(
            domain=dict(type="str", required=True),
            client_id=dict(type="str"),
            resource_identifier=dict(type="str"),
            return_access_token=dict(type="bool", default=False),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
