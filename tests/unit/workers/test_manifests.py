"""workers.manifests and workers.dash_mpd on canned ffprobe JSON, playlists and MPDs."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import m3u8
import pytest

from shared.errors import InputContentBad, InvalidJob
from workers.manifests import (
    Measured,
    Rendition,
    codecs_string,
    master_playlist,
    measure_playlist,
    merge_mpd,
    rendition_from_output,
)

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def video(codec="h264", profile="High", level=31, **extra) -> dict:
    return {"codec_type": "video", "codec_name": codec, "profile": profile, "level": level} | extra


def audio(codec="aac", profile="LC", **extra) -> dict:
    return {"codec_type": "audio", "codec_name": codec, "profile": profile} | extra


def probe(*streams) -> dict:
    return {"streams": list(streams), "format": {"format_name": "hls"}}


# --- codecs_string --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("streams", "expected"),
    [
        ((video("h264", "High", 31), audio()), "avc1.64001f,mp4a.40.2"),
        ((audio(), video("h264", "High", 31)), "avc1.64001f,mp4a.40.2"),  # video first
        ((video("h264", "Main", 30),), "avc1.4d001e"),
        ((video("h264", "Constrained Baseline", 30),), "avc1.42e01e"),
        ((video("h264", "Baseline", 21),), "avc1.420015"),
        ((video("h264", "High 10", 40),), "avc1.6e0028"),
        ((video("h264", "High", 9),), "avc1.640009"),
        ((video("hevc", "Main", 93, codec_tag_string="hvc1"),), "hvc1.1.6.L93.B0"),
        ((video("hevc", "Main", 120, codec_tag_string="hev1"),), "hev1.1.6.L120.B0"),
        ((video("hevc", "Main 10", 150, codec_tag_string="[36][0][0][0]"),), "hvc1.2.4.L150.B0"),
        ((audio("aac", "HE-AAC"),), "mp4a.40.5"),
        ((audio("aac", "HE-AACv2"),), "mp4a.40.29"),
        ((audio("mp3", None),), "mp4a.40.34"),
        ((video("hevc", "Main", 63), audio("eac3", None)), "hvc1.1.6.L63.B0,ec-3"),
        # Cover art is not the video of an audio rendition.
        ((video("png", None, -99, disposition={"attached_pic": 1}), audio("mp3")), "mp4a.40.34"),
    ],
)
def test_codecs_string(streams, expected):
    assert codecs_string(probe(*streams)) == expected


@pytest.mark.parametrize(
    "streams",
    [
        (video("vp9", "Profile 0", 31),),
        (video("h264", "High 4:4:4 Intra", 31),),
        (video("h264", "High", -99),),
        (video("hevc", "Rext", 93),),
        (audio("aac", None),),
        (audio("opus", None),),
        (),
    ],
)
def test_codecs_string_refuses(streams):
    with pytest.raises(InputContentBad):
        codecs_string(probe(*streams))


# --- measure_playlist -------------------------------------------------------------------------------

TS_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:4.000000,
720p-00000.ts
#EXTINF:4.000000,
720p-00001.ts
#EXTINF:4.000000,
720p-00002.ts
#EXTINF:0.400000,
720p-00003.ts
#EXT-X-ENDLIST
"""
TS_SIZES = {
    "720p-00000.ts": 500_000,  # 1.0 Mbit/s
    "720p-00001.ts": 600_000,  # 1.2 Mbit/s: the peak
    "720p-00002.ts": 400_000,
    "720p-00003.ts": 100_000,  # 2.0 Mbit/s, but 0.4 s is under half the target duration
}


def test_measure_playlist():
    measured = measure_playlist(TS_PLAYLIST, TS_SIZES)
    assert measured.segments == [
        ("720p-00000.ts", 4.0, 500_000),
        ("720p-00001.ts", 4.0, 600_000),
        ("720p-00002.ts", 4.0, 400_000),
        ("720p-00003.ts", 0.4, 100_000),
    ]
    assert measured.total_duration == pytest.approx(12.4)
    assert measured.peak_bps == 1_200_000
    assert measured.average_bps == 1_032_258  # 1.6 MB * 8 / 12.4 s


