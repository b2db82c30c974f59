"""Every source frame once, at its own time: the encode neither invents nor loses a frame.

The source is what broadcast recordings look like: a 2-minute MPEG-TS, 29.97 fps H.264 with
open GOPs and B-frames, whose audio starts before its video. FFmpeg's default frame-rate
mode for MP4 duplicated the first frame to fill the gap before the video (one frame too
many, every later picture a slot late); the farm keeps sync by timestamps instead.
"""

from __future__ import annotations

import statistics

import pytest

from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, wait_job
from tests.e2e.exactness import frame_psnr, open_gop_ts, psnr_cliffs, stream_facts

pytestmark = pytest.mark.e2e

SOURCE = "open-gop-2min.ts"
SIZE = "160x90"


@pytest.fixture(scope="module")
def open_gop_source(local_farm, tmp_path_factory):
    """The 2-minute source, generated once and stored in the local farm's media bucket."""
    path = tmp_path_factory.mktemp("open-gop") / SOURCE
    open_gop_ts(path, seconds=120)
    storage = make_storage(Settings.from_env(local_farm.env))
    storage.upload(path, StorageRef(kind="object", bucket=MEDIA_BUCKET, key=SOURCE))
    return path


def _config(output: str) -> dict:
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{SOURCE}"}}],
        "Outputs": [
            {
                "Name": "exact",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": f"oss://results/exact/{output}"},
                "OverrideParams": {"Video": {"Width": 160, "Preset": "ultrafast"}},
            }
        ],
    }


def test_a_standard_encode_keeps_every_frame_and_only_those(
    client, local_farm, open_gop_source, tmp_path
):
    job = wait_job(client, client.submit({"Config": _config("standard.mp4")})["JobId"], local_farm)
    assert job["State"] == "Complete", job
    output = local_farm.env["MCFARM_STORAGE_ROOT"] + "/results/exact/standard.mp4"
    source, encoded = stream_facts(open_gop_source), stream_facts(output)
    assert encoded["frames"] == source["frames"], (source, encoded)
    frame = 1001 / 30000
    assert abs(encoded["duration"] - source["duration"]) <= frame, (source, encoded)
    psnr = frame_psnr(output, open_gop_source, SIZE, tmp_path)
    assert len(psnr) == source["frames"]
    assert psnr_cliffs(psnr) == []
    # A slip that lasts (every later frame one slot late) is no cliff: the whole run is low
    # (about 23 dB here against 43 for the frames in their places).
    assert statistics.median(psnr) > 35 and min(psnr) > statistics.median(psnr) - 6, (
        min(psnr),
        statistics.median(psnr),
    )
    audio_in, audio_out = stream_facts(open_gop_source, "a:0"), stream_facts(output, "a:0")
    # The video still starts after the audio, by about as much as in the source.
    assert abs((encoded["start"] - audio_out["start"]) - (source["start"] - audio_in["start"])) < (
        2 * frame
    )
