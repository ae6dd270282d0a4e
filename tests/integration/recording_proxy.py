"""A reverse proxy that records every answer's body, to learn the secrets a server handed out during a test.

Put in front of the simulated AM gateway (the APIM AM resource's ``serverURL`` points at it, so discovery sends
the MCP client there too), it lets a test find the client secret, registration access token and access tokens AM
issued, and assert that none of them reached Ansible's output.  The ``Host`` header is passed on, so the server
builds its URLs (discovery, ``registration_client_uri``) on the proxy's address.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.loopback_http import BackgroundServer, forward

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class RecordingProxy(BackgroundServer):
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.bodies: list[bytes] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _forward(self):
                proxy.bodies.append(forward(self, proxy.upstream + self.path, HOP_BY_HOP).content)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _forward

        self.serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))

    def text(self) -> str:
        return b"\n".join(self.bodies).decode(errors="replace")
