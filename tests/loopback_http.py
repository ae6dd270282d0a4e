"""Pieces shared by the test equipment's HTTP servers on loopback (proxies and fronts of ``tests/unit`` and
``tests/integration``): a server run from a daemon thread for a ``with`` block, and an answer passed on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

import requests


class BackgroundServer:
    """``self.server`` (a socketserver bound on loopback) served from a daemon thread between enter and exit."""

    scheme, host = "http", "127.0.0.1"

    def serve(self, server) -> None:
        self.server = server
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return "%s://%s:%d" % (self.scheme, self.host, self.server.server_address[1])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def forward(handler: BaseHTTPRequestHandler, url: str, hop_by_hop: set[str], session=requests, timeout: float = 30):
    """Send ``handler``'s request to ``url`` (without the hop-by-hop headers), pass the answer back, and return it."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in hop_by_hop}
    answer = session.request(handler.command, url, headers=headers, data=body, allow_redirects=False, timeout=timeout)
    handler.send_response(answer.status_code)
    for key, value in answer.headers.items():
        if key.lower() not in hop_by_hop:
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(answer.content)))
    handler.end_headers()
    handler.wfile.write(answer.content)
    return answer
