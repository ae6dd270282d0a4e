"""A loopback HTTP(S) server that answers from a script and records what it received (unit tests only)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop"  # a scripted answer that closes the connection without a response


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class TlsHTTPServer(ThreadingHTTPServer):
    """TLS handshake in the connection's own thread, as a real server does it.

    A refused handshake (no client certificate, an unknown CA) leaves the connection open a moment, so that the
    client reads the server's TLS alert rather than a bare end of connection.
    """

    tls_context: ssl.SSLContext

    def finish_request(self, request, client_address):
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            time.sleep(0.2)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class ScriptedServer:
    """Answers requests in order from ``script`` (then repeats ``default``); records each request."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self.script: list[Answer | str] = []
        self.default: Answer | str = Answer(200, {})
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode()
                server.received.append(Received(self.command, self.path, dict(self.headers), body))
                answer = server.script.pop(0) if server.script else server.default
                if answer == DROP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = (TlsHTTPServer if tls_context else ThreadingHTTPServer)(("127.0.0.1", 0), Handler)
        self.httpd.tls_context = tls_context
        self.httpd.daemon_threads = True
        self.scheme = "https" if tls_context else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{'localhost' if self.scheme == 'https' else host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
