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
    secrets, and its update calls do not take one), so it never reports a change. To rotate the secret on AM 4.11
    or later, use M(mcpgate.gravitee.am_mcp_server_secret) (the P(mcpgate.gravitee.secure_mcp#role) role rotates it with no
    failed request); on AM 4.10, delete the server (O(state=absent)) and create it again.
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
      - Every scope must exist in the domain (AM checks it on update, and the module on create too, before any
        write); create the scopes first, or name them in O(create_scopes).
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
  create_scopes:
    description:
      - Scopes to create in the domain when it does not have them, before the MCP server is created or updated, for
        example the scopes of O(tools). Each is created with its key as its name.
      - Existing scopes are left as they are, and the module never deletes a scope (other applications may use it).
      - A scope has no spaces (AM would turn them into C(_)).
    type: list
    elements: str
    default: []
  new_client_secret:
    description:
      - Give an existing MCP server a new client secret, returned once as RV(client_secret), for example when the
        secret AM generated at creation was lost before it reached APIM.
      - On AM 4.11 and later a secret is added (C(POST .../protected-resources/{id}/secrets)); the secrets the server
        had keep working until they are removed, so nothing that uses them breaks.
      - AM 4.10 has no secrets endpoint; there the server is deleted and created again with the same client id,
        identifiers and tools, so it gets a new id, and whatever used its old secret stops working.
      - The task reports a change on every run with V(true); set it only when a new secret is needed.
    type: bool
    default: false
  id:
    description:
      - Id of the MCP server in AM, to find it by id instead of O(client_id) or the resource identifier.
      - AM answers an id it does not know with HTTP 403 (its permission check resolves the id first), not 404; the
        module reads that as no such MCP server (an error with V(present), nothing to do with V(absent)).
    type: str
  state:
    description:
      - V(present) creates or updates the MCP server; V(absent) deletes it.
      - With V(absent), give O(client_id), O(resource_identifiers) or O(id) to find it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain by hrid
    (C(GET .../domains/_hrid/{hrid})), by name search, then by id (first by id when the value looks like one), as few
    as needed; the MCP server (by id, or
    C(GET .../protected-resources?type=MCP_SERVER&q=<client_id>) on AM 4.11 and later). The whole list of MCP servers
    is read when the server must be created or its identifiers change, to check that no other MCP server holds them,
    and the domain's scopes when tools change or O(create_scopes) is set, to check that they exist, before writing. Then
    a C(POST .../scopes) for each scope of O(create_scopes) the domain lacks, and one C(POST), C(PATCH) or C(DELETE),
    only when needed.
  - The AM gateway picks up changes asynchronously; a token request right after a change may not see it yet.
seealso:
  - module: mcpgate.gravitee.am_domain_settings
"""

EXAMPLES = r"""
- name: Register the MCP proxy API as an MCP server in AM; its identifier is the URL MCP clients use
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    name: Weather MCP
    resource_identifiers: https://gw.example.com/weather-mcp
    client_id: weather-mcp
  register: mcp_server
  # AM generates the client secret and shows it once, in this result, when it creates the server: keep the result
  # out of the output. The mcpgate.gravitee.apim_resource example hands mcp_server.client_secret to APIM.
  no_log: true

- name: Declare the tools and the scopes a token needs for each (the scopes exist in the domain)
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    name: Weather MCP
    resource_identifiers: https://gw.example.com/weather-mcp
    client_id: weather-mcp
    tools:
      - key: get_weather
        description: Current weather for a city
        scopes: [mcp:tools]

- name: Remove the MCP server of a retired API
  mcpgate.gravitee.am_mcp_server:
    domain: mcp
    client_id: weather-mcp-v1
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
      description: Id of the MCP server. Not known in check mode before creation.
      type: str
      returned: when known
    clientId:
      description: OAuth2 client id.
      type: str
      returned: when known
    name:
      description: Name.
      type: str
    description:
      description: Description, when it has one.
      type: str
      returned: when it has one
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
    resourceIdentifiers: [https://gw.example.com/weather-mcp]
    features:
      - key: get_forecast
        description: Forecast for a city
        scopes: [openid]
        type: mcp_tool
changes:
  description:
    - The options whose value differed from the MCP server's, when the task updated it (or would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [resource_identifiers]
domain:
  description: The AM domain of the MCP server.
  returned: always
  type: dict
  contains:
    id:
      description: Id of the domain.
      type: str
    name:
      description: Name of the domain.
      type: str
    hrid:
      description: Human-readable id of the domain.
      type: str
    path:
      description: Path of the domain on the AM gateway (the issuer is C(<AM gateway>/<path>/oidc)).
      type: str
  sample: {"id": "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e", "name": "mcp", "hrid": "mcp", "path": "/mcp"}
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
created_scopes:
  description: The scopes of O(create_scopes) the task created in the domain (would create, in check mode).
  returned: always
  type: list
  elements: str
  sample: [weather:read]
client_secret:
  description:
    - The client secret AM generated, returned only by the task that created the server (when O(client_secret) was not
      set) or gave it a new one (O(new_client_secret)). AM never returns it again.
    - Register the task result with C(no_log=true).
  returned: when AM generated it in this task
  type: str
"""

import re
import time

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import (
    MCP_SERVER,
    MCP_TOOL,
    TOOL_KEY_RE,
    AmApi,
    basic_auth_safe,
    explain,
    find_domain,
    find_mcp_server_by_client_id,
    normalise_identifier,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError


def check_name(name):
    name = name or ""
    if not name.strip() or len(name.strip()) > 64:
        raise ModuleError("name: the name of an MCP server must have 1 to 64 characters, got %r" % name, "name")
    if name[0].isspace():
        raise ModuleError("name: AM refuses a name that begins with a space: %r" % name, "name")
    return name.strip()


def identifiers(values):
    """Resource identifiers as AM stores them (trimmed, lower-cased), without repeats."""
    result = []
    for value in values:
        identifier = normalise_identifier(value)
        if identifier not in result:
            result.append(identifier)
    if not result:
        raise ModuleError("resource_identifiers: give at least one URL", "resource_identifiers")
    return result


def tools(values):
    """The tools as compared: by key, each with a description (empty when none), sorted scopes, type mcp_tool
    (AM writes enums lower case, and may carry the subtype id MCP_TOOL under the same key)."""
    result, seen = [], set()
    for index, tool in enumerate(values):
        key = (tool.get("key") or "").strip()
        if not 1 <= len(key) <= 64 or not TOOL_KEY_RE.match(key):
            raise ModuleError("tools[%d].key: %r is not a valid tool key (1 to 64 letters, digits, '_' or '-')" % (index, tool.get("key")),
                              "tools")
        if key in seen:
            raise ModuleError("tools[%d].key: %r appears twice; tool keys must be unique" % (index, key), "tools")
        seen.add(key)
        scopes = tool.get("scopes") or []
        if any(not (scope or "").strip() for scope in scopes):
            raise ModuleError("tools[%d].scopes: a scope must not be empty (tool %r)" % (index, key), "tools")
        result.append({"key": key, "description": (tool.get("description") or "").strip(), "scopes": sorted(set(scopes)),
                       "type": MCP_TOOL.lower()})
    return sorted(result, key=lambda tool: tool["key"])


def put_tools(server, values):
    """The tools as AM reads them: the subtype id MCP_TOOL in upper case (4.10 refuses any other case)."""
    server["features"] = [
        dict({"type": MCP_TOOL, "key": tool["key"], "scopes": list(tool["scopes"])},
             **({"description": tool["description"]} if tool["description"] else {}))
        for tool in values
    ]


DESCRIPTION = Description(
    Field("name", key=["name"], normalize=check_name, view="name"),
    # AM stores a blank description as none.
    Field("description", key=["description"], normalize=lambda text: text.strip() or None, view="description"),
    Field("resource_identifiers", key=["resourceIdentifiers"], type="list", elements="str", aliases=["resource_identifier"],
          normalize=identifiers, unordered=True, view="resourceIdentifiers"),
    Field("client_id", key=["clientId"], create_only=True, view="clientId"),
    Field("client_secret", key=["clientSecret"], create_only=True, secret=True),
    Field("tools", get=lambda server: server.get("features") or [], put=put_tools, normalize=tools, type="list",
          elements="dict", view="features", options=dict(
              key=dict(type="str", required=True, no_log=False),
              description=dict(type="str"),
              scopes=dict(type="list", elements="str", default=[]),
    )),
)


class McpServer(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(McpServer, self).__init__(module)
        self.am = AmApi.of(module)
        self.domain = None
        self.every_server = None
        self.generated_secret = None
        self.created_scopes = []
        for index, scope in enumerate(self.params["create_scopes"]):
            if not scope or re.search(r"\s", scope):
                raise ModuleError("create_scopes[%d]: %r is not a scope key (no spaces, not empty)" % (index, scope), "create_scopes")
        # The first identifier as the user gave it identifies the server when no client id is given.
        self.identity = identifiers(self.params["resource_identifiers"])[0] if self.params["resource_identifiers"] else None
        for warning in self.warnings():
            module.warn(warning)

    def warnings(self):
        found = []
        for given in self.params["resource_identifiers"] or []:
            if (given or "").strip().lower() != (given or "").strip():
                found.append(
                    "resource_identifiers: AM stores %r lower-cased, as %r, and compares the resource parameter of "
                    "clients exactly: MCP clients must use the lower-case URL" % (given, given.strip().lower())
                )
        for option in ("client_id", "client_secret"):
            value = self.params[option]
            if value and not basic_auth_safe(value):
                found.append(
                    "%s%s has characters other than letters, digits, '-' and '_'; the AM gateway URL-decodes client "
                    "credentials in HTTP Basic, so token introspection by the APIM gateway may fail"
                    % (option, " %r" % value if option == "client_id" else "")
                )
        return found

    def find(self):
        self.domain = find_domain(self.am, self.params["domain"])
        client_id = self.wanted.get("client_id")
        if self.params["id"]:
            server = self.am.mcp_server(self.domain["id"], self.params["id"])
            if server is None and self.am.last_lookup_denied and self.state == "absent":
                # AM answers 403 to an id it does not know: absent, unless the list shows it (then the 403 was the
                # user's permission, and deleting it would fail the same way).
                if any(s.get("id") == self.params["id"] for s in self.all_servers()):
                    raise ModuleError("id: AM refuses to read the MCP server with id %r in domain %r (HTTP 403): the "
                                      "user lacks the permission on it" % (self.params["id"], self.domain.get("name")))
            if server is None and self.state == "present":
                raise ModuleError("id: no MCP server with id %r in domain %r, or no permission to read it%s; remove id "
                                  "to create one"
                                  % (self.params["id"], self.domain.get("name"),
                                     " (AM answers 403 to an id it does not know)" if self.am.last_lookup_denied else ""), "id")
            if server is not None and client_id and server.get("clientId") != client_id:
                raise self.immutable(server)
            return server
        if client_id:
            server, self.every_server = find_mcp_server_by_client_id(self.am, self.domain["id"], client_id)
            return server
        return next((s for s in self.all_servers() if self.identity in DESCRIPTION.by_option["resource_identifiers"].get(s)), None)

    def all_servers(self):
        if self.every_server is None:
            self.every_server = self.am.mcp_servers(self.domain["id"])
        return self.every_server

    def changing(self, current, option):
        return current is None or option in self.description.differences(self.wanted, current)

    def check(self, current):
        if self.state == "present" and self.changing(current, "resource_identifiers"):
            self.check_free(current)

    def before(self, current):
        # AM stores unknown scopes on create (no token could ever get them) and refuses them on update.
        if self.params["create_scopes"] or (self.wanted.get("tools") and self.changing(current, "tools")):
            return self.check_scopes()
        return []

    def after(self, current, predicted):
        return [self.new_secret(current)] if current is not None and self.params["new_client_secret"] else []

    # -- checks before any write ------------------------------------------------------------------
    def check_free(self, current):
        """Before a create, or an update of the identifiers: nobody else holds them (or the client id), so that the
        error names the MCP server in the way and nothing is sent."""
        client_id = self.wanted.get("client_id")
        for other in self.all_servers():
            if other.get("id") == (current or {}).get("id"):
                continue
            held = [i for i in self.wanted["resource_identifiers"] if i in DESCRIPTION.by_option["resource_identifiers"].get(other)]
            if current is None and client_id and self.identity in held:
                raise self.immutable(other)
            if held:
                raise ModuleError(
                    "resource_identifiers: %s already belong%s to the MCP server %r (client id %r) in domain %r; an "
                    "identifier can belong to one MCP server only: remove it there first, or manage that server"
                    % (", ".join(held), "s" if len(held) == 1 else "", other.get("name"), other.get("clientId"),
                       self.domain.get("name")), "resource_identifiers"
                )
            if current is None and client_id and other.get("clientId") == client_id:
                raise ModuleError("client_id: %r is already the client id of the MCP server %r in domain %r; choose "
                                  "another client_id" % (client_id, other.get("name"), self.domain.get("name")), "client_id")

    def check_scopes(self):
        """AM refuses unknown scopes on update (and stores them on create, where no token could ever get them): the
        steps that create the scopes of create_scopes the domain lacks; the others must exist."""
        known = set(scope.get("key") for scope in self.am.scopes(self.domain["id"]))
        missing = [scope for scope in self.params["create_scopes"] if scope not in known]
        steps = [self.new_scope(scope) for scope in sorted(set(missing), key=missing.index)]
        known.update(missing)
        for index, tool in enumerate(self.params["tools"] or []):
            unknown = [scope for scope in tool["scopes"] or [] if scope not in known]
            if unknown:
                raise ModuleError(
                    "tools[%d].scopes: %s %s not a scope of domain %r; create %s in the domain first (AM: Settings > "
                    "Scopes)" % (index, ", ".join(unknown), "is" if len(unknown) == 1 else "are", self.domain.get("name"),
                                 "it" if len(unknown) == 1 else "them"), "tools"
                )
        return steps

    def new_scope(self, key):
        body = {"key": key, "name": key, "description": "Scope of the tools of MCP server %s" % (self.params["name"] or key)}

        def run(_server):
            self.am.create_scope(self.domain["id"], body)

        self.created_scopes.append(key)
        return Step(lambda server: server, run)

    def immutable(self, server):
        return ModuleError(
            "client_id: the MCP server %r (resource identifiers %s) has client id %r, not %r, and AM can't change the "
            "client id of an MCP server: set client_id to %r, or delete the server (state: absent) and create it again "
            "with the new client id" % (server.get("name"), ", ".join(server.get("resourceIdentifiers") or []),
                                        server.get("clientId"), self.wanted.get("client_id"), server.get("clientId")), "client_id"
        )

    # -- steps ------------------------------------------------------------------------------------
    def create(self, wanted):
        body = self.description.apply({"type": MCP_SERVER}, wanted)

        def run(_nothing):
            try:
                answer = self.am.create_mcp_server(self.domain["id"], body) or {}
            except GraviteeError as exc:
                raise explain(exc)
            if "client_secret" not in wanted:
                self.generated_secret = answer.get("clientSecret")
            # The 201 holds only id, name, clientId and the secret; the rest is what was sent, as AM stores it.
            return dict(body, id=answer.get("id"), clientId=answer.get("clientId") or wanted.get("client_id"))

        return Step(lambda _nothing: body, run)

    def update(self, current, options):
        body = self.description.patch(self.wanted, options)

        def run(server):
            try:
                return self.am.patch_mcp_server(self.domain["id"], server["id"], body)
            except GraviteeError as exc:
                raise explain(exc)

        return Step(lambda server: self.description.apply(server, self.wanted, options), run)

    def new_secret(self, current):
        """A secret added (AM 4.11+), or on AM 4.10, which has no secrets endpoint, the server created again."""
        try:
            self.am.mcp_server_secrets(self.domain["id"], current["id"])
        except GraviteeError as exc:
            if exc.status != 404:
                raise
            self.module.warn("AM 4.10 has no secrets endpoint: the MCP server %r is deleted and created again to get a "
                             "new client secret (its id changes)" % current.get("clientId"))
            recreated = self.description.apply(current, self.wanted)

            def recreate(server):
                self.am.delete_mcp_server(self.domain["id"], server["id"])
                body = self.description.apply({"type": MCP_SERVER, "clientId": server.get("clientId")},
                                              self.description.read(recreated))
                answer = self.am.create_mcp_server(self.domain["id"], body) or {}
                self.generated_secret = answer.get("clientSecret")
                return dict(body, id=answer.get("id"))

            return Step(lambda server: dict(recreated, id=None), recreate)

        def add(server):
            # Named after the time, so that runs never collide on a name (AM refuses a name a secret already has).
            name = "mcpgate %s" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.generated_secret = self.am.create_mcp_server_secret(self.domain["id"], server["id"], name).get("secret")

        return Step(lambda server: server, add)

    def delete(self, current):
        def run(server):
            self.am.delete_mcp_server(self.domain["id"], server["id"])

        return Step(lambda _server: None, run)


def run(module):
    server = McpServer(module)
    _before, after = server.ensure()
    output = dict(mcp_server=server.shown(after) or {}, changes=server.changed_options, created_scopes=server.created_scopes,
                  domain=dict((key, server.domain.get(key)) for key in ("id", "name", "hrid", "path")))
    if after is not None:
        for key, name in (("id", "id"), ("clientId", "client_id")):
            if after.get(key):
                output[name] = after[key]
    if server.generated_secret:
        output["client_secret"] = server.generated_secret
    module.exit(**output)


def main():
    spec = dict(
        DESCRIPTION.argument_spec(),
        domain=dict(type="str", required=True),
        create_scopes=dict(type="list", elements="str", default=[]),
        id=dict(type="str"),
        new_client_secret=dict(type="bool", default=False, no_log=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = GraviteeModule(
        "am",
        spec,
        required_if=[
            ("state", "present", ("name", "resource_identifiers")),
            ("state", "absent", ("client_id", "resource_identifiers", "id"), True),
        ],
    )
    module.run(run)


if __name__ == "__main__":
    main()
