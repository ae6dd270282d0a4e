"""GraviteeClient: retries, backoff, TLS, error bodies, authentication."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from ansible_collections.mcpgate.gravitee.plugins.module_utils.client import GraviteeClient, GraviteeError
from tests.unit.loopback_proxy import LoopbackProxy
from tests.unit.scripted_server import DROP, Answer, ScriptedServer


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        yield scripted


def make_client(url, warnings=None, **kwargs):
    kwargs.setdefault("backoff_factor", 0)
    kwargs.setdefault("username", "admin")
    kwargs.setdefault("password", "admin-password")
    return GraviteeClient(url, on_retry=(warnings.append if warnings is not None else None), **kwargs)


# -- retries ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_get_is_retried_on_transient_status_and_succeeds(server, status):
    server.script = [Answer(status), Answer(status), Answer(200, {"id": "a"})]
    warnings = []
    assert make_client(server.url, warnings).get("/x") == {"id": "a"}
    assert len(server.received) == 3
    assert len(warnings) == 2 and f"HTTP {status}" in warnings[0]


@pytest.mark.parametrize("status", [400, 404, 409, 500])
def test_other_statuses_are_not_retried(server, status):
    server.script = [Answer(status, {"message": "nope"})]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).get("/x")
    assert caught.value.status == status
    assert len(server.received) == 1


def test_retries_stop_after_the_configured_count(server):
    server.default = Answer(503, {"message": "busy"})
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url, retries=2).put("/x", {"a": 1})
    assert caught.value.status == 503
    assert len(server.received) == 3  # the request and two retries


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_idempotent_writes_are_retried(server, method):
    server.script = [Answer(503), Answer(200, {"ok": True})]
    make_client(server.url).request(method, "/x", json_body={"a": 1} if method != "DELETE" else None)
    assert [r.method for r in server.received] == [method, method]


def test_post_is_not_retried_on_a_status(server):
    server.script = [Answer(503), Answer(201, {"id": "created-twice"})]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).post("/apis", {"name": "a"})
    assert caught.value.status == 503
    assert len(server.received) == 1


def test_post_is_not_retried_when_the_connection_drops_after_sending(server):
    server.script = [DROP, Answer(201, {"id": "created-twice"})]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).post("/apis", {"name": "a"})
    assert len(server.received) == 1
    assert "may have been applied" in str(caught.value)


def test_put_is_retried_when_the_connection_drops(server):
    server.script = [DROP, Answer(200, {"id": "a"})]
    assert make_client(server.url).put("/apis/a", {"name": "a"}) == {"id": "a"}
    assert len(server.received) == 2


def test_post_is_retried_when_the_connection_failed_before_sending():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: every attempt is refused before the request is sent
    warnings = []
    with pytest.raises(GraviteeError) as caught:
        make_client(f"http://127.0.0.1:{port}", warnings, retries=2).post("/apis", {"name": "a"})
    assert len(warnings) == 2
    assert "could not connect" in str(caught.value)


def test_backoff_grows_exponentially(server):
    server.default = Answer(503)
    started = time.monotonic()
    with pytest.raises(GraviteeError):
        make_client(server.url, retries=3, backoff_factor=0.1).get("/x")
    elapsed = time.monotonic() - started
    # urllib3 sleeps 0, 0.2, 0.4 s between the four attempts.
    assert 0.55 <= elapsed < 3
    assert len(server.received) == 4


def test_retry_after_header_is_respected(server):
    server.script = [Answer(429, headers={"Retry-After": "1"}), Answer(200, {})]
    started = time.monotonic()
    make_client(server.url).get("/x")
    assert time.monotonic() - started >= 0.9


def test_headers_of_the_last_answer_are_kept(server):
    # apim_api/apim_resource send the ETag of a GET back in If-Match on the PUT that follows.
    server.script = [Answer(200, {"id": "a"}, headers={"ETag": '"1700000000000"'})]
    client = make_client(server.url)
    client.get("/x")
    assert client.last_headers["ETag"] == '"1700000000000"'


# -- TLS -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def tls_server(ca):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    with ScriptedServer(tls_context=context) as scripted:
        scripted.default = Answer(200, {"secure": True})
        yield scripted


def test_tls_is_verified_by_default_and_says_how_to_fix(tls_server):
    with pytest.raises(GraviteeError) as caught:
        make_client(tls_server.url, retries=0).get("/x")
    assert "TLS verification failed" in str(caught.value)
    assert "ca_path" in str(caught.value)


def test_ca_path_makes_verification_pass(tls_server, ca, tmp_path):
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert make_client(tls_server.url, ca_path=str(bundle)).get("/x") == {"secure": True}


def test_validate_certs_false_skips_verification(tls_server):
    assert make_client(tls_server.url, validate_certs=False).get("/x") == {"secure": True}


# -- mutual TLS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mtls_files(ca, tmp_path_factory):
    """The CA, a client certificate it signed (key apart, and both in one file), and one from another CA."""
    folder = tmp_path_factory.mktemp("mtls")
    client = ca.issue_cert("mcpgate-client@example.com")
    stranger = trustme.CA().issue_cert("stranger@example.com")
    files = {name: folder / name for name in ("ca.pem", "client.pem", "client.key", "client-and-key.pem",
                                              "stranger.pem", "stranger.key", "encrypted.key")}
    ca.cert_pem.write_to_path(str(files["ca.pem"]))
    client.cert_chain_pems[0].write_to_path(str(files["client.pem"]))
    client.private_key_pem.write_to_path(str(files["client.key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client-and-key.pem"]))
    stranger.cert_chain_pems[0].write_to_path(str(files["stranger.pem"]))
    stranger.private_key_pem.write_to_path(str(files["stranger.key"]))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    files["encrypted.key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"passphrase")
    ))
    return {name: str(path) for name, path in files.items()}


@pytest.fixture(params=["TLSv1_3", "TLSv1_2"])
def mtls_server(ca, request):
    """A TLS server that requires a client certificate signed by the test CA (verify_mode CERT_REQUIRED).

    TLS 1.2 refuses a missing or unknown certificate in the handshake, TLS 1.3 after it: both are tried.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    context.maximum_version = getattr(ssl.TLSVersion, request.param)
    with ScriptedServer(tls_context=context) as scripted:
        scripted.default = Answer(200, {"mutual": True})
        yield scripted


