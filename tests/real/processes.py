"""Processes of the real tier: free loopback ports, bounded waits, kept logs, and a stop that always runs.

Every process the launcher starts is registered with one ``ProcessGroup``; the group stops them in reverse order
on exit, on SIGINT/SIGTERM and on failure (a ``with`` block, ``atexit`` and signal handlers all lead to ``stop``).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once so none repeats)."""
    sockets = []
    try:
        for dummy_index in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 60) -> str:
    if not path.is_file():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


class StartFailed(RuntimeError):
    """A server did not become healthy in time; the message ends with its log's tail."""


def wait_until(check: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen | None = None,
               log: Path | None = None, interval: float = 1.0) -> float:
    """Poll ``check`` until it is true; raise ``StartFailed`` (with the log tail) after ``timeout`` or if ``process`` exits."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StartFailed(f"{what}: the process exited with {process.returncode}\n--- {log} (tail) ---\n{tail(log) if log else ''}")
        try:
            if check():
                return round(time.monotonic() - started, 1)
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise StartFailed(f"{what}: not ready after {timeout:.0f} s\n--- {log} (tail) ---\n{tail(log) if log else ''}")


@dataclass
class Managed:
    name: str
    stop: Callable[[], None]
    pid: int | None = None
    log: Path | None = None


@dataclass
class ProcessGroup:
    """Owns every process started for one run of the servers."""

    members: list[Managed] = field(default_factory=list)
    _stopped: bool = False

    def __post_init__(self) -> None:
        atexit.register(self.stop)

    def install_signal_handlers(self) -> None:
        def handler(signum, frame):  # noqa: ARG001 - signal API
            self.stop()
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def add(self, member: Managed) -> Managed:
        self.members.append(member)
        return member

    def spawn(self, name: str, args: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None,
              term_timeout: float = 30) -> subprocess.Popen:
        """Start ``args`` with stdout and stderr in ``log``, in its own process group, registered for stopping."""
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log, "ab")  # noqa: SIM115 - closed by stop
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)

        def stop() -> None:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=term_timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)
            handle.close()

        self.add(Managed(name, stop, process.pid, log))
        return process

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for member in reversed(self.members):
            try:
                member.stop()
            except Exception as error:  # noqa: BLE001 - keep stopping the others
                print(f"stopping {member.name} failed: {error}")
        self.members.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
