#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mcp_probe
short_description: Check an MCP endpoint the way an MCP client reaches it, with and without a token
version_added: 0.1.0
description:
  - Sends what an MCP client (VS Code, an MCP SDK) sends first to an MCP server over the streamable HTTP transport,
    typically through the Gravitee APIM gateway, and reports what it got back.
  - Without a token, an C(initialize) request; when it is refused with HTTP 401, the C(WWW-Authenticate) challenge,
    the protected resource metadata (RFC 9728) and the authorization server's discovery document, including whether
    it advertises a C(registration_endpoint) for Dynamic Client Registration.
  - Then it verifies the authenticated path as an MCP client walks it, when told how to get a token. With
    O(register_client) or O(client_credentials) it follows the discovery chain (challenge, resource metadata, first
    authorization server, its discovery document), gets a token at its C(token_endpoint) with the client credentials
    grant for the MCP server's resource identifier (the metadata's C(resource), sent as C(resource), RFC 8707) and
    O(scopes), and sends C(initialize) and C(tools/list) through the gateway with it. With O(token) it uses that token.
  - With O(register_client), the client is registered by Dynamic Client Registration for this check only and
    deleted afterwards (RFC 7592), also when the check failed.
  - When Dynamic Client Registration is disabled or not open in the AM domain, or no way to get a token is given,
    the task does not fail; RV(authenticated.verified) is V(false) with the reason, and a warning says that the
    authenticated path was not verified.
  - With O(expect), the task fails with a message saying what differs. With O(wait), it probes again every second
    while the gateway does not show the expected state yet, and stops at once on an answer waiting cannot change.
author:
  - mcpgate maintainers (@mcpgate)
extends_documentation_fragment:
  - mcpgate.gravitee.connection