def test_a_client_certificate_and_its_key_get_through_mutual_tls(mtls_server, mtls_files):
    client = make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], client_cert=mtls_files["client.pem"],
                         client_key=mtls_files["client.key"])
    assert client.get("/x") == {"mutual": True}
    assert client.cert == (mtls_files["client.pem"], mtls_files["client.key"])


def test_a_file_holding_certificate_and_key_is_enough(mtls_server, mtls_files):
    client = make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], client_cert=mtls_files["client-and-key.pem"])
    assert client.get("/x") == {"mutual": True}


def test_without_a_client_certificate_the_error_says_which_option_to_set(mtls_server, mtls_files):
    with pytest.raises(GraviteeError) as caught:
        make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], retries=0).get("/x")
    message = str(caught.value)
    assert "client certificate" in message and "client_cert" in message, message
    assert "ca_path" not in message  # not the server-verification advice
    assert mtls_server.received == []


def test_a_server_that_closes_the_handshake_without_a_word_gets_a_hedged_hint():
    listener = socket.create_server(("127.0.0.1", 0))

    def read_the_hello_and_close():
        connection, dummy_address = listener.accept()
        connection.recv(4096)
        connection.close()

    thread = threading.Thread(target=read_the_hello_and_close, daemon=True)
    thread.start()
    try:
        with pytest.raises(GraviteeError) as caught:
            make_client(f"https://localhost:{listener.getsockname()[1]}", retries=0).get("/x")
    finally:
        thread.join(5)
        listener.close()
    message = str(caught.value)
    assert "closed the connection during the TLS handshake" in message and "client_cert" in message, message


