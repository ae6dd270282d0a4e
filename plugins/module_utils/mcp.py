# -*- coding: utf-8 -*-
# Copyright: mcpgate contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an MCP client does first, as plain HTTP: initialize, the 401 challenge, discovery.

Used by the ``mcp_probe`` module to check an MCP endpoint (streamable HTTP transport) the way
VS Code or an MCP SDK would reach it through the Gravitee gateway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    from urlparse import urlsplit

PROTOCOL_VERSION = "2025-06-18"
CLIENT_INFO = {"name": "mcpgate.gravitee mcp_probe", "version": "0.1.0"}
JSON_AND_SSE = "application/json, text/event-stream"

_RESOURCE_METADATA_RE = re.compile(r'resource_metadata="([^"]+)"')
_SCOPE_RE = re.compile(r'scope="([^"]*)"')


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

    def close_session(self, token, session_id):
        headers = {"Authorization": "Bearer %s" % token, "Mcp-Session-Id": session_id}
        self.client.raw("DELETE", self.url, headers=headers)

    def get_json(self, url):
        """GET a JSON document; None when it is not there (any non-200 or a non-JSON body)."""
        response = self.client.raw("GET", url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            return None
        try:
            document = response.json()
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def first_json(self, urls):
        for url in urls:
            document = self.get_json(url)
            if document is not None:
                return url, document
        return None, None
