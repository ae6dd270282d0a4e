"""The launcher's own machinery, which runs on any machine: the throw-away PostgreSQL cluster (separate databases,
password login on loopback, removed on stop), the stop on Ctrl-C, the bounded wait that prints the log's tail,
and the MCP test server started on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.real import postgres
from tests.real.processes import ProcessGroup, StartFailed, free_port, port_open, wait_until
from tests.simulator.harness import REPO_ROOT


def test_postgres_cluster_has_one_database_per_product_and_is_gone_after_stop():
    group = ProcessGroup()
    with group:
        pg = postgres.start(group)
        assert port_open(pg.port)
        databases = pg.psql("SELECT datname FROM pg_database WHERE datname IN ('am', 'apim') ORDER BY 1").split()
        assert databases == ["am", "apim"]
        owners = pg.psql("SELECT DISTINCT pg_get_userbyid(datdba) FROM pg_database WHERE datname IN ('am', 'apim')")
        assert owners == postgres.DB_USER
        # The servers log in over TCP with a password, as their JDBC/R2DBC drivers do.
        login = subprocess.run([str(postgres.PG_BIN / "psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(pg.port),
                                "-U", postgres.DB_USER, "-d", "apim", "-c", "SELECT current_user"],
                               env={**os.environ, "PGPASSWORD": postgres.DB_PASSWORD}, capture_output=True, text=True, timeout=30,
                               check=False)
        assert login.stdout.strip() == postgres.DB_USER, login.stderr
        root, port = pg.root, pg.port
    assert not port_open(port) and not root.exists()


def test_a_bad_start_raises_with_the_log_tail_and_leaves_nothing_running():
    clusters = set(Path("/tmp").glob("mcpgate-real-pg-*"))  # the session's own cluster may be running
    group = ProcessGroup()
    with group:
        with pytest.raises(StartFailed) as failed:
            postgres.start(group, extra_options=["-c no_such_setting=1"])
    assert "no_such_setting" in str(failed.value)
    assert set(Path("/tmp").glob("mcpgate-real-pg-*")) == clusters  # its folder is gone, so nothing can run from it


def test_ctrl_c_stops_every_process_the_launcher_started(tmp_path):
    state = tmp_path / "state.json"
    launcher = subprocess.Popen([sys.executable, "-m", "tests.real.servers", "--only", "postgres", "--state", str(state)],
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        lines.append(line)
        if line.strip() == "ready" or not line:
            break
    assert lines[-1].strip() == "ready", "".join(lines)
    port = int(lines[0].split("127.0.0.1:")[1].split()[0])
    assert port_open(port) and state.is_file()
    launcher.send_signal(signal.SIGINT)
    launcher.wait(timeout=90)
    assert not port_open(port) and not state.exists()


def test_wait_until_is_bounded_and_shows_the_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("line 1\nthe reason it failed\n")
    started = time.monotonic()
    with pytest.raises(StartFailed, match="the reason it failed"):
        wait_until(lambda: False, 1.5, "a server that never answers", log=log, interval=0.2)
    assert time.monotonic() - started < 5


def test_mcp_test_server_runs_on_its_own():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.real.mcp_upstream", "--port", str(port)], cwd=REPO_ROOT)
    try:
        wait_until(lambda: port_open(port), 30, "MCP test server", process)
        answer = requests.post(f"http://127.0.0.1:{port}/mcp", timeout=10, headers={
            "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        assert answer.status_code == 200 and "serverInfo" in answer.text
    finally:
        process.terminate()
        process.wait(timeout=10)