def test_a_certificate_from_another_ca_is_reported_as_refused(mtls_server, mtls_files):
    with pytest.raises(GraviteeError) as caught:
        make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], client_cert=mtls_files["stranger.pem"],
                    client_key=mtls_files["stranger.key"], retries=0).get("/x")
    # TLS 1.2 gets the server's alert; over TLS 1.3 a Python server's refusal often arrives as a bare end of connection.
    message = str(caught.value)
    assert "refused the TLS client certificate" in message or "closed the connection during the TLS handshake" in message
    assert "check that client_cert is signed by a CA" in message, message


def test_a_key_that_is_not_the_certificates_is_reported(mtls_server, mtls_files):
    with pytest.raises(GraviteeError) as caught:
        make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], client_cert=mtls_files["client.pem"],
                    client_key=mtls_files["stranger.key"], retries=0).get("/x")
    assert "client_key must be the private key of client_cert" in str(caught.value), str(caught.value)


def test_an_encrypted_key_is_refused_before_any_connection(mtls_files):
    with pytest.raises(GraviteeError) as caught:
        make_client("https://localhost:9", client_cert=mtls_files["client.pem"], client_key=mtls_files["encrypted.key"])
    assert "is encrypted" in str(caught.value) and "openssl pkey" in str(caught.value)
    assert "passphrase cannot be given" in str(caught.value)


def test_a_missing_certificate_file_is_reported_with_the_options(mtls_server, mtls_files, tmp_path):
    with pytest.raises(GraviteeError) as caught:
        make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], client_cert=str(tmp_path / "absent.pem"),
                    client_key=mtls_files["client.key"]).get("/x")
    assert "absent.pem" in str(caught.value) and "client_cert" in str(caught.value)


def test_a_missing_ca_bundle_is_reported_with_its_option(tls_server, tmp_path):
    with pytest.raises(GraviteeError) as caught:
        make_client(tls_server.url, ca_path=str(tmp_path / "absent-ca.pem")).get("/x")
    assert "absent-ca.pem" in str(caught.value) and "check ca_path" in str(caught.value), str(caught.value)


def test_a_key_without_its_certificate_is_refused():
    with pytest.raises(GraviteeError) as caught:
        make_client("https://localhost:9", client_key="/c.key")
    assert "client_key is set without client_cert" in str(caught.value)


# -- proxies from the environment ------------------------------------------------------------------
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with LoopbackProxy() as running:
        yield running


def test_http_proxy_is_used_for_http_urls(server, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert make_client(server.url).get("/management/v2/x") == {}
    assert proxy.request_lines == [f"GET {server.url}/management/v2/x"]  # the absolute URI: it went through
    assert len(server.received) == 1


def test_https_proxy_tunnels_with_connect_and_mutual_tls_stays_end_to_end(mtls_server, mtls_files, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    client = make_client(mtls_server.url, ca_path=mtls_files["ca.pem"], client_cert=mtls_files["client.pem"],
                         client_key=mtls_files["client.key"])
    assert client.get("/x") == {"mutual": True}
    assert proxy.request_lines == ["CONNECT " + mtls_server.url.split("//", 1)[1]]


def test_no_proxy_is_honoured(server, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    assert make_client(server.url).get("/x") == {}
    assert proxy.request_lines == []
    assert len(server.received) == 1


def test_an_unreachable_proxy_is_named_in_the_error(server, proxy, monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url, retries=0).get("/x")
    assert "proxy" in str(caught.value) and "NO_PROXY" in str(caught.value), str(caught.value)


# -- error bodies ----------------------------------------------------------------------------------
def test_apim_error_body(server):
    server.script = [
        Answer(
            400,
            {
                "httpStatus": 400,
                "message": "Path [/weather] already exists",
                "technicalCode": "api.listener.paths.path.exists",
                "parameters": {"path": "/weather"},
                "details": [{"message": "must not be blank", "location": "createApi.name", "invalidValue": ""}],
            },
        )
    ]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).post("/management/v2/environments/DEFAULT/apis", {})
    error = caught.value
    assert (error.status, error.code) == (400, "api.listener.paths.path.exists")
    assert str(error) == (
        "POST " + server.url + "/management/v2/environments/DEFAULT/apis returned HTTP 400: "
        "Path [/weather] already exists [api.listener.paths.path.exists] (createApi.name: must not be blank)"
    )


def test_am_error_body(server):
    server.script = [Answer(400, {"message": "Resource identifier already exists", "http_status": 400})]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).post("/management/x", {})
    assert caught.value.status == 400
    assert caught.value.code is None
    assert str(caught.value).endswith("returned HTTP 400: Resource identifier already exists")


def test_bare_401_says_to_check_credentials(server):
    server.script = [Answer(401)]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).get("/x")
    assert "HTTP 401: Unauthorized" in str(caught.value)
    assert "Check the credentials" in str(caught.value)


