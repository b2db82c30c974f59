"""shared.routing: the cpu/gpu decision for every policy, Hardware feature and worker set."""

from __future__ import annotations

import pytest

from shared.config import SettingsError
from shared.errors import InvalidJob
from shared.routing import (
    WorkerCaps,
    choose_queue,
    gpu_encode_on,
    hardware_feature,
    nvenc_encoder,
    parse_gpu_policy,
)

CPU_ENCODERS = frozenset({"libx264", "libx265", "aac", "libmp3lame"})
NVENC = CPU_ENCODERS | {"h264_nvenc", "hevc_nvenc"}
CPU_WORKER = WorkerCaps("cpu-1", ("cpu",), 4, CPU_ENCODERS, gpu_encode=False, gpu_decode=False)
NVENC_WORKER = WorkerCaps("l4-1", ("gpu",), 2, NVENC, gpu_encode=True, gpu_decode=True)
DECODE_ONLY = WorkerCaps("h100-1", ("gpu",), 2, CPU_ENCODERS, gpu_encode=False, gpu_decode=True)
WORKER_SETS = {
    "none": (),
    "cpu-only": (CPU_WORKER,),
    "nvenc": (CPU_WORKER, NVENC_WORKER),
    "decode-only": (CPU_WORKER, DECODE_ONLY),
}
H264 = {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264", "Bitrate": 1000}}
H265 = {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.265", "Bitrate": 800}}

#: (policy, Features.Hardware) → queue for each worker set, in WORKER_SETS order.
DECISIONS = {
    ("auto", None): ("cpu", "cpu", "gpu", "cpu"),
    ("auto", "cpu"): ("cpu", "cpu", "cpu", "cpu"),
    ("auto", "gpu"): ("cpu", "cpu", "gpu", "gpu"),
    ("prefer", None): ("cpu", "cpu", "gpu", "gpu"),
    ("prefer", "cpu"): ("cpu", "cpu", "cpu", "cpu"),
    ("prefer", "gpu"): ("cpu", "cpu", "gpu", "gpu"),
    ("never", None): ("cpu", "cpu", "cpu", "cpu"),
    ("never", "cpu"): ("cpu", "cpu", "cpu", "cpu"),
    ("never", "gpu"): ("cpu", "cpu", "cpu", "cpu"),  # the operator's policy wins
}
CASES = [
    pytest.param(policy, hardware, name, queues[i], id=f"{policy}-{hardware}-{name}")
    for (policy, hardware), queues in DECISIONS.items()
    for i, name in enumerate(WORKER_SETS)
]


def features(hardware: str | None) -> dict:
    return {} if hardware is None else {"Hardware": hardware}


@pytest.mark.parametrize(("policy", "hardware", "workers", "expected"), CASES)
def test_decision_table(policy, hardware, workers, expected):
    queue, reason = choose_queue(H264, features(hardware), WORKER_SETS[workers], policy)
    assert queue == expected
    assert reason


@pytest.mark.parametrize("policy", ["auto", "prefer"])
@pytest.mark.parametrize("hardware", [None, "gpu"])
@pytest.mark.parametrize(
    "cfg",
    [
        {"Container": {"Format": "mp4"}, "Video": {"Codec": "copy"}, "Audio": {"Codec": "copy"}},
        {"Container": {"Format": "mp3"}, "Audio": {"Codec": "mp3"}},
        {"Container": {"Format": "m4a"}, "Audio": {"Codec": "aac"}},
        {"Container": {"Format": "mp4"}, "Video": {"Remove": True}},
        {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264", "PixFmt": "yuv422p"}},
        {"Container": {"Format": "m3u8"}, "Video": {"Codec": "H.264", "Bitrate": 1000}},
    ],
)
def test_nothing_for_a_gpu_goes_to_cpu(cfg, hardware, policy):
    workers = (CPU_WORKER, NVENC_WORKER, DECODE_ONLY)
    assert choose_queue(cfg, features(hardware), workers, policy)[0] == "cpu"


def test_codec_without_its_nvenc_encoder():
    h264_only = WorkerCaps(
        "old-1", ("gpu",), 1, CPU_ENCODERS | {"h264_nvenc"}, gpu_encode=True, gpu_decode=True
    )
    assert choose_queue(H264, {}, (h264_only,), "auto")[0] == "gpu"
    assert choose_queue(H265, {}, (h264_only,), "auto")[0] == "cpu"
    # It still decodes on its GPU, so asking for hardware (or preferring it) uses it.
    assert choose_queue(H265, {"Hardware": "gpu"}, (h264_only,), "auto")[0] == "gpu"
    assert choose_queue(H265, {}, (h264_only,), "prefer")[0] == "gpu"


@pytest.mark.parametrize(
    "worker",
    [
        WorkerCaps("busy", ("gpu",), 0, NVENC, gpu_encode=True, gpu_decode=True),
        WorkerCaps("cpu-queue", ("cpu",), 2, NVENC, gpu_encode=True, gpu_decode=True),
    ],
)
def test_gpu_machine_that_takes_no_gpu_tasks_does_not_count(worker):
    assert choose_queue(H264, {"Hardware": "gpu"}, (worker,), "prefer")[0] == "cpu"


def test_no_hardware_feature_and_no_features():
    assert choose_queue(H264, None, (NVENC_WORKER,), "auto")[0] == "gpu"
    assert hardware_feature(None) is None
    assert hardware_feature({"Clip": {}}) is None


@pytest.mark.parametrize(("value", "expected"), [("gpu", "gpu"), ("cpu", "cpu"), (" GPU ", "gpu")])
def test_hardware_feature(value, expected):
    assert hardware_feature({"Hardware": value}) == expected


@pytest.mark.parametrize("value", ["fpga", "", 1, True, ["gpu"]])
def test_hardware_feature_rejects_other_values(value):
    with pytest.raises(InvalidJob):
        hardware_feature({"Hardware": value})
    with pytest.raises(InvalidJob):
        choose_queue(H264, {"Hardware": value}, (), "never")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", "auto"), ("never", "never"), ("prefer", "prefer"), (" Prefer\n", "prefer")],
)
def test_parse_gpu_policy(text, expected):
    assert parse_gpu_policy(text) == expected


@pytest.mark.parametrize("text", ["", "always", "gpu", "no"])
def test_parse_gpu_policy_rejects_other_values(text):
    with pytest.raises(SettingsError):
        parse_gpu_policy(text)


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (H264, "h264_nvenc"),
        (H265, "hevc_nvenc"),
        ({"Container": {"Format": "flv"}}, "h264_nvenc"),  # H.264 by default
        ({"Container": {"Format": "mp4"}, "Video": {"PixFmt": "yuv444p"}}, "h264_nvenc"),
        ({"Container": {"Format": "mp4"}, "Video": {"PixFmt": "yuv420p10le"}}, None),
        ({"Container": {"Format": "mp4"}, "Video": {"Codec": "copy"}}, None),
        ({"Container": {"Format": "mp3"}}, None),
    ],
)
def test_nvenc_encoder(cfg, expected):
    assert nvenc_encoder(cfg) == expected


@pytest.mark.parametrize(
    ("worker", "cfg", "expected"),
    [
        (NVENC_WORKER, H264, "gpu"),
        (NVENC_WORKER, H265, "gpu"),
        (DECODE_ONLY, H264, "cpu"),
        (
            WorkerCaps("old-1", ("gpu",), 1, NVENC - {"hevc_nvenc"}, True, True),
            H265,
            "cpu",
        ),
    ],
)
def test_gpu_encode_on(worker, cfg, expected):
    assert gpu_encode_on(worker, cfg) == expected
