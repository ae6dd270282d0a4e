"""The simulator's shared machinery: one process, several servers, one state.

Each simulated server (APIM Management API, APIM gateway, AM Management API, AM gateway, the upstream
MCP server) is an ASGI app built by its own module from the shared ``Simulator``.  This module wraps
every app with the same middleware, which

* answers the ``/_sim/...`` admin endpoints (on every port, same state),
* applies injected faults (status, latency, dropped connection) to matching requests,
* records every request it received, for tests to assert on (``GET /_sim/requests``),
* checks management API requests and responses against the real OpenAPI specs (``specs.py``;
  violations at ``GET /_sim/violations``).

Server modules implement two functions:

* ``seed(sim)``: (re)initialise their part of ``sim.state`` (called at start and on reset);
* ``build_app(sim)``: return the ASGI app for their port.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from uvicorn.protocols.http import h11_impl

from tests.simulator import specs
from tests.simulator.profiles import at_least

# name -> (module, default port, human label, base path printed with the URL)
SERVERS: dict[str, tuple[str, int, str, str]] = {
    "apim": ("tests.simulator.apim", 8083, "APIM Management API", "/management"),
    "apim_gateway": ("tests.simulator.apim_gateway", 8082, "APIM gateway", ""),
    "am": ("tests.simulator.am", 8093, "AM Management API", "/management"),
    "am_gateway": ("tests.simulator.am_gateway", 8092, "AM gateway", ""),
    "mcp": ("tests.simulator.mcp_server", 3001, "MCP server", "/mcp"),
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_SPECS_DIR = Path(__file__).resolve().parents[3] / "shared" / "specs"


@dataclass
class Fault:
    """An injected fault for the next ``count`` requests that match ``method``/``path``/``server``.

    ``kind``: ``status`` (answer ``status`` with ``body``), ``delay`` (sleep ``delay`` seconds, then
    serve normally), ``drop`` (close the connection without an answer).  With ``after=True`` the
    request is served first (its effect happens) and only the answer is replaced or dropped: the
    "write applied, response lost" case.  ``skip``: let that many matching requests through first (to
    fail the second POST of the same shape, for example).
    """

    kind: str
    method: str = "*"
    path: str = ".*"
    server: str = "*"
    count: int = 1
    status: int = 503
    body: Any = None
    delay: float = 0.0
    after: bool = False
    skip: int = 0
    hits: int = 0

    def matches(self, server: str, method: str, path: str) -> bool:
        return (
            self.count > 0
            and self.server in ("*", server)
            and self.method in ("*", method)
            and re.search(self.path, path) is not None
        )


@dataclass
class Simulator:
    profile: str = "4.12"
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: {k: v[1] for k, v in SERVERS.items()})
    specs_dir: Path | None = DEFAULT_SPECS_DIR
    scheme: str = "http"
    state: SimpleNamespace = field(default_factory=SimpleNamespace)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)  # spec violations, kept across resets
    # Seconds a gateway takes to see a change made through its Management API (the real gateways poll: APIM every
    # 5 s, services.sync.delay; AM every 5 s, services.sync.cron).  0 (the default) = at once.  Set by POST /_sim/sync.
    sync_delays: dict[str, float] = field(default_factory=dict)

    def at_least(self, version: str) -> bool:
        """Whether the profile serves the behaviours of ``version`` and later ("4.11": the 4.11 and 4.12 profiles)."""
        return at_least(self.profile, version)

    def url(self, server: str) -> str:
        """Base URL of a server, without a trailing slash (``http://127.0.0.1:8082``)."""
        return f"{self.scheme}://{self.host}:{self.ports[server]}"

    @property
    def modules(self) -> dict[str, Any]:
        return {name: importlib.import_module(spec[0]) for name, spec in SERVERS.items()}

    def seed(self) -> None:
        self.state = SimpleNamespace()
        for module in self.modules.values():
            module.seed(self)

    def reset(self) -> None:
        self.recorded.clear()
        self.faults.clear()
        self.sync_delays.clear()
        self.seed()

    def sync_delay(self, gateway: str) -> float:
        """Seconds the ``apim_gateway`` or ``am_gateway`` lags behind its Management API."""
        return float(self.sync_delays.get(gateway) or 0.0)

    def take_fault(self, server: str, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(server, method, path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.count -= 1
                fault.hits += 1
                return fault
        return None


# --- dropped connections ------------------------------------------------------------------------
# uvicorn gives an ASGI app no way to drop a connection: an app that fails before answering gets a
# 500 sent for it.  The simulator needs a real drop (a client sees "connection reset"), so the h11
# request cycle is extended to expose its transport in the scope's extensions.
class _CycleWithTransport(h11_impl.RequestResponseCycle):
    def __init__(self, scope, conn, transport, *args, **kwargs):
        scope.setdefault("extensions", {})["sim.transport"] = transport
        super().__init__(scope, conn, transport, *args, **kwargs)


h11_impl.RequestResponseCycle = _CycleWithTransport


async def _read_body(receive) -> tuple[bytes, list[dict]]:
    """Read the whole request body, keeping the messages so the app can read them again."""
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks), messages


def _replay(messages: list[dict], receive):
    queue = list(messages)

    async def replayed():
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


async def _send_json(send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _drop(scope) -> None:
    transport = scope.get("extensions", {}).get("sim.transport")
    if transport is not None:
        transport.abort()


class SimMiddleware:
    """Admin endpoints, faults and request recording around one server's app."""

    def __init__(self, sim: Simulator, server: str, app):
        self.sim, self.server, self.app = sim, server, app
        self.checker = specs.checker_for(sim, server)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if path.startswith("/_sim/"):
            return await self.admin(scope, receive, send)

        body, messages = await _read_body(receive)
        record = {
            "server": self.server,
            "method": method,
            "path": path,
            "query": scope.get("query_string", b"").decode(),
            "body": _decode_body(body),
            "status": None,
            "time": time.time(),
        }
        self.sim.recorded.append(record)

        fault = self.sim.take_fault(self.server, method, path)
        if fault and fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            fault = None
        if fault and not fault.after:
            record["fault"] = fault.kind
            if fault.kind == "drop":
                record["status"] = "dropped"
                return _drop(scope)
            record["status"] = fault.status
            return await _send_json(send, fault.status, _fault_body(fault))

        headers = specs.header_map(scope) if self.checker else {}
        if self.checker:
            violation = self.checker.check_request(method, path, record["query"], headers, body)
            if violation:
                violation.served = violation.served or specs.expectation(headers) == "serve"
                self.violation(record, violation, headers)
                if not violation.served:
                    status, payload = self.checker.error_response(violation)
                    record["status"] = status
                    return await _send_json(send, status, payload)
        response = {"content_type": None, "chunks": []}

        async def recording_send(message):
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                response["content_type"] = dict(message.get("headers", [])).get(b"content-type", b"").decode()
            elif self.checker and message["type"] == "http.response.body" and specs.is_json(response["content_type"]):
                response["chunks"].append(message.get("body", b""))
            if fault is None:
                await send(message)

        await self.app(scope, _replay(messages, receive), recording_send)
        if self.checker and isinstance(record["status"], int):
            violation = self.checker.check_response(
                method, path, record["query"], headers, body, record["status"], response["content_type"], b"".join(response["chunks"])
            )
            if violation:
                self.violation(record, violation, headers)
        if fault:  # served, then the answer is lost or replaced
            record["fault"] = fault.kind
            record["applied_status"] = record["status"]
            if fault.kind == "drop":
                record["status"] = "dropped"
                return _drop(scope)
            record["status"] = fault.status
            await _send_json(send, fault.status, _fault_body(fault))

    def violation(self, record: dict[str, Any], violation, headers: dict[str, str]) -> None:
        violation.expected = specs.expectation(headers) is not None
        record["spec_violation"] = violation.as_dict()
        self.sim.violations.append({"server": self.server, "method": record["method"], "path": record["path"], **violation.as_dict()})
        specs.log_violation(self.server, violation)

    async def admin(self, scope, receive, send):
        sim, path, method = self.sim, scope["path"], scope["method"]
        body, dummy_messages = await _read_body(receive)
        if path == "/_sim/reset" and method == "POST":
            sim.reset()
            return await _send_json(send, 200, {"reset": True})
        if path == "/_sim/requests" and method == "GET":
            return await _send_json(send, 200, sim.recorded)
        if path == "/_sim/requests" and method == "DELETE":
            sim.recorded.clear()
            return await _send_json(send, 200, [])
        if path == "/_sim/faults" and method == "POST":
            spec = json.loads(body or b"{}")
            try:
                fault = Fault(**{k: v for k, v in spec.items() if k != "hits"})
                re.compile(fault.path)
            except (TypeError, re.error) as exc:
                return await _send_json(send, 400, {"message": f"bad fault: {exc}"})
            if fault.kind not in ("status", "delay", "drop"):
                return await _send_json(send, 400, {"message": "kind must be status, delay or drop"})
            sim.faults.append(fault)
            return await _send_json(send, 201, fault.__dict__)
        if path == "/_sim/faults" and method == "GET":
            return await _send_json(send, 200, [f.__dict__ for f in sim.faults])
        if path == "/_sim/faults" and method == "DELETE":
            sim.faults.clear()
            return await _send_json(send, 200, [])
        if path == "/_sim/sync" and method == "POST":
            spec = json.loads(body or b"{}")
            if not isinstance(spec, dict) or any(k not in ("apim_gateway", "am_gateway") or not isinstance(v, (int, float)) or v < 0
                                                 for k, v in spec.items()):
                return await _send_json(send, 400, {"message": "give {\"apim_gateway\": seconds, \"am_gateway\": seconds}"})
            sim.sync_delays.update(spec)
            return await _send_json(send, 200, sim.sync_delays)
        if path == "/_sim/sync" and method == "GET":
            return await _send_json(send, 200, sim.sync_delays)
        if path == "/_sim/violations" and method == "GET":
            return await _send_json(send, 200, sim.violations)
        if path == "/_sim/info" and method == "GET":
            return await _send_json(
                send,
                200,
                {
                    "profile": sim.profile,
                    "urls": {name: sim.url(name) for name in SERVERS},
                    "notices": sim.notices,
                    "apim_token": getattr(sim.state, "apim_token", None),
                },
            )
        return await _send_json(send, 404, {"message": f"unknown simulator admin endpoint {method} {path}"})


def _decode_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def _fault_body(fault: Fault) -> Any:
    if fault.body is not None:
        return fault.body
    return {"message": "Service Unavailable (injected fault)", "httpStatus": fault.status}


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the simulator (several servers share one loop)."""

    def capture_signals(self):  # noqa: D102 - see class docstring
        import contextlib

        return contextlib.nullcontext()


async def serve(sim: Simulator, ssl: dict[str, Any] | None = None, on_ready=None) -> None:
    """Run every server until SIGTERM/SIGINT."""
    sim.seed()
    servers = []
    for name, module in sim.modules.items():
        app = SimMiddleware(sim, name, module.build_app(sim))
        config = uvicorn.Config(
            app, host=sim.host, port=sim.ports[name], http="h11", log_level="warning", lifespan="auto",
            **(ssl or {}),
        )
        servers.append(_Server(config))

    def stop(*dummy_signal):
        for server in servers:
            server.should_exit = True

    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)

    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            failed = [t.exception() for t in tasks if t.done() and t.exception()]
            raise SystemExit(f"simulator failed to start: {failed or 'a port is in use'}")
        await asyncio.sleep(0.02)
    if on_ready:
        on_ready(sim)
    await asyncio.gather(*tasks)