def test_403_says_a_permission_is_missing(server):
    server.script = [Answer(403, {"httpStatus": 403, "message": "You do not have sufficient rights", "technicalCode": "forbidden"})]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url).get("/x")
    assert "[forbidden]" in str(caught.value) and "lack the permission" in str(caught.value)


def test_no_secret_in_errors(server):
    server.script = [Answer(401)]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url.replace("//", "//admin:url-password@"), password="very-secret-pw").get("/x")
    assert "very-secret-pw" not in str(caught.value)
    assert "url-password" not in str(caught.value)


# -- authentication --------------------------------------------------------------------------------
def test_basic_auth(server):
    make_client(server.url, username="admin", password="pw").get("/x")
    expected = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert server.received[0].headers["Authorization"] == expected


def test_bearer_token_takes_precedence(server):
    make_client(server.url, username="admin", password="pw", token="pat-123").get("/x")
    assert server.received[0].headers["Authorization"] == "Bearer pat-123"


def test_am_basic_credentials_are_exchanged_once_for_a_bearer_token(server):
    server.script = [Answer(200, {"access_token": "jwt.abc.def", "token_type": "bearer"})]
    client = make_client(server.url, username="admin", password="adminadmin", token_exchange_path="/management/auth/token")
    client.get("/management/a")
    client.get("/management/b")
    exchange, first, second = server.received
    assert (exchange.method, exchange.path) == ("POST", "/management/auth/token")
    assert exchange.headers["Authorization"] == "Basic " + base64.b64encode(b"admin:adminadmin").decode()
    assert first.headers["Authorization"] == second.headers["Authorization"] == "Bearer jwt.abc.def"


def test_am_expired_token_is_exchanged_again_once_not_forever(server):
    server.script = [
        Answer(200, {"access_token": "old"}),
        Answer(401, {"message": "expired", "http_status": 401}),
        Answer(200, {"access_token": "new"}),
        Answer(401, {"message": "still refused", "http_status": 401}),
        Answer(200, {"never": "reached"}),
    ]
    client = make_client(server.url, token_exchange_path="/management/auth/token")
    with pytest.raises(GraviteeError) as caught:
        client.get("/management/a")
    assert caught.value.status == 401
    assert [r.path for r in server.received] == ["/management/auth/token", "/management/a"] * 2


def test_am_wrong_credentials_fail_at_the_exchange(server):
    server.script = [Answer(401)]
    with pytest.raises(GraviteeError) as caught:
        make_client(server.url, token_exchange_path="/management/auth/token").get("/management/a")
    assert "POST" in str(caught.value) and "/management/auth/token returned HTTP 401" in str(caught.value)
    assert len(server.received) == 1
