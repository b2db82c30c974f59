"""The browser playback harness, proved on HLS and DASH packages made here with plain FFmpeg.

Headless Chromium plays each package with the pinned hls.js / dash.js for 3 s and the frame on
screen must not be blank; a missing manifest must come back as a player error, not a timeout,
and a server that never answers as a timeout, not a hang.
"""

from __future__ import annotations

import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.playback import STALL_WARNINGS
from tests.media_tools import ffmpeg as _ffmpeg
from tests.servers.players import is_blank, play_in_chromium
from tests.servers.static_server import StaticServer, parse_range

pytestmark = pytest.mark.e2e

PLAY_SECONDS = 3.0
# hls.js reports a stall as a non-fatal error when the machine decodes slowly; that says nothing
# about the package, unlike every other non-fatal error (parsing, timestamp gaps, retries).
# x264 GOP of 2 s at 25 fps, no scene-cut keyframes: every 2 s segment starts on an IDR, as
# both HLS (RFC 8216 section 3) and DASH segment templates need.
# https://trac.ffmpeg.org/wiki/Encode/H.264
GOP = ["-g", "50", "-keyint_min", "50", "-sc_threshold", "0"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """6 s of 640x360 25 fps testsrc2 with a 440 Hz tone: H.264 High@3.1 + AAC-LC."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (make test installs it)")
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    _ffmpeg(
        *["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6"],
        *["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6"],
        *["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level:v", "3.1"],
        *["-pix_fmt", "yuv420p", *GOP, "-c:a", "aac", "-b:a", "96k", "-shortest", str(path)],
    )
    return path


@pytest.fixture(scope="module")
def hls_package(clip, tmp_path_factory) -> Path:
    """A two-rendition TS ladder (640x360 and 320x180) under a master playlist."""
    out = tmp_path_factory.mktemp("hls")
    _ffmpeg(
        *["-i", str(clip), "-filter_complex", "[0:v]split=2[hi][lo0];[lo0]scale=320:180[lo]"],
        *["-map", "[hi]", "-map", "[lo]", "-map", "0:a", "-map", "0:a"],
        *["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", *GOP],
        *["-b:v:0", "800k", "-b:v:1", "250k", "-c:a", "aac", "-b:a", "96k"],
        *["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"],
        *["-hls_segment_type", "mpegts", "-master_pl_name", "master.m3u8"],
        *["-var_stream_map", "v:0,a:0 v:1,a:1", "-hls_segment_filename", "v%v/seg%03d.ts"],
        "v%v/index.m3u8",
        cwd=out,
    )
    return out


@pytest.fixture(scope="module")
def hls_byterange_package(clip, tmp_path_factory) -> Path:
    """One fMP4 file addressed by EXT-X-BYTERANGE, so the player must send Range requests."""
    out = tmp_path_factory.mktemp("hls-byterange")
    _ffmpeg(
        *["-i", str(clip), "-map", "0:v", "-map", "0:a", "-c", "copy"],
        *["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"],
        *["-hls_segment_type", "fmp4", "-hls_flags", "single_file", "-master_pl_name"],
        *["master.m3u8", "-hls_segment_filename", "media.mp4", "index.m3u8"],
        cwd=out,
    )
    return out


@pytest.fixture(scope="module")
def dash_package(clip, tmp_path_factory) -> Path:
    """The clip remuxed (no re-encode) into 2 s fMP4 segments with a SegmentTimeline."""
    out = tmp_path_factory.mktemp("dash")
    _ffmpeg(
        *["-i", str(clip), "-map", "0:v", "-map", "0:a", "-c", "copy"],
        *["-f", "dash", "-seg_duration", "2", "-use_template", "1", "-use_timeline", "1"],
        *["-adaptation_sets", "id=0,streams=v id=1,streams=a", "manifest.mpd"],
        cwd=out,
    )
    return out


def _page(server: StaticServer, mode: str, manifest: str) -> str:
    return server.url("/player/player.html?" + urlencode({"mode": mode, "src": manifest}))


@pytest.mark.parametrize(
    ("mode", "package", "manifest"),
    [
        ("hls", "hls_package", "/master.m3u8"),
        ("hls", "hls_byterange_package", "/master.m3u8"),
        ("dash", "dash_package", "/manifest.mpd"),
    ],
    ids=["hls-ts-ladder", "hls-fmp4-byterange", "dash-timeline"],
)
def test_chromium_plays_package(mode, package, manifest, assets, request, tmp_path):
    root = request.getfixturevalue(package)
    with StaticServer(root, mounts={"/player/": assets}) as server:
        result = play_in_chromium(
            _page(server, mode, manifest),
            seconds=PLAY_SECONDS,
            timeout=30,
            screenshot=tmp_path / f"{package}.png",
        )
    assert result.error is None, (result.errors, server.requests[-10:])
    assert [e for e in result.errors if not e.startswith(STALL_WARNINGS)] == []
    assert result.played_seconds >= PLAY_SECONDS
    assert (result.video_width, result.video_height) in {(640, 360), (320, 180)}
    assert result.audio_decoded_bytes > 0  # the AAC track was decoded too, not only video
    assert result.screenshot is not None and not is_blank(result.screenshot)
    if package == "hls_byterange_package":
        assert any(status == 206 for _, _, status in server.requests), server.requests


@pytest.mark.parametrize("mode", ["hls", "dash"])
def test_missing_manifest_is_reported_not_hung(mode, assets, tmp_path):
    missing = "/missing.m3u8" if mode == "hls" else "/missing.mpd"
    with StaticServer(tmp_path, mounts={"/player/": assets}) as server:
        result = play_in_chromium(
            _page(server, mode, missing), timeout=30, screenshot=tmp_path / "missing.png"
        )
    assert result.error is not None and not result.timed_out
    assert result.played_seconds == 0
    assert ("GET", missing, 404) in server.requests


def test_stalled_manifest_times_out_and_says_so(assets, tmp_path):
    # A socket that listens but never answers: the kernel completes the TCP handshake, then
    # the player waits on the request longer than the harness does.
    with (
        socket.create_server(("127.0.0.1", 0)) as silent,
        StaticServer(tmp_path, mounts={"/player/": assets}) as server,
    ):
        manifest = f"http://127.0.0.1:{silent.getsockname()[1]}/master.m3u8"
        result = play_in_chromium(
            _page(server, "hls", manifest), timeout=5, screenshot=tmp_path / "stalled.png"
        )
    assert result.timed_out and result.error is not None
    assert result.played_seconds == 0
    assert result.screenshot is not None and is_blank(result.screenshot)


def test_static_server_types_and_ranges(tmp_path):
    (tmp_path / "seg.ts").write_bytes(bytes(range(100)))
    (tmp_path / "master.m3u8").write_text("#EXTM3U\n")
    with StaticServer(tmp_path) as server:
        with urllib.request.urlopen(server.url("/master.m3u8")) as reply:
            assert reply.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        ranged = urllib.request.Request(server.url("/seg.ts"), headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(ranged) as reply:
            assert reply.status == 206
            assert reply.headers["Content-Type"] == "video/mp2t"
            assert reply.headers["Content-Range"] == "bytes 10-19/100"
            assert reply.read() == bytes(range(10, 20))
        for path, status in [("/seg.ts/../../etc/passwd", 404), ("/nope.mpd", 404)]:
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(server.url(path))
            caught.value.close()
            assert caught.value.code == status


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=5-1", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header, span):
    assert parse_range(header, 100) == span


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0"])
def test_parse_range_unsatisfiable(header):
    with pytest.raises(ValueError):
        parse_range(header, 100)


@pytest.mark.parametrize("pix_fmt", ["rgb24", "rgba", "gray", "ya8"])
@pytest.mark.parametrize("pred", ["none", "sub", "up", "avg", "paeth", "mixed"])
def test_is_blank_decodes_every_png_filter(pred, pix_fmt, tmp_path):
    """FFmpeg's PNG encoder writes every row with filter ``pred`` (mixed: its per-row choice)."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (make test installs it)")
    flat, dot = tmp_path / "flat.png", tmp_path / "dot.png"
    colour = "color=c=0x203040:s=96x54"
    # The one odd pixel block sits in the last rows, so only a full, correct decode finds it.
    with_dot = f"{colour},drawbox=x=90:y=50:w=2:h=2:c=white:t=fill"
    _ffmpeg(
        *["-f", "lavfi", "-i", colour, "-f", "lavfi", "-i", with_dot],
        *["-map", "0", "-frames:v", "1", "-pix_fmt", pix_fmt, "-pred", pred, str(flat)],
        *["-map", "1", "-frames:v", "1", "-pix_fmt", pix_fmt, "-pred", pred, str(dot)],
    )
    assert is_blank(flat)
    assert not is_blank(dot)
