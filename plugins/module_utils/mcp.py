# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an MCP client does, as plain HTTP: initialize, the 401 challenge, discovery, a token, the tools.

Used by the ``mcp_probe`` module to check an MCP endpoint (streamable HTTP transport) the way
VS Code or an MCP SDK reaches it through the Gravitee gateway, and to prove the authenticated path:
a token got from the authorization server the endpoint names (Gravitee AM), for the endpoint's
resource identifier (RFC 8707), lets ``initialize`` and ``tools/list`` through.

No Ansible import: the module passes callbacks for warnings and for secrets to hide.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re
import time

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError
from urllib.parse import quote, urlencode, urlsplit

PROTOCOL_VERSION = "2025-06-18"
CLIENT_INFO = {"name": "mcpgate.gravitee mcp_probe", "version": "0.1.0"}
JSON_AND_SSE = "application/json, text/event-stream"
CLIENT_NAME = "mcpgate.gravitee mcp_probe"

# Seconds between two probes while waiting for the gateway.
PROBE_INTERVAL = 1.0
# The gateway could not reach the upstream (Bad Gateway, Gateway Timeout): waiting does not cure it.
UPSTREAM_FAILURES = (502, 504)
# Where the caller sets the URL the API proxies to (named in the failure message).
UPSTREAM_OPTION = "the MCP server URL the API proxies to (mcpgate.gravitee.apim_api mcp_server_url)"
RESOURCE_CLIENT_HINT = "check that the APIM AM resource holds the client id and secret of the AM MCP server"

# Token errors the AM gateway gives until it has synchronised a change made through its Management API.
GATEWAY_SYNC_ERRORS = ("invalid_client", "invalid_scope", "invalid_target")

_RESOURCE_METADATA_RE = re.compile(r'resource_metadata="([^"]+)"')
_SCOPE_RE = re.compile(r'scope="([^"]*)"')


class ProbeFailure(Exception):
    """The endpoint is not as expected, or a server refused what an MCP client must be able to do.

    The message is one sentence (or two) a person can act on; it never carries a secret.  ``upstream``: the gateway
    could not reach the MCP server the API proxies to.
    """

    def __init__(self, message, upstream=False):
        super(ProbeFailure, self).__init__(message)
        self.upstream = upstream


class NotVerified(Exception):
    """The authenticated path could not be checked, and nothing says it is broken (DCR closed, no way given)."""


def sentence(text):
    """``text`` ending with a full stop."""
    text = (text or "").strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def origin_and_path(url):
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc), parts.path.rstrip("/")


def jsonrpc_result(response):
    """The JSON-RPC message of a streamable HTTP answer (plain JSON, or the first SSE ``data:``)."""
    content_type = response.headers.get("Content-Type", "")
    text = response.text
    if "text/event-stream" in content_type:
        for line in text.splitlines():
            if line.startswith("data:"):
                return json.loads(line[5:].strip())
        return None
    return json.loads(text) if text.strip() else None


def parse_challenge(header):
    """``Bearer resource_metadata="...", scope="..."`` -> (resource_metadata_url, scope)."""
    if not header:
        return None, None
    metadata = _RESOURCE_METADATA_RE.search(header)
    scope = _SCOPE_RE.search(header)
    return (metadata.group(1) if metadata else None), (scope.group(1) if scope else None)


def protected_resource_metadata_urls(url):
    """RFC 9728 locations to try when the challenge names none: path-inserted, then path-appended."""
    origin, path = origin_and_path(url)
    return [origin + "/.well-known/oauth-protected-resource" + path, url.rstrip("/") + "/.well-known/oauth-protected-resource"]


def authorization_server_metadata_urls(issuer):
    """Where an MCP client looks for the authorization server's metadata, in the MCP spec's order.

    RFC 8414 and OIDC path-inserted forms first, then OIDC path-appended, the form Gravitee AM
    serves (``{gateway}/{domain}/oidc/.well-known/openid-configuration``).
    """
    origin, path = origin_and_path(issuer)
    return [
        origin + "/.well-known/oauth-authorization-server" + path,
        origin + "/.well-known/openid-configuration" + path,
        issuer.rstrip("/") + "/.well-known/openid-configuration",
    ]


