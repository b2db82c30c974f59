"""One access line per request: gunicorn's plain line, or in JSON (``MCFARM_LOG_FORMAT``).

granian can write the plain line itself, but through Python's ``logging`` (a record, a
handler's lock, a formatter): under load that was a sixth of a Get's time holding the GIL
(py-spy), paid after the request's turn (``api.turns``), so racing the next request for the
GIL. ``PlainAccessLog`` writes the same line with one ``write`` call.

The JSON line knows the account and the job: the app writes it (``request_log``), with the
request's bound fields (``shared.logs``): request id, account, job id.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any

from flask import Flask, g, request

log = logging.getLogger("mcfarm.access")


def request_log(app: Flask) -> None:
    @app.after_request
    def _log_request(response):
        started = g.get("started")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        log.info(
            "%s %s %d %s ms",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
        )
        return response


def access_line(environ: dict[str, Any], when: str, status: str, elapsed_ms: float) -> str:
    """gunicorn's access line (operators' log parsers read it): address, time, request line,
    status, milliseconds."""
    return (
        f'{environ.get("REMOTE_ADDR") or "-"} - - [{when}] "{environ.get("REQUEST_METHOD")} '
        f'{environ.get("PATH_INFO")} {environ.get("SERVER_PROTOCOL")}" {status} {elapsed_ms:.1f}\n'
    )


class PlainAccessLog:
    """WSGI middleware: ``app``, and for each request its access line written to file
    descriptor ``fd`` in one ``write`` (whole lines, however many threads write: a pipe
    takes up to 4 KiB at once, a file opened for appending any size)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], fd: int):
        self.app = app
        self.fd = fd
        #: (second, its local time as written): made once a second, swapped whole.
        self._stamp = (-1, "")

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        wall, started = time.time(), time.perf_counter()
        status = "500"

        def recorded(status_line: str, headers: list, exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, recorded)
        finally:
            line = access_line(
                environ, self._time(wall), status, (time.perf_counter() - started) * 1000
            )
            with suppress(OSError):  # a log closed under us must not fail the request
                os.write(self.fd, line.encode())

    def _time(self, wall: float) -> str:
        """The local time of second ``wall``, as granian and gunicorn write it."""
        second, when = self._stamp
        if int(wall) != second:
            second = int(wall)
            when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(second))
            self._stamp = (second, when)
        return when
