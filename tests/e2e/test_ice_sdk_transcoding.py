"""Issue 12's TemplateConfig keys through the official ICE SDK (``alibabacloud-ice20201109``)."""

from __future__ import annotations

import json

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException

from tests.e2e.conftest import MEDIA_BUCKET
from tests.e2e.ice import submit, wait

pytestmark = pytest.mark.e2e


def test_the_sdk_submits_the_whole_transcoding_document(clients):
    """Issue 12's keys through the official SDK, as an ICE user writes them (strings where the
    legacy model has strings): the job runs, each output shows the effect, and the Config
    comes back unchanged; a refused key comes back as the SDK's error naming it."""
    sdk = clients["main"]
    outputs = [
        ("geometry.mp4", {"Video": {"Crop": "320:180:0:30", "Pad": "320:200:0:10", "Width": None,
                                    "MaxFps": "20", "ScanMode": "auto"},
                          "TransConfig": {"TransMode": "twopass"},
                          "Audio": {"Volume": {"Method": "dynamic",
                                               "IntegratedLoudnessTarget": "-20"}}}),
        ("av1-opus.mp4", {"Video": {"Codec": "AV1", "Width": "320", "Preset": "ultrafast"},
                          "Audio": {"Codec": "OPUS", "Samplerate": "48000", "Bitrate": "64"}}),
        # An animated GIF from an MP4 template: what GIF cannot take is removed (null).
        ("clip.gif", {"Container": {"Format": "gif"}, "TransConfig": None, "Audio": None,
                      "Video": {"Codec": "GIF", "Width": "160", "Fps": "5", "Bitrate": None,
                                "Preset": None, "PixFmt": None}}),
    ]  # fmt: skip
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/sample.mp4"}}],
        "Outputs": [
            {
                "Name": name.split(".")[0],
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": f"oss://results/sdk-doc/{name}"},
                "OverrideParams": json.dumps(override),
            }
            for name, override in outputs
        ],
    }
    job = submit(sdk, config)
    done = wait(sdk, job.job_id, timeout=180)
    assert done.state == "Complete", (done.code, done.message)
    assert done.config.to_map() == job.config.to_map()
    assert json.loads(done.config.outputs[0].override_params) == outputs[0][1]
    metas = [d.result.out_file_meta for d in done.output_details]
    assert (metas[0].file_basic_info.width, metas[0].file_basic_info.height) == ("320", "200")
    assert metas[1].video_stream_info_list[0].codec_name == "av1"
    assert metas[1].audio_stream_info_list[0].codec_name == "opus"
    assert metas[2].video_stream_info_list[0].codec_name == "gif"
    bad = dict(
        config, Outputs=[dict(config["Outputs"][0], OverrideParams='{"Video":{"Pad":"1:2"}}')]
    )
    with pytest.raises(ClientException) as err:
        submit(sdk, bad)
    assert err.value.code == "InvalidParameter" and "Video.Pad" in err.value.message