def test_a_short_last_segment_counts_with_its_neighbour():
    sizes = TS_SIZES | {"720p-00003.ts": 200_000}  # 2 + 0.4 s: 600 kB / 4.4 s = 1.09 Mbit/s
    sizes["720p-00001.ts"] = 400_000
    assert measure_playlist(TS_PLAYLIST, sizes).peak_bps == 1_090_910


def test_measure_fmp4_leaves_the_init_section_out():
    playlist = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="en-init.mp4"
#EXTINF:2.000000,
en-00000.m4s
#EXTINF:1.500000,
en-00001.m4s
#EXT-X-ENDLIST
"""
    sizes = {"en-init.mp4": 700, "en-00000.m4s": 16_000, "en-00001.m4s": 15_000}
    measured = measure_playlist(playlist, sizes)
    assert [uri for uri, _, _ in measured.segments] == ["en-00000.m4s", "en-00001.m4s"]
    assert measured.peak_bps == 80_000  # 15 kB / 1.5 s
    assert measured.average_bps == 70_857  # 31 kB * 8 / 3.5 s


def test_a_playlist_shorter_than_half_a_target():
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:1.0,\na.ts\n#EXT-X-ENDLIST\n"
    measured = measure_playlist(playlist, {"a.ts": 1000})
    assert (measured.peak_bps, measured.average_bps) == (8000, 8000)


@pytest.mark.parametrize(
    ("text", "sizes"),
    [
        (TS_PLAYLIST, {"720p-00000.ts": 1}),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n", {}),
    ],
)
def test_measure_playlist_refuses(text, sizes):
    with pytest.raises(ValueError):
        measure_playlist(text, sizes)


# --- master_playlist --------------------------------------------------------------------------------

NTSC = 30000 / 1001
LADDER = [
    Rendition(
        playlist="video/720p.m3u8",
        kind="video",
        peak_bps=3_000_000,
        average_bps=2_500_000,
        width=1280,
        height=720,
        frame_rate=NTSC,
        codecs="avc1.64001f",
    ),
    Rendition(
        playlist="video/1080p.m3u8",
        kind="video",
        peak_bps=5_000_000,
        average_bps=4_000_000,
        width=1920,
        height=1080,
        frame_rate=NTSC,
        codecs="avc1.640028",
    ),
    Rendition(
        playlist="video/360p.m3u8",
        kind="video",
        peak_bps=1_000_000,
        average_bps=800_000,
        width=640,
        height=360,
        frame_rate=NTSC,
        codecs="avc1.4d001e",
    ),
    Rendition(
        playlist="audio/en.m3u8",
        kind="audio",
        peak_bps=140_000,
        average_bps=128_000,
        codecs="mp4a.40.2",
        name="English",
        language="en",
        is_default="true",
    ),
    Rendition(
        playlist="audio/de.m3u8",
        kind="audio",
        peak_bps=100_000,
        average_bps=96_000,
        codecs="mp4a.40.5",
        name="Deutsch",
        language="de",
        is_default="false",
    ),
]
LADDER_MASTER = """\
#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS

#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,URI="audio/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Deutsch",LANGUAGE="de",DEFAULT=NO,AUTOSELECT=YES,URI="audio/de.m3u8"

