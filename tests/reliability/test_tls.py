"""TLS: the five servers of the simulator served over HTTPS with a test CA (trustme).

* verification is on by default: without the CA, a module fails with a message that says how to fix it (ca_path);
* ca_path (the option, GRAVITEE_CA_PATH, secure_mcp_ca_path) makes it pass;
* validate_certs: false works and warns;
* the whole role runs over HTTPS, and a real MCP client gets in: the APIM gateway introspects tokens with the AM
  gateway over HTTPS and proxies to the MCP server over HTTPS (the simulator process trusts the test CA through
  SSL_CERT_FILE, as a real gateway would through its trust store).
"""

from __future__ import annotations

import os
import ssl

import pytest
import trustme

from tests.integration.ansible_run import run_tasks
from tests.integration.role_support import failures, run_role
from tests.simulator.harness import start_simulator
from tests.simulator.mcp_client import run_mcp_client


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    server_cert.private_key_pem.write_to_path(str(key_file))
    server_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in server_cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca_file)  # the simulator process (gateways) trusts the test CA
    try:
        simulator = start_simulator("4.12", ["--tls-cert", str(cert_file), "--tls-key", str(key_file)])
    finally:
        if previous is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = previous
    simulator.ca_file = str(ca_file)
    yield simulator
    simulator.stop()


def test_verification_fails_with_a_fix_ca_path_passes_and_validate_certs_false_warns(tls_sim, record):
    record.update(category="tls")
    assert all(url.startswith("https://") for url in tls_sim.urls.values())
    ca = tls_sim.ca_file
    probe = {"url": tls_sim.urls["mcp"] + "/mcp", "expect": "open"}
    tasks = [
        {"name": "apim default", "mcpgate.gravitee.apim_info": {}, "ignore_errors": True},
        {"name": "am default", "mcpgate.gravitee.am_info": {"domain": "mcp"}, "ignore_errors": True},
        {"name": "probe default", "mcpgate.gravitee.mcp_probe": probe, "ignore_errors": True},
        {"name": "apim ca_path", "mcpgate.gravitee.apim_info": {"ca_path": ca}},
        {"name": "am env", "mcpgate.gravitee.am_info": {"domain": "mcp"}, "environment": {"GRAVITEE_CA_PATH": ca}},
        {"name": "probe ca_path", "mcpgate.gravitee.mcp_probe": dict(probe, ca_path=ca)},
        {"name": "apim insecure", "mcpgate.gravitee.apim_info": {"validate_certs": False}},
        {"name": "am insecure", "mcpgate.gravitee.am_info": {"domain": "mcp", "validate_certs": False}},
    ]
    run = run_tasks(tls_sim, tasks)
    by_name = {r.task: r for r in run.results}
    for name in ("apim default", "am default", "probe default"):
        assert by_name[name].failed, name
        assert "ca_path" in by_name[name].msg and "certificate" in by_name[name].msg.lower(), by_name[name].msg
    for name in ("apim ca_path", "am env", "probe ca_path", "apim insecure", "am insecure"):
        assert by_name[name].status == "ok", (name, by_name[name].msg)
    for name in ("apim insecure", "am insecure"):
        assert any("validate_certs: false" in w for w in by_name[name].result.get("warnings", [])), by_name[name].result
    assert "Traceback" not in run.stdout + run.stderr
    record["cases"] = len(tasks)


def test_the_role_over_https_with_the_test_ca_and_a_client_gets_in(tls_sim, record):
    record.update(category="tls")
    run = run_role(tls_sim, secure_mcp_ca_path=tls_sim.ca_file)
    assert run.rc == 0, failures(run)
    outcome = run_mcp_client(tls_sim.urls["apim_gateway"] + "/weather-mcp", "demo", "demo-password", verify=ssl.create_default_context(cafile=tls_sim.ca_file))
    assert {"echo", "add"} <= set(outcome["tools"])
    record["cases"] = 1
