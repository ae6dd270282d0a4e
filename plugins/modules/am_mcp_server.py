#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: am_mcp_server
short_description: Manage an MCP Server (protected resource) in a Gravitee Access Management domain
version_added: 0.1.0
description:
  - Creates, updates or deletes an MCP Server in a Gravitee AM domain (AM 4.10 or later), the OAuth2 protected resource
    whose resource identifier is the URL MCP clients use, and whose client id and secret the APIM
    C(Gravitee.io AM Authorization Server) resource uses to introspect tokens.
  - The server is found by O(id) when given, else by O(client_id) when given, else by its first resource identifier.
  - Only the options you set are compared; a second run with the same options changes nothing and sends no write.
    Changes are sent as a partial update (C(PATCH)) of the changed fields.
  - The client secret can't be read back from AM. When AM generates it (O(client_secret) not set), the module returns it
    once, in the result of the task that created the server, as RV(client_secret).
    Register that result with C(no_log=true) and keep the secret; no later run can return it.
  - A O(client_secret) given for a server that exists already is not compared and not sent (AM does not return
    secrets, and its update calls do not take one), so it never reports a change. To rotate the secret, on AM 4.11
    or later create a new one with C(POST .../protected-resources/{id}/secrets) (or renew one with
    C(.../secrets/{secretId}/_renew)), and AM generates it; on AM 4.10, delete the server (O(state=absent)) and create it again.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.am
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  domain:
    description:
      - The AM domain the MCP server belongs to, by name, hrid (for example C(my-mcp-domain)) or id.
    type: str
    required: true
  name:
    description:
      - Display name of the MCP server, 1 to 64 characters, not starting with a space.
      - AM does not require names to be unique; the module never finds a server by its name.
      - Required with O(state=present).
    type: str
  resource_identifiers:
    description:
      - The resource identifiers (RFC 8707 audiences) of the MCP server, one URL or a list. The first one identifies
        the server when O(client_id) is not set.
      - Each must be an C(http) or C(https) URL with a host and no C(#fragment); for an MCP proxy API in APIM it is
        the gateway URL of the API (gateway URL and context path), exactly as clients use it.
      - AM stores identifiers trimmed and lower-cased and compares the C(resource) parameter of clients exactly, so
        the module compares them that way too, and warns when one has capital letters.
      - An identifier can belong to one MCP server of the domain only.
      - Required with O(state=present).
    type: list
    elements: str
    aliases: [resource_identifier]
  description:
    description:
      - Description of the MCP server. An empty string removes it.
    type: str
  client_id:
    description:
      - OAuth2 client id of the MCP server, unique in the domain among applications and MCP servers.
      - When set, it identifies the server. When not set at creation, AM generates one (returned as RV(client_id)).
      - AM can't change the client id of an existing server; giving another one for a server found by its resource
        identifier is an error. Delete the server and create it again to change it.
      - Use only letters, digits, C(-) and C(_); the AM gateway URL-decodes client credentials in HTTP Basic, so
        other characters may fail when the APIM gateway introspects tokens (the module warns).
    type: str
  client_secret:
    description:
      - OAuth2 client secret of the MCP server, used only when the server is created. When not set, AM generates
        one, returned once as RV(client_secret).
      - Not compared and not sent for a server that exists (see the description above for rotation).
      - Use only letters, digits, C(-) and C(_) (see O(client_id)).
    type: str
  tools:
    description:
      - The MCP tools of the server (AM features of type C(MCP_TOOL)) with the scopes a token needs to call each.
      - When set, the list is complete; tools of the server that are not in it are removed. V([]) removes all tools.
        When not set, the tools are left as they are.
      - Tools are compared by O(tools[].key), then description and scopes (in any order).
      - AM checks on update (not on create) that every scope exists in the domain; create the scopes first.
    type: list
    elements: dict
    suboptions:
      key:
        description:
          - Name of the tool as the MCP server lists it, letters, digits, C(_) and C(-), 1 to 64 characters,
            unique in the list.
        type: str
        required: true
      description:
        description:
          - Description of the tool.
        type: str
      scopes:
        description:
          - Scopes a token must have to call the tool.
        type: list
        elements: str
        default: []
  id:
    description:
      - Id of the MCP server in AM, to find it by id instead of O(client_id) or the resource identifier.
    type: str
  state:
    description:
      - V(present) creates or updates the MCP server; V(absent) deletes it.
      - With V(absent), give O(client_id), O(resource_identifiers) or O(id) to find it.
    type: str
    choices: [present, absent]
    default: present
  known_domain:
    description:
      - The domain as an earlier task of the same play read it, such as the
        RV(mcpgate.gravitee.am_info#module:domain) that M(mcpgate.gravitee.am_info) returns. The module then uses it
        instead of looking the domain up, and sends no request for it.
      - It must be the domain O(domain) names (O(domain) is its name, hrid or id), else the task fails before any
        request.
    type: dict
  known_mcp_servers:
    description:
      - The MCP servers of the domain as an earlier task of the same play read them, such as the
        RV(mcpgate.gravitee.am_info#module:mcp_servers) that M(mcpgate.gravitee.am_info) returns when called with the
        same O(client_id). The module then finds its MCP server in this list (by O(id), else O(client_id), else the
        first resource identifier) and sends no request to look it up.
      - The caller vouches that the list is current (read in the same play, with nothing changed since). It may be
        just the MCP server with this client id, as M(mcpgate.gravitee.am_info) returns it when that server already
        holds the resource identifier.
      - Before a create or a change of the identifiers, the module checks them and the client id against this list
        only, without reading every MCP server of the domain. AM itself refuses an identifier or a client id that is
        taken, and the module then names the option at fault.
    type: list
    elements: dict
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain by hrid
    (C(GET .../domains/_hrid/{hrid})), by id or by name search, as few as needed (none with O(known_domain)); the MCP
    servers of the domain (C(GET .../protected-resources?type=MCP_SERVER), narrowed with C(q=<client_id>) on AM 4.11
    and later; none with O(known_mcp_servers)). Without O(known_mcp_servers), the whole list is read when the server
    must be created or its identifiers change, to check that no other MCP server holds them before writing. Then one
    C(POST), C(PATCH) or C(DELETE), only when needed.
  - With O(token), O(known_domain) and O(known_mcp_servers), a run that changes nothing sends no request at all.
  - The AM gateway picks up changes asynchronously; a token request right after a change may not see it yet.
seealso:
  - module: mcpgate.gravitee.am_domain_settings
"""

EXAMPLES = r"""
- name: Register the MCP proxy API as an MCP server in AM
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    name: Weather MCP
    resource_identifiers: https://gw.example.com/weather-mcp
    client_id: weather-mcp
  register: mcp_server
  no_log: true  # the result holds the generated client secret, returned only at creation

- name: Keep the generated secret (for example in a vault) before anything else
  ansible.builtin.set_fact:
    weather_mcp_client_secret: "{{ mcp_server.client_secret }}"
  when: mcp_server.client_secret is defined
  no_log: true

- name: Declare the tools and the scopes each needs
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    name: Weather MCP
    resource_identifiers: https://gw.example.com/weather-mcp
    client_id: weather-mcp
    tools:
      - key: get_forecast
        description: Forecast for a city
        scopes: [weather:read]
      - key: set_alert
        scopes: [weather:write]

- name: Read the domain and the MCP server once, and get a token for the tasks that follow
  mcpgate.gravitee.am_info:
    domain: mcp
    client_id: weather-mcp
    resource_identifier: https://gw.example.com/weather-mcp
    return_access_token: true
  register: am
  no_log: true  # the result holds the access token

- name: Register the MCP server without looking anything up again
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    token: "{{ am.access_token | default(omit) }}"
    known_domain: "{{ am.domain }}"
    known_mcp_servers: "{{ am.mcp_servers }}"
    name: Weather MCP
    resource_identifiers: https://gw.example.com/weather-mcp
    client_id: weather-mcp
  register: mcp_server
  no_log: true

- name: Remove the MCP server
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    client_id: weather-mcp
    state: absent
"""

RETURN = r"""
mcp_server:
  description:
    - The MCP server as AM now has it (predicted in check mode), without any secret. Empty when O(state=absent).
    - Resource identifiers and tools are sorted; a tool without a description has an empty one.
  returned: always
  type: dict
  contains:
    id:
      description: Id of the MCP server. Unknown in check mode before creation.
      type: str
    clientId:
      description: OAuth2 client id.
      type: str
    name:
      description: Name.
      type: str
    description:
      description: Description, when it has one.
      type: str
    type:
      description: Always C(mcp_server).
      type: str
    resourceIdentifiers:
      description: Resource identifiers, lower-cased as AM stores them.
      type: list
      elements: str
    features:
      description: The tools, each with C(key), C(description), C(scopes) and C(type) (C(mcp_tool)).
      type: list
      elements: dict
  sample:
    id: 9f2c3a0e4b6d4c1e8a7b5d3c2e1f0a9b
    clientId: weather-mcp
    name: Weather MCP
    type: mcp_server
    resourceIdentifiers: [https://gw.example.com/weather-mcp]
    features:
      - key: get_forecast
        description: Forecast for a city
        scopes: [weather:read]
        type: mcp_tool
id:
  description: Id of the MCP server.
  returned: when O(state=present), except in check mode before creation
  type: str
  sample: 9f2c3a0e4b6d4c1e8a7b5d3c2e1f0a9b
client_id:
  description: OAuth2 client id of the MCP server (generated by AM when O(client_id) was not set).
  returned: when O(state=present) and known
  type: str
  sample: weather-mcp
client_secret:
  description:
    - The client secret AM generated, returned only by the task that created the server and only when O(client_secret)
      was not set. AM never returns it again.
    - Register the task result with C(no_log=true).
  returned: when AM generated it at creation
  type: str
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import (
    MCP_SERVER,
    MCP_TOOL,
    TOOL_KEY_RE,
    AmApi,
    basic_auth_safe,
    explain,
    normalise_identifier,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import (
    GraviteeModule,
    ModuleError,
    changed_keys,
    mask_secrets,
)

ARGUMENT_SPEC = dict(
    domain=dict(type="str", required=True),
    name=dict(type="str"),
    resource_identifiers=dict(type="list", elements="str", aliases=["resource_identifier"]),
    description=dict(type="str"),
    client_id=dict(type="str"),
    client_secret=dict(type="str", no_log=True),
    tools=dict(
        type="list",
        elements="dict",
        options=dict(
            key=dict(type="str", required=True, no_log=False),
            description=dict(type="str"),
            scopes=dict(type="list", elements="str", default=[]),
        ),
    ),
    id=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    known_domain=dict(type="dict"),
    known_mcp_servers=dict(type="list", elements="dict"),
)

# The fields a PATCH may carry, in the module's view and on the wire (never clientId, clientSecret, type).
PATCHABLE = ("name", "description", "resourceIdentifiers", "features")


class McpServerRequest(object):
    """The user's MCP server, validated before any request and shaped as AM stores it."""

    def __init__(self, params):
        self.given_identifiers = params["resource_identifiers"] or []
        self.client_id = params["client_id"] or None
        self.secret = params["client_secret"] or None
        self.identifiers = self._identifiers(params["resource_identifiers"])
        self.name = params["name"]
        self.description = params["description"]
        self.tools = self._tools(params["tools"])
        if params["state"] == "present":
            self._check_name()

    @staticmethod
    def _identifiers(values):
        if values is None:
            return None
        identifiers = []
        for value in values:
            identifier = normalise_identifier(value)
            if identifier not in identifiers:
                identifiers.append(identifier)
        if not identifiers:
            raise ModuleError("resource_identifiers: give at least one URL")
        return identifiers

    def _check_name(self):
        if not self.name or not self.name.strip() or len(self.name.strip()) > 64:
            raise ModuleError("name: the name of an MCP server must have 1 to 64 characters, got %r" % self.name)
        if self.name[0].isspace():
            raise ModuleError("name: AM refuses a name that begins with a space: %r" % self.name)

    @staticmethod
    def _tools(tools):
        if tools is None:
            return None
        seen, result = set(), []
        for index, tool in enumerate(tools):
            key = (tool["key"] or "").strip()
            if not 1 <= len(key) <= 64 or not TOOL_KEY_RE.match(key):
                raise ModuleError(
                    "tools[%d].key: %r is not a valid tool key (1 to 64 letters, digits, '_' or '-')" % (index, tool["key"])
                )
            if key in seen:
                raise ModuleError("tools[%d].key: %r appears twice; tool keys must be unique" % (index, key))
            seen.add(key)
            scopes = []
            for scope in tool["scopes"] or []:
                if not (scope or "").strip():
                    raise ModuleError("tools[%d].scopes: a scope must not be empty (tool %r)" % (index, key))
                if scope not in scopes:
                    scopes.append(scope)
            result.append({"key": key, "description": (tool["description"] or "").strip(), "scopes": scopes})
        return result

    def warnings(self):
        found = []
        for given in self.given_identifiers:
            identifier = (given or "").strip().lower()
            if identifier != (given or "").strip():
                found.append(
                    "resource_identifiers: AM stores %r lower-cased, as %r, and compares the resource parameter of "
                    "clients exactly: MCP clients must use the lower-case URL" % (given, identifier)
                )
        if self.client_id and not basic_auth_safe(self.client_id):
            found.append(
                "client_id: %r has characters other than letters, digits, '-' and '_'; the AM gateway URL-decodes "
                "client credentials in HTTP Basic, so token introspection by the APIM gateway may fail" % self.client_id
            )
        if self.secret and not basic_auth_safe(self.secret):
            found.append(
                "client_secret has characters other than letters, digits, '-' and '_'; the AM gateway URL-decodes "
                "client credentials in HTTP Basic, so token introspection by the APIM gateway may fail"
            )
        return found

    # -- views --------------------------------------------------------------------------------------
    def desired(self, current):
        """What the user asked for, in the module's view of an AM MCP server (see ``view``)."""
        desired = {"type": MCP_SERVER.lower()}
        if self.name is not None:
            desired["name"] = self.name.strip()
        if self.client_id:
            desired["clientId"] = self.client_id
        if self.identifiers is not None:
            desired["resourceIdentifiers"] = sorted(self.identifiers)
        if self.description is not None:
            description = self.description.strip()
            # AM stores a blank description as none: asking for none when there is none is no change.
            if description or (current or {}).get("description"):
                desired["description"] = description
        if self.tools is not None:
            desired["features"] = sorted(
                (dict(tool, scopes=sorted(tool["scopes"]), type=MCP_TOOL.lower()) for tool in self.tools),
                key=lambda tool: tool["key"],
            )
        return desired

    def features_body(self):
        """The tools as AM reads them: the subtype id MCP_TOOL in upper case (4.10 refuses any other case)."""
        features = []
        for tool in self.tools:
            feature = {"type": MCP_TOOL, "key": tool["key"], "scopes": list(tool["scopes"])}
            if tool["description"]:
                feature["description"] = tool["description"]
            features.append(feature)
        return features

    def create_body(self):
        body = {"name": self.name.strip(), "type": MCP_SERVER, "resourceIdentifiers": list(self.identifiers)}
        if self.description and self.description.strip():
            body["description"] = self.description.strip()
        if self.client_id:
            body["clientId"] = self.client_id
        if self.secret:
            body["clientSecret"] = self.secret
        if self.tools:
            body["features"] = self.features_body()
        return body

    def patch_body(self, changes):
        body = {}
        for key in PATCHABLE:
            if key not in changes:
                continue
            if key == "resourceIdentifiers":
                body[key] = list(self.identifiers)  # the user's order: the first one is the identity
            elif key == "features":
                body[key] = self.features_body()
            else:
                body[key] = changes[key]
        return body


def view(server):
    """An AM MCP server with what AM may order or case freely made canonical, for comparison and display.

    Identifiers trimmed, lower-cased and sorted; tools sorted by key, each with a description (empty
    when it has none), sorted scopes and its type in lower case (AM writes enums lower case, and the
    JSON may carry the subtype id MCP_TOOL under the same key).  Everything else is kept as AM sent it.
    """
    if server is None:
        return None
    result = dict(server)
    result["resourceIdentifiers"] = sorted((i or "").strip().lower() for i in server.get("resourceIdentifiers") or [])
    tools = []
    for feature in server.get("features") or []:
        tool = dict(feature)
        tool["type"] = (feature.get("type") or MCP_TOOL).lower()
        tool["description"] = (feature.get("description") or "").strip()
        tool["scopes"] = sorted(feature.get("scopes") or [])
        tools.append(tool)
    result["features"] = sorted(tools, key=lambda tool: tool.get("key") or "")
    if result.get("type"):
        result["type"] = str(result["type"]).lower()
    result.pop("clientSecret", None)
    return result


class McpServers(object):
    """Finding the user's MCP server in a domain and checking what a write would collide with.

    ``known``: the MCP servers of the domain as an earlier task read them (option known_mcp_servers);
    the server is then looked for in that list alone, and the checks before a write use it too.
    """

    def __init__(self, api, domain, wanted, server_id, known=None):
        self.api, self.domain, self.wanted, self.server_id = api, domain, wanted, server_id
        self.known = known
        self._all = known

    def find(self):
        """The MCP server by id, else by client id, else by its first identifier; in ``known`` when given."""
        wanted = self.wanted
        if self.server_id:
            current = self.by_id()
            if current and wanted.client_id and current.get("clientId") != wanted.client_id:
                raise self._immutable(current)
        elif wanted.client_id:
            current = self.by_client_id(wanted.client_id)
        else:
            identity = wanted.identifiers[0]
            current = next((s for s in self.all() if identity in view(s)["resourceIdentifiers"]), None)
        if current is not None and self.known is not None and not current.get("id"):
            raise ModuleError(
                "known_mcp_servers: the MCP server %r (client id %r) has no id; pass the MCP servers as AM returns "
                "them (the mcp_servers value of am_info)" % (current.get("name"), current.get("clientId"))
            )
        return current

    def by_id(self):
        if self.known is not None:
            return next((s for s in self.known if s.get("id") == self.server_id), None)
        return self.api.get_mcp_server(self.domain["id"], self.server_id)

    def by_client_id(self, client_id):
        if self.known is not None:
            return next((s for s in self.known if s.get("clientId") == client_id), None)
        # A list that q did not narrow (AM 4.10) is every MCP server: kept for the checks before a write.
        server, every_server = self.api.find_mcp_server_by_client_id(self.domain["id"], client_id)
        if every_server is not None:
            self._all = every_server
        return server

    def all(self):
        if self._all is None:
            self._all = self.api.list_mcp_servers(self.domain["id"])[0]
        return self._all

    def check_free(self, current):
        """Before a create, or an update of the identifiers: nobody else holds them (or the client id)."""
        wanted = self.wanted
        own_id = (current or {}).get("id")
        for other in self.all():
            if other.get("id") == own_id:
                continue
            held = [i for i in wanted.identifiers if i in view(other)["resourceIdentifiers"]]
            if current is None and wanted.client_id and wanted.identifiers[0] in held:
                raise self._immutable(other)
            if held:
                raise ModuleError(
                    "resource_identifiers: %s already belong%s to the MCP server %r (client id %r) in domain %r; "
                    "an identifier can belong to one MCP server only: remove it there first, or manage that server"
                    % (
                        ", ".join(held),
                        "s" if len(held) == 1 else "",
                        other.get("name"),
                        other.get("clientId"),
                        self.domain.get("name"),
                    )
                )
            if current is None and wanted.client_id and other.get("clientId") == wanted.client_id:
                raise ModuleError(
                    "client_id: %r is already the client id of the MCP server %r in domain %r; choose another client_id"
                    % (wanted.client_id, other.get("name"), self.domain.get("name"))
                )

    def _immutable(self, server):
        return ModuleError(
            "client_id: the MCP server %r (resource identifiers %s) has client id %r, not %r, and AM can't change "
            "the client id of an MCP server: set client_id to %r, or delete the server (state: absent) and create "
            "it again with the new client id"
            % (
                server.get("name"),
                ", ".join(server.get("resourceIdentifiers") or []),
                server.get("clientId"),
                self.wanted.client_id,
                server.get("clientId"),
            )
        )


def run_module(module):
    params = module.params
    state = params["state"]
    wanted = McpServerRequest(params)
    for warning in wanted.warnings():
        module.warn(warning)

    api = AmApi(module.client, params["organization"], params["environment"])
    domain = api.find_domain(params["domain"], known=params["known_domain"])[0]
    domain_id = domain["id"]
    known_servers = params["known_mcp_servers"]
    servers = McpServers(api, domain, wanted, params["id"], known=known_servers)
    found = servers.find()
    current = view(found)

    if state == "present":
        if current is None and params["id"]:
            raise ModuleError(
                "id: no MCP server with id %r in domain %r; remove id to create one" % (params["id"], domain.get("name"))
            )
        desired = wanted.desired(current)
        if current is None or "resourceIdentifiers" in changed_keys(desired, current):
            servers.check_free(current)
    else:
        desired = None

    created = {}

    def create(_desired):
        try:
            answer = api.create_mcp_server(domain_id, wanted.create_body()) or {}
        except GraviteeError as exc:
            raise explain(exc, known_servers=known_servers is not None)
        if not wanted.secret and answer.get("clientSecret"):
            created["client_secret"] = answer["clientSecret"]
        # The 201 body holds only id, name, clientId and the secret; the rest is what was sent, as AM stores it.
        return dict(_desired, id=answer.get("id"), clientId=answer.get("clientId") or wanted.client_id)

    def update(_current, changes):
        try:
            return view(api.patch_mcp_server(domain_id, _current["id"], wanted.patch_body(changes)))
        except GraviteeError as exc:
            raise explain(exc, known_servers=known_servers is not None)

    def delete(_current):
        api.delete_mcp_server(domain_id, _current["id"])

    result = module.ensure(current, desired, state, create, update, delete) or {}
    output = dict(mcp_server=mask_secrets(result))
    if state == "present":
        for key, name in (("id", "id"), ("clientId", "client_id")):
            if result.get(key):
                output[name] = result[key]
    output.update(created)
    module.exit(**output)


def main():
    module = GraviteeModule(
        "am",
        ARGUMENT_SPEC,
        required_if=[
            ("state", "present", ("name", "resource_identifiers")),
            ("state", "absent", ("client_id", "resource_identifiers", "id"), True),
        ],
    )
    module.run(run_module)


if __name__ == "__main__":
    main()
