"""module_utils/mcp.py without a network: waiting, failing fast, DCR and token answers, secrets."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest

from ansible_collections.mcpgate.gravitee.plugins.module_utils import mcp
from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeError

URL = "https://gw.example.com/weather-mcp"
AS = "https://am.example.com/mcp/oidc"
METADATA_URL = "https://gw.example.com/.well-known/oauth-protected-resource/weather-mcp"
DISCOVERY_URL = AS + "/.well-known/openid-configuration"
REGISTER = "https://am.example.com/mcp/oidc/register"
TOKEN = "https://am.example.com/mcp/oauth/token"


class Response:
    def __init__(self, status, body=None, headers=None, text=None):
        self.status_code = status
        self.headers = dict(headers or {})
        if body is not None and text is None:
            text = json.dumps(body)
            self.headers.setdefault("Content-Type", "application/json")
        self.text = text or ""
        self.reason = "reason"

    def json(self):
        return json.loads(self.text)


def rpc(result, session="s1"):
    return Response(200, {"jsonrpc": "2.0", "id": 1, "result": result}, {"Mcp-Session-Id": session})


CHALLENGE = Response(401, {"message": "Unauthorized"}, {"WWW-Authenticate": f'Bearer resource_metadata="{METADATA_URL}" scope="mcp:tools"'})
DISCOVERY = Response(200, {"issuer": AS, "authorization_endpoint": "a", "token_endpoint": TOKEN, "registration_endpoint": REGISTER})
METADATA = Response(200, {"resource": URL, "authorization_servers": [AS]})


class Client:
    """Answers ``raw`` from a routing function; keeps every request."""

    def __init__(self, route):
        self.route = route
        self.sent = []

    def raw(self, method, url, headers=None, data=None):
        self.sent.append((method, url, headers or {}, data))
        answer = self.route(method, url, headers or {}, data)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def prober(route, wait=0, warnings=None, hidden=None):
    clock = Clock()
    client = Client(route)
    probe = mcp.McpProbe(client, URL)
    return mcp.Prober(probe, wait=wait, warn=(warnings.append if warnings is not None else None),
                      hide=(hidden.add if hidden is not None else None), clock=clock, sleep=clock.sleep), client, clock


def protected_route(overrides=None):
    """A protected endpoint and AM; ``overrides[(method, url)]`` replaces an answer (a list is served in order, then
    the usual answers); ``("initialize", URL)`` replaces the answers to initialize."""
    overrides = overrides or {}

    def route(method, url, headers, data):
        key = (method, url)
        if method == "POST" and url == URL:  # only initialize is overridden on the MCP endpoint
            key = ("initialize", URL) if json.loads(data).get("method") == "initialize" else None
        answer = overrides.get(key)
        if isinstance(answer, list):
            answer = answer.pop(0) if answer else None
        if answer is not None:
            return answer
        if method == "POST" and url == URL:
            message = json.loads(data)
            if "Authorization" not in headers:
                return CHALLENGE
            if message.get("method") == "initialize":
                return rpc({"serverInfo": {"name": "weather"}})
            if message.get("method") == "tools/list":
                return rpc({"tools": [{"name": "forecast"}]})
            return Response(202, text="")
        if method == "DELETE" and url == URL:
            return Response(200, text="")
        if url == METADATA_URL:
            return METADATA
        if url == DISCOVERY_URL:
            return DISCOVERY
        return Response(404, text="Not Found")

    return route


# --- waiting and failing fast ----------------------------------------------------------------------------
def test_protected_endpoint_found_at_once():
    run, dummy_client, clock = prober(protected_route(), wait=30)
    result, problem = run.until_expected("protected", upstream_is_fatal=True)
    assert problem is None and run.attempts == 1 and clock.sleeps == []
    assert result["challenge_scopes"] == ["mcp:tools"] and result["token_endpoint"] == TOKEN
    assert result["registration_endpoint"] == REGISTER and result["resource_metadata"]["resource"] == URL


@pytest.mark.parametrize("early", [Response(404, text="No context-path matches the request URI."),
                                   rpc({"serverInfo": {}}),  # the keyless deployment still served
                                   Response(503, {"message": "Temporarily Unavailable"})])
def test_probed_again_until_the_expected_state(early):
    run, dummy_client, clock = prober(protected_route({("initialize", URL): [early, early]}), wait=30)
    result, problem = run.until_expected("protected", upstream_is_fatal=True)
    assert problem is None and run.attempts == 3 and result["protected"]
    assert clock.sleeps == [1.0, 1.0]


def test_the_wait_ends_with_the_last_problem():
    run, dummy_client, clock = prober(lambda *a: Response(404, text="No context-path"), wait=2.5)
    result, problem = run.until_expected("protected", upstream_is_fatal=True)
    assert "HTTP 404" in problem and problem.endswith(".") and result["status"] == 404
    assert run.attempts == 4 and clock.now == 2.5  # at 0, 1, 2 and 2.5 seconds, never past the wait


@pytest.mark.parametrize("status, said", [(502, "Bad Gateway"), (504, "Gateway Timeout")])
def test_upstream_failure_is_final(status, said):
    run, dummy_client, clock = prober(lambda *a: Response(status, {"message": said, "http_status_code": status}), wait=60)
    with pytest.raises(mcp.ProbeFailure) as caught:
        run.until_expected("open", upstream_is_fatal=True)
    message = str(caught.value)
    assert run.attempts == 1 and clock.sleeps == []
    assert f"HTTP {status}" in message and said in message and mcp.UPSTREAM_OPTION in message
    assert "unreachable from the gateway" in message and message.endswith(".")


def test_upstream_failure_without_expectation_is_only_reported():
    run, dummy_client, dummy_clock = prober(lambda *a: Response(502, text="Bad Gateway"), wait=60)
    result, problem = run.until_expected(None, upstream_is_fatal=False)
    assert problem is None and result["status"] == 502


def test_an_open_endpoint_whose_tools_cannot_be_listed_is_probed_again():
    answers = [rpc({"serverInfo": {}}), Response(401, text="Unauthorized"), rpc({"serverInfo": {}}),
               rpc({"tools": [{"name": "echo"}]})]

    def route(method, url, headers, data):
        if method == "POST":
            return answers.pop(0) if json.loads(data).get("id") else Response(202, text="")
        return Response(200, text="")

    run, dummy_client, dummy_clock = prober(route, wait=10)
    result, problem = run.until_expected("open", upstream_is_fatal=True)
    assert problem is None and result["tools"] == ["echo"] and run.attempts == 2


# --- Dynamic Client Registration ---------------------------------------------------------------------------
def test_registration_asks_for_a_service_client_and_hides_its_secrets():
    registered = {"client_id": "c1", "client_secret": "s3cret", "registration_access_token": "rat",
                  "registration_client_uri": REGISTER + "/c1"}
    hidden = set()
    run, client, dummy_clock = prober(protected_route({("POST", REGISTER): Response(201, registered)}), hidden=hidden)
    assert run.register_client(REGISTER, ["mcp:tools"]) == registered
    body = json.loads(client.sent[-1][3])
    assert body["grant_types"] == ["client_credentials"] and body["response_types"] == [] and body["redirect_uris"] == []
    assert body["token_endpoint_auth_method"] == "client_secret_basic" and body["scope"] == "mcp:tools"
    assert hidden == {"s3cret", "rat"}


@pytest.mark.parametrize("answer, reason", [
    (Response(403, {"error": "registration_forbidden", "error_description": "Not allowed to access to this resource."}),
     "Dynamic Client Registration is disabled in the AM domain (AM answered HTTP 403 registration_forbidden: Not allowed to access to this resource)"),
    (Response(401, {"error": "invalid_token", "error_description": "Missing access token"}),
     "Dynamic Client Registration is not open in the AM domain: AM asks for an access token with the dcr_admin scope "
     "(HTTP 401 invalid_token: Missing access token)"),
])
def test_closed_registration_is_not_verified(answer, reason):
    run, dummy_client, dummy_clock = prober(protected_route({("POST", REGISTER): answer}))
    with pytest.raises(mcp.NotVerified) as caught:
        run.register_client(REGISTER, [])
    assert str(caught.value) == reason


def test_refused_registration_fails_naming_the_scopes():
    answer = Response(400, {"error": "invalid_client_metadata", "error_description": "non valid scopes"})
    run, dummy_client, dummy_clock = prober(protected_route({("POST", REGISTER): answer}))
    with pytest.raises(mcp.ProbeFailure) as caught:
        run.register_client(REGISTER, ["nope"])
    assert "AM refused to register" in str(caught.value) and "option scopes" in str(caught.value)


def test_a_client_registered_without_secret_is_deleted_and_fails():
    registered = {"client_id": "c1", "registration_access_token": "rat", "registration_client_uri": REGISTER + "/c1"}
    run, client, dummy_clock = prober(protected_route({("POST", REGISTER): Response(201, registered),
                                                       ("DELETE", REGISTER + "/c1"): Response(204, text="")}))
    with pytest.raises(mcp.ProbeFailure) as caught:
        run.register_client(REGISTER, [])
    assert "without a client_secret" in str(caught.value) and client.sent[-1][:2] == ("DELETE", REGISTER + "/c1")


def test_delete_uses_the_registration_access_token():
    registered = {"client_id": "c1", "registration_access_token": "rat", "registration_client_uri": REGISTER + "/c1"}
    run, client, dummy_clock = prober(protected_route({("DELETE", REGISTER + "/c1"): Response(204, text="")}))
    assert run.delete_client(registered) is True
    method, url, headers, dummy_data = client.sent[-1]
    assert (method, url, headers["Authorization"]) == ("DELETE", REGISTER + "/c1", "Bearer rat")


@pytest.mark.parametrize("answer", [Response(403, {"error": "registration_forbidden", "error_description": "Not allowed"}),
                                    GraviteeError("could not connect", method="DELETE", url=REGISTER + "/c1")])
def test_a_failed_delete_warns_with_the_client_id_only(answer):
    warnings = []
    registered = {"client_id": "c1", "client_secret": "s3cret", "registration_access_token": "rat",
                  "registration_client_uri": REGISTER + "/c1"}
    run, dummy_client, dummy_clock = prober(protected_route({("DELETE", REGISTER + "/c1"): answer}), warnings=warnings)
    assert run.delete_client(registered) is False
    assert len(warnings) == 1 and "delete the application c1 in the AM domain" in warnings[0]
    assert "rat" not in warnings[0].replace("registration", "") and "s3cret" not in warnings[0]


# --- the token ---------------------------------------------------------------------------------------------
def test_token_request_for_the_resource_with_urlencoded_basic_credentials():
    hidden = set()
    answer = Response(200, {"access_token": "at", "token_type": "bearer", "scope": "mcp:tools"})
    run, client, dummy_clock = prober(protected_route({("POST", TOKEN): answer}), hidden=hidden)
    assert run.get_token(TOKEN, "id:1", "p+s/w", URL, ["mcp:tools"], given_credentials=True) == ("at", ["mcp:tools"])
    dummy_method, dummy_url, headers, data = client.sent[-1]
    assert parse_qs(data) == {"grant_type": ["client_credentials"], "resource": [URL], "scope": ["mcp:tools"]}
    assert base64.b64decode(headers["Authorization"][6:]).decode() == "id%3A1:p%2Bs%2Fw"
    assert hidden == {"at"}


@pytest.mark.parametrize("error, hint", [
    ("invalid_target", "resource identifier must be exactly " + URL),
    ("invalid_scope", "option scopes"),
    ("invalid_client", "check client_credentials.client_id and client_secret"),
    ("unauthorized_client", "may not use the client_credentials grant"),
    ("unsupported_grant_type", "may not use the client_credentials grant"),
])
def test_token_refusals_say_am_refused_and_what_to_check(error, hint):
    answer = Response(400 if error != "invalid_client" else 401, {"error": error, "error_description": "nope"})
    run, dummy_client, dummy_clock = prober(protected_route({("POST", TOKEN): answer}))
    with pytest.raises(mcp.ProbeFailure) as caught:
        run.get_token(TOKEN, "id", "secret", URL, ["mcp:tools"], given_credentials=True)
    message = str(caught.value)
    assert message.startswith("AM refused the client_credentials token request") and hint in message
    assert message.endswith(".") and "secret" not in message.replace("client_secret", "")


# --- with the token through the gateway --------------------------------------------------------------------
def test_tools_with_the_token():
    run, client, dummy_clock = prober(protected_route())
    run.start()
    summary = run.call_with_token("at", True, URL)
    assert summary["tools"] == ["forecast"] and summary["status"] == 200 and run.authenticated_status == 200
    assert client.sent[-1][0] == "DELETE"  # the session is closed


@pytest.mark.parametrize("status, expected", [
    (401, "Check that the APIM AM resource holds the client id and secret of the AM MCP server."),
    (503, "Check that the APIM AM resource holds the client id and secret of the AM MCP server and that its serverURL"),
])
def test_the_gateway_refusing_an_am_token_names_the_resource_client(status, expected):
    def route(method, url, headers, data):
        return Response(status, {"message": "Unauthorized" if status == 401 else "Temporarily Unavailable"})

    run, dummy_client, dummy_clock = prober(route)
    run.start()
    with pytest.raises(mcp.ProbeFailure) as caught:
        run.call_with_token("at", True, URL)
    assert expected in str(caught.value)


def test_a_refused_token_is_tried_again_while_waiting():
    answers = [Response(401, {"message": "Unauthorized"}), rpc({"serverInfo": {}})]
    base = protected_route()

    def route(method, url, headers, data):
        if method == "POST" and json.loads(data).get("method") == "initialize":
            return answers.pop(0)
        return base(method, url, headers, data)

    run, dummy_client, clock = prober(route, wait=10)
    run.start()
    assert run.call_with_token("at", True, URL)["tools"] == ["forecast"] and clock.sleeps == [1.0]


def test_upstream_failure_with_the_token_is_final():
    run, dummy_client, clock = prober(lambda *a: Response(502, {"message": "Bad Gateway"}), wait=60)
    run.start()
    with pytest.raises(mcp.ProbeFailure) as caught:
        run.call_with_token("at", True, URL)
    assert "HTTP 502 to an authenticated initialize" in str(caught.value) and clock.sleeps == []


def test_helpers():
    assert mcp.sentence("done") == "done." and mcp.sentence("done.") == "done."
    assert mcp.parse_challenge('Bearer resource_metadata="https://x/y", scope="a b"') == ("https://x/y", "a b")
    assert mcp.oauth_error(Response(400, {"error": "invalid_scope", "error_description": "Invalid scope(s): x."})) == (
        "HTTP 400 invalid_scope: Invalid scope(s): x", "invalid_scope")
    assert mcp.gateway_said(Response(502, text="Bad Gateway\nmore")) == "Bad Gateway"
