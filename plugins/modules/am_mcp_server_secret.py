#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: am_mcp_server_secret
short_description: Manage the client secrets of an MCP Server in Gravitee Access Management (AM 4.11 and later)
version_added: 0.1.0
description:
  - Adds and deletes client secrets of an MCP Server (protected resource) of a Gravitee AM domain, with the secrets
    endpoints AM has from 4.11 (C(.../protected-resources/{id}/secrets)). Every secret of the MCP server authenticates its
    client at the AM gateway until it is deleted, so a client secret can be replaced without a moment when the one in use
    stops working - add a secret, give it to whatever uses the MCP server's client (the APIM AM resource), then delete the
    others (O(exclusive)).
  - A secret is found by O(name) among the MCP server's secrets; AM keeps names unique and trims them.
  - AM generates the value of a new secret and shows it once; the task that adds it returns it as RV(client_secret).
    Register the result with C(no_log=true) and pass the secret on in the same run; no later run can return it.
  - AM 4.10 has no secrets endpoint; the module fails before any write and says so (to get a new secret there, see
    M(mcpgate.gravitee.am_mcp_server) O(mcpgate.gravitee.am_mcp_server#module:new_client_secret)).
  - The AM gateway learns of a new or deleted secret at its next synchronisation (every 5 seconds by default,
    C(services.sync.cron)); a token request right after this task may not see the change yet.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.am
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes
options:
  domain:
    description:
      - The AM domain of the MCP server, by name, hrid or id.
    type: str
    required: true
  client_id:
    description:
      - Client id of the MCP server whose secrets are managed.
    type: str
    required: true
  name:
    description:
      - Name of the secret (AM calls it its description), for example C(rotation-2026-12). The secret AM makes with the
        MCP server is named C(Default).
    type: str
    required: true
  exclusive:
    description:
      - With O(state=present), delete every other secret of the MCP server, so that the secret named O(name) is the only
        one left. Whatever still authenticates with another secret stops working once the AM gateway synchronises.
    type: bool
    default: false
  state:
    description:
      - V(present) adds the secret when the MCP server has none of that name (its value is returned once); an existing
        secret is left as it is.
      - V(absent) deletes it. AM keeps at least one secret; deleting the last one fails before any write.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Requests, in order. An exchange of the credentials for a token (unless O(token) is set); the domain; the MCP server by
    client id; its secrets (C(GET .../secrets)). Then, only when needed, one C(POST .../secrets) and a C(DELETE
    .../secrets/{id}) for each secret deleted.
  - AM refuses more secrets than its C(applications.secretsMax) setting (10 by default) with HTTP 400; delete unused ones.
seealso:
  - module: mcpgate.gravitee.am_mcp_server
  - module: mcpgate.gravitee.apim_resource
"""

EXAMPLES = r"""
# A rotation without a failed request: add a secret, give it to APIM and deploy, then delete the old ones.
- name: Add a new client secret to the MCP server
  mcpgate.gravitee.am_mcp_server_secret:
    domain: mcp
    client_id: weather-mcp
    name: rotation-2026-12
  register: new_secret
  no_log: true  # the result holds the secret, returned only now

- name: Give it to the APIM AM resource
  mcpgate.gravitee.apim_resource:
    api: /weather-mcp
    name: AM authorization server
    client_secret: "{{ new_secret.client_secret }}"
  when: new_secret.client_secret is defined
  register: am_resource
  no_log: true

- name: Deploy the API
  mcpgate.gravitee.apim_api:
    context_path: /weather-mcp
    state: started
    force_deploy: "{{ am_resource.needs_redeploy | default(false) }}"

- name: Delete the other secrets once every gateway uses the new one
  mcpgate.gravitee.am_mcp_server_secret:
    domain: mcp
    client_id: weather-mcp
    name: rotation-2026-12
    exclusive: true
"""

RETURN = r"""
secret:
  description: The secret named O(name) as AM now has it, without its value; empty when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Id of the secret. Not known in check mode before it is added.
      type: str
      returned: when known
    name:
      description: Name of the secret.
      type: str
    createdAt:
      description: When it was added, in milliseconds since the epoch.
      type: int
      returned: when known
    expiresAt:
      description: When it expires, if the domain or the MCP server sets an expiry.
      type: int
      returned: when it expires
  sample: {"id": "5d38c0de", "name": "rotation-2026-12", "createdAt": 1796284203103}
secrets:
  description: The MCP server's secrets after the task (predicted in check mode), without their values, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "5d38c0de", "name": "rotation-2026-12", "createdAt": 1796284203103}]
secrets_before:
  description: The MCP server's secrets as the task found them, without their values, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "1a2b3c4d", "name": "Default", "createdAt": 1764700000000}]
deleted:
  description: The names of the secrets the task deleted (would delete, in check mode).
  returned: always
  type: list
  elements: str
  sample: [Default]
mcp_server_id:
  description: Id of the MCP server.
  returned: always
  type: str
client_secret:
  description:
    - The value of the secret AM generated, returned only by the task that added it. AM never shows it again.
    - Register the task result with C(no_log=true).
  returned: when the task added the secret (not in check mode)
  type: str
"""

from ansible_collections.mcpgate.gravitee.plugins.module_utils.am import AmApi, find_domain, find_mcp_server_by_client_id
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.managed import Description, Field, Managed, Step
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import GraviteeModule, ModuleError

SHOWN_KEYS = ("id", "name", "createdAt", "expiresAt")


def secret_name(name):
    name = (name or "").strip()  # AM trims the name of a new secret
    if not name:
        raise ModuleError("name: give the name of the secret")
    return name


DESCRIPTION = Description(Field("name", key=["name"], normalize=secret_name, required=True, no_log=False))


def shown(secret):
    return dict((key, secret[key]) for key in SHOWN_KEYS if (secret or {}).get(key) is not None)


class McpServerSecret(Managed):
    description = DESCRIPTION

    def __init__(self, module):
        super(McpServerSecret, self).__init__(module)
        self.am = AmApi.of(module)
        self.domain, self.server, self.secrets, self.found = None, None, [], []
        self.generated_secret = None
        self.deleted = []
        if self.params["exclusive"] and self.state == "absent":
            raise ModuleError("exclusive applies to state: present (the secret named name is then the only one left)")

    def find(self):
        self.domain = find_domain(self.am, self.params["domain"])
        client_id = self.params["client_id"]
        self.server, _every = find_mcp_server_by_client_id(self.am, self.domain["id"], client_id)
        if self.server is None:
            raise ModuleError("client_id: no MCP server with client id %r in domain %r; create it first with "
                              "mcpgate.gravitee.am_mcp_server" % (client_id, self.domain.get("name")))
        try:
            self.secrets = self.am.mcp_server_secrets(self.domain["id"], self.server["id"])
        except GraviteeError as exc:
            if exc.status != 404:
                raise
            # The server exists (found above), so a 404 is the sub-resource missing: Jersey's answer on AM 4.10.
            raise ModuleError(
                "this AM is version 4.10, which has no secrets endpoint for MCP servers (.../protected-resources/{id}/"
                "secrets appeared in AM 4.11): a secret can't be added or deleted there without recreating the MCP server "
                "%r (mcpgate.gravitee.am_mcp_server new_client_secret), which breaks whatever uses its secret; upgrade AM "
                "to 4.11 or later to rotate it without downtime" % client_id
            )
        self.secrets = sorted(self.secrets, key=lambda s: s.get("createdAt") or 0)
        self.found = [shown(s) for s in self.secrets]
        return next((s for s in self.secrets if s.get("name") == self.wanted["name"]), None)

    def steps(self, current):
        if self.state == "absent":
            if current is None:
                return []
            if len(self.secrets) <= 1:
                raise ModuleError("secret %r is the only secret of MCP server %r, and AM keeps at least one: add another "
                                  "first" % (current.get("name"), self.params["client_id"]))
            return [self.delete(current)]
        steps = [self.create()] if current is None else []
        if self.params["exclusive"]:
            steps += [self.delete(other) for other in self.secrets if other is not current]
        return steps

    def create(self):
        def run(_nothing):
            answer = self.am.create_mcp_server_secret(self.domain["id"], self.server["id"], self.wanted["name"]) or {}
            self.generated_secret = answer.get("secret")
            self.secrets.append(answer)
            return answer

        return Step("add", lambda _nothing: {"name": self.wanted["name"]}, run)

    def delete(self, secret):
        self.deleted.append(secret.get("name"))

        def run(_current):
            self.am.delete_mcp_server_secret(self.domain["id"], self.server["id"], secret["id"])

        # The managed secret is unchanged by the deletion of another; deleting it leaves nothing.
        return Step("delete %s" % secret.get("name"), lambda current: None if current is secret else current, run)

    def shown(self, obj):
        return shown(obj) if obj is not None else None


def run(module):
    secret = McpServerSecret(module)
    _before, after = secret.ensure()
    left = [s for s in secret.secrets if s.get("name") not in secret.deleted]
    if after is not None and not any(s.get("name") == after.get("name") for s in left):
        left.append(after)  # predicted, in check mode
    output = dict(secret=secret.shown(after) or {}, secrets=[shown(s) for s in left], secrets_before=secret.found,
                  deleted=secret.deleted,
                  mcp_server_id=secret.server["id"])
    if secret.generated_secret:
        output["client_secret"] = secret.generated_secret
    module.exit(**output)


def main():
    spec = dict(
        DESCRIPTION.argument_spec(),
        domain=dict(type="str", required=True),
        client_id=dict(type="str", required=True),
        exclusive=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = GraviteeModule("am", spec)
    module.run(run)


if __name__ == "__main__":
    main()