#EXT-X-STREAM-INF:BANDWIDTH=1140000,AVERAGE-BANDWIDTH=928000,RESOLUTION=640x360,CODECS="avc1.4d001e,mp4a.40.2,mp4a.40.5",FRAME-RATE=29.970,AUDIO="audio"
video/360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3140000,AVERAGE-BANDWIDTH=2628000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2,mp4a.40.5",FRAME-RATE=29.970,AUDIO="audio"
video/720p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=5140000,AVERAGE-BANDWIDTH=4128000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2,mp4a.40.5",FRAME-RATE=29.970,AUDIO="audio"
video/1080p.m3u8
"""


def test_master_playlist_ladder():
    assert master_playlist(LADDER) == LADDER_MASTER


def test_master_playlist_parses_back():
    parsed = m3u8.loads(master_playlist(LADDER))
    assert parsed.is_variant
    assert [p.uri for p in parsed.playlists] == [
        "video/360p.m3u8",
        "video/720p.m3u8",
        "video/1080p.m3u8",
    ]
    info = parsed.playlists[2].stream_info
    assert (info.bandwidth, info.average_bandwidth, info.resolution) == (
        5_140_000,
        4_128_000,
        (1920, 1080),
    )
    assert (info.frame_rate, info.audio) == (29.97, "audio")
    assert [(m.language, m.default, m.autoselect, m.uri) for m in parsed.media] == [
        ("en", "YES", "YES", "audio/en.m3u8"),
        ("de", "NO", "YES", "audio/de.m3u8"),
    ]


def test_master_playlist_hybrid():
    hybrid = [
        Rendition(
            playlist="480p.m3u8",
            kind="hybrid",
            peak_bps=900_000,
            average_bps=850_000,
            width=854,
            height=480,
            frame_rate=25.0,
            codecs="avc1.64001e,mp4a.40.2",
        ),
        Rendition(
            playlist="240p.m3u8",
            kind="hybrid",
            peak_bps=400_000,
            average_bps=380_000,
            width=426,
            height=240,
            frame_rate=25.0,
            codecs="avc1.4d0015,mp4a.40.2",
        ),
    ]
    assert master_playlist(hybrid, fmp4=True) == (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=380000,RESOLUTION=426x240,CODECS="avc1.4d0015,mp4a.40.2",FRAME-RATE=25.000\n'
        "240p.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=850000,RESOLUTION=854x480,CODECS="avc1.64001e,mp4a.40.2",FRAME-RATE=25.000\n'
        "480p.m3u8\n"
    )
    assert len(m3u8.loads(master_playlist(hybrid)).playlists) == 2


def test_audio_only_group_lists_its_renditions_as_variants():
    text = master_playlist([LADDER[3], LADDER[4]])
    parsed = m3u8.loads(text)
    assert "#EXT-X-MEDIA" not in text and "RESOLUTION" not in text
    assert [(p.uri, p.stream_info.bandwidth) for p in parsed.playlists] == [
        ("audio/de.m3u8", 100_000),
        ("audio/en.m3u8", 140_000),
    ]


def test_the_first_audio_rendition_of_a_group_is_the_default_unless_one_says():
    en, de = (dataclasses.replace(r, is_default=None, autoselect=None) for r in LADDER[3:])
    lines = [line for line in master_playlist([LADDER[0], en, de]).splitlines() if "MEDIA" in line]
    assert ["DEFAULT=YES" in line for line in lines] == [True, False]
    # DEFAULT=YES forces AUTOSELECT=YES; an explicit "false" is kept on the others.
    de_off = dataclasses.replace(de, autoselect="false")
    en_off = dataclasses.replace(en, is_default="true", autoselect="false")
    text = master_playlist([LADDER[0], en_off, de_off])
    assert "DEFAULT=YES,AUTOSELECT=YES" in text and "DEFAULT=NO,AUTOSELECT=NO" in text


def test_several_audio_groups():
    surround = dataclasses.replace(
        LADDER[3],
        playlist="audio/en51.m3u8",
        group="surround",
        peak_bps=400_000,
        codecs="ec-3",
        is_default=None,
    )
    big = dataclasses.replace(LADDER[1], audio_group="surround")
    parsed = m3u8.loads(master_playlist([LADDER[0], big, *LADDER[3:], surround]))
    by_uri = {p.uri: p.stream_info for p in parsed.playlists}
    assert by_uri["video/1080p.m3u8"].bandwidth == 5_400_000
    assert by_uri["video/1080p.m3u8"].codecs == "avc1.640028,ec-3"
    assert by_uri["video/1080p.m3u8"].audio == "surround"
    assert by_uri["video/720p.m3u8"].bandwidth == 3_140_000
    assert {m.group_id for m in parsed.media} == {"audio", "surround"}


def test_video_without_any_audio_rendition():
    text = master_playlist(LADDER[:3])
    assert "AUDIO=" not in text and "#EXT-X-MEDIA" not in text


def test_unknown_audio_group():
    orphan = dataclasses.replace(LADDER[0], audio_group="nope")
    with pytest.raises(InvalidJob):
        master_playlist([orphan, LADDER[3]])


def test_quoted_strings_stay_quoted():
    odd = dataclasses.replace(LADDER[3], name='Director "cut"\nEN', language=None)
    line = next(ln for ln in master_playlist([LADDER[0], odd]).splitlines() if "MEDIA" in ln)
    assert "NAME=\"Director 'cut' EN\"" in line and "LANGUAGE" not in line
    assert m3u8.loads(master_playlist([LADDER[0], odd])).media[0].name == "Director 'cut' EN"


def test_name_defaults_to_language_then_stem():
    nameless = dataclasses.replace(LADDER[3], name=None)
    anonymous = dataclasses.replace(LADDER[4], name=None, language=None)
    media = m3u8.loads(master_playlist([LADDER[0], nameless, anonymous])).media
    assert [m.name for m in media] == ["en", "de"]


@pytest.mark.parametrize("renditions", [[], [dataclasses.replace(LADDER[0], kind="subtitle")]])
def test_master_playlist_refuses(renditions):
    with pytest.raises(ValueError):
        master_playlist(renditions)


def test_rendition_from_output():
    probe_json = probe(
        video("h264", "Main", 30, width=640, height=360, avg_frame_rate="25/1", index=0),
        audio("aac", "LC", index=1),
    )
    measured = Measured(
        segments=[("a.ts", 2.0, 1000)], total_duration=2.0, peak_bps=4000, average_bps=4000
    )
    hls = {
        "Type": "audio",
        "Group": "aud",
        "Name": "English",
        "Language": "en",
        "IsDefault": "true",
        "AutoSelect": "false",
    }
    assert rendition_from_output("audio/en.m3u8", hls, measured, probe_json) == Rendition(
        playlist="audio/en.m3u8",
        kind="audio",
        peak_bps=4000,
        average_bps=4000,
        width=640,
        height=360,
        frame_rate=25.0,
        codecs="avc1.4d001e,mp4a.40.2",
        group="aud",
        audio_group="audio",
        name="English",
        language="en",
        is_default="true",
        autoselect="false",
    )
    plain = rendition_from_output("a.m3u8", {}, measured, probe(audio()))
    assert (plain.kind, plain.width, plain.frame_rate, plain.group) == (
        "hybrid",
        None,
        None,
        "audio",
    )


# --- merge_mpd ------------------------------------------------------------------------------------


def part_mpd(
    stem: str,
    kind: str = "video",
    *,
    lang: str = "und",
    duration: str = "PT10.0S",
    height: int = 360,
    extra_rep: str = "",
    template_on_set: bool = False,
) -> str:
    """A single-representation MPD shaped like FFmpeg 5.1's dash muxer writes it."""
    template = (
        f'<SegmentTemplate timescale="12800" initialization="{stem}-init.mp4" '
        f'media="{stem}-$Number%05d$.m4s" startNumber="1">'
        '<SegmentTimeline><S t="0" d="25600" r="4" /></SegmentTimeline></SegmentTemplate>'
    )
    if kind == "video":
        width = height * 16 // 9 // 2 * 2
        set_attrs = f'contentType="video" frameRate="25/1" maxWidth="{width}" lang="{lang}"'
        rep = (
            f'<Representation id="0" mimeType="video/mp4" codecs="avc1.64001e" '
            f'bandwidth="{height * 2000}" width="{width}" height="{height}" sar="1:1">'
        )
    else:
        set_attrs = f'contentType="audio" lang="{lang}"'
        rep = (
            '<Representation id="0" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="64000" '
            'audioSamplingRate="48000"><AudioChannelConfiguration '
            'schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2" />'
        )
    inner = "" if template_on_set else template
    outer = template if template_on_set else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" '
        f'mediaPresentationDuration="{duration}" maxSegmentDuration="PT2.0S" '
        'minBufferTime="PT4.0S"><ProgramInformation></ProgramInformation>'
        f'<Period id="0" start="PT0.0S"><AdaptationSet id="0" {set_attrs} startWithSAP="1" '
        f'segmentAlignment="true">{outer}{rep}{inner}</Representation>{extra_rep}'
        "</AdaptationSet></Period></MPD>"
    )


