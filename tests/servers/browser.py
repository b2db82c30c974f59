"""Real-browser playback checks: headless Chromium plays HLS with hls.js and DASH with dash.js.

Pieces, each usable alone:

* :func:`player_assets` installs the pinned player bundles from npm once, next to
  ``player.html`` (the probe page that keeps ``window.__player`` up to date).
* :class:`StaticServer` serves a package folder plus those assets over HTTP with the
  Content-Types and byte ranges that players expect.
* :func:`play_in_chromium` drives Debian's ``chromium`` over the Chrome DevTools Protocol
  (https://chromedevtools.github.io/devtools-protocol/) until the page has played enough, failed
  or timed out, and screenshots a playing frame; :func:`is_blank` says whether that frame is
  empty.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import websocket

from tests.servers.ports import free_port

PLAYER_PAGE = Path(__file__).with_name("player.html")
# Where `make install` and the tests keep the npm packages: ignored by git, removed by `make clean`.
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".venv" / "player-js"
# The DASH-IF reference player is published on npm as `dashjs`; `dash.js` there is unrelated.
PLAYER_PACKAGES = {"hls.js": "1.7.4", "dashjs": "4.7.4"}
# UMD bundles (they define the globals `Hls` and `dashjs`) and the names player.html loads.
BUNDLES = {
    "hls.min.js": Path("node_modules/hls.js/dist/hls.min.js"),
    "dash.all.min.js": Path("node_modules/dashjs/dist/dash.all.min.js"),
}
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
VIEWPORT = (1280, 720)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    # Without these Chromium keeps dialling Google's hosts, which a closed CI network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm; use /tmp instead
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--hide-scrollbars",
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
)


class BrowserError(RuntimeError):
    """The harness itself failed (Chromium did not start, DevTools broke), not the player."""


@dataclass(frozen=True)
class PlaybackResult:
    """What the page reported when polling stopped.

    Attributes:
        played_seconds: Media seconds actually rendered (the sum of ``video.played``).
        error: The first fatal player/page error, ``"timed out …"`` on timeout, else None.
        errors: Every error the page recorded, fatal ones prefixed ``"fatal: "``.
        screenshot: The PNG written, or None if none could be taken.
        video_width: ``video.videoWidth`` of the rendition playing last.
        video_height: ``video.videoHeight`` of the rendition playing last.
        audio_decoded_bytes: Audio the browser decoded (muted or not); 0 means no audio played.
        timed_out: True when ``timeout`` passed before the page played enough or failed.
    """

    played_seconds: float
    error: str | None
    errors: tuple[str, ...]
    screenshot: Path | None
    video_width: int
    video_height: int
    audio_decoded_bytes: int = 0
    timed_out: bool = False


def chromium_binary() -> str | None:
    """Debian's ``/usr/bin/chromium``, else ``chromium`` on PATH, else None."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def player_assets(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Install the pinned hls.js and dash.js once; return a folder with them and player.html.

    ``npm install`` runs only when ``cache_dir`` lacks the pinned versions, under a file lock so
    that parallel test processes do not install over each other.

    Returns:
        ``cache_dir/www``, holding ``hls.min.js``, ``dash.all.min.js`` and ``player.html``.

    Raises:
        BrowserError: npm is missing or the install failed.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    www = cache_dir / "www"
    stamp = cache_dir / "installed.json"
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = json.dumps(PLAYER_PACKAGES, sort_keys=True)
        if not stamp.is_file() or stamp.read_text() != wanted:
            _npm_install(cache_dir)
            stamp.write_text(wanted)
        www.mkdir(exist_ok=True)
        for name, relative in BUNDLES.items():
            shutil.copyfile(cache_dir / relative, www / name)
        # Copied on every call: a stale page would test yesterday's probe.
        shutil.copyfile(PLAYER_PAGE, www / PLAYER_PAGE.name)
    return www


