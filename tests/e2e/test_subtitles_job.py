"""One job through the farm: an input's subtitles into an MP4 and an Hls group, whose
renditions also cut at ForceSegTime. The pieces are tested on their own in
tests/e2e/test_subtitles_segments_real.py; this is the wiring: the group's one subtitle
carrier, its WebVTT files uploaded, the master playlist naming them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import m3u8
import pytest

from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, client_for, wait_job

pytestmark = pytest.mark.e2e

FRAME = 1 / 25
SRT = "1\n00:00:00,500 --> 00:00:01,500\nHello one\n\n2\n00:00:02,200 --> 00:00:03,800\nSecond\n"


@pytest.fixture(scope="module")
def storage(local_farm, tmp_path_factory):
    """The farm's storage, holding ``subs.mkv``: 5 s 320x240 with a tone and two cues."""
    folder = tmp_path_factory.mktemp("subs")
    (folder / "cues.srt").write_text(SRT)
    source = folder / "subs.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=5",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=5",
         "-i", folder / "cues.srt", "-map", "0", "-map", "1", "-map", "2",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-c:s", "srt",
         "-metadata:s:s:0", "language=eng", source],
        check=True, timeout=60,
    )  # fmt: skip
    store = make_storage(Settings.from_env(local_farm.env))
    store.upload(source, StorageRef(kind="object", bucket=MEDIA_BUCKET, key="subs.mkv"))
    return store


def _rendition(name: str, height: int) -> dict:
    return {
        "Name": name,
        "TemplateId": "S00000001-200031",
        "OutputFileName": f"video/{name}",
        "OverrideParams": {
            "Video": {"Height": height, "Width": None, "Preset": "ultrafast", "Bitrate": 300},
            "MuxConfig": {"Segment": {"Duration": 2, "ForceSegTime": "1.3"}},
        },
    }


def _fetch(storage, key: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    storage.download(StorageRef(kind="object", bucket="results", key=key), dest)
    return dest


def test_subtitles_and_forced_segments_through_the_farm(local_farm, storage, tmp_path):
    config = {
        "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/subs.mkv"}}],
        "Outputs": [
            {
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Media": "oss://results/subs/out.mp4"},
                "OverrideParams": {"Video": {"Preset": "ultrafast"}},
            }
        ],
        "OutputGroups": [
            {
                "Name": "hls",
                "GroupConfig": {
                    "Type": "Hls",
                    "ManifestName": "master",
                    "OutputFileBase": {"Media": "oss://results/subs/hls/"},
                },
                "Outputs": [_rendition("240p", 240), _rendition("144p", 144)],
            }
        ],
    }
    client = client_for(local_farm)
    job = wait_job(client, client.submit({"Config": config})["JobId"], local_farm, timeout=120)
    assert job["State"] == "Complete", job

    mp4 = _fetch(storage, "subs/out.mp4", tmp_path / "out.mp4")
    codecs = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "s", "-show_entries",
         "stream=codec_name", "-of", "csv=p=0", mp4],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert codecs == ["mov_text"]

    master = m3u8.loads(_fetch(storage, "subs/hls/master.m3u8", tmp_path / "m.m3u8").read_text())
    (subs,) = master.media
    # The group's first rendition carries them; every variant plays with them.
    assert (subs.type, subs.group_id, subs.language, subs.uri) == (
        "SUBTITLES",
        "subtitle",
        "eng",
        "video/240p_vtt.m3u8",
    )
    assert [p.stream_info.subtitles for p in master.playlists] == ["subtitle", "subtitle"]
    vtt = m3u8.loads(_fetch(storage, "subs/hls/" + subs.uri, tmp_path / "v.m3u8").read_text())
    texts = [
        _fetch(storage, f"subs/hls/video/{s.uri}", tmp_path / s.uri).read_text()
        for s in vtt.segments
    ]
    assert "Hello one" in "".join(texts) and "Second" in "".join(texts)
    assert all(t.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,") for t in texts)

    for variant in master.playlists:
        media = _fetch(storage, f"subs/hls/{variant.uri}", tmp_path / variant.uri)
        durations = [s.duration for s in m3u8.loads(media.read_text()).segments]
        ends = [sum(durations[: i + 1]) for i in range(len(durations))]
        # Cut at 1.3 (on the first frame at or after it), then on the 2 s grid.
        assert 1.3 - 1e-3 <= ends[0] < 1.3 + FRAME and ends[1] == pytest.approx(2.0, abs=1e-3)
        assert ends[-1] == pytest.approx(5.0, abs=FRAME)
