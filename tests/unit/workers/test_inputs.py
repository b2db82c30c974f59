"""workers.inputs: where playlist entries may point, what a playlist asks to fetch, where
an HTTP GET connects, and how a staged object goes through the worker's input cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import urllib3

from shared.config import Settings
from shared.errors import InputContentBad, InputMissing, InvalidJob
from shared.storage import Identity, StorageRef
from shared.storage_urls import PinnedHost
from tests.fakes import MemoryStorage
from workers.input_cache import InputCache
from workers.inputs import TOO_LARGE, MediaPlan, Stager, http_identity, plan_playlist, resolve_entry
from workers.pinned_http import plan

OBJECT = StorageRef("object", bucket="media", key="shows/ep1/index.m3u8")
FILE = StorageRef("file", path="/srv/media/ep1/index.m3u8")
HTTP = StorageRef("http", url="https://cdn.example.com/ep1/index.m3u8?token=t")


@pytest.mark.parametrize(
    ("base", "uri", "expected"),
    [
        (OBJECT, "seg-1.ts", StorageRef("object", bucket="media", key="shows/ep1/seg-1.ts")),
        (
            OBJECT,
            "hd/seg%201.ts",
            StorageRef("object", bucket="media", key="shows/ep1/hd/seg 1.ts"),
        ),
        (OBJECT, "./a/../b.ts", StorageRef("object", bucket="media", key="shows/ep1/b.ts")),
        (FILE, "seg-1.ts", StorageRef("file", path="/srv/media/ep1/seg-1.ts")),
        (HTTP, "seg-1.ts", StorageRef("http", url="https://cdn.example.com/ep1/seg-1.ts")),
        (HTTP, "/other/seg.ts", StorageRef("http", url="https://cdn.example.com/other/seg.ts")),
        (
            OBJECT,
            "https://cdn.example.com/x.ts",
            StorageRef("http", url="https://cdn.example.com/x.ts"),
        ),
        (
            FILE,
            "HTTP://cdn.example.com/x.ts",
            StorageRef("http", url="HTTP://cdn.example.com/x.ts"),
        ),
    ],
)
def test_entries_resolve_beside_the_playlist(base, uri, expected):
    assert resolve_entry(base, uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "FILE:/etc/passwd",
        "/etc/passwd",
        "../../etc/passwd",
        "..",
        "a/../../b.ts",
        "concat:a.ts|/etc/passwd",
        "data:video/mp2t;base64,AAAA",
        "subfile:,start,0,end,0,:/etc/passwd",
        "crypto+file:///etc/passwd",
        "ftp://example.com/a.ts",
        "//evil.example/a.ts",
        "seg\x00.ts",
        "..\\..\\etc\\passwd",
    ],
)
@pytest.mark.parametrize("base", [OBJECT, FILE])
def test_entries_that_leave_the_playlist_are_refused(base, uri):
    with pytest.raises(InputContentBad) as err:
        resolve_entry(base, uri)
    assert err.value.code == "InvalidParameter.ResourceContentBad"


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "gopher://x/", "seg\x00.ts"])
def test_a_remote_playlist_cannot_name_other_schemes(uri):
    with pytest.raises(InputContentBad):
        resolve_entry(HTTP, uri)


MEDIA = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXTINF:2.0,
seg-0.ts
#EXTINF:2.0,
seg-1.ts
#EXT-X-ENDLIST
"""

FMP4 = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.0,
seg-0.m4s
#EXTINF:2.0,
seg-1.m4s
#EXT-X-ENDLIST
"""

MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360
360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720
720p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1400000,RESOLUTION=842x480
480p.m3u8
"""


def test_a_media_playlist_lists_its_segments():
    assert plan_playlist(MEDIA) == MediaPlan(init=None, segments=["seg-0.ts", "seg-1.ts"])


def test_an_fmp4_playlist_starts_with_its_init_section():
    assert plan_playlist(FMP4) == MediaPlan(init="init.mp4", segments=["seg-0.m4s", "seg-1.m4s"])


def test_a_master_playlist_names_its_best_variant():
    assert plan_playlist(MASTER) == "720p.m3u8"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("#EXTM3U\n#EXT-X-ENDLIST\n", "no segments"),
        (
            MEDIA.replace(
                "#EXTINF:2.0,\nseg-0.ts",
                '#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:2.0,\nseg-0.ts',
            ),
            "encrypted",
        ),
        (
            MEDIA.replace(
                "#EXTINF:2.0,\nseg-0.ts", "#EXTINF:2.0,\n#EXT-X-BYTERANGE:100@0\nseg-0.ts"
            ),
            "byte-range",
        ),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "no variant"),
    ],
)
def test_playlists_it_cannot_join_are_refused(text, why):
    with pytest.raises(InputContentBad) as err:
        plan_playlist(text)
    assert why in err.value.message


def test_an_unencrypted_key_tag_is_fine():
    text = MEDIA.replace("#EXTINF:2.0,\nseg-0.ts", "#EXT-X-KEY:METHOD=NONE\n#EXTINF:2.0,\nseg-0.ts")
    assert plan_playlist(text).segments == ["seg-0.ts", "seg-1.ts"]