def _npm_install(cache_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise BrowserError("npm is not installed (apt-get install npm, or install Node.js)")
    specs = [f"{name}@{version}" for name, version in PLAYER_PACKAGES.items()]
    argv = [npm, "install", "--no-audit", "--no-fund", "--save-exact", "--prefix", str(cache_dir)]
    proc = subprocess.run(
        [*argv, *specs], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise BrowserError(f"npm install {' '.join(specs)} failed: {proc.stderr[-2000:]}")


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


def play_in_chromium(
    page_url: str, *, seconds: float = 3.0, timeout: float = 60, screenshot: Path
) -> PlaybackResult:
    """Open ``page_url`` (player.html) in headless Chromium and watch ``window.__player``.

    Polls until the page has played ``seconds`` of media, reports a fatal error, ends, or
    ``timeout`` passes; screenshots the frame on screen into ``screenshot`` at that moment.
    A stream that ends sooner is no error: ``played_seconds`` then falls short. Chromium, its
    helper processes and its throw-away profile are removed whatever happens.

    Args:
        page_url: ``player.html?mode=hls|dash&src=<manifest URL>`` on a :class:`StaticServer`.
        seconds: Media seconds that must be rendered (the sum of ``video.played``, which a
            stream starting at a non-zero timestamp cannot inflate).
        timeout: Wall-clock seconds for everything, Chromium's start included.
        screenshot: Where to write the PNG.

    Raises:
        BrowserError: Chromium is missing, did not start, or its DevTools connection failed.
    """
    binary = chromium_binary()
    if binary is None:
        raise BrowserError("chromium is not installed (apt-get install chromium)")
    deadline = time.monotonic() + timeout
    profile = Path(tempfile.mkdtemp(prefix="mcfarm-chromium-"))
    log = (profile.parent / f"{profile.name}.log").open("w+b")
    # Port 0 makes Chromium pick a free port itself and write it to DevToolsActivePort: no race
    # with another process between choosing a port and binding it.
    argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"]
    try:
        proc = subprocess.Popen(
            [*argv, "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so helpers can be killed with it
        )
        try:
            devtools = _DevTools.connect(_page_socket_url(proc, profile, log, deadline))
            try:
                return _watch(devtools, page_url, seconds, deadline, screenshot)
            finally:
                devtools.close()
        finally:
            _stop(proc)
    finally:
        log.close()
        Path(log.name).unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)


def _watch(
    devtools: _DevTools, page_url: str, seconds: float, deadline: float, screenshot: Path
) -> PlaybackResult:
    # New headless counts window decorations in --window-size; pin the page's own viewport.
    width, height = VIEWPORT
    devtools.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    navigation = devtools.call("Page.navigate", url=page_url)
    if navigation.get("errorText"):
        raise BrowserError(f"Chromium could not open {page_url}: {navigation['errorText']}")
    status: dict = {}
    timed_out = True
    while time.monotonic() < deadline:
        status = _player_status(devtools) or status
        state = status.get("state")
        if state in ("error", "ended") or (state == "playing" and status["played"] >= seconds):
            timed_out = False
            break
        time.sleep(0.1)
    shot = _capture(devtools, screenshot)
    error = status.get("error")
    if timed_out:
        error = f"timed out in state {status.get('state')!r} after {status.get('played', 0):.2f} s"
    return PlaybackResult(
        played_seconds=float(status.get("played", 0)),
        error=error,
        errors=tuple(status.get("errors", ())),
        screenshot=shot,
        video_width=int(status.get("width", 0)),
        video_height=int(status.get("height", 0)),
        audio_decoded_bytes=int(status.get("audioBytes", 0)),
        timed_out=timed_out,
    )


def _player_status(devtools: _DevTools) -> dict | None:
    reply = devtools.call(
        "Runtime.evaluate", expression="JSON.stringify(window.__player || null)", returnByValue=True
    )
    value = reply.get("result", {}).get("value")
    return json.loads(value) if isinstance(value, str) else None


def _capture(devtools: _DevTools, screenshot: Path) -> Path | None:
    try:
        reply = devtools.call("Page.captureScreenshot", format="png")
    except BrowserError:
        return None
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(reply["data"]))
    return screenshot


def _page_socket_url(proc: subprocess.Popen, profile: Path, log, deadline: float) -> str:
    """Wait for Chromium's DevTools port, then return its first page's WebSocket URL."""
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read()[-2000:].decode(errors="replace")
            raise BrowserError(f"chromium exited with {proc.returncode}: {tail}")
        lines = port_file.read_text().split() if port_file.is_file() else []
        if lines and lines[0].isdigit():
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{lines[0]}/json/list", timeout=5
                ) as r:
                    targets = json.load(r)
                pages = [t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]
        time.sleep(0.05)
    raise BrowserError("chromium did not open its DevTools port in time")


class _DevTools:
    """A minimal synchronous CDP client: one request at a time, events ignored."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self._last_id = 0

    @classmethod
    def connect(cls, url: str) -> _DevTools:
        # Chromium refuses DevTools WebSockets whose Origin it does not allow; send none.
        return cls(websocket.create_connection(url, timeout=15, suppress_origin=True))

    def call(self, method: str, **params: object) -> dict:
        self._last_id += 1
        try:
            self._ws.send(json.dumps({"id": self._last_id, "method": method, "params": params}))
            while True:
                reply = json.loads(self._ws.recv())
                if reply.get("id") == self._last_id:
                    break
        except (websocket.WebSocketException, OSError) as exc:
            raise BrowserError(f"DevTools {method} failed: {exc!r}") from exc
        if "error" in reply:
            raise BrowserError(f"DevTools {method} failed: {reply['error']}")
        return reply.get("result", {})

    def close(self) -> None:
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self._ws.close()


def _stop(proc: subprocess.Popen) -> None:
    """Terminate Chromium's whole process group; kill it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def is_blank(png_path: Path, *, tolerance: int = 8) -> bool:
    """Whether every pixel of an 8-bit, non-interlaced PNG is within ``tolerance`` of the first.

    Alpha is ignored. Decoded with the standard library only (https://www.w3.org/TR/png/);
    stops at the first row that shows a second colour, so a busy frame is cheap to check.

    Raises:
        ValueError: Not a PNG, or a kind this reader does not decode (palette, 16-bit, Adam7).
    """
    channels, rows = _png_rows(png_path.read_bytes())
    colours = min(channels, 3)  # grey: 1; grey+alpha: 1; RGB: 3; RGBA: 3
    reference: list[int] | None = None
    for row in rows:
        if reference is None:
            reference = list(row[:colours])
        for c in range(colours):
            values = row[c::channels]
            if max(values) - reference[c] > tolerance or reference[c] - min(values) > tolerance:
                return False
    return True


_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def _png_rows(data: bytes):
    """A PNG's channels per pixel, and an iterator over its unfiltered scanlines."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or interlace or colour_type not in _PNG_CHANNELS:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
    channels = _PNG_CHANNELS[colour_type]
    raw = zlib.decompress(b"".join(idat))
    return channels, _unfilter(raw, width * channels, height, channels)


def _unfilter(raw: bytes, stride: int, height: int, bpp: int):
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
        prev = bytes(line)
        yield prev


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
