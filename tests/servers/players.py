"""Real-browser playback checks: headless Chromium plays HLS with hls.js and DASH with dash.js.

Pieces, each usable alone:

* :func:`player_assets` puts the player bundles the console vendors (``api.console.vendor``)
  next to ``player.html`` (the probe page that keeps ``window.__player`` up to date).
* ``tests.servers.static_server.StaticServer`` serves a package folder plus those assets.
* :func:`play_in_chromium` drives Debian's ``chromium`` with Playwright
  (https://playwright.dev/python/, ``executable_path``, no browser download) until the page
  has played enough, failed or timed out, and screenshots a playing frame; :func:`is_blank`
  says whether that frame is empty.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from api.console.vendor import bundle_path

PLAYER_PAGE = Path(__file__).with_name("player.html")
# Where the tests put the player page beside the bundles: ignored by git, removed by `make clean`.
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".venv" / "player-js"
# The bundles the console vendors (api/console/vendor.py), under the names player.html loads.
BUNDLES = {"hls.min.js": bundle_path("hls.js"), "dash.all.min.js": bundle_path("dashjs")}
VIEWPORT = (1280, 720)
#: Besides Playwright's own (headless, a throw-away profile).
CHROMIUM_FLAGS = (
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
)


class BrowserError(RuntimeError):
    """The harness itself failed (Chromium did not start, Playwright lost it), not the player."""


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
    """A folder with hls.js and dash.js (the console's vendored copies) and player.html.

    Returns:
        ``cache_dir/www``, holding ``hls.min.js``, ``dash.all.min.js`` and ``player.html``.
    """
    www = cache_dir / "www"
    www.mkdir(parents=True, exist_ok=True)
    for name, bundle in BUNDLES.items():
        shutil.copyfile(bundle, www / name)
    # Copied on every call: a stale page would test yesterday's probe.
    shutil.copyfile(PLAYER_PAGE, www / PLAYER_PAGE.name)
    return www


def play_in_chromium(
    page_url: str, *, seconds: float = 3.0, timeout: float = 60, screenshot: Path
) -> PlaybackResult:
    """Open ``page_url`` (player.html) in headless Chromium and watch ``window.__player``.

    Polls until the page has played ``seconds`` of media, reports a fatal error, ends, or
    ``timeout`` passes; screenshots the frame on screen into ``screenshot`` at that moment.
    A stream that ends sooner is no error: ``played_seconds`` then falls short. Playwright
    drives Debian's Chromium (``executable_path``; no browser is downloaded) and closes it,
    its helpers and its throw-away profile whatever happens.

    Args:
        page_url: ``player.html?mode=hls|dash&src=<manifest URL>`` on a :class:`StaticServer`.
        seconds: Media seconds that must be rendered (the sum of ``video.played``, which a
            stream starting at a non-zero timestamp cannot inflate).
        timeout: Wall-clock seconds for everything, Chromium's start included.
        screenshot: Where to write the PNG.

    Raises:
        BrowserError: Chromium is missing, did not start, or Playwright lost it.
    """
    deadline = time.monotonic() + timeout
    with chromium_page(timeout) as page:
        page.goto(page_url, timeout=max(1.0, deadline - time.monotonic()) * 1000)
        return _watch(page, seconds, deadline, screenshot)


@contextmanager
def chromium_page(timeout: float = 60, viewport: tuple[int, int] = VIEWPORT) -> Iterator[Page]:
    """A fresh page in headless Debian Chromium (Playwright, ``executable_path``, no browser
    download, a throw-away profile), closed with its browser whatever happens.

    Raises:
        BrowserError: Chromium is missing, did not start, or Playwright lost it.
    """
    binary = chromium_binary()
    if binary is None:
        raise BrowserError("chromium is not installed (apt-get install chromium)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=binary, args=list(CHROMIUM_FLAGS), timeout=timeout * 1000
            )
            try:
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                page.set_default_timeout(timeout * 1000)
                yield page
            finally:
                browser.close()
    except PlaywrightError as err:
        raise BrowserError(f"Chromium failed: {err}") from err


def _watch(page: Page, seconds: float, deadline: float, screenshot: Path) -> PlaybackResult:
    status: dict = {}
    timed_out = True
    while time.monotonic() < deadline:
        value = page.evaluate("JSON.stringify(window.__player || null)")
        status = (json.loads(value) if isinstance(value, str) else None) or status
        state = status.get("state")
        if state in ("error", "ended") or (state == "playing" and status["played"] >= seconds):
            timed_out = False
            break
        time.sleep(0.1)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot))
    error = status.get("error")
    if timed_out:
        error = f"timed out in state {status.get('state')!r} after {status.get('played', 0):.2f} s"
    return PlaybackResult(
        played_seconds=float(status.get("played", 0)),
        error=error,
        errors=tuple(status.get("errors", ())),
        screenshot=screenshot,
        video_width=int(status.get("width", 0)),
        video_height=int(status.get("height", 0)),
        audio_decoded_bytes=int(status.get("audioBytes", 0)),
        timed_out=timed_out,
    )


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
