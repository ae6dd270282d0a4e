#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mcp_probe
short_description: Check an MCP endpoint the way an MCP client reaches it
version_added: 0.1.0
description:
  - Sends what an MCP client (VS Code, an MCP SDK) sends first to an MCP server over the streamable HTTP transport,
    typically through the Gravitee APIM gateway, and reports what it got back.
  - Without a token, an C(initialize) request; when it is refused with HTTP 401, the C(WWW-Authenticate) challenge,
    the protected resource metadata (RFC 9728) and the authorization server's discovery document, including whether
    it advertises a C(registration_endpoint) for Dynamic Client Registration.
  - With O(token), also C(initialize) and C(tools/list) with that bearer token, and the names of the tools.
  - Read-only. With O(expect), the task fails with a message saying what differs.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.connection
  - mcpgate.gravitee.attributes.info
options:
  url:
    description:
      - URL of the MCP endpoint, for example the APIM gateway URL of an MCP proxy API, C(https://gw.example.com/weather-mcp).
    type: str
    required: true
  expect:
    description:
      - V(open) fails the task unless an unauthenticated C(initialize) succeeds.
      - V(protected) fails the task unless an unauthenticated C(initialize) gets HTTP 401 with a C(WWW-Authenticate)
        challenge naming the protected resource metadata, and that metadata names an authorization server.
      - When not set, the module only reports.
    type: str
    choices: [open, protected]
  token:
    description:
      - An OAuth2 access token to call the endpoint with, as an MCP client that has logged in would.
    type: str
"""

EXAMPLES = r"""
- name: The MCP server is reachable through the gateway only with a token from AM
  mcpgate.gravitee.mcp_probe:
    url: https://gw.example.com/weather-mcp
    expect: protected
  register: probe

- name: The metadata points at the AM domain and Dynamic Client Registration is advertised
  ansible.builtin.assert:
    that:
      - probe.authorization_servers == ['https://am-gw.example.com/mcp/oidc']
      - probe.registration_endpoint is truthy

- name: A client with a token sees the tools
  mcpgate.gravitee.mcp_probe:
    url: https://gw.example.com/weather-mcp
    token: "{{ access_token }}"
  register: authenticated
"""

RETURN = r"""
status:
  description: HTTP status of the unauthenticated C(initialize).
  returned: always
  type: int
  sample: 401
protected:
  description: Whether the unauthenticated C(initialize) was refused with HTTP 401.
  returned: always
  type: bool
www_authenticate:
  description: The C(WWW-Authenticate) header of the 401 answer.
  returned: when protected
  type: str
  sample: Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/weather-mcp"
resource_metadata_url:
  description: Where the protected resource metadata was found (from the challenge, else the well-known locations).
  returned: when protected
  type: str
resource_metadata:
  description: The protected resource metadata document (RFC 9728).
  returned: when protected and found
  type: dict
  sample: {"resource": "https://gw.example.com/weather-mcp", "authorization_servers": ["https://am-gw.example.com/mcp/oidc"]}
authorization_servers:
  description: The authorization servers the metadata names.
  returned: always
  type: list
  elements: str
authorization_server_metadata_url:
  description: Where the first authorization server's discovery document was found.
  returned: when found
  type: str
registration_endpoint:
  description: The Dynamic Client Registration endpoint the authorization server advertises, if any.
  returned: always
  type: str
server_info:
  description: The C(serverInfo) of the unauthenticated C(initialize) when it succeeded, else of the authenticated one.
  returned: when an initialize succeeded
  type: dict
tools:
  description: Names of the tools listed with O(token), or without one when the endpoint is open.
  returned: when an initialize succeeded
  type: list
  elements: str
authenticated_status:
  description: HTTP status of the C(initialize) sent with O(token).
  returned: when O(token) is given
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeClient, GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.mcp import (
    McpProbe,
    authorization_server_metadata_urls,
    jsonrpc_result,
    parse_challenge,
    protected_resource_metadata_urls,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import ModuleError, http_argument_spec, server_root


def probe_unauthenticated(probe, result):
    response = probe.initialize()
    result["status"] = response.status_code
    result["protected"] = response.status_code == 401
    if response.status_code == 200:
        result.update(session_summary(probe, response, token=None))
        return
    if not result["protected"]:
        return
    challenge = response.headers.get("WWW-Authenticate")
    result["www_authenticate"] = challenge
    metadata_url, _scope = parse_challenge(challenge)
    candidates = [metadata_url] if metadata_url else protected_resource_metadata_urls(probe.url)
    found_url, metadata = probe.first_json(candidates)
    result["resource_metadata_url"] = found_url or metadata_url
    if metadata is None:
        return
    result["resource_metadata"] = metadata
    result["authorization_servers"] = list(metadata.get("authorization_servers") or [])
    if result["authorization_servers"]:
        urls = authorization_server_metadata_urls(result["authorization_servers"][0])
        for url in urls:
            document = probe.get_json(url)
            # AM answers any GET under /{domain}/.well-known/ with a small index: not the metadata.
            if document and document.get("issuer") and document.get("authorization_endpoint"):
                result["authorization_server_metadata_url"] = url
                result["registration_endpoint"] = document.get("registration_endpoint")
                break


def session_summary(probe, initialize_response, token):
    """serverInfo and tool names of an initialized session, then the session is closed."""
    message = jsonrpc_result(initialize_response) or {}
    summary = {"server_info": (message.get("result") or {}).get("serverInfo")}
    session_id = initialize_response.headers.get("Mcp-Session-Id")
    listed = jsonrpc_result(probe.list_tools(token, session_id)) or {}
    summary["tools"] = [tool.get("name") for tool in (listed.get("result") or {}).get("tools", [])]
    if session_id:
        probe.close_session(token, session_id)
    return summary


def check_expectation(expect, result):
    """The reason the endpoint is not as expected, or None."""
    if expect == "open" and result["status"] != 200:
        return "expected an open MCP endpoint, but an unauthenticated initialize got HTTP %s" % result["status"]
    if expect != "protected":
        return None
    if not result["protected"]:
        return (
            "expected a protected MCP endpoint, but an unauthenticated initialize got HTTP %s: is a keyless plan still "
            "published, or the API not redeployed?" % result["status"]
        )
    if not result.get("www_authenticate"):
        return (
            "the endpoint answers 401 without a WWW-Authenticate header, so MCP clients cannot discover the "
            "authorization server (on APIM 4.10.0-4.10.11 the OAuth2 plan needs addWwwAuthenticateHeader: true)"
        )
    if not result.get("resource_metadata"):
        return "the protected resource metadata was not found at %s" % result.get("resource_metadata_url")
    if not result["authorization_servers"]:
        return "the protected resource metadata names no authorization server"
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            http_argument_spec(),
            url=dict(type="str", required=True),
            expect=dict(type="str", choices=["open", "protected"]),
            token=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "authorization_servers": [], "registration_endpoint": None}
    try:
        server_root(params["url"], option="url")
        client = GraviteeClient(
            "", validate_certs=params["validate_certs"], ca_path=params["ca_path"], timeout=params["timeout"],
            retries=params["retries"],
        )
        probe = McpProbe(client, params["url"].rstrip("/"))
        probe_unauthenticated(probe, result)
        if params["token"]:
            response = probe.initialize(token=params["token"])
            result["authenticated_status"] = response.status_code
            if response.status_code == 200:
                result.update(session_summary(probe, response, token=params["token"]))
    except (GraviteeError, ModuleError) as exc:
        module.fail_json(msg=str(exc), **result)
    except ValueError as exc:
        module.fail_json(msg="the MCP endpoint answered with something that is not JSON-RPC: %s" % exc, **result)

    problem = check_expectation(params["expect"], result)
    if problem:
        module.fail_json(msg=problem, **result)
    if params["token"] and result["authenticated_status"] != 200:
        module.fail_json(
            msg="initialize with the given token got HTTP %s: the token is not accepted" % result["authenticated_status"],
            **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
