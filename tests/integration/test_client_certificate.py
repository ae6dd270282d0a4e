"""Mutual TLS and proxies, through real module runs.

The simulator's management APIs are put behind a TLS front on loopback that requires a client certificate signed by
a test CA (trustme; Python's ssl with ``verify_mode = CERT_REQUIRED``), as a company's reverse proxy or a Gravitee
configured for mutual TLS would. A module succeeds with the certificate (as options, as the GRAVITEE_*_CLIENT_CERT /
_KEY variables, or through the role's variables) and fails without it with a message that names the option to set.
Then the same call through ``HTTPS_PROXY``: a proxy on loopback records the ``CONNECT``, TLS and the client
certificate stay end to end, and ``NO_PROXY`` sends the request around the proxy.
"""

from __future__ import annotations

import ssl

import pytest
import trustme

from tests.integration.ansible_run import run_tasks
from tests.integration.recording_proxy import RecordingProxy
from tests.integration.role_support import failures, run_role
from tests.loopback_http import BackgroundServer
from tests.unit.loopback_proxy import LoopbackProxy
from tests.unit.scripted_server import TlsHTTPServer

SIMULATOR_PROFILES = ("4.12",)


class MutualTlsFront(BackgroundServer):
    """A TLS front (requiring a client certificate) that passes each request on to ``upstream`` over plain HTTP."""

    scheme, host = "https", "localhost"

    def __init__(self, upstream: str, context: ssl.SSLContext):
        plain = RecordingProxy(upstream)
        plain.server.server_close()
        self.serve(TlsHTTPServer(("127.0.0.1", 0), plain.server.RequestHandlerClass))
        self.server.tls_context = context


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mtls")
    ca = trustme.CA()
    client = ca.issue_cert("ansible@example.com")
    paths = {name: str(folder / name) for name in ("ca.pem", "client.pem", "client.key")}
    ca.cert_pem.write_to_path(paths["ca.pem"])
    client.cert_chain_pems[0].write_to_path(paths["client.pem"])
    client.private_key_pem.write_to_path(paths["client.key"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    paths["context"] = context
    return paths


@pytest.fixture
def fronts(sim, pki):
    with MutualTlsFront(sim.urls["apim"], pki["context"]) as apim, MutualTlsFront(sim.urls["am"], pki["context"]) as am:
        yield {"GRAVITEE_APIM_URL": apim.url, "GRAVITEE_AM_URL": am.url, "GRAVITEE_CA_PATH": pki["ca.pem"]}


def test_a_module_gets_through_mutual_tls_with_the_certificate_and_says_what_to_set_without(sim, pki, fronts):
    certificate = {"client_cert": pki["client.pem"], "client_key": pki["client.key"]}
    tasks = [
        {"name": "apim with the options", "mcpgate.gravitee.apim_info": certificate},
        {"name": "am from the environment", "mcpgate.gravitee.am_info": {"domain": "mcp"},
         "environment": {"GRAVITEE_AM_CLIENT_CERT": pki["client.pem"], "GRAVITEE_AM_CLIENT_KEY": pki["client.key"]}},
        {"name": "apim without", "mcpgate.gravitee.apim_info": {"retries": 0}, "ignore_errors": True},
        {"name": "am without", "mcpgate.gravitee.am_info": {"domain": "mcp", "retries": 0}, "ignore_errors": True},
    ]
    run = run_tasks(sim, tasks, extra_env=fronts, verbosity=3)
    by_name = {r.task: r for r in run.results}
    assert by_name["apim with the options"].status == "ok", by_name["apim with the options"].msg
    assert by_name["apim with the options"].result["mcp_proxy_entrypoint"] is not None
    assert by_name["am from the environment"].status == "ok", by_name["am from the environment"].msg
    assert by_name["am from the environment"].result["domain"]["hrid"] == "mcp"
    for name in ("apim without", "am without"):
        result = by_name[name]
        assert result.failed, name
        assert "client certificate" in result.msg and "client_cert" in result.msg, result.msg
        assert "Traceback" not in result.msg
    # The key's path may be shown (it is an option); the key itself never is.
    key_pem = open(pki["client.key"]).read().splitlines()[1]
    assert key_pem not in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_the_role_secures_the_mcp_server_through_mutual_tls_with_its_certificate_variables(sim, pki, fronts):
    run = run_role(sim, extra_env=fronts, secure_mcp_apim_client_cert=pki["client.pem"],
                   secure_mcp_apim_client_key=pki["client.key"], secure_mcp_am_client_cert=pki["client.pem"],
                   secure_mcp_am_client_key=pki["client.key"])
    assert run.rc == 0, failures(run)
    assert sim.writes("apim") and sim.writes("am")  # the role's writes went through the fronts


def test_https_proxy_is_used_with_connect_and_no_proxy_is_honoured(sim, pki, fronts):
    certificate = {"client_cert": pki["client.pem"], "client_key": pki["client.key"]}
    apim_front = fronts["GRAVITEE_APIM_URL"].split("//", 1)[1]
    # Each variable in both cases: Python reads the lower-case one first, and an empty one removes the other.
    only = {name: "" for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    proxy_env = {**fronts, **only}
    with LoopbackProxy() as proxy:
        through = run_tasks(sim, [{"name": "through the proxy", "mcpgate.gravitee.apim_info": certificate}],
                            extra_env={**proxy_env, "HTTPS_PROXY": proxy.url, "https_proxy": proxy.url,
                                       "NO_PROXY": "", "no_proxy": ""})
        tunnels = list(proxy.request_lines)
        around = run_tasks(sim, [{"name": "around the proxy", "mcpgate.gravitee.apim_info": certificate}],
                           extra_env={**proxy_env, "HTTPS_PROXY": proxy.url, "https_proxy": proxy.url,
                                      "NO_PROXY": "example.com,localhost", "no_proxy": "example.com,localhost"})
        after = list(proxy.request_lines)
    assert through.rc == 0 and around.rc == 0, [r.msg for r in through.results + around.results]
    # TLS (client certificate included) went end to end through a CONNECT tunnel; with NO_PROXY, nothing did.
    assert tunnels and set(tunnels) == {f"CONNECT {apim_front}"}, tunnels
    assert after == tunnels
