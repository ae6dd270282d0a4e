"""The simulated APIM gateway serves deployed MCP proxies as APIM 4.10 / 4.12 do (sources: FIDELITY.md).

Most tests run against a small stand-in written here, which plays both the AM introspection endpoint
(answers chosen per token) and an upstream that echoes what it received; the last ones go through to
the real upstream MCP server of the simulator.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.integration.simulator.apim_api import INITIALIZE, MCP_ACCEPT, ApimApi, am_resource
from tests.simulator.profiles import PROFILES

# token -> introspection answer of the stand-in AM
TOKENS = {
    "good": {"active": True, "client_id": "mcp-app", "sub": "user-1", "scope": "openid mcp:tools"},
    "audience-only": {"active": True, "aud": "mcp-app", "sub": "user-1", "scope": "mcp:tools"},
    "expired": {"active": False},
}

SIMULATOR_PROFILES = PROFILES  # the gateway of every OAuth2 policy line


class StandIn(BaseHTTPRequestHandler):
    """AM introspection (``/<domain>/oauth/introspect``; no ``check_token``, as AM 4) and an echoing upstream."""

    received: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        self.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body.decode()})
        if path.endswith("/oauth/introspect"):
            if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"mcp-client:s3cret").decode():
                return self._send(401, b'{"error":"invalid_client"}')
            token = parse_qs(body.decode()).get("token", [""])[0]
            return self._send(200, json.dumps(TOKENS.get(token, {"active": False})).encode())
        if path.startswith("/sse"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"event: message\ndata: first\n\n")
            self.wfile.flush()
            time.sleep(1.0)
            self.wfile.write(b"event: message\ndata: second\n\n")
            self.wfile.flush()
            return
        if path.startswith("/echo"):
            echo = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body.decode()}
            return self._send(200, json.dumps(echo).encode(), "application/json")
        return self._send(404, b'{"error":"not found"}')

    do_GET = do_POST = do_DELETE = handle_any


@pytest.fixture(scope="module")
def stand_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def apim(sim) -> ApimApi:
    StandIn.received.clear()
    return ApimApi(sim)


def post_mcp(sim, path: str = "/weather-mcp", headers: dict | None = None, **kwargs) -> requests.Response:
    return requests.post(sim.urls["apim_gateway"] + path, json=INITIALIZE, headers={**MCP_ACCEPT, **(headers or {})}, timeout=10, **kwargs)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- routing --------------------------------------------------------------------------------------


def test_unknown_path_is_not_found(sim):
    response = requests.get(sim.urls["apim_gateway"] + "/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.text == "No context-path matches the request URI."
    assert response.headers["Content-Type"].startswith("text/plain")


def test_only_started_and_deployed_apis_are_served(sim, apim):
    api = apim.create_api()
    apim.publish(api["id"], {"definitionVersion": "V4", "name": "Keyless", "mode": "STANDARD", "security": {"type": "KEY_LESS"}})
    assert post_mcp(sim).status_code == 404  # created, not started
    apim.start(api["id"])
    assert post_mcp(sim).status_code == 200
    apim.ok("POST", f"/apis/{api['id']}/_stop", 204)
    assert post_mcp(sim).status_code == 404


def test_a_deleted_plan_is_served_until_the_next_deployment(sim, apim):
    api = apim.deployed_keyless_api()
    keyless = apim.ok("GET", f"/apis/{api['id']}/plans").json()["data"][0]
    apim.ok("DELETE", f"/apis/{api['id']}/plans/{keyless['id']}", 204)
    # The gateway keeps the plans of the last deployment (source-audit-2026-12.md, gateway sync PlanAppender).
    assert post_mcp(sim).status_code == 200


def test_gateway_serves_the_deployed_definition_not_the_current_edit(sim, apim, stand_in):
    api = apim.deployed_keyless_api(target=stand_in + "/echo")
    group = api["endpointGroups"][0]
    moved = {**group["endpoints"][0], "configuration": {"target": stand_in + "/echo/new"}}
    apim.update_api(api["id"], endpointGroups=[{**group, "endpoints": [moved]}])
    assert post_mcp(sim).json()["path"] == "/echo"
    apim.deploy(api["id"])
    assert post_mcp(sim).json()["path"] == "/echo/new"


def test_sub_path_query_and_headers_are_forwarded(sim, apim, stand_in):
    apim.deployed_keyless_api(target=stand_in + "/echo")
    headers = {"Mcp-Session-Id": "abc", "MCP-Protocol-Version": "2025-06-18", "Authorization": "Bearer anything"}
    response = post_mcp(sim, "/weather-mcp/sub/path?x=1", headers=headers)
    echo = response.json()
    assert echo["method"] == "POST" and echo["path"] == "/echo/sub/path?x=1"
    headers = {k.lower(): v for k, v in echo["headers"].items()}
    assert headers["mcp-session-id"] == "abc" and headers["mcp-protocol-version"] == "2025-06-18"
    assert headers["accept"] == MCP_ACCEPT["Accept"] and headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer anything"  # keyless: nothing removes it
    assert json.loads(echo["body"]) == INITIALIZE


def test_sse_answers_are_streamed(sim, apim, stand_in):
    apim.deployed_keyless_api(target=stand_in + "/sse")
    started = time.monotonic()
    with requests.get(sim.urls["apim_gateway"] + "/weather-mcp", headers={"Accept": "text/event-stream"}, stream=True, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith(b"data:"))
        first_at = time.monotonic() - started
        second = next(line for line in lines if line.startswith(b"data:"))
    assert (first, second) == (b"data: first", b"data: second")
    assert first_at < 0.9  # the first event arrived before the upstream finished


# --- OAuth2 plan: challenge and protected resource metadata ---------------------------------------


def test_unauthenticated_request_gets_the_profiles_challenge(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in, requiredScopes=["mcp:tools"])
    response = post_mcp(sim)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "http_status_code": 401}
    gateway = sim.urls["apim_gateway"]
    if sim.profile == "4.10":
        assert response.headers["WWW-Authenticate"] == f'Bearer resource_metadata="{gateway}/weather-mcp/.well-known/oauth-protected-resource"'
    else:
        assert response.headers["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{gateway}/.well-known/oauth-protected-resource/weather-mcp" scope="mcp:tools"'
        )


def test_unauthorized_is_plain_text_when_json_is_not_accepted(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in)
    response = requests.post(sim.urls["apim_gateway"] + "/weather-mcp", data="{}", headers={"Accept": "text/plain"}, timeout=10)
    assert (response.status_code, response.text) == (401, "Unauthorized")


def test_challenge_without_add_www_authenticate_header(sim, apim, stand_in):
    if sim.profile == "4.10":
        apim.deployed_oauth2_api(stand_in, addWwwAuthenticateHeader=False)
        response = post_mcp(sim)
        assert response.status_code == 401 and "WWW-Authenticate" not in response.headers
    else:  # policy 5.3.1 always challenges; without required scopes there is no scope attribute
        apim.deployed_oauth2_api(stand_in)
        challenge = post_mcp(sim).headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer resource_metadata="') and "scope=" not in challenge


def test_protected_resource_metadata_at_the_profiles_well_known_forms(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in + "/", requiredScopes=["mcp:tools"], resource=am_resource(stand_in + "/", domain="mcp"))
    gateway = sim.urls["apim_gateway"]
    suffix = requests.get(gateway + "/weather-mcp/.well-known/oauth-protected-resource", timeout=10)
    inserted = requests.get(gateway + "/.well-known/oauth-protected-resource/weather-mcp", timeout=10)
    expected_scopes = [] if sim.profile == "4.10" else ["mcp:tools"]  # AM resource 4.0.0 passes no scopes
    expected = {
        "resource": gateway + "/weather-mcp",
        "authorization_servers": [stand_in + "/mcp/oidc"],  # serverURL/securityDomain/oidc, normalised
        "scopes_supported": expected_scopes,
    }
    if sim.profile == "4.11":  # policy 5.2.1: the inserted form only, without Content-Type
        assert inserted.status_code == 200 and json.loads(inserted.content) == expected
        assert "Content-Type" not in inserted.headers
        assert suffix.status_code == 401
        return
    assert suffix.status_code == 200
    assert json.loads(suffix.content) == expected
    if sim.profile == "4.12":
        assert suffix.headers["Content-Type"] == "application/json"
        assert inserted.status_code == 200 and inserted.json() == suffix.json()
    else:
        assert "Content-Type" not in suffix.headers  # set by policy 5.3.1 only
        assert inserted.status_code == 404  # 5.1.4 answers only the suffix form


# --- OAuth2 plan: tokens ---------------------------------------------------------------------------


def test_valid_token_is_introspected_with_the_resources_client_and_proxied(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in, target=stand_in + "/echo")
    response = post_mcp(sim, headers=bearer("good"))
    assert response.status_code == 200
    echo_headers = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert echo_headers["authorization"] == "Bearer good"  # propagateAuthHeader defaults to true
    introspection = next(r for r in StandIn.received if r["path"].endswith("/oauth/introspect"))
    assert introspection["path"] == "/mcp/oauth/introspect"
    assert introspection["headers"]["Authorization"] == "Basic " + base64.b64encode(b"mcp-client:s3cret").decode()
    assert introspection["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert introspection["body"] == "token=good"


def test_token_with_only_an_audience_identifies_the_client(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in, target=stand_in + "/echo")
    assert post_mcp(sim, headers=bearer("audience-only")).status_code == 200


def test_authorization_header_is_removed_when_not_propagated(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in, target=stand_in + "/echo", propagateAuthHeader=False)
    echo_headers = {k.lower() for k in post_mcp(sim, headers=bearer("good")).json()["headers"]}
    assert "authorization" not in echo_headers


def test_inactive_token_gets_the_challenge(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in)
    response = post_mcp(sim, headers=bearer("expired"))
    assert response.status_code == 401 and response.json()["message"] == "Unauthorized"
    assert "resource_metadata=" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("required", "strict", "allowed"),
    [(["mcp:tools"], True, True), (["mcp:tools", "admin"], True, False), (["mcp:tools", "admin"], False, True), (["admin"], False, False)],
)
def test_required_scopes(sim, apim, stand_in, required, strict, allowed):
    apim.deployed_oauth2_api(stand_in, target=stand_in + "/echo", checkRequiredScopes=True, requiredScopes=required, modeStrict=strict)
    response = post_mcp(sim, headers=bearer("good"))
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="gravitee.io"'


def test_v1_resource_uses_check_token_which_am_4_lacks(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in, resource=am_resource(stand_in, version="V1_X"))
    response = post_mcp(sim, headers=bearer("good"))
    assert response.status_code == 503 and response.json()["message"] == "Temporarily Unavailable"
    assert any(r["path"] == "/mcp/oauth/check_token" for r in StandIn.received)


def test_unreachable_authorization_server_is_a_503(sim, apim):
    apim.deployed_oauth2_api("http://127.0.0.1:9")
    assert post_mcp(sim, headers=bearer("good")).status_code == 503


def test_keyless_and_oauth2_together_let_anonymous_requests_through(sim, apim, stand_in):
    apim.deployed_oauth2_api(stand_in, keyless=True, target=stand_in + "/echo")
    assert post_mcp(sim).status_code == 200  # served by the keyless plan: no challenge at all
    assert post_mcp(sim, headers=bearer("good")).status_code == 200
    assert post_mcp(sim, headers=bearer("expired")).status_code == 401  # credentials never fall back to keyless


# --- through to the real upstream MCP server -------------------------------------------------------


def test_keyless_api_proxies_the_mcp_server_with_its_session(sim, apim):
    apim.deployed_keyless_api()
    initialized = post_mcp(sim)
    assert initialized.status_code == 200 and "simulated-upstream-mcp" in initialized.text
    session = {"Mcp-Session-Id": initialized.headers["Mcp-Session-Id"], "MCP-Protocol-Version": "2025-06-18"}
    url = sim.urls["apim_gateway"] + "/weather-mcp"
    notified = requests.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers={**MCP_ACCEPT, **session}, timeout=10)
    assert notified.status_code == 202
    tools = requests.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers={**MCP_ACCEPT, **session}, timeout=10)
    assert tools.status_code == 200 and '"get_weather"' in tools.text
    closed = requests.delete(url, headers={**MCP_ACCEPT, **session}, timeout=10)
    assert closed.status_code == 200
