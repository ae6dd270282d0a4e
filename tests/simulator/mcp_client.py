"""A real MCP client with the SDK's own OAuth support, whose browser step is answered headlessly.

``run_mcp_client(url, username, password)`` connects to an OAuth-protected MCP endpoint the way an
MCP host does: the SDK's ``OAuthClientProvider`` meets the 401 challenge, reads the protected resource
metadata, discovers the authorization server, registers a client (DCR) and runs the authorization code
flow with PKCE.  Where a person would use a browser, ``HeadlessBrowser`` follows the redirects, fills
the login form with the given credentials, accepts the consent form, and hands the code from the
redirect back to the SDK.  Then ``initialize``, ``tools/list`` and one ``tools/call``.

Used by the end-to-end tests, ``make demo`` and the molecule verify step, so it speaks only HTTP and
HTML forms (as AM's pages are), nothing simulator-specific.

Command line: ``python -m tests.simulator.mcp_client URL --username demo --password demo-password``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# What an MCP client sends first, as plain HTTP (streamable HTTP transport), for checks without the SDK.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "mcpgate-tests", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

# A loopback callback, as desktop MCP hosts register; nothing needs to listen there, the headless
# browser stops at the redirect to it.
DEFAULT_REDIRECT_URI = "http://127.0.0.1:33418/callback"
MAX_BROWSER_STEPS = 20


class HeadlessLoginError(RuntimeError):
    """The authorization step did not end with a code (bad credentials, an OAuth error, a strange page)."""


@dataclass
class HtmlForm:
    action: str = ""
    method: str = "get"
    fields: dict[str, str] = field(default_factory=dict)
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (name, type) of the visible inputs
    submits: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of named submit buttons


class FormParser(HTMLParser):
    """Collects the forms of a page: their action, method, hidden values, inputs and submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms: list[HtmlForm] = []

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(HtmlForm(action=attributes.get("action", ""), method=attributes.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input":
            name, kind = attributes.get("name"), attributes.get("type", "text").lower()
            if not name:
                return
            if kind == "hidden":
                self.forms[-1].fields[name] = attributes.get("value", "")
            elif kind == "submit":
                self.forms[-1].submits.append((name, attributes.get("value", "")))
            else:
                self.forms[-1].inputs.append((name, kind))
        elif tag == "button" and attributes.get("name"):
            self.forms[-1].submits.append((attributes["name"], attributes.get("value", "")))


def parse_forms(html_text: str) -> list[HtmlForm]:
    parser = FormParser()
    parser.feed(html_text)
    return parser.forms


class HeadlessBrowser:
    """Plays the user's browser from the authorization URL to the redirect back to the client."""

    def __init__(self, username: str, password: str, redirect_uri: str, verify: bool | str = True):
        self.username, self.password, self.redirect_uri, self.verify = username, password, redirect_uri, verify

    def form_data(self, form: HtmlForm) -> dict[str, str]:
        data = dict(form.fields)
        for name, kind in form.inputs:
            if kind == "password":
                data[name] = self.password
            elif name in ("username", "email") or kind in ("text", "email"):
                data.setdefault(name, self.username if name == "username" else "")
        # A consent page: approve (AM reads ``user_oauth_approval``).
        approve = next(((n, v) for n, v in form.submits if v.lower() in ("true", "approve", "accept")), None)
        if approve:
            data[approve[0]] = approve[1]
        return data

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        url, method, data = authorization_url, "GET", None
        credentials_sent = 0
        async with httpx.AsyncClient(follow_redirects=False, timeout=30, verify=self.verify) as browser:
            for _step in range(MAX_BROWSER_STEPS):
                response = await browser.request(method, url, data=data)
                if response.is_redirect:
                    location = urljoin(url, response.headers["location"])
                    if location.startswith(self.redirect_uri):
                        return self.callback_result(location)
                    url, method, data = location, "GET", None
                    continue
                forms = parse_forms(response.text) if response.status_code == 200 else []
                if not forms:
                    raise HeadlessLoginError(f"no redirect and no form at {url} (HTTP {response.status_code})")
                form = forms[0]
                data = self.form_data(form)
                if self.password in data.values():
                    credentials_sent += 1
                    if credentials_sent > 1:
                        raise HeadlessLoginError(f"login refused for user {self.username!r} at {url}")
                url, method = urljoin(url, form.action or url), form.method.upper()
        raise HeadlessLoginError(f"no redirect to {self.redirect_uri} after {MAX_BROWSER_STEPS} steps")

    @staticmethod
    def callback_result(location: str) -> AuthorizationCodeResult:
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if "error" in params:
            raise HeadlessLoginError(f"authorization failed: {params['error']}: {params.get('error_description', '')}")
        if "code" not in params:
            raise HeadlessLoginError(f"redirect without a code: {location}")
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


class InMemoryTokenStorage:
    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def run_mcp_client_async(
    url: str,
    username: str,
    password: str,
    tool: str = "echo",
    arguments: dict[str, Any] | None = None,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    verify: bool | str = True,
    client_id: str | None = None,
    client_metadata_url: str | None = None,
) -> dict[str, Any]:
    """``client_id``: a pre-registered public client (no Dynamic Client Registration);
    ``client_metadata_url``: an https URL used as the client id when AM advertises CIMD."""
    browser = HeadlessBrowser(username, password, redirect_uri, verify)
    result: dict[str, AuthorizationCodeResult] = {}

    async def open_browser(authorization_url: str) -> None:
        result["code"] = await browser.authorize(authorization_url)

    async def wait_for_callback() -> AuthorizationCodeResult:
        return result.pop("code")

    storage = InMemoryTokenStorage()
    if client_id is not None:
        storage.client_info = OAuthClientInformationFull(
            client_id=client_id, redirect_uris=[redirect_uri], token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
        )
    oauth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcpgate headless client",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=open_browser,
        callback_handler=wait_for_callback,
        client_metadata_url=client_metadata_url,
    )
    arguments = {"text": "hello from mcpgate"} if arguments is None and tool == "echo" else (arguments or {})
    async with httpx2.AsyncClient(auth=oauth, timeout=30, verify=verify) as http:
        # mode="legacy": the initialize handshake, which every MCP proxy of Gravitee 4.10-4.12 knows.
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            tools = await client.list_tools()
            called = await client.call_tool(tool, arguments)
    texts = [c.text for c in called.content if getattr(c, "type", None) == "text"]
    return {
        "tools": [t.name for t in tools.tools],
        "call": {"tool": tool, "arguments": arguments, "is_error": bool(called.is_error), "text": "\n".join(texts)},
        "client_id": storage.client_info.client_id if storage.client_info else None,
        "scope": storage.tokens.scope if storage.tokens else None,
    }


def run_mcp_client(url: str, username: str, password: str, **options: Any) -> dict[str, Any]:
    """Synchronous wrapper of ``run_mcp_client_async`` (see the module docstring)."""
    return asyncio.run(run_mcp_client_async(url, username, password, **options))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulator.mcp_client", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("url", help="MCP endpoint, e.g. the APIM gateway URL + the API's context path")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--tool", default="echo")
    parser.add_argument("--arguments", default=None, help="JSON object of tool arguments")
    parser.add_argument("--ca-path", default=None, help="CA bundle for an HTTPS endpoint")
    args = parser.parse_args(argv)
    outcome = run_mcp_client(
        args.url, args.username, args.password, tool=args.tool,
        arguments=json.loads(args.arguments) if args.arguments else None, verify=args.ca_path or True,
    )
    print(json.dumps(outcome, indent=2))
    return 1 if outcome["call"]["is_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
