"""``make demo`` (tests/demo/run_demo.py), run with this interpreter on free ports: what a person sees.

``make demo`` itself would first (re)create the virtual environment; the script is what it runs.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.demo import run_demo
from tests.simulator.harness import free_ports

DEMO = [sys.executable, "-m", "tests.demo.run_demo", "--free-ports"]


def simulator_urls(output: str) -> list[str]:
    first_line = output.splitlines()[0]
    assert first_line.startswith("Gravitee simulator"), output
    return re.findall(r"http://127\.0\.0\.1:\d+", first_line)


def assert_stopped(urls: list[str]) -> None:
    for url in urls:
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)


def test_the_demo_secures_the_mcp_server_then_lets_a_real_client_in_and_stops_the_simulator():
    proc = subprocess.run(DEMO, cwd=run_demo.REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # The first run makes every change of the guide, the second none.
    assert "✓ changed  OAuth2 plan | Create the OAuth2 plan that uses the AM resource" in out
    assert "✓ ok       Proxy API | Verify that it proxies the MCP server without authentication" in out
    assert "✓ ok       Verification | An MCP client gets the 401 challenge, then a token from AM, then the tools" in out
    assert re.search(r"-> [1-9]\d* changed", out)
    assert re.search(r"✓ nothing to change: 0 changed", out)
    # The challenge, then the whole client flow, then the tool's answer.
    assert re.search(r"✓ 401, WWW-Authenticate: Bearer resource_metadata=\"http://127\.0\.0\.1:\d+/\.well-known/", out)
    for flow_step in ("401 challenge", "resource metadata", "AM discovery", "registration (DCR)", "login (PKCE)", "token"):
        assert f"✓ {flow_step} " in out
    assert "✓ tools: echo, add, get_weather" in out
    assert '✓ get_weather({"city": "Paris"}) -> Paris: sunny, 21°C' in out
    assert out.rstrip().endswith("Simulator stopped.")
    assert "✗" not in out + proc.stderr
    assert_stopped(simulator_urls(out))


def test_ctrl_c_stops_the_simulator():
    proc = subprocess.Popen(DEMO, cwd=run_demo.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = proc.stdout.readline()  # printed once the simulator is ready
        time.sleep(1)  # into the playbook run
        # Ctrl-C, and again every 5 s while the demo runs: on a loaded machine (CI, 2026-12-08) one SIGINT was seen
        # to go unnoticed and the demo ran to its end; a person presses Ctrl-C again. A demo that ignores SIGINT fails.
        out, err = "", ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, first_line + out + err
    assert "interrupted" in err and "Simulator stopped." in out
    assert_stopped(simulator_urls(first_line))


def test_a_busy_fixed_port_fails_clearly_before_starting_anything(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # Free ports for the other servers (a real `make demo` may be running), the busy one for the gateway.
        servers = {
            name: (module, port if name == "apim_gateway" else free, label, base)
            for (name, (module, dummy_port, label, base)), free in zip(
                run_demo.SERVERS.items(), free_ports(len(run_demo.SERVERS))
            )
        }
        monkeypatch.setattr(run_demo, "SERVERS", servers)
        with pytest.raises(run_demo.DemoError, match=rf"port {port} \(APIM gateway\) is in use.*--free-ports"):
            run_demo.Demo("4.12", use_free_ports=False)
