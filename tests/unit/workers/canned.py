"""Canned inputs shared by the argv-builder tests (CPU, GPU and segmented)."""

from __future__ import annotations

from workers.probe import INPUT_DEMUXERS, AudioInfo, ProbeInfo, VideoInfo

#: What every argv starts with for a local input named ``in.mp4``.
HEAD = [
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-y",
    "-loglevel",
    "error",
    "-progress",
    "pipe:1",
    "-nostats",
    "-format_whitelist",
    INPUT_DEMUXERS,
    "-protocol_whitelist",
    "file",
    "-i",
    "in.mp4",
]

H264 = VideoInfo(
    index=0,
    codec="h264",
    width=1920,
    height=1080,
    fps=25.0,
    sar="1:1",
    rotation=0,
    bit_rate=4_000_000,
    pix_fmt="yuv420p",
)
AAC = AudioInfo(index=1, codec="aac", sample_rate=48000, channels=2, bit_rate=128_000)
FULL_HD = ProbeInfo(
    format_name="mov,mp4,m4a,3gp,3g2,mj2",
    duration=10.0,
    size=5_000_000,
    bit_rate=4_128_000,
    video=H264,
    audio=AAC,
)
