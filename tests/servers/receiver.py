"""A local HTTP receiver for event callbacks: records every POST, can fail or go away.

Usage::

    with Receiver() as rx:
        ...                        # POST to rx.url
        rx.wait_for(1)             # -> [Received(path, headers, body)]
        rx.status = 500            # answer 500 from now on
        rx.stop(); rx.start()      # down, then up again on the same port
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.ports import free_port


@dataclass(frozen=True)
class Received:
    """One request as it arrived; ``headers`` keys are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread.

    Attributes:
        status: the status code every request gets (200 unless changed).
        received: every request so far, in arrival order.
    """

    def __init__(self, port: int | None = None, path: str = "/hook"):
        self.port = port or free_port()
        self.path = path
        self.status = 200
        self.received: list[Received] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._record(Received("POST", self.path, headers, body))
                status = receiver.status
                reply = b"success" if 200 <= status < 300 else b"failure"
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler

    def _record(self, item: Received) -> None:
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()

    def start(self) -> Receiver:
        """Listen on ``self.port`` (again, after ``stop``); retries briefly if it is busy."""
        if self._server is not None:
            return self
        deadline = time.monotonic() + 10
        while True:
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are then refused."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(5)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Block until at least ``count`` requests arrived; all of them.

        Raises:
            AssertionError: fewer arrived within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(
                    f"receiver got {len(self.received)} requests, expected {count}"
                )
            return list(self.received)

    def clear(self) -> None:
        with self._cond:
            self.received.clear()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
