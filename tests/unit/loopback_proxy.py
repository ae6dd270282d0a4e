"""A forward HTTP proxy on loopback that records each request line it gets (test equipment).

``CONNECT host:port`` (an https:// URL through ``HTTPS_PROXY``) is answered ``200`` and tunnelled byte for byte, so
TLS, client certificate included, stays end to end between the client and the server. A request with an absolute
URI (an http:// URL through ``HTTP_PROXY``) is forwarded, without proxies, and its answer passed back.
"""

from __future__ import annotations

import select
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.loopback_http import BackgroundServer, forward

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "transfer-encoding",
              "content-length", "content-encoding"}


class LoopbackProxy(BackgroundServer):
    def __init__(self):
        self.request_lines: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_CONNECT(self):
                proxy.request_lines.append(f"CONNECT {self.path}")
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                _relay(self.connection, upstream)

            def _forward(self):
                proxy.request_lines.append(f"{self.command} {self.path}")
                with requests.Session() as direct:
                    direct.trust_env = False  # this proxy never goes through a proxy itself
                    forward(self, self.path, HOP_BY_HOP, session=direct, timeout=10)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    try:
        while True:
            readable, dummy_w, broken = select.select(sockets, [], sockets, 10)
            if broken or not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
