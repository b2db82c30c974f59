"""Exact-argv tests for workers.gpu_cmd: pure, no GPU and no FFmpeg needed."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from shared.catalog import SYSTEM_TEMPLATES
from shared.config import Settings
from shared.templates import X264_PRESETS, validate_template_config
from tests.unit.workers.canned import AAC, FULL_HD, H264
from workers.ffmpeg_cmd import CPU_VIDEO, build_ffmpeg_args
from workers.gpu_cmd import NVENC_PRESETS, gpu_video_path, nvdec_format, nvenc_options
from workers.probe import INPUT_DEMUXERS, ProbeInfo

GLOBAL = "ffmpeg -hide_banner -nostdin -y -loglevel error -progress pipe:1 -nostats"
LOCAL = f"-format_whitelist {INPUT_DEMUXERS}"
NVDEC_INPUT = (
    f"{LOCAL} -hwaccel cuda -hwaccel_output_format cuda -protocol_whitelist file -i in.mp4"
)
CPU_INPUT = f"{LOCAL} -protocol_whitelist file -i in.mp4"
PRORES = dataclasses.replace(H264, codec="prores", pix_fmt="yuv422p10le")


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def probe_with(video=H264, audio=AAC, **video_changes) -> ProbeInfo:
    if video is not None and video_changes:
        video = dataclasses.replace(video, **video_changes)
    return dataclasses.replace(FULL_HD, video=video, audio=audio)


def config(fmt="mp4", **sections) -> dict:
    return validate_template_config({"Container": {"Format": fmt}, **sections}, "test")


def template_config(template_id: str) -> dict:
    return validate_template_config(SYSTEM_TEMPLATES[template_id].config_dict(), template_id)


def build(settings, cfg, probe=FULL_HD, *, encode_on="gpu", **kwargs) -> list[str]:
    """The argv on a gpu worker that encodes on ``encode_on``."""
    path = gpu_video_path(probe, cfg, encode_on) or CPU_VIDEO
    return build_ffmpeg_args("in.mp4", "out", probe, cfg, settings, video_path=path, **kwargs)


def argv(text: str) -> list[str]:
    return shlex.split(f"{GLOBAL} {text}")


def option(args: list[str], flag: str) -> str | None:
    hits = [i for i, arg in enumerate(args) if arg == flag]
    return args[hits[-1] + 1] if hits else None


SCALE_720 = "-filter_complex '[0:V:0]scale_cuda=1280:720[s0];[s0]setsar=1[s1]' -map [s1] -map 0:a:0"
AAC_OUT = "-ac 2 -ar 44100"

# --- system templates -------------------------------------------------------------------------

EXPECTED = {
    "S00000001-200030": argv(  # MP4-HD: H.264 1800k, Preset medium → p4
        f"{NVDEC_INPUT} {SCALE_720} -f mp4 {AAC_OUT} -b:a 128k -b:v 1800k -bf 3 -c:a aac "
        "-c:v h264_nvenc -fps_mode:v vfr -movflags +faststart -preset p4 -rc vbr out"
    ),
    "S00000001-110031": argv(  # ICE H.265 720P: hevc_nvenc, hvc1 in MP4
        f"{NVDEC_INPUT} {SCALE_720} -f mp4 {AAC_OUT} -b:a 64k -b:v 800k -bf 3 -c:a aac "
        "-c:v hevc_nvenc -fps_mode:v vfr -movflags +faststart -preset p4 -rc vbr -tag:v hvc1 out"
    ),
    "S00000001-000020": argv(  # FLV-SD: 848x478 as on the CPU
        f"{NVDEC_INPUT} -filter_complex '[0:V:0]scale_cuda=848:478[s0];[s0]setsar=1[s1]' "
        f"-map [s1] -map 0:a:0 -f flv {AAC_OUT} -b:a 80k -b:v 800k -bf 3 -c:a aac "
        "-c:v h264_nvenc -fps_mode:v vfr -preset p4 -rc vbr out"
    ),
}
#: GPU decode and scale, CPU encode (NVDEC without NVENC, as on an H100).
EXPECTED_CPU_ENCODE = {
    "S00000001-200030": argv(
        f"{NVDEC_INPUT} -filter_complex '[0:V:0]scale_cuda=1280:720:format=yuv420p[s0];"
        "[s0]setsar=1[s1];[s1]hwdownload[s2];[s2]format=yuv420p[s3]' -map [s3] -map 0:a:0 "
        f"-f mp4 {AAC_OUT} -b:a 128k -b:v 1800k -c:a aac -c:v libx264 -fps_mode:v vfr -movflags +faststart "
        "-pix_fmt yuv420p -preset medium out"
    ),
    "S00000001-110031": argv(
        f"{NVDEC_INPUT} -filter_complex '[0:V:0]scale_cuda=1280:720:format=yuv420p[s0];"
        "[s0]setsar=1[s1];[s1]hwdownload[s2];[s2]format=yuv420p[s3]' -map [s3] -map 0:a:0 "
        f"-f mp4 {AAC_OUT} -b:a 64k -b:v 800k -c:a aac -c:v libx265 -fps_mode:v vfr -movflags +faststart "
        "-pix_fmt yuv420p -preset medium -tag:v hvc1 -x265-params log-level=error out"
    ),
}


@pytest.mark.parametrize("template_id", sorted(EXPECTED))
def test_system_template_exact_argv(settings, template_id):
    assert build(settings, template_config(template_id)) == EXPECTED[template_id]


@pytest.mark.parametrize("template_id", sorted(EXPECTED_CPU_ENCODE))
def test_gpu_decode_cpu_encode_exact_argv(settings, template_id):
    cfg = template_config(template_id)
    assert build(settings, cfg, encode_on="cpu") == EXPECTED_CPU_ENCODE[template_id]


def test_cbr_exact_argv(settings):
    cfg = config(Video={"Bitrate": 1000, "Bufsize": 2000}, TransConfig={"TransMode": "CBR"})
    assert build(settings, cfg) == argv(
        f"{NVDEC_INPUT} -map 0:V:0 -map 0:a:0 -f mp4 {AAC_OUT} -b:a 128k -b:v 1000k -bf 3 "
        "-bufsize 2000k -c:a aac -c:v h264_nvenc -fps_mode:v vfr -maxrate 1000k -movflags +faststart -rc cbr out"
    )


def test_fix_crf_exact_argv(settings):
    video = {"Codec": "H.265", "Crf": 24, "Maxrate": 3000, "Gop": "2s", "Height": 720}
    cfg = config(Video=video, TransConfig={"TransMode": "fixCRF"})
    assert build(settings, cfg) == argv(
        f"{NVDEC_INPUT} {SCALE_720} -f mp4 {AAC_OUT} -b:a 128k -b:v 0 -bf 3 -bufsize 6000k "
        "-c:a aac -c:v hevc_nvenc -cq 24 -fps_mode:v vfr -g 50 -maxrate 3000k -movflags +faststart -rc vbr "
        "-tag:v hvc1 out"
    )


def test_source_nvdec_cannot_decode_is_uploaded(settings):
    argv_ = build(settings, template_config("S00000001-200030"), probe_with(PRORES))
    assert argv_ == argv(
        f"{CPU_INPUT} -filter_complex '[0:V:0]format=nv12[s0];[s0]hwupload_cuda[s1];"
        "[s1]scale_cuda=1280:720[s2];[s2]setsar=1[s3]' -map [s3] -map 0:a:0 -f mp4 "
        f"{AAC_OUT} -b:a 128k -b:v 1800k -bf 3 -c:a aac -c:v h264_nvenc -fps_mode:v vfr -movflags +faststart "
        "-preset p4 -rc vbr out"
    )


# --- the CPU argv where a GPU has nothing to do ------------------------------------------------


@pytest.mark.parametrize("encode_on", ["gpu", "cpu"])
@pytest.mark.parametrize(
    ("cfg", "probe"),
    [
        (template_config("S00000001-200000"), FULL_HD),  # MP4-COPY
        (template_config("S00000001-300020"), FULL_HD),  # MP3
        (config("m4a"), FULL_HD),
        (config(Video={"Remove": True}), FULL_HD),
        (config(Video={"Crf": 23}), probe_with(video=None)),
        (config(Video={"Crf": 23, "PixFmt": "yuv422p"}), FULL_HD),  # no NVENC 4:2:2
        (config(Video={"Crf": 23, "PixFmt": "yuv420p10le"}), FULL_HD),
    ],
)
def test_nothing_for_the_gpu_gives_the_cpu_argv(settings, cfg, probe, encode_on):
    cpu = build_ffmpeg_args("in.mp4", "out", probe, cfg, settings)
    assert build(settings, cfg, probe, encode_on=encode_on) == cpu


def test_cpu_encode_without_nvdec_gives_the_cpu_argv(settings):
    cfg, probe = template_config("S00000001-200030"), probe_with(PRORES)
    cpu = build_ffmpeg_args("in.mp4", "out", probe, cfg, settings)
    assert build(settings, cfg, probe, encode_on="cpu") == cpu


def test_encode_on_must_be_gpu_or_cpu(settings):
    with pytest.raises(ValueError):
        build(settings, config(), encode_on="npu")


# --- decoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "nv12"),
        ({"pix_fmt": "yuvj420p"}, "nv12"),
        ({"codec": "hevc", "pix_fmt": "yuv420p10le"}, "p010le"),
        ({"codec": "hevc", "width": 7680, "height": 4320}, "nv12"),
        ({"codec": "mpeg2video", "width": 720, "height": 576}, "nv12"),
        ({"codec": "vp9"}, "nv12"),
        ({"codec": "vp9", "pix_fmt": "yuv420p10le"}, None),
        ({"pix_fmt": "yuv420p10le"}, None),  # H.264 High 10
        ({"pix_fmt": "yuv422p"}, None),
        ({"pix_fmt": None}, None),
        ({"codec": "av1"}, None),  # libdav1d, and no AV1 NVDEC on an H100
        ({"codec": "prores"}, None),
        ({"width": 7680, "height": 4320}, None),  # H.264 above 4096
        ({"codec": "hevc", "width": 128, "height": 128}, None),  # HEVC below 144
        ({"rotation": 90}, None),  # FFmpeg does not auto-rotate CUDA frames
    ],
)
def test_nvdec_format(changes, expected):
    assert nvdec_format(dataclasses.replace(H264, **changes)) == expected
    assert nvdec_format(None) is None


def test_ten_bit_source_is_converted_on_the_gpu(settings):
    probe = probe_with(codec="hevc", pix_fmt="yuv420p10le")
    scaled = build(settings, config(Video={"Crf": 23, "Width": 1280}), probe)
    same_size = build(settings, config(Video={"Crf": 23}), probe)
    assert option(scaled, "-filter_complex") == (
        "[0:V:0]scale_cuda=1280:720:format=nv12[s0];[s0]setsar=1[s1]"
    )
    assert option(same_size, "-filter_complex") == "[0:V:0]scale_cuda=format=nv12[s0]"


def test_yuv444p_is_made_on_the_gpu_and_not_asked_of_nvenc(settings):
    args = build(settings, config(Video={"Crf": 23, "PixFmt": "yuv444p", "Width": 1280}))
    assert option(args, "-filter_complex") == (
        "[0:V:0]scale_cuda=1280:720:format=yuv444p[s0];[s0]setsar=1[s1]"
    )
    assert "-pix_fmt" not in args


def test_rotated_source_decodes_on_the_cpu_and_scales_as_displayed(settings):
    args = build(settings, config(Video={"Crf": 23, "Width": 720}), probe_with(rotation=90))
    assert args[args.index("-i") - 4 : args.index("-i")] == [
        "-format_whitelist",
        INPUT_DEMUXERS,
        "-protocol_whitelist",
        "file",
    ]
    assert option(args, "-filter_complex") == (
        "[0:V:0]format=nv12[s0];[s0]hwupload_cuda[s1];[s1]scale_cuda=720:1280[s2];[s2]setsar=1[s3]"
    )


def test_unknown_source_size_lets_scale_cuda_keep_the_aspect(settings):
    args = build(settings, config(Video={"Crf": 23, "Width": 848}), probe_with(width=0, height=0))
    assert option(args, "-filter_complex") == (
        "[0:V:0]format=nv12[s0];[s0]hwupload_cuda[s1];[s1]scale_cuda=848:-2[s2];[s2]setsar=1[s3]"
    )


# --- frame rate, clip, metadata ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (FULL_HD, "[0:V:0]fps=30[s0];[s0]scale_cuda=1280:720[s1];[s1]setsar=1[s2]"),
        (
            probe_with(PRORES),  # fps on the CPU frames, before the upload
            "[0:V:0]fps=30[s0];[s0]format=nv12[s1];[s1]hwupload_cuda[s2];"
            "[s2]scale_cuda=1280:720[s3];[s3]setsar=1[s4]",
        ),
    ],
)
def test_fps_runs_before_scaling(settings, probe, expected):
    args = build(settings, config(Video={"Crf": 23, "Fps": 30, "Width": 1280}), probe)
    assert option(args, "-filter_complex") == expected


def test_fps_cap_without_scaling(settings):
    args = build(settings, config(Video={"Crf": 23}), probe_with(fps=120.0))
    assert option(args, "-filter_complex") == "[0:V:0]fps=60[s0]"


def test_clip_and_metadata_as_on_the_cpu(settings):
    features = {"Clip": {"TimeSpan": {"Seek": 1.5, "Duration": 3}}, "Metadata": {"title": "t"}}
    args = build(settings, config(Video={"Crf": 23}), features=features)
    assert args[9 : args.index("-i") + 2] == shlex.split(
        f"{LOCAL} -hwaccel cuda -hwaccel_output_format cuda -protocol_whitelist file -ss 1.5 -i in.mp4"
    )
    assert option(args, "-t") == "3"
    assert args[-3:] == ["-metadata", "title=t", "out"]


def test_settings_choose_the_binary(tmp_path):
    settings = Settings(ffmpeg_bin="/opt/ffmpeg/bin/ffmpeg", work_dir=tmp_path)
    assert build(settings, config(Video={"Crf": 20}))[0] == "/opt/ffmpeg/bin/ffmpeg"


# --- NVENC options ----------------------------------------------------------------------------


@pytest.mark.parametrize("preset", X264_PRESETS)
def test_preset_maps_to_nvenc(settings, preset):
    args = build(settings, config(Video={"Crf": 23, "Preset": preset}))
    assert option(args, "-preset") == NVENC_PRESETS[preset]


def test_preset_table_runs_from_p1_to_p7():
    expected = ["p1", "p1", "p2", "p2", "p3", "p4", "p5", "p6", "p7", "p7"]
    assert [NVENC_PRESETS[name] for name in X264_PRESETS] == expected


@pytest.mark.parametrize(
    ("video", "profile", "b_frames"),
    [
        ({"Profile": "baseline"}, "baseline", "0"),
        ({"Profile": "main"}, "main", "3"),
        ({"Profile": "high"}, "high", "3"),
        ({"Codec": "H.265", "Profile": "main"}, "main", "3"),
        ({}, None, "3"),
    ],
)
def test_profile_and_b_frames(settings, video, profile, b_frames):
    args = build(settings, config(Video={"Crf": 23, **video}))
    assert (option(args, "-profile:v"), option(args, "-bf")) == (profile, b_frames)


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"Video": {}}, {"-rc": "vbr", "-cq": "23", "-b:v": "0"}),
        ({"Video": {"Codec": "H.265"}}, {"-rc": "vbr", "-cq": "26", "-b:v": "0"}),
        ({"Video": {"Bitrate": 1000}}, {"-rc": "vbr", "-b:v": "1000k"}),
        (
            {"Video": {"Bitrate": 1000, "Maxrate": 1500}},
            {"-rc": "vbr", "-b:v": "1000k", "-maxrate": "1500k", "-bufsize": "6000k"},
        ),
        (
            {"Video": {"Bitrate": 1000}, "TransConfig": {"TransMode": "CBR"}},
            {"-rc": "cbr", "-b:v": "1000k", "-maxrate": "1000k", "-bufsize": "1000k"},
        ),
        ({"Video": {"Bitrate": -1}}, {"-rc": "vbr", "-b:v": "4000k"}),
        (
            {"Video": {"Bitrate": 1000, "Crf": 30}, "TransConfig": {"TransMode": "fixCRF"}},
            {"-rc": "vbr", "-cq": "30", "-b:v": "0"},
        ),
    ],
)
def test_rate_control(settings, sections, expected):
    args = build(settings, config(**sections))
    flags = ("-rc", "-b:v", "-cq", "-crf", "-maxrate", "-minrate", "-bufsize")
    assert {flag: option(args, flag) for flag in flags if flag in args} == expected


def test_source_bitrate_unknown_falls_back_to_constant_quality(settings):
    args = build(settings, config(Video={"Bitrate": -1}), probe_with(bit_rate=None))
    assert (option(args, "-rc"), option(args, "-cq"), option(args, "-b:v")) == ("vbr", "23", "0")


def test_no_cpu_only_options_reach_nvenc(settings):
    args = build(settings, config(Video={"Codec": "H.265", "Crf": 23, "PixFmt": "nv12"}))
    assert not {"-pix_fmt", "-x265-params", "-crf", "-minrate"} & set(args)


def test_nvenc_options_leave_a_copy_alone():
    assert nvenc_options({"c:v": "copy", "tag:v": "hvc1"}) == {"c:v": "copy", "tag:v": "hvc1"}