@pytest.mark.parametrize(
    ("url", "pinned", "scheme", "target", "host_header"),
    [
        (
            "https://Media.example.com:8443/in/a.mp4?sig=x#frag",
            PinnedHost("media.example.com", 8443, ("8.8.8.8", "2001:4860:4860::8888")),
            "https",
            "/in/a.mp4?sig=x",
            "media.example.com:8443",
        ),
        (
            "http://media.example.com",
            PinnedHost("media.example.com", 80, ("8.8.8.8",)),
            "http",
            "/",
            "media.example.com",
        ),
        (
            "HTTP://[2001:4860:4860::8888]:8080/a.mp4",
            PinnedHost("2001:4860:4860::8888", 8080, ("2001:4860:4860::8888",)),
            "http",
            "/a.mp4",
            "[2001:4860:4860::8888]:8080",
        ),
    ],
)
def test_a_get_goes_to_the_pinned_addresses_and_names_the_host(
    url, pinned, scheme, target, host_header
):
    request = plan(url, pinned)
    assert (request.scheme, request.port, request.addresses) == (
        scheme,
        pinned.port,
        pinned.addresses,
    )
    assert (request.target, request.headers["Host"]) == (target, host_header)
    # TLS sends the name (SNI) and verifies the certificate against it, not the address.
    assert request.tls == {"server_hostname": pinned.host, "assert_hostname": pinned.host}


# --- staging through the input cache (a real cache in tmp_path; storage in memory) -------

CLIP = "oss://media/clip.mp4"


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "work").mkdir()
    return Settings(work_dir=tmp_path / "work", input_cache_bytes=10_000, max_input_bytes=4096)


def _stage(storage: MemoryStorage, settings: Settings, task: str, media: str = CLIP) -> Path:
    workdir = settings.work_dir / task
    workdir.mkdir()
    bucket, _, key = media.removeprefix("oss://").partition("/")
    return Stager(storage, settings, workdir).stage(StorageRef("object", bucket=bucket, key=key))


def test_the_probe_and_the_outputs_of_a_job_download_its_input_once(settings):
    storage = MemoryStorage({CLIP: b"mp4 bytes"})

    staged = [_stage(storage, settings, task) for task in ("probe", "out0", "out1")]

    assert storage.called("download") == [CLIP]
    assert [path.read_bytes() for path in staged] == [b"mp4 bytes"] * 3
    assert all(path.parent.parent == settings.work_dir for path in staged)  # each task's own
    counters = InputCache.for_settings(settings).counters()
    assert (counters.misses, counters.hits, counters.bytes_fetched) == (1, 2, 9)


def test_a_replaced_object_is_downloaded_again(settings):
    storage = MemoryStorage({CLIP: b"first"})
    first = _stage(storage, settings, "t1")
    storage.objects[CLIP] = b"second"

    assert _stage(storage, settings, "t2").read_bytes() == b"second"
    assert _stage(storage, settings, "t3").read_bytes() == b"second"
    assert storage.called("download") == [CLIP, CLIP]
    assert first.read_bytes() == b"first"  # a task that began before keeps what it read


def test_a_cached_input_over_the_limit_is_still_refused(settings):
    storage = MemoryStorage({CLIP: b"x" * 3000})
    _stage(storage, settings, "t1")
    stricter = dataclasses.replace(settings, max_input_bytes=2048)

    with pytest.raises(InvalidJob) as err:
        _stage(storage, stricter, "t2")

    assert err.value.code == TOO_LARGE
    assert storage.called("download") == [CLIP]


def test_a_missing_object_is_missing_whatever_the_cache_holds(settings):
    storage = MemoryStorage({CLIP: b"bytes"})
    _stage(storage, settings, "t1")
    storage.objects.clear()
    with pytest.raises(InputMissing):
        _stage(storage, settings, "t2")


def test_with_the_cache_off_every_task_downloads(settings):
    off = dataclasses.replace(settings, input_cache_bytes=0)
    storage = MemoryStorage({CLIP: b"bytes"})
    _stage(storage, off, "t1")
    _stage(storage, off, "t2")
    assert storage.called("download") == [CLIP, CLIP]
    assert not off.input_cache_path.exists()


def test_a_playlist_is_cached_and_its_segments_are_fetched_per_task(settings):
    playlist = "oss://media/hls/index.m3u8"
    storage = MemoryStorage({playlist: MEDIA.encode(), "oss://media/hls/seg-0.ts": b"ts0"})
    storage.objects["oss://media/hls/seg-1.ts"] = b"ts1"

    joined = [_stage(storage, settings, task, playlist) for task in ("t1", "t2")]

    assert [path.read_bytes() for path in joined] == [b"ts0ts1"] * 2
    assert storage.called("download").count(playlist) == 1
    assert storage.called("download").count("oss://media/hls/seg-0.ts") == 2


def _response(status: int = 200, **headers: str) -> urllib3.HTTPResponse:
    return urllib3.HTTPResponse(body=b"", headers=headers, status=status, preload_content=False)


@pytest.mark.parametrize(
    ("response", "identity"),
    [
        (_response(ETag='"abc"', **{"Content-Length": "10"}), Identity(10, '"abc"')),
        (
            _response(ETag='"abc"', **{"Content-Length": "10", "Content-Encoding": "identity"}),
            Identity(10, '"abc"'),
        ),
        (_response(ETag='W/"abc"', **{"Content-Length": "10"}), None),  # weak: not these bytes
        (_response(**{"Content-Length": "10"}), None),  # no version named
        (_response(ETag='"abc"'), None),  # no length (chunked)
        (_response(206, ETag='"abc"', **{"Content-Length": "10"}), None),  # a part
        (_response(ETag='"abc"', **{"Content-Length": "10", "Content-Encoding": "gzip"}), None),
        (_response(ETag='"abc"', **{"Content-Length": "10", "Cache-Control": "no-store"}), None),
    ],
)
def test_an_http_input_is_cached_only_when_its_response_names_its_version(response, identity):
    assert http_identity(response) == identity