def basic_authorization(client_id, client_secret):
    """RFC 6749 §2.3.1: both parts form-urlencoded, then Basic (AM URL-decodes them: ClientBasicAuthProvider)."""
    pair = "%s:%s" % (quote(client_id, safe=""), quote(client_secret, safe=""))
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def json_body(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def oauth_error(response):
    """``HTTP 400 invalid_scope: Invalid scope(s): x`` from an OAuth error answer (RFC 6749 §5.2)."""
    body = json_body(response) or {}
    error = body.get("error")
    description = body.get("error_description") or body.get("message")
    text = "HTTP %s" % response.status_code
    if error:
        text += " " + str(error)
    if description:
        text += ": " + str(description).strip().rstrip(".")
    return text, error


def gateway_said(response):
    """What the gateway's error answer says: its JSON ``message``, else the start of its text."""
    body = json_body(response)
    if body and body.get("message"):
        return str(body["message"]).strip()
    text = (response.text or "").strip().splitlines()
    return text[0][:200] if text else (response.reason or "no body")


def upstream_failure(response, what):
    """A 502/504 from the gateway: it could not reach the MCP server the API proxies to."""
    return ProbeFailure(
        "The gateway answered HTTP %s to %s (%s): the MCP server URL the API proxies to is unreachable from the gateway. "
        "Check %s and that the MCP server is up." % (response.status_code, what, gateway_said(response).rstrip("."), UPSTREAM_OPTION),
        upstream=True,
    )


class McpProbe(object):
    """Talks to one MCP endpoint through a GraviteeClient session (``client.raw``)."""

    def __init__(self, client, url):
        self.client = client
        self.url = url

    def _post(self, message, token=None, session_id=None):
        headers = {"Accept": JSON_AND_SSE, "Content-Type": "application/json", "MCP-Protocol-Version": PROTOCOL_VERSION}
        if token:
            headers["Authorization"] = "Bearer %s" % token
        if session_id:
            headers["Mcp-Session-Id"] = session_id
        return self.client.raw("POST", self.url, headers=headers, data=json.dumps(message))

    def initialize(self, token=None):
        return self._post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO},
            },
            token=token,
        )

    def list_tools(self, token, session_id):
        self._post({"jsonrpc": "2.0", "method": "notifications/initialized"}, token, session_id)
        return self._post({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}, token, session_id)

    def call_tool(self, token, session_id, name, arguments, request_id):
        return self._post({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                           "params": {"name": name, "arguments": arguments or {}}}, token, session_id)

    def close_session(self, token, session_id):
        headers = {"Mcp-Session-Id": session_id}
        if token:
            headers["Authorization"] = "Bearer %s" % token
        self.client.raw("DELETE", self.url, headers=headers)

    def get_json(self, url):
        """GET a JSON document; None when it is not there (any non-200 or a non-JSON body)."""
        response = self.client.raw("GET", url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            return None
        return json_body(response)

    def first_json(self, urls):
        for url in urls:
            document = self.get_json(url)
            if document is not None:
                return url, document
        return None, None


def call_outcome(response, name):
    """What a ``tools/call`` got: ``allowed`` when the gateway let it reach the tool (HTTP 200 and a JSON-RPC result,
    even one that reports a tool error), else the status and what was said.  How the mcp-acl policy refuses a call is
    not documented (an HTTP status or a JSON-RPC error), so any other answer counts as refused."""
    outcome = {"name": name, "status": response.status_code, "allowed": False}
    if response.status_code != 200:
        outcome["error"] = "HTTP %s: %s" % (response.status_code, gateway_said(response).rstrip("."))
        return outcome
    try:
        message = jsonrpc_result(response) or {}
    except ValueError:
        outcome["error"] = "an answer that is not JSON-RPC"
        return outcome
    if "error" in message or "result" not in message:
        error = message.get("error") or {}
        outcome["error"] = "JSON-RPC error %s: %s" % (error.get("code"), str(error.get("message", error)).rstrip("."))
        return outcome
    outcome["allowed"] = True
    outcome["tool_error"] = bool((message.get("result") or {}).get("isError"))
    return outcome


def session_summary(probe, initialize_response, token, calls=None):
    """serverInfo and tool names of an initialized session, then each of ``calls`` (``{name, arguments}``) as
    ``tools/call`` with its outcome; then the session is closed.

    ProbeFailure when ``tools/list`` does not return a list of tools.
    """
    message = jsonrpc_result(initialize_response) or {}
    summary = {"server_info": (message.get("result") or {}).get("serverInfo")}
    session_id = initialize_response.headers.get("Mcp-Session-Id")
    try:
        listed_response = probe.list_tools(token, session_id)
        if listed_response.status_code != 200:
            raise ProbeFailure(
                "initialize succeeded but tools/list got HTTP %s from the gateway (%s)."
                % (listed_response.status_code, gateway_said(listed_response).rstrip("."))
            )
        listed = jsonrpc_result(listed_response) or {}
        if "error" in listed:
            raise ProbeFailure("tools/list answered a JSON-RPC error: %s." % str(listed["error"].get("message", listed["error"])).rstrip("."))
        summary["tools"] = [tool.get("name") for tool in (listed.get("result") or {}).get("tools", [])]
        if calls:
            summary["calls"] = [call_outcome(probe.call_tool(token, session_id, call["name"], call.get("arguments"), 3 + n),
                                             call["name"]) for n, call in enumerate(calls)]
    finally:
        if session_id:
            probe.close_session(token, session_id)
    return summary


def probe_unauthenticated(probe, result):
    """An unauthenticated initialize; on a 401, the challenge, the resource metadata and AM's discovery.

    Returns the initialize answer and, when it succeeded but listing the tools failed, why.
    """
    response = probe.initialize()
    result["status"] = response.status_code
    result["protected"] = response.status_code == 401
    if response.status_code == 200:
        try:
            result.update(session_summary(probe, response, token=None))
        except ProbeFailure as exc:
            # e.g. a new deployment landed between initialize and tools/list: an open endpoint that lists no tools.
            return response, str(exc)
        return response, None
    if not result["protected"]:
        return response, None
    challenge = response.headers.get("WWW-Authenticate")
    result["www_authenticate"] = challenge
    metadata_url, scope = parse_challenge(challenge)
    if scope:
        result["challenge_scopes"] = [s for s in scope.split(" ") if s]
    candidates = [metadata_url] if metadata_url else protected_resource_metadata_urls(probe.url)
    found_url, metadata = probe.first_json(candidates)
    result["resource_metadata_url"] = found_url or metadata_url
    if metadata is None:
        return response, None
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
                result["token_endpoint"] = document.get("token_endpoint")
                break
    return response, None


def check_expectation(expect, result):
    """The reason the endpoint is not as expected (one sentence), or None."""
    if expect == "open" and result["status"] != 200:
        return "Expected an open MCP endpoint, but an unauthenticated initialize got HTTP %s%s." % (
            result["status"], " (the API is not deployed at this path)" if result["status"] == 404 else "")
    if expect != "protected":
        return None
    if not result["protected"]:
        if result["status"] == 404:
            return ("Expected a protected MCP endpoint, but the gateway answered HTTP 404: no API is deployed at this path "
                    "(is the API started and deployed?).")
        return (
            "Expected a protected MCP endpoint, but an unauthenticated initialize got HTTP %s: is a keyless plan still "
            "published, or the API not redeployed?" % result["status"]
        )
    if not result.get("www_authenticate"):
        return (
            "The endpoint answers 401 without a WWW-Authenticate header, so MCP clients cannot discover the "
            "authorization server (on APIM 4.10.0-4.10.11 the OAuth2 plan needs addWwwAuthenticateHeader: true)."
        )
    if not result.get("resource_metadata"):
        return "The protected resource metadata was not found at %s." % result.get("resource_metadata_url")
    if not result["authorization_servers"]:
        return "The protected resource metadata names no authorization server."
    return None


class Prober(object):
    """Runs the probe: waits for the expected state, then verifies the authenticated path.

    ``warn(message)`` reports a warning; ``hide(value)`` is called with every secret the probe gets (a
    registered client's secret and registration access token, an access token) before it can reach any
    output.  ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(self, probe, wait=0, warn=None, hide=None, clock=time.monotonic, sleep=time.sleep):
        self.probe = probe
        self.wait = max(0, wait or 0)
        self.warn = warn or (lambda message: None)
        self.hide = hide or (lambda value: None)
        self.clock = clock
        self.sleep = sleep
        self.deadline = None
        self.attempts = 0
        self.authenticated_status = None  # status of the last initialize sent with a token
        self.last_result = {}  # the last unauthenticated probe's findings
        self.last_summary = None  # the last authenticated session that did not meet the expectation

    # -- waiting ------------------------------------------------------------------------------------
    def start(self):
        self.deadline = self.clock() + self.wait

    def time_left(self):
        return self.deadline is not None and self.clock() < self.deadline

    def pause(self):
        self.sleep(max(0.0, min(PROBE_INTERVAL, self.deadline - self.clock())))

    def until_expected(self, expect, upstream_is_fatal):
        """Probe until the endpoint is as ``expect`` says or the wait is over; (result, problem or None).

        A 502/504 is the gateway failing to reach the MCP server: ProbeFailure at once when
        ``upstream_is_fatal``.  A 404 (not deployed yet), a 200 where a 401 is expected (the previous,
        keyless deployment still served) and any other difference are probed again until the wait is over.
        """
        if self.deadline is None:
            self.start()
        while True:
            self.attempts += 1
            result = self.last_result = {"authorization_servers": [], "registration_endpoint": None}
            response, tools_problem = probe_unauthenticated(self.probe, result)
            if upstream_is_fatal and response.status_code in UPSTREAM_FAILURES:
                raise upstream_failure(response, "an unauthenticated initialize")
            problem = check_expectation(expect, result) or (tools_problem if expect == "open" else None)
            if problem is None or not self.time_left():
                return result, problem
            self.pause()

    # -- the authenticated path -----------------------------------------------------------------------
    def token_request_target(self, result):
        """The resource identifier and AM's endpoints, from the challenge's discovery chain."""
        if not result.get("protected"):
            raise ProbeFailure(
                "The endpoint does not answer an unauthenticated initialize with a 401 challenge (HTTP %s), so an MCP "
                "client cannot discover where to get a token." % result.get("status")
            )
        metadata = result.get("resource_metadata") or {}
        resource = metadata.get("resource") or self.probe.url
        if not result.get("authorization_servers"):
            raise ProbeFailure(check_expectation("protected", result) or "The protected resource metadata names no authorization server.")
        if not result.get("token_endpoint"):
            issuer = result["authorization_servers"][0]
            raise ProbeFailure(
                "The authorization server %s named by the protected resource metadata serves no discovery document with a "
                "token_endpoint (tried %s): MCP clients cannot get a token. Check the APIM AM resource's serverURL and "
                "securityDomain." % (issuer, ", ".join(authorization_server_metadata_urls(issuer)))
            )
        return resource

    def register_client(self, registration_endpoint, scopes):
        """Dynamic Client Registration of a short-lived confidential client for the client_credentials grant.

        No redirect URI (AM accepts an empty list for such a client) and no response type: without
        ``response_types: []`` AM keeps the default ``code``, adds authorization_code and then asks for a
        redirect URI.  Returns the registration answer; NotVerified when DCR is off or not open.
        """
        if not registration_endpoint:
            raise NotVerified("the authorization server advertises no registration_endpoint (Dynamic Client Registration)")
        metadata = {
            "client_name": CLIENT_NAME,
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
        }
        if scopes:
            metadata["scope"] = " ".join(scopes)
        response = self.probe.client.raw(
            "POST", registration_endpoint, headers={"Content-Type": "application/json", "Accept": "application/json"},
            data=json.dumps(metadata),
        )
        body = json_body(response) or {}
        for key in ("client_secret", "registration_access_token"):
            if body.get(key):
                self.hide(body[key])
        said, error = oauth_error(response)
        if response.status_code == 403 and error == "registration_forbidden":
            raise NotVerified("Dynamic Client Registration is disabled in the AM domain (AM answered %s)" % said)
        if response.status_code in (401, 403):
            raise NotVerified(
                "Dynamic Client Registration is not open in the AM domain: AM asks for an access token with the dcr_admin "
                "scope (%s)" % said
            )
        if response.status_code in (200, 201) and body.get("client_id") and not body.get("client_secret"):
            self.delete_client(body)
            raise ProbeFailure(
                "AM registered the probe's client %s without a client_secret, so it cannot use the client_credentials grant; "
                "the client was deleted again." % body["client_id"]
            )
        if error == "invalid_client_metadata" and self.time_left():
            # Scopes created a moment ago reach the AM gateway at its next synchronisation.
            self.pause()
            return self.register_client(registration_endpoint, scopes)
        if response.status_code not in (200, 201) or not body.get("client_id"):
            hint = " Check that the scopes %s exist in the AM domain (option scopes)." % ", ".join(scopes) if (
                scopes and error == "invalid_client_metadata") else ""
            raise ProbeFailure(
                "AM refused to register the probe's client by Dynamic Client Registration at %s (%s).%s"
                % (registration_endpoint, said, hint)
            )
        return body

    def delete_client(self, registered):
        """RFC 7592: DELETE registration_client_uri with the registration access token; True when deleted."""
        client_id = registered.get("client_id")
        uri, token = registered.get("registration_client_uri"), registered.get("registration_access_token")
        if not uri or not token:
            self.warn(
                "AM registered the probe's client %s without a registration_client_uri and registration_access_token, so the "
                "probe cannot delete it: delete the application %s in the AM domain." % (client_id, client_id)
            )
            return False
        try:
            response = self.probe.client.raw("DELETE", uri, headers={"Authorization": "Bearer %s" % token, "Accept": "application/json"})
        except GraviteeError as exc:
            self.warn("The probe's client %s could not be deleted (DELETE %s failed: %s): delete the application %s in the AM "
                      "domain." % (client_id, uri, sentence(str(exc)).rstrip("."), client_id))
            return False
        if response.status_code in (200, 204):
            return True
        self.warn(
            "The probe's client %s could not be deleted (DELETE %s: %s): delete the application %s in the AM domain."
            % (client_id, uri, oauth_error(response)[0], client_id)
        )
        return False

    def get_token(self, token_endpoint, client_id, client_secret, resource, scopes, given_credentials):
        """client_credentials grant for ``resource`` (RFC 8707); (access token, granted scopes)."""
        form = [("grant_type", "client_credentials"), ("resource", resource)]
        if scopes:
            form.append(("scope", " ".join(scopes)))
        response = self.probe.client.raw(
            "POST", token_endpoint, data=urlencode(form),
            headers={"Authorization": basic_authorization(client_id, client_secret), "Accept": "application/json",
                     "Content-Type": "application/x-www-form-urlencoded"},
        )
        body = json_body(response) or {}
        if body.get("access_token"):
            self.hide(body["access_token"])
        if response.status_code == 200 and body.get("access_token"):
            granted = [s for s in str(body.get("scope") or "").split(" ") if s]
            return body["access_token"], granted
        said, error = oauth_error(response)
        if error in GATEWAY_SYNC_ERRORS and self.time_left():
            # A secret, scope, tool or MCP server made a moment ago reaches the AM gateway at its next synchronisation
            # (ScheduledSyncService, every 5 s by default): ask again while waiting.
            self.pause()
            return self.get_token(token_endpoint, client_id, client_secret, resource, scopes, given_credentials)
        prefix = "AM refused the client_credentials token request for resource %s (%s)" % (resource, said)
        if error == "invalid_target":
            hint = ("no AM MCP server has this resource identifier: the AM MCP server's resource identifier must be exactly "
                    "%s, the URL MCP clients use" % resource)
        elif error == "invalid_scope":
            hint = ("ask only for scopes the client has or that are tool scopes of the AM MCP server (option scopes: %s)"
                    % ", ".join(scopes or []))
        elif error == "invalid_client":
            hint = ("check client_credentials.client_id and client_secret" if given_credentials
                    else "AM did not authenticate the client it had just registered")
        elif error in ("unauthorized_client", "unsupported_grant_type"):
            hint = ("client %s may not use the client_credentials grant: allow it on the AM application (an AM 4.10 MCP "
                    "server's own client cannot use it)" % client_id)
        else:
            hint = "check the AM domain and its logs"
        raise ProbeFailure("%s: %s." % (prefix, hint))

    def call_with_token(self, token, issued_by_am, resource, calls=None, expectation=None):
        """initialize + tools/list (+ ``calls``) through the gateway with ``token``, waiting (within ``wait``) while the
        gateway answers 404 (not deployed) or 401 or 503 (a deployment with the right AM resource may not have landed),
        or while ``expectation(summary)`` names a problem (a deployment of other access rules may not have landed):
        ProbeFailure with that problem when the wait is over."""
        while True:
            response = self.probe.initialize(token=token)
            status = self.authenticated_status = response.status_code
            if status == 200:
                summary = session_summary(self.probe, response, token, calls)
                summary["status"] = status
                problem = expectation(summary) if expectation else None
                if problem is None:
                    return summary
                if not self.time_left():
                    self.last_summary = summary
                    raise ProbeFailure(problem)
                self.pause()
                continue
            if status in UPSTREAM_FAILURES:
                raise upstream_failure(response, "an authenticated initialize")
            if status in (401, 404, 503) and self.time_left():
                self.pause()
                continue
            raise ProbeFailure(self.refusal(response, issued_by_am, resource))

    @staticmethod
    def refusal(response, issued_by_am, resource):
        status = response.status_code
        if status == 401 and issued_by_am:
            return (
                "The gateway refused the token AM issued for %s (HTTP 401): AM reports such a token active only to the AM "
                "MCP server whose resource identifier it is, so the gateway's token introspection with the APIM AM "
                "resource's client failed. Check that the APIM AM resource holds the client id and secret of the AM MCP "
                "server." % resource
            )
        if status == 401:
            return ("initialize with the given token got HTTP 401 from the gateway: the token is not accepted (expired, "
                    "issued for another resource, or %s)." % RESOURCE_CLIENT_HINT)
        if status == 503:
            # The plan could not be resolved: the introspection call failed (AM refused the resource's client
            # credentials, or could not be reached).
            return ("The gateway answered HTTP 503 to an authenticated initialize (%s): its token introspection at AM failed, "
                    "as it does when AM refuses the APIM AM resource's client credentials or cannot be reached. Check that "
                    "the APIM AM resource holds the client id and secret of the AM MCP server and that its serverURL reaches "
                    "the AM gateway." % gateway_said(response).rstrip("."))
        if status == 404:
            return "The gateway answered HTTP 404 to an authenticated initialize: no API is deployed at this path."
        return "The gateway answered HTTP %s to an authenticated initialize (%s)." % (status, gateway_said(response).rstrip("."))