LADDER_PARTS = [
    ("video/", part_mpd("360p", height=360)),
    ("video", part_mpd("240p", height=240, duration="PT10.04S")),
    ("audio/", part_mpd("en", "audio", lang="en", duration="PT10.021S")),
    ("", part_mpd("de", "audio", lang="de", duration="PT9.9S")),
    ("audio/", part_mpd("en-lo", "audio", lang="en")),
]


def merged_root(parts, **kwargs) -> tuple[str, ET.Element]:
    text = merge_mpd(parts, **kwargs)
    return text, ET.fromstring(text)


def test_merge_mpd_structure():
    text, root = merged_root(LADDER_PARTS)
    assert "ns0:" not in text and text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<MPD')
    assert root.tag == "{urn:mpeg:dash:schema:mpd:2011}MPD"
    assert root.attrib == {
        "profiles": "urn:mpeg:dash:profile:isoff-live:2011",
        "type": "static",
        "mediaPresentationDuration": "PT10.04S",
        "maxSegmentDuration": "PT2.0S",
        "minBufferTime": "PT4.0S",
    }
    sets = root.findall("d:Period/d:AdaptationSet", NS)
    assert [(s.get("id"), s.get("contentType"), s.get("lang")) for s in sets] == [
        ("0", "video", None),
        ("1", "audio", "en"),
        ("2", "audio", "de"),
    ]
    assert {k: sets[0].get(k) for k in ("segmentAlignment", "maxWidth", "maxHeight")} == {
        "segmentAlignment": "true",
        "maxWidth": "640",
        "maxHeight": "360",
    }
    ids = [[r.get("id") for r in s.findall("d:Representation", NS)] for s in sets]
    assert ids == [["v0", "v1"], ["a0", "a2"], ["a1"]]


