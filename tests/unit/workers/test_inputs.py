"""workers.inputs: where playlist entries may point, what a playlist asks to fetch, and where
an HTTP GET connects."""

from __future__ import annotations

import pytest

from shared.errors import InputContentBad
from shared.storage import StorageRef
from shared.storage_urls import PinnedHost
from workers.inputs import MediaPlan, plan_playlist, resolve_entry
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
