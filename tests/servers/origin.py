"""A tiny HTTP origin for input tests: fixed routes, and a log of every request it got."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Origin:
    """A running origin: ``url`` is ``http://127.0.0.1:PORT``; ``requests`` lists paths."""

    port: int
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, path: str, body: bytes | str, status: int = 200, **headers: str) -> None:
        """Answer ``GET path`` with ``status``, ``headers`` and ``body``."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = (status, headers, data)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.serve(path, b"", status, Location=location)


@contextmanager
def http_origin() -> Iterator[Origin]:
    """Serve on a free loopback port until the block ends; unknown paths get 404."""
    origin = Origin(port=0, routes={})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            origin.requests.append(self.path)
            status, headers, body = origin.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