def test_merge_mpd_representations_stand_alone():
    _, root = merged_root(LADDER_PARTS)
    reps = {r.get("id"): r for r in root.iterfind(".//d:Representation", NS)}
    v1 = reps["v1"]
    assert {k: v1.get(k) for k in ("codecs", "bandwidth", "width", "height", "frameRate")} == {
        "codecs": "avc1.64001e",
        "bandwidth": "480000",
        "width": "426",
        "height": "240",
        "frameRate": "25/1",
    }
    assert reps["a0"].get("audioSamplingRate") == "48000"
    assert reps["a0"].find("d:AudioChannelConfiguration", NS).get("value") == "2"
    urls = {
        rid: (t.get("initialization"), t.get("media"))
        for rid, t in ((rid, r.find("d:SegmentTemplate", NS)) for rid, r in reps.items())
    }
    assert urls == {
        "v0": ("video/360p-init.mp4", "video/360p-$Number%05d$.m4s"),
        "v1": ("video/240p-init.mp4", "video/240p-$Number%05d$.m4s"),
        "a0": ("audio/en-init.mp4", "audio/en-$Number%05d$.m4s"),
        "a1": ("de-init.mp4", "de-$Number%05d$.m4s"),
        "a2": ("audio/en-lo-init.mp4", "audio/en-lo-$Number%05d$.m4s"),
    }
    timeline = reps["v0"].find("d:SegmentTemplate/d:SegmentTimeline/d:S", NS)
    assert timeline.attrib == {"t": "0", "d": "25600", "r": "4"}


def test_merge_mpd_takes_an_adaptation_set_template():
    _, root = merged_root([("v/", part_mpd("360p", template_on_set=True))])
    template = root.find(".//d:Representation/d:SegmentTemplate", NS)
    assert template.get("initialization") == "v/360p-init.mp4"


def test_merge_mpd_attribute_overrides():
    _, root = merged_root(
        LADDER_PARTS[:2], attributes=[{"codecs": "hvc1.1.6.L93.B0"}, {"bandwidth": 123}]
    )
    reps = root.findall(".//d:Representation", NS)
    assert [(r.get("codecs"), r.get("bandwidth")) for r in reps] == [
        ("hvc1.1.6.L93.B0", "720000"),
        ("avc1.64001e", "123"),
    ]


def test_merge_mpd_refuses_a_part_with_audio_and_video():
    audio_rep = '<Representation id="1" mimeType="audio/mp4" bandwidth="1" />'
    with pytest.raises(InvalidJob):
        merge_mpd([("", part_mpd("360p", extra_rep=audio_rep))])


@pytest.mark.parametrize(
    ("parts", "kwargs"),
    [([], {}), (LADDER_PARTS[:2], {"attributes": [{}]})],
)
def test_merge_mpd_bad_arguments(parts, kwargs):
    with pytest.raises(ValueError):
        merge_mpd(parts, **kwargs)
