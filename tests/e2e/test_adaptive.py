"""HLS and DASH ladders on a real S3 server: playlists parse, segments exist, keyframes align,
and FFmpeg decodes the whole package over HTTP."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import m3u8
import pytest

from tests.e2e.conftest import MEDIA_BUCKET, client_for, wait_job
from tests.e2e.playback import keyframes, plays_in_chromium
from tests.servers.seaweed import PUBLIC_BUCKET

pytestmark = pytest.mark.e2e

FRAME = 1 / 25
SOURCE_SECONDS = 10.0
DASH_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@pytest.fixture(scope="module")
def s3(seaweed):
    client = boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        region_name=seaweed.region,
    )
    client.create_bucket(Bucket=PUBLIC_BUCKET)
    return client


def _download(s3, prefix: str, dest: Path) -> list[str]:
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=PUBLIC_BUCKET, Prefix=prefix).get("Contents", [])
    ]
    for key in keys:
        target = dest / key[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(PUBLIC_BUCKET, key, str(target))
    return [k[len(prefix) :] for k in keys]


def _decode_over_http(url: str) -> None:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", url, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr[-2000:]


def _rendition(name: str, height: int, template: str, **hls) -> dict:
    item = {
        "Name": name,
        "TemplateId": template,
        "OutputFileName": f"video/{name}",
        "OverrideParams": {
            "Video": {"Height": height, "Width": None, "Preset": "ultrafast"},
            "MuxConfig": {"Segment": {"Duration": 2}},
        },
    }
    if hls:
        item["HlsGroupConfig"] = hls
    return item


def test_hls_ladder_with_an_audio_group(s3_farm, seaweed, s3, tmp_path, assets):
    base = "hls/ladder/"
    video = {"Type": "video", "AudioGroup": "aud"}
    config = {
        "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/ten.mp4"}}],
        "OutputGroups": [
            {
                "Name": "hls",
                "GroupConfig": {
                    "Type": "Hls",
                    "ManifestName": "master",
                    "OutputFileBase": {"Media": f"oss://{PUBLIC_BUCKET}/{base}"},
                },
                "Outputs": [
                    _rendition("360p", 360, "S00000001-200031", **video),
                    _rendition("240p", 240, "S00000001-200031", **video),
                    _rendition("144p", 144, "S00000001-200031", **video),
                    {
                        "Name": "audio-en",
                        "TemplateId": "S00000001-200031",
                        "OutputFileName": "audio/en",
                        "OverrideParams": {
                            "Video": {"Remove": True},
                            "MuxConfig": {"Segment": {"Duration": 2}},
                        },
                        "HlsGroupConfig": {
                            "Type": "audio",
                            "Group": "aud",
                            "Name": "English",
                            "Language": "en",
                            "IsDefault": "true",
                            "AutoSelect": "true",
                        },
                    },
                ],
            }
        ],
    }
    client = client_for(s3_farm)
    job = wait_job(client, client.submit({"Config": config})["JobId"], s3_farm, timeout=180)
    assert job["State"] == "Complete", job
    group = job["OutputGroupDetails"][0]
    assert (
        group["Status"] == "Success" and [o["Status"] for o in group["Outputs"]] == ["Success"] * 4
    )
    assert group["Result"]["OutputFile"]["Media"] == f"oss://{PUBLIC_BUCKET}/{base}master.m3u8"
    assert group["Result"]["OutFileMeta"]["FileBasicInfo"]["FormatName"] == "hls"

    files = set(_download(s3, base, tmp_path))
    master = m3u8.load(str(tmp_path / "master.m3u8"))
    assert master.is_variant and len(master.playlists) == 3
    heights = sorted(p.stream_info.resolution[1] for p in master.playlists)
    assert heights == [144, 240, 360]
    for variant in master.playlists:
        info = variant.stream_info
        assert (
            info.bandwidth > 0
            and info.average_bandwidth > 0
            and info.frame_rate == pytest.approx(25)
        )
        assert (
            info.codecs.startswith("avc1.") and "mp4a.40.2" in info.codecs and info.audio == "aud"
        )
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert [(a.group_id, a.name, a.language, a.default) for a in audio] == [
        ("aud", "English", "en", "YES")
    ]

    cuts = []
    for uri in [p.uri for p in master.playlists] + [audio[0].uri]:
        playlist = m3u8.load(str(tmp_path / uri))
        folder = str(Path(uri).parent)
        assert all(f"{folder}/{seg.uri}" in files for seg in playlist.segments)
        total = sum(seg.duration for seg in playlist.segments)
        assert abs(total - SOURCE_SECONDS) <= FRAME + 0.03, (uri, total)
        if uri.startswith("video/"):
            cuts.append(keyframes(tmp_path / uri))
    assert cuts[0] == cuts[1] == cuts[2] and len(cuts[0]) >= 5
    _decode_over_http(f"{seaweed.endpoint}/{PUBLIC_BUCKET}/{base}master.m3u8")
    plays_in_chromium(tmp_path, "hls", "/master.m3u8", assets, tmp_path / "hls.png")


def test_dash_ladder(s3_farm, seaweed, s3, tmp_path, assets):
    base = "dash/ladder/"
    config = {
        "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/ten.mp4"}}],
        "OutputGroups": [
            {
                "Name": "dash",
                "GroupConfig": {
                    "Type": "Dash",
                    "OutputFileBase": {"Media": f"oss://{PUBLIC_BUCKET}/{base}"},
                },
                "Outputs": [
                    dict(
                        _rendition(name, h, "S00000001-200031"),
                        OverrideParams={
                            "Container": {"Format": "mpd"},
                            "Video": {"Height": h, "Width": None, "Preset": "ultrafast"},
                            "MuxConfig": {"Segment": {"Duration": 2}},
                        },
                    )
                    for name, h in (("360p", 360), ("240p", 240), ("144p", 144))
                ],
            }
        ],
    }
    client = client_for(s3_farm)
    job = wait_job(client, client.submit({"Config": config})["JobId"], s3_farm, timeout=180)
    assert job["State"] == "Complete", job
    group = job["OutputGroupDetails"][0]
    assert group["Status"] == "Success"
    assert group["Result"]["OutputFile"]["Media"] == f"oss://{PUBLIC_BUCKET}/{base}manifest.mpd"
    files = set(_download(s3, base, tmp_path))
    mpd = ET.parse(tmp_path / "manifest.mpd").getroot()
    reps = mpd.findall(".//d:AdaptationSet/d:Representation", DASH_NS)
    video = [r for r in reps if r.get("height")]
    assert sorted(int(r.get("height")) for r in video) == [144, 240, 360]
    assert all(r.get("codecs") and int(r.get("bandwidth")) > 0 for r in reps)
    duration = mpd.get("mediaPresentationDuration")  # e.g. PT10.000S
    assert (
        abs(float(duration.removeprefix("PT").removesuffix("S")) - SOURCE_SECONDS) <= FRAME + 0.03
    )
    for rep in reps:
        template = rep.find("d:SegmentTemplate", DASH_NS)
        assert template.get("initialization") in files
        count = sum(int(s.get("r", 0)) + 1 for s in template.iter(f"{{{DASH_NS['d']}}}S"))
        first = int(template.get("startNumber", "1"))
        media = template.get("media")
        names = [media.replace("$Number%05d$", f"{n:05d}") for n in range(first, first + count)]
        assert all(name in files for name in names), (names, sorted(files))
    stems = sorted(f for f in files if f.endswith(".mpd") and "/" in f and "-audio" not in f)
    cuts = [keyframes(tmp_path / stem) for stem in stems]
    assert len(cuts) == 3 and cuts[0] == cuts[1] == cuts[2]
    _decode_over_http(f"{seaweed.endpoint}/{PUBLIC_BUCKET}/{base}manifest.mpd")
    plays_in_chromium(tmp_path, "dash", "/manifest.mpd", assets, tmp_path / "dash.png")


def test_a_failed_rendition_fails_its_group_and_the_job(s3_farm):
    config = {
        "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/ten.mp4"}}],
        "OutputGroups": [
            {
                "GroupConfig": {
                    "Type": "Hls",
                    "OutputFileBase": {"Media": f"oss://{PUBLIC_BUCKET}/hls/failing/"},
                },
                "Outputs": [
                    _rendition("ok", 144, "S00000001-200031"),
                    dict(
                        _rendition("too-big", 720, "S00000001-200031"),
                        OverrideParams={
                            "Video": {"Height": 720, "Width": None, "Preset": "ultrafast"},
                            "TransConfig": {"IsCheckResoFail": True},
                        },
                    ),
                ],
            }
        ],
    }
    client = client_for(s3_farm)
    job = wait_job(client, client.submit({"Config": config})["JobId"], s3_farm, timeout=120)
    assert job["State"] == "Error" and job["Code"] == "InvalidParameter.SourceTooSmall"
    group = job["OutputGroupDetails"][0]
    assert group["Status"] == "Failed" and group["Code"] == "InvalidParameter.SourceTooSmall"
    assert [o["Status"] for o in group["Outputs"]] == ["Success", "Failed"]


def test_hls_fmp4_ladder_and_copy_remux(s3_farm, seaweed, s3, tmp_path):
    base = "hls/fmp4/"
    fmp4 = {"Container": {"Format": "hls-fmp4"}, "MuxConfig": {"Segment": {"Duration": 2}}}
    config = {
        "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/ten.mp4"}}],
        "OutputGroups": [
            {
                "GroupConfig": {
                    "Type": "Hls",
                    "OutputFileBase": {"Media": f"oss://{PUBLIC_BUCKET}/{base}"},
                },
                "Outputs": [
                    dict(
                        _rendition(name, h, "S00000001-200031"),
                        OverrideParams={
                            **fmp4,
                            "Video": {"Height": h, "Width": None, "Preset": "ultrafast"},
                        },
                    )
                    for name, h in (("240p", 240), ("144p", 144))
                ],
            },
            {
                "GroupConfig": {
                    "Type": "Hls",
                    "ManifestName": "copy",
                    "OutputFileBase": {"Media": f"oss://{PUBLIC_BUCKET}/hls/copy/"},
                },
                "Outputs": [{"TemplateId": "S00000001-100000", "OutputFileName": "source"}],
            },
        ],
    }
    client = client_for(s3_farm)
    job = wait_job(client, client.submit({"Config": config})["JobId"], s3_farm, timeout=180)
    assert job["State"] == "Complete", job
    files = set(_download(s3, base, tmp_path))
    master = m3u8.load(str(tmp_path / "master.m3u8"))
    assert master.version == 7 and len(master.playlists) == 2
    for variant in master.playlists:
        playlist = m3u8.load(str(tmp_path / variant.uri))
        assert playlist.segment_map and all(
            f"video/{seg.uri}" in files for seg in playlist.segments
        )
    _decode_over_http(f"{seaweed.endpoint}/{PUBLIC_BUCKET}/{base}master.m3u8")
    _decode_over_http(f"{seaweed.endpoint}/{PUBLIC_BUCKET}/hls/copy/copy.m3u8")