attributes:
  check_mode:
    description:
      - In check mode the probe registers no client, so with O(register_client) the authenticated path is not verified
        (RV(authenticated.reason) says so). Everything else runs as usual; nothing else is written.
    support: full
  diff_mode:
    description: The module changes nothing, so there is no diff.
    support: none
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
      - When not set, the module only reports, except that O(register_client) and O(client_credentials) need the
        401 challenge to find the authorization server, as with V(protected).
      - O(register_client) and O(client_credentials) cannot be used with V(open).
    type: str
    choices: [open, protected]
  wait:
    description:
      - Seconds to keep probing, every second, while the gateway does not show the expected state yet, for example
        after a deployment that the gateway has not synchronized.
      - Probed again meanwhile - HTTP 404 (the API is not deployed yet), HTTP 200 where O(expect=protected) wants a
        401 (the previous, keyless deployment is still served), HTTP 503, and with a token a 401 (the deployment with
        the right AM resource has not landed yet).
      - While waiting, AM's token errors C(invalid_client), C(invalid_scope) and C(invalid_target), and a registration
        refused with C(invalid_client_metadata), are asked again too - the AM gateway learns of a new secret, scope, tool
        or MCP server at its next synchronisation (every 5 seconds by default).
      - A definitive answer ends the wait at once - HTTP 502 or 504 from the gateway means it could not reach the MCP
        server the API proxies to, and the task fails immediately (when O(expect) or a token check is asked).
      - V(0) probes once.
    type: int
    default: 0
  token:
    description:
      - An OAuth2 access token to call the endpoint with, as an MCP client that has logged in would.
      - An empty string is no token - the authenticated path is then not verified, RV(authenticated.reason) says why
        and the task warns, but it does not fail; check that a token variable is not empty before.
      - Mutually exclusive with O(register_client) and O(client_credentials).
    type: str
  register_client:
    description:
      - Register a short-lived confidential client by Dynamic Client Registration at the authorization server's
        C(registration_endpoint) (grant C(client_credentials), C(client_secret_basic), no redirect URI), get a token
        with it, verify the tools, then delete the client with its registration access token (RFC 7592).
      - Needs open Dynamic Client Registration in the AM domain (C(isDynamicClientRegistrationEnabled) and
        C(isOpenDynamicClientRegistrationEnabled)); otherwise the authenticated path is reported as not verified.
      - The client's secret and registration access token never appear in the result, a warning or an error.
    type: bool
    default: false
  client_credentials:
    description:
      - An existing confidential client of the AM domain allowed the C(client_credentials) grant, used instead of
        registering one. On AM 4.11 and later the AM MCP server's own client qualifies; on AM 4.10 it does not.
    type: dict
    suboptions:
      client_id:
        description: The client id.
        type: str
        required: true
      client_secret:
        description: The client secret.
        type: str
        required: true
  scopes:
    description:
      - Scopes to ask for with the token (and, with O(register_client), to register the client with).
      - Default - the C(scope) of the gateway's challenge, if any; else none.
    type: list
    elements: str
  expect_tools:
    description:
      - What C(tools/list) with the token must show, for example to verify per-tool access control (the APIM
        C(mcp-acl) policy of M(mcpgate.gravitee.apim_plan) O(mcpgate.gravitee.apim_plan#module:mcp_acl)); the task fails
        unless it does. With O(wait), the probe asks again while it does not (a deployment of other access rules may not
        have reached the gateway yet).
      - Needs a token (O(register_client), O(client_credentials) or O(token)).
    type: dict
    suboptions:
      listed:
        description: Tools that must be listed.
        type: list
        elements: str
        default: []
      hidden:
        description: Tools that must not be listed.
        type: list
        elements: str
        default: []
  call_tools:
    description:
      - Tools to call (C(tools/call)) with the token, in the same session, after C(tools/list). A call is V(allowed) when
        the gateway lets it reach the tool (HTTP 200 and a JSON-RPC result, even one that reports an error of the tool);
        anything else counts as refused, since how the C(mcp-acl) policy refuses a call is not documented.
      - Only call tools that are safe to call; a call runs the tool.
      - Needs a token (O(register_client), O(client_credentials) or O(token)).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the tool.
        type: str
        required: true
      arguments:
        description: The tool's arguments.
        type: dict
        default: {}
      expect:
        description:
          - V(allowed) fails the task unless the call reaches the tool; V(refused) fails it if the call reaches the tool.
            Give a V(refused) call the arguments an V(allowed) call succeeds with, so that nothing but access control
            can refuse it.
          - When not set, the outcome is only reported.
        type: str
        choices: [allowed, refused]
  authorization_server:
    description:
      - The authorization server MCP clients must find, for example C(https://am-gateway.example.com/mcp/oidc) for the AM
        domain C(mcp). With O(expect=protected), the task fails when the protected resource metadata does not name it.
      - Whatever this option says, the task fails when the metadata's C(resource) is not O(url) (compared without
        case, as AM stores identifiers), since MCP clients would then ask for a token for another URL.
    type: str
notes:
  - The token is always asked for the resource identifier the gateway's protected resource metadata states, as MCP
    clients do; AM then accepts it only from the AM MCP server with exactly that identifier, and reports the token
    active only to that MCP server's client. A gateway that refuses such a token is introspecting with another client,
    so the failure message names the APIM AM resource's client id and secret.
seealso:
  - name: RFC 7591 OAuth 2.0 Dynamic Client Registration
    description: How the probe's client is registered.
    link: https://www.rfc-editor.org/rfc/rfc7591
  - name: RFC 7592 OAuth 2.0 Dynamic Client Registration Management
    description: How the probe's client is deleted.
    link: https://www.rfc-editor.org/rfc/rfc7592
  - name: RFC 8707 Resource Indicators for OAuth 2.0
    description: The C(resource) parameter sent with the token request.
    link: https://www.rfc-editor.org/rfc/rfc8707
"""

EXAMPLES = r"""
# Check mode deploys nothing, so these probes would find nothing to check: they run for real only.
- name: The MCP server is reachable through the gateway only with a token from AM, and a client with one sees the tools
  mcpgate.gravitee.mcp_probe:
    url: https://gw.example.com/weather-mcp
    expect: protected
    authorization_server: https://am-gateway.example.com/mcp/oidc
    register_client: true
    scopes: [mcp:tools]  # the tool's scope (the mcpgate.gravitee.apim_plan example's mcp_acl)
    wait: 60
  register: probe
  when: not ansible_check_mode

- name: The authenticated path was verified
  ansible.builtin.assert:
    that:
      - probe.authorization_servers == ['https://am-gateway.example.com/mcp/oidc']
      - probe.authenticated.verified
      - "'get_weather' in probe.authenticated.tools"
  when: not ansible_check_mode

# The AM MCP server's own client (AM 4.11 and later), while the secret AM generated is at hand: mcp_server is
# registered by the mcpgate.gravitee.am_mcp_server example, and holds the secret only in the run that created it.
- name: With an existing confidential client instead of a registered one
  mcpgate.gravitee.mcp_probe:
    url: https://gw.example.com/weather-mcp
    expect: protected
    client_credentials:
      client_id: weather-mcp
      client_secret: "{{ mcp_server.client_secret }}"
  when: mcp_server.client_secret is defined

- name: A token for the MCP server from AM (client credentials, for the MCP server's URL as RFC 8707 resource)
  ansible.builtin.uri:
    url: https://am-gateway.example.com/mcp/oauth/token
    method: POST
    url_username: weather-mcp
    url_password: "{{ mcp_server.client_secret }}"
    force_basic_auth: true
    body_format: form-urlencoded
    body:
      grant_type: client_credentials
      resource: https://gw.example.com/weather-mcp
  register: am_token
  no_log: true
  when: mcp_server.client_secret is defined

- name: A client with that token sees the tools
  mcpgate.gravitee.mcp_probe:
    url: https://gw.example.com/weather-mcp
    token: "{{ am_token.json.access_token }}"
  register: authenticated
  when: am_token is not skipped
"""

RETURN = r"""
upstream_unreachable:
  description: The gateway answered 502 or 504, so it could not reach the MCP server the API proxies to (the task failed).
  returned: when the task failed for that reason
  type: bool
  sample: true
status:
  description: HTTP status of the (last) unauthenticated C(initialize).
  returned: always
  type: int
  sample: 401
protected:
  description: Whether the unauthenticated C(initialize) was refused with HTTP 401.
  returned: always
  type: bool
attempts:
  description: How many times the unauthenticated probe ran (more than one only with O(wait)).
  returned: always
  type: int
  sample: 1
www_authenticate:
  description: The C(WWW-Authenticate) header of the 401 answer.
  returned: when protected
  type: str
  sample: Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/weather-mcp"
challenge_scopes:
  description: The scopes the challenge's C(scope) names (the default of O(scopes)).
  returned: when the challenge names scopes
  type: list
  elements: str
resource_metadata_url:
  description: Where the protected resource metadata was found (from the challenge, else the well-known locations).
  returned: when protected
  type: str
resource_metadata:
  description: The protected resource metadata document (RFC 9728).
  returned: when protected and found
  type: dict
  sample: {"resource": "https://gw.example.com/weather-mcp", "authorization_servers": ["https://am-gateway.example.com/mcp/oidc"]}
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
token_endpoint:
  description: The token endpoint the authorization server's discovery document advertises.
  returned: when the discovery document was found
  type: str
server_info:
  description: The C(serverInfo) of the unauthenticated C(initialize) when it succeeded, else of the authenticated one.
  returned: when an initialize succeeded
  type: dict
tools:
  description: Names of the tools listed, without a token when the endpoint is open, else with the token.
  returned: when an initialize succeeded
  type: list
  elements: str
authenticated_status:
  description: HTTP status of the (last) C(initialize) sent with a token.
  returned: when a token was sent
  type: int
  sample: 200
authenticated:
  description: What the verification of the authenticated path found.
  returned: always
  type: dict
  contains:
    verified:
      description: Whether C(initialize) and C(tools/list) succeeded through the gateway with a token.
      type: bool
      returned: always
    method:
      description: How the token was got - V(register_client), V(client_credentials), V(token), or null when none was given.
      type: str
      returned: always
    reason:
      description: Why the authenticated path was not verified (Dynamic Client Registration disabled or not open, no way
        to get a token given, check mode, the endpoint is open).
      type: str
      returned: when not verified
      sample: "Dynamic Client Registration is disabled in the AM domain (AM answered HTTP 403 registration_forbidden: Not allowed to access to this resource)"
    resource:
      description: The resource identifier the token was asked for (RFC 8707 C(resource)).
      type: str
      returned: when a token was asked for
      sample: https://gw.example.com/weather-mcp
    requested_scopes:
      description: The scopes asked for.
      type: list
      elements: str
      returned: when a token was asked for
    scopes:
      description: The scopes AM granted (the token response's C(scope)).
      type: list
      elements: str
      returned: when a token was got
    client_id:
      description: The client id the token was asked with (the registered client's, or O(client_credentials.client_id)).
      type: str
      returned: when a client was registered or given
    client_deleted:
      description: Whether the client registered by O(register_client) was deleted again (else a warning names it).
      type: bool
      returned: when a client was registered
    tools:
      description: Names of the tools C(tools/list) returned with the token.
      type: list
      elements: str
      returned: when verified
    calls:
      description: What each O(call_tools) call got - C(name), C(allowed), C(status), and C(error) when refused or
        C(tool_error) (the tool reported an error) when allowed.
      type: list
      elements: dict
      returned: when O(call_tools) was given and a session was opened with the token
      sample: [{"name": "get_forecast", "allowed": true, "status": 200, "tool_error": false}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeClient, GraviteeError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.mcp import (
    McpProbe,
    NotVerified,
    ProbeFailure,
    Prober,
    sentence,
)
from ansible_collections.mcpgate.gravitee.plugins.module_utils.errors import ModuleError
from ansible_collections.mcpgate.gravitee.plugins.module_utils.module import http_argument_spec, server_root

DISCOVERY_METHODS = ("register_client", "client_credentials")


def token_method(params):
    """The way to get a token the task gives; ModuleError when it gives more than one."""
    given = [name for name, value in (("token", params["token"]), ("register_client", params["register_client"]),
                                      ("client_credentials", params["client_credentials"])) if value]
    if len(given) > 1:
        raise ModuleError("%s are mutually exclusive: give one way to get a token." % " and ".join(given), given[1])
    if given and given[0] in DISCOVERY_METHODS and params["expect"] == "open":
        raise ModuleError("%s verifies a protected endpoint: it cannot be used with expect: open." % given[0], given[0])
    if not given and (params.get("expect_tools") or params.get("call_tools")):
        raise ModuleError("expect_tools and call_tools check what a token lets through: give a way to get a token "
                          "(register_client, client_credentials or token).", "expect_tools" if params.get("expect_tools") else "call_tools")
    if params["wait"] < 0:
        raise ModuleError("wait must be 0 or more seconds, got %s." % params["wait"], "wait")
    return given[0] if given else None


def verify_authenticated(prober, params, method, result, authenticated, check_mode):
    """Fill ``authenticated``; ProbeFailure when a server refuses, NotVerified when the path cannot be checked."""
    if method is None:
        if result.get("protected"):
            raise NotVerified("no way to get a token was given (register_client, client_credentials or token)")
        if result.get("status") == 200:
            raise NotVerified("the endpoint is open: an unauthenticated initialize succeeded")
        raise NotVerified("the endpoint answered HTTP %s to an unauthenticated initialize" % result.get("status"))
    if method == "token":
        resource = (result.get("resource_metadata") or {}).get("resource") or prober.probe.url
        summary = call_tools(prober, params["token"], False, resource, result, params, authenticated)
        authenticated.update(verified=True, tools=summary.get("tools", []))
        return

    resource = prober.token_request_target(result)
    scopes = params["scopes"] if params["scopes"] is not None else list(result.get("challenge_scopes") or [])
    authenticated.update(resource=resource, requested_scopes=scopes)
    if method == "client_credentials":
        credentials = params["client_credentials"]
        authenticated["client_id"] = credentials["client_id"]
        token, granted = prober.get_token(result["token_endpoint"], credentials["client_id"], credentials["client_secret"],
                                          resource, scopes, given_credentials=True)
        authenticated["scopes"] = granted
        summary = call_tools(prober, token, True, resource, result, params, authenticated)
        authenticated.update(verified=True, tools=summary.get("tools", []))
        return

    if check_mode:
        raise NotVerified("check mode: the probe registers no client, so the authenticated check was skipped")
    registered = prober.register_client(result.get("registration_endpoint"), scopes)
    authenticated.update(client_id=registered["client_id"], client_deleted=False)
    try:
        token, granted = prober.get_token(result["token_endpoint"], registered["client_id"], registered["client_secret"],
                                          resource, scopes, given_credentials=False)
        authenticated["scopes"] = granted
        summary = call_tools(prober, token, True, resource, result, params, authenticated)
        authenticated.update(verified=True, tools=summary.get("tools", []))
    finally:
        authenticated["client_deleted"] = prober.delete_client(registered)


def call_tools(prober, token, issued_by_am, resource, result, params=None, authenticated=None):
    """initialize + tools/list (+ the calls of ``call_tools``) with ``token``, checked against ``expect_tools`` and the
    calls' expectations; the authenticated status, server info, tools and calls go into ``result``."""
    params = params or {}
    calls = params.get("call_tools") or []
    try:
        summary = prober.call_with_token(token, issued_by_am, resource, calls=calls,
                                         expectation=lambda summary: expectation_problem(params, summary, authenticated))
    finally:
        if prober.authenticated_status is not None:
            result["authenticated_status"] = prober.authenticated_status
        if prober.last_summary is not None and authenticated is not None:
            authenticated.update(tools=prober.last_summary.get("tools", []))
            if calls:
                authenticated["calls"] = prober.last_summary.get("calls", [])
    result["server_info"] = result.get("server_info") or summary.get("server_info")
    result["tools"] = summary.get("tools", [])
    if calls and authenticated is not None:
        authenticated["calls"] = summary.get("calls", [])
    return summary


def expectation_problem(params, summary, authenticated):
    """Why the tools listed and the calls made with the token are not what ``expect_tools`` and ``call_tools`` say, or
    None."""
    granted = (authenticated or {}).get("scopes")
    token = "the token (scopes %s)" % (", ".join(granted) or "none") if granted is not None else "the token"
    expected = params.get("expect_tools") or {}
    listed = summary.get("tools") or []
    problems = []
    missing = [tool for tool in expected.get("listed") or [] if tool not in listed]
    if missing:
        problems.append("tools/list with %s does not show %s" % (token, ", ".join(missing)))
    shown = [tool for tool in expected.get("hidden") or [] if tool in listed]
    if shown:
        problems.append("tools/list with %s shows %s, which it must not" % (token, ", ".join(shown)))
    for call, outcome in zip(params.get("call_tools") or [], summary.get("calls") or []):
        if call.get("expect") == "allowed" and not outcome["allowed"]:
            problems.append("tools/call %s with %s was refused (%s)" % (call["name"], token, outcome.get("error")))
        elif call.get("expect") == "refused" and outcome["allowed"]:
            problems.append("tools/call %s with %s reached the tool, which it must not" % (call["name"], token))
    if not problems:
        return None
    return sentence("%s: check the plan's mcp-acl rules (mcpgate.gravitee.apim_plan mcp_acl), the tools' scopes on the AM "
                    "MCP server and the scopes asked for (option scopes)" % "; ".join(problems))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            http_argument_spec(),
            url=dict(type="str", required=True),
            expect=dict(type="str", choices=["open", "protected"]),
            wait=dict(type="int", default=0),
            token=dict(type="str", no_log=True),
            register_client=dict(type="bool", default=False),
            client_credentials=dict(
                type="dict",
                options=dict(client_id=dict(type="str", required=True), client_secret=dict(type="str", required=True, no_log=True)),
            ),
            scopes=dict(type="list", elements="str"),
            authorization_server=dict(type="str"),
            expect_tools=dict(type="dict", options=dict(listed=dict(type="list", elements="str", default=[]),
                                                        hidden=dict(type="list", elements="str", default=[]))),
            call_tools=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                arguments=dict(type="dict", default={}),
                expect=dict(type="str", choices=["allowed", "refused"]),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "authorization_servers": [], "registration_endpoint": None, "attempts": 0}
    authenticated = {"verified": False, "method": None}
    result["authenticated"] = authenticated
    prober = None
    try:
        method = token_method(params)
        authenticated["method"] = method
        server_root(params["url"], option="url")
        client = GraviteeClient(
            "", validate_certs=params["validate_certs"], ca_path=params["ca_path"], timeout=params["timeout"],
            retries=params["retries"],
        )
        prober = Prober(McpProbe(client, params["url"].rstrip("/")), wait=params["wait"], warn=module.warn,
                        hide=module.no_log_values.add)
        # register_client and client_credentials find AM through the 401 challenge: they wait for it too.
        expect = params["expect"] or ("protected" if method in DISCOVERY_METHODS else None)
        unauthenticated, problem = prober.until_expected(expect, upstream_is_fatal=bool(params["expect"] or method))
        result.update(unauthenticated)
        result["attempts"] = prober.attempts
        problem = problem or metadata_problem(params, result)
        if problem:
            module.fail_json(msg=problem, **result)
        try:
            verify_authenticated(prober, params, method, result, authenticated, module.check_mode)
        except NotVerified as exc:
            authenticated["reason"] = str(exc)
            if result.get("protected") or method is not None:
                module.warn("The authenticated path was not verified: %s." % str(exc).rstrip("."))
    except (ProbeFailure, GraviteeError, ModuleError) as exc:
        if getattr(exc, "upstream", False):
            result["upstream_unreachable"] = True
        if getattr(exc, "option", None):
            result["option"] = exc.option
        module.fail_json(msg=sentence(str(exc)), **failed(result, prober))
    except ValueError as exc:
        module.fail_json(msg=sentence("the MCP endpoint answered with something that is not JSON-RPC: %s" % exc),
                         **failed(result, prober))
    module.exit_json(**result)


def metadata_problem(params, result):
    """Why the protected resource metadata would send MCP clients elsewhere, or None: its ``resource`` must be the
    URL they use (compared as AM does, lower-cased) and it must name ``authorization_server`` when one is expected."""
    metadata = result.get("resource_metadata")
    if not result.get("protected") or not metadata:
        return None
    resource = (metadata.get("resource") or "").rstrip("/")
    if resource.lower() != params["url"].rstrip("/").lower():
        return sentence("the protected resource metadata names resource %s, not %s: MCP clients would ask AM for a "
                        "token for another URL; check the gateway URL clients use" % (resource or "none", params["url"]))
    expected = (params["authorization_server"] or "").rstrip("/")
    if expected and expected not in [server.rstrip("/") for server in result["authorization_servers"]]:
        return sentence("the protected resource metadata names the authorization servers %s, not %s: check the AM URL "
                        "and security domain of the API's AM resource" % (", ".join(result["authorization_servers"]) or "none", expected))
    return None


def failed(result, prober):
    """The result of a failed run: what the probe found before it failed."""
    if prober is not None:
        for key, value in prober.last_result.items():
            if result.get(key) in (None, []):
                result[key] = value
        result["attempts"] = prober.attempts
    return result


if __name__ == "__main__":
    main()
