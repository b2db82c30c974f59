"""Inputs are fetched by the worker, never by FFmpeg: FFmpeg only reads local files.

FFmpeg follows HTTP redirects, resolves names again when it connects, and opens whatever a
playlist names. So a worker stages each input first (``stage_input``) and FFmpeg runs with
``-protocol_whitelist file`` and a demuxer whitelist without playlist demuxers
(``workers.ffmpeg_cmd.INPUT_DEMUXERS``):

- objects are downloaded with the storage client (retried; see ``shared.retry``);
- HTTP(S) inputs are downloaded here, every redirect hop checked against the SSRF policy
  (``shared.storage_urls.pin_http_input``) before it is requested. Each hop's host is
  resolved once, and the request goes to an address that passed the check (TLS still
  verifies the name): a name that answers differently when looked up again (DNS rebinding)
  cannot move the connection somewhere private;
- an HLS playlist (an input whose first bytes are ``#EXTM3U``) is read here: each entry is
  resolved against the playlist and checked like a user-named input (``resolve_entry``:
  no ``file:``, no absolute path, no way out of the playlist's bucket or folder, no
  private address), then the segments are joined into one local file (TS segments
  concatenate into a TS stream; an fMP4 init section plus its fragments into a fragmented
  MP4). Encrypted and byte-range playlists are refused.

Local inputs that are not playlists are read in place. A fetched input goes through the
worker's input cache (``workers.input_cache``), so the probe and the outputs of one job on
one worker download it once: objects keyed by their ETag and size, HTTP(S) inputs only
when the response names its version (a strong ETag and a Content-Length). A playlist's
entries are fetched for each task, as they are joined.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import m3u8
import urllib3

from shared.config import Settings
from shared.errors import InputContentBad, InputMissing, InvalidJob, StorageUnavailable
from shared.retry import retry_transient
from shared.storage import Identity, Storage, StorageRef
from shared.storage_urls import PinnedHost, pin_http_input
from workers import pinned_http
from workers.input_cache import InputCache

MAX_REDIRECTS = 5
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
MAX_SEGMENTS = 20_000
PLAYLIST_MAGIC = b"#EXTM3U"
TOO_LARGE = "InvalidParameter.InputTooLarge"
_CHUNK = 1024 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}
_TIMEOUT = urllib3.Timeout(connect=10, read=60)
_HEADERS = {"User-Agent": "mcfarm"}


# --- playlists (pure) -------------------------------------------------------------------


def _bad(why: str) -> InputContentBad:
    return InputContentBad(f"The input playlist is refused: {why}.")


def resolve_entry(base: StorageRef, uri: str) -> StorageRef:
    """Where a playlist entry ``uri`` points, for a playlist stored at ``base``.

    Relative entries stay beside the playlist (same bucket, same folder tree, same site);
    absolute ``http(s)`` URLs are allowed (their address is checked when fetched); anything
    else is refused.

    Raises:
        InputContentBad: another scheme (``file:``, ``data:``, ``concat:`` …), an absolute
            path, a NUL or backslash, or a relative path that climbs out with ``..``.
    """
    if "\x00" in uri or "\\" in uri:
        raise _bad(f"the entry {uri!r} has a NUL or a backslash")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return StorageRef("http", url=uri)
    if scheme or parts.netloc:
        raise _bad(f"the entry {uri!r} is not a relative path or an http(s) URL")
    if base.kind == "http":
        return StorageRef("http", url=urljoin(base.url, uri))
    if uri.startswith("/"):
        raise _bad(f"the entry {uri!r} is an absolute path")
    rel = posixpath.normpath(unquote(parts.path))
    if rel == ".." or rel.startswith("../") or rel in ("", "."):
        raise _bad(f"the entry {uri!r} points outside the playlist's folder")
    if base.kind == "object":
        return StorageRef("object", bucket=base.bucket, key=posixpath.join(_dir(base.key), rel))
    return StorageRef("file", path=posixpath.join(_dir(base.path), rel))


def _dir(path: str) -> str:
    return posixpath.dirname(path)


@dataclass(frozen=True)
class MediaPlan:
    """What to fetch for a media playlist: an optional init section, then the segments."""

    init: str | None
    segments: list[str]


def plan_playlist(text: str) -> str | MediaPlan:
    """Read an HLS playlist: the URI of its best variant (a master), or its media plan.

    Raises:
        InputContentBad: encrypted, byte-range, empty or oversized playlists, several
            init sections.
    """
    playlist = m3u8.loads(text)
    if playlist.is_variant:
        variants = [p for p in playlist.playlists if p.uri]
        if not variants:
            raise _bad("the master playlist names no variant")
        best = max(variants, key=lambda p: p.stream_info.bandwidth or 0)
        return best.uri
    segments = playlist.segments
    if not segments:
        raise _bad("the playlist has no segments")
    if len(segments) > MAX_SEGMENTS:
        raise _bad(f"it has {len(segments)} segments, more than {MAX_SEGMENTS}")
    if any(key is not None and (key.method or "NONE") != "NONE" for key in playlist.keys):
        raise _bad("encrypted (EXT-X-KEY) playlists are not supported")
    if any(seg.byterange for seg in segments):
        raise _bad("byte-range (EXT-X-BYTERANGE) playlists are not supported")
    inits = {seg.init_section.uri for seg in segments if seg.init_section is not None}
    if len(inits) > 1 or any(
        seg.init_section is not None and seg.init_section.byterange for seg in segments
    ):
        raise _bad("only one whole-file init section (EXT-X-MAP) is supported")
    return MediaPlan(init=next(iter(inits), None), segments=[seg.uri for seg in segments])


# --- fetching ---------------------------------------------------------------------------


@dataclass
class Stager:
    """Fetches one job input for one task; every byte counted against the input limit."""

    storage: Storage
    settings: Settings
    workdir: Path
    field: str = "InputFile.Media"
    fetched: int = 0

    @property
    def cache(self) -> InputCache:
        """The worker's input cache (it lives on disk: every process shares it)."""
        return InputCache.for_settings(self.settings)

    def stage(self, ref: StorageRef) -> Path:
        """A local file FFmpeg can read for ``ref`` (see the module docstring).

        Raises:
            InputMissing, InputContentBad, InvalidJob: permanent problems with the input.
            StorageGaveUp: storage unreachable for the whole retry window.
        """
        path = self._local_or_fetched(ref, "input", self.cache)
        if not _is_playlist(path):
            return path
        return self._join_playlist(ref, _read_playlist(path))

    def _join_playlist(self, ref: StorageRef, text: str) -> Path:
        plan = plan_playlist(text)
        if isinstance(plan, str):  # a master playlist: one level down, no further
            uri, ref = plan, resolve_entry(ref, plan)
            plan = plan_playlist(_read_playlist(self._entry(ref, "variant.m3u8", uri)))
            if isinstance(plan, str):
                raise _bad("a variant playlist names another variant")
        joined = self.workdir / ("joined.mp4" if plan.init else "joined.ts")
        with joined.open("wb") as out:
            for n, uri in enumerate(([plan.init] if plan.init else []) + plan.segments):
                part = self._entry(resolve_entry(ref, uri), f"part-{n}", uri)
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                if part.parent == self.workdir:  # fetched, not a file read in place
                    part.unlink()
        return joined

    def _entry(self, ref: StorageRef, name: str, uri: str) -> Path:
        """A local file for a playlist entry: in place when on this disk, else fetched."""
        try:
            return self._local_or_fetched(ref, name)
        except InvalidJob as err:
            if isinstance(err, InputMissing | InputContentBad) or err.code != "InvalidParameter":
                raise
            raise InvalidJob(
                f"The input playlist names {uri!r}, which is refused: {err.message}"
            ) from None

    def _local_or_fetched(
        self, ref: StorageRef, name: str, cache: InputCache | None = None
    ) -> Path:
        """The file on this disk that holds ``ref``, else ``ref`` fetched to ``workdir/name``
        (through ``cache`` when one is given)."""
        local = self.storage.local_path(ref)
        if local is not None:
            if not local.is_file():
                raise _missing(ref)
            self._count(local.stat().st_size)
            return local
        dest = self.workdir / name
        self._fetch(ref, dest, cache)
        return dest

    def _fetch(self, ref: StorageRef, dest: Path, cache: InputCache | None) -> None:
        if ref.kind == "http":
            retry_transient(
                lambda: self._http_get(ref.url, dest, cache),
                window_s=self.settings.storage_retry_window,
                what=f"download {ref.display}",
            )
            return
        found = self.storage.identity(ref)
        if found is None:
            raise _missing(ref)
        self._count(found.size)  # before the cache: an oversized input is refused, hit or not
        if cache is None:
            self.storage.download(ref, dest)
            return
        source = self.storage.public_url(ref)
        cache.fetch(source, ref.display, found, dest, partial(self.storage.download, ref))

    def _count(self, size: int) -> None:
        self.fetched += size
        if self.fetched > self.settings.max_input_bytes:
            raise InvalidJob(
                f"The input is larger than {self.settings.max_input_bytes} bytes "
                "(MCFARM_MAX_INPUT_BYTES).",
                code=TOO_LARGE,
            )

    def _http_get(self, url: str, dest: Path, cache: InputCache | None) -> None:
        """GET ``url`` into ``dest``, following redirects only to allowed addresses."""
        start = self.fetched
        came_from = ""
        for _hop in range(MAX_REDIRECTS + 1):
            resp = _pinned_get(url, self._pin(url, came_from))
            try:
                if resp.status in _REDIRECTS:
                    came_from, url = url, _redirect_target(url, resp.headers.get("Location"))
                    continue
                _check_status(resp.status, url)
                self.fetched = start
                self._receive(resp, dest, url, cache)
                return
            finally:
                resp.release_conn()
        raise InvalidJob(f"GET {_shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _pin(self, url: str, came_from: str) -> PinnedHost:
        """The checked addresses of ``url``'s host; a refused hop names the one before it."""
        try:
            return pin_http_input(
                url,
                allow_private=self.settings.allow_private_inputs,
                field=self.field,
                trusted=self.settings.trusted_input_hosts,
            )
        except InvalidJob as err:
            if not came_from:
                raise
            raise InvalidJob(
                f"GET {_shown(came_from)} redirects to {_shown(url)}, which is refused: "
                f"{err.message}"
            ) from None

    def _receive(
        self, resp: urllib3.BaseHTTPResponse, dest: Path, url: str, cache: InputCache | None
    ) -> None:
        """The body of ``resp`` into ``dest``, through ``cache`` when the response names its
        version (``http_identity``)."""
        found = http_identity(resp) if cache is not None else None
        if found is None:
            self._save(resp, dest, url)
            return
        # Counted as announced, before the cache: an oversized input is refused, hit or not.
        # The body cannot outgrow its Content-Length (the HTTP client reads no further).
        self._count(found.size)
        fill = partial(self._save, resp, url=url, counted=True)
        if cache.fetch(url, _shown(url), found, dest, fill):
            resp.close()  # a hit: the body is not read; the connection is not reused

    def _save(
        self, resp: urllib3.BaseHTTPResponse, dest: Path, url: str, *, counted: bool = False
    ) -> None:
        """Stream the body into ``dest``, each chunk counted unless ``counted`` already."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with dest.open("wb") as out:
                for chunk in resp.stream(_CHUNK):
                    if not counted:
                        self._count(len(chunk))
                    out.write(chunk)
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"GET {_shown(url)} broke off: {exc}") from None


def http_identity(resp: urllib3.BaseHTTPResponse) -> Identity | None:
    """The version an HTTP response names, when a cache may key its bytes by it.

    Only a whole (200), unencoded body with a Content-Length and a strong ETag, that the
    server lets be stored: a strong ETag promises these exact bytes for as long as it stays
    the same (RFC 9110 §8.8.3), a weak one (``W/"…"``) only equivalent content.
    """
    headers = resp.headers
    etag, length = headers.get("ETag", ""), headers.get("Content-Length", "")
    if resp.status != 200 or not etag.startswith('"') or not length.isdigit():
        return None
    if headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None
    if "no-store" in headers.get("Cache-Control", "").lower():
        return None
    return Identity(int(length), etag)


def _pinned_get(url: str, pinned: PinnedHost) -> urllib3.BaseHTTPResponse:
    """GET ``url`` from its host's checked addresses (``workers.pinned_http``)."""
    try:
        return pinned_http.send("GET", url, pinned, timeout=_TIMEOUT, headers=_HEADERS)
    except urllib3.exceptions.HTTPError as exc:
        raise StorageUnavailable(f"GET {_shown(url)} failed: {exc}") from None


def _redirect_target(url: str, location: str | None) -> str:
    if not location:
        raise InvalidJob(f"GET {_shown(url)}: a redirect without a Location")
    target = urljoin(url, location)
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise InvalidJob(
            f"GET {_shown(url)} redirects to {_shown(target)!r}: only http(s) redirects are followed"
        )
    return target


def _missing(ref: StorageRef) -> InputMissing:
    return InputMissing(f'The resource operated "{ref.display}" cannot be found.')


def _check_status(status: int, url: str) -> None:
    if status in (404, 410):
        raise InputMissing(f'The resource operated "{_shown(url)}" cannot be found.')
    if status == 429 or status >= 500:
        raise StorageUnavailable(f"GET {_shown(url)} answered HTTP {status}")
    if status >= 400 or status < 200:
        raise InvalidJob(f"GET {_shown(url)} answered HTTP {status}")


def _shown(url: str) -> str:
    """A URL for messages: no query string (it may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _is_playlist(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(len(PLAYLIST_MAGIC) + 3)
    return head.removeprefix(b"\xef\xbb\xbf").startswith(PLAYLIST_MAGIC)


def _read_playlist(path: Path) -> str:
    if path.stat().st_size > MAX_PLAYLIST_BYTES:
        raise _bad(f"it is larger than {MAX_PLAYLIST_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _bad("it is not UTF-8 text") from None
