"""A tiny web server on loopback that serves Client ID Metadata Documents to the simulated AM gateway,
the way an MCP client's publisher (vscode.dev, claude.ai...) serves its own, and records every fetch."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Document:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


class MetadataOrigin:
    """``origin.url(path)`` is the client id; ``origin.publish(path, metadata)`` sets what it answers."""

    def __init__(self, tls: bool = False):
        self.documents: dict[str, Document] = {}
        self.hits: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server naming
                origin.hits.append(self.path)
                document = origin.documents.get(self.path, Document(b'{"error":"not found"}', 404))
                if document.delay:
                    threading.Event().wait(document.delay)
                self.send_response(document.status)
                for name, value in document.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(document.body)))
                self.end_headers()
                self.wfile.write(document.body)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        self.ca = None
        if tls:
            import trustme

            self.ca = trustme.CA()
            cert = self.ca.issue_cert("127.0.0.1", "localhost")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_port}{path}"

    def publish(self, path: str, metadata: dict[str, Any] | bytes, **options: Any) -> str:
        body = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
        self.documents[path] = Document(body, **options)
        return self.url(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
