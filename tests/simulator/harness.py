"""Start the simulator as a subprocess on free ports and talk to its admin endpoints (for tests)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.simulator.core import SERVERS, WRITE_METHODS

REPO_ROOT = Path(__file__).resolve().parents[2]
READ_ONLY_POSTS = re.compile(r"/apis/(_search|_verify/paths)$|/management/auth/token$")


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for dummy_index in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


@dataclass
class RunningSimulator:
    """A simulator subprocess; ``urls`` maps server name to its base URL (no trailing slash)."""

    profile: str
    process: subprocess.Popen
    urls: dict[str, str]
    apim_token: str
    output: list[str] = field(default_factory=list)

    @property
    def admin(self) -> str:
        return self.urls["apim"] + "/_sim"

    def reset(self) -> None:
        requests.post(f"{self.admin}/reset", timeout=10).raise_for_status()

    def requests(self, server: str | None = None, writes_only: bool = False) -> list[dict[str, Any]]:
        recorded = requests.get(f"{self.admin}/requests", timeout=10).json()
        return [
            r
            for r in recorded
            if (server is None or r["server"] == server) and (not writes_only or r["method"] in WRITE_METHODS)
        ]

    def writes(self, server: str | None = None) -> list[dict[str, Any]]:
        """Recorded management-API writes (``apim`` and ``am`` unless ``server`` is given).

        POSTs that only read (an API search, a context-path check, AM's token exchange) are not writes.
        """
        servers = (server,) if server else ("apim", "am")
        return [
            r
            for r in self.requests(writes_only=True)
            if r["server"] in servers and not READ_ONLY_POSTS.search(r["path"])
        ]

    def clear_requests(self) -> None:
        requests.delete(f"{self.admin}/requests", timeout=10).raise_for_status()

    def inject(self, **fault: Any) -> dict[str, Any]:
        response = requests.post(f"{self.admin}/faults", json=fault, timeout=10)
        response.raise_for_status()
        return response.json()

    def env(self) -> dict[str, str]:
        """Environment variables the collection's modules fall back to, pointing at this simulator."""
        return {
            "GRAVITEE_APIM_URL": self.urls["apim"],
            "GRAVITEE_APIM_USERNAME": "admin",
            "GRAVITEE_APIM_PASSWORD": "admin",
            "GRAVITEE_AM_URL": self.urls["am"],
            "GRAVITEE_AM_USERNAME": "admin",
            "GRAVITEE_AM_PASSWORD": "adminadmin",
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_simulator(profile: str = "4.12", extra_args: list[str] | None = None, timeout: float = 30) -> RunningSimulator:
    ports = dict(zip(SERVERS, free_ports(len(SERVERS))))
    args = [sys.executable, "-m", "tests.simulator", "--profile", profile]
    for name, port in ports.items():
        args += [f"--{name.replace('_', '-')}-port", str(port)]
    process = subprocess.Popen(
        args + (extra_args or []),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output, token = [], ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        output.append(line.rstrip())
        if line.startswith("APIM personal access token:"):
            token = line.split(":", 1)[1].strip()
        if line.strip() == "ready":
            scheme = "https" if extra_args and "--tls-cert" in extra_args else "http"
            urls = {name: f"{scheme}://127.0.0.1:{port}" for name, port in ports.items()}
            # Keep draining output so the subprocess never blocks on a full pipe.
            import threading

            threading.Thread(target=lambda: [output.append(l.rstrip()) for l in process.stdout], daemon=True).start()
            return RunningSimulator(profile, process, urls, token, output)
    process.kill()
    raise RuntimeError("simulator did not start:\n" + "\n".join(output))
