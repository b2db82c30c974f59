"""A static HTTP server for player tests: a package folder (and the player assets) with the
Content-Types and byte ranges that hls.js and dash.js expect."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.servers.ports import free_port

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",  # RFC 8216 section 4
    ".mpd": "application/dash+xml",  # ISO/IEC 23009-1 annex C
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",  # IANA-registered type of CMAF/DASH media segments
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
}


class StaticServer:
    """Serve folders over HTTP on 127.0.0.1 for the length of a ``with`` block.

    ``root`` is served at ``/`` and each ``mounts`` folder at its URL prefix (``"/player/"``), so
    a package under test and the player assets can share one origin without copying. GET and
    HEAD honour single byte ranges (RFC 9110 section 14); directories are not listed.
    """

    def __init__(self, root: Path, *, mounts: Mapping[str, Path] | None = None) -> None:
        folders = {"/": root, **(mounts or {})}
        self._mounts = sorted(
            (
                (prefix.rstrip("/") + "/", Path(folder).resolve())
                for prefix, folder in folders.items()
            ),
            key=lambda item: -len(item[0]),
        )
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status), for diagnosis
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "use StaticServer as a context manager"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (``"/media/master.m3u8"``) on this server."""
        return self.base_url + "/" + path.lstrip("/")

    def resolve(self, url_path: str) -> Path | None:
        """The file that ``url_path`` names, or None outside the served folders."""
        path = unquote(urlsplit(url_path).path)
        for prefix, folder in self._mounts:
            if path.startswith(prefix):
                target = (folder / path[len(prefix) :]).resolve()
                return target if target.is_file() and target.is_relative_to(folder) else None
        return None

    def __enter__(self) -> StaticServer:
        for attempt in range(5):
            try:
                self._httpd = _QuietServer(("127.0.0.1", free_port()), _FileHandler)
                break
            except OSError:  # the free port was taken before we bound it
                if attempt == 4:
                    raise
        self._httpd.static = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)


class _QuietServer(ThreadingHTTPServer):
    # Keep-alive connections from a browser that is still open must not block server_close().
    block_on_close = False
    static: StaticServer

    def handle_error(self, request, client_address) -> None:
        # Players abort requests they no longer need (ABR switches, teardown): not our error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds an idle keep-alive connection may hold a thread
    server: _QuietServer

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = self.server.static.resolve(self.path)
        if path is None:
            self._status_only(HTTPStatus.NOT_FOUND)
            return
        size = path.stat().st_size
        try:
            span = parse_range(self.headers.get("Range"), size)
        except ValueError:
            self._status_only(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, f"bytes */{size}")
            return
        start, end = span or (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if span:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if body:
            _copy_span(path, start, end - start + 1, self.wfile)

    def _status_only(self, status: HTTPStatus, content_range: str | None = None) -> None:
        self.send_response(status)
        if content_range:
            self.send_header("Content-Range", content_range)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.static.requests.append((self.command, self.path, int(code)))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass


def _copy_span(path: Path, start: int, length: int, out) -> None:
    with path.open("rb") as src:
        src.seek(start)
        while length > 0:
            chunk = src.read(min(length, 1 << 16))
            if not chunk:
                break
            out.write(chunk)
            length -= len(chunk)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks of a ``size``-byte file.

    Returns:
        ``(first, last)``, or None to send the whole file: no header, a malformed one, or
        several ranges (RFC 9110 lets a server ignore Range; players ask for one).

    Raises:
        ValueError: The range lies outside the file (answer 416).
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[len("bytes=") :].strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return None
    if not first:  # suffix range: the last N bytes
        if int(last) == 0 or size == 0:
            raise ValueError(header)
        return max(0, size - int(last)), size - 1
    if last and (not last.isdigit() or int(last) < int(first)):
        return None
    if int(first) >= size:
        raise ValueError(header)
    return int(first), min(int(last), size - 1) if last else size - 1
