"""The GPU video path of FFmpeg command lines: NVDEC decoding, CUDA scaling, NVENC encoding.

Pure, like ``workers.ffmpeg_cmd``, whose ``build_ffmpeg_args`` still decides everything
about the output (streams, clip, frame rate, size, rate control, GOP, audio, container);
this module only supplies the ``VideoPath`` it takes, which runs the video on the GPU:

* decode: NVDEC (``-hwaccel cuda -hwaccel_output_format cuda``) when it can decode the
  source (``nvdec_format``), so frames stay in GPU memory; else the CPU decodes and
  ``hwupload_cuda`` uploads;
* filters: ``fps`` (on CUDA frames too: it only drops or repeats frames, never reads
  pixels), ``scale_cuda=W:H`` to the even size of ``output_dimensions``, with
  ``:format=…`` where the pixel format must change, and ``setsar=1``;
* encode: ``h264_nvenc``/``hevc_nvenc`` (``encode_on="gpu"``), or, on a GPU without NVENC
  such as the H100, ``hwdownload`` and the CPU encoder with the CPU builder's options
  (``encode_on="cpu"``).

Outputs with no video for the GPU (copy, audio-only, ``Video.Remove``, a pixel format the
GPU path cannot produce) get ``CPU_VIDEO`` (``video_path_for``), so exactly the CPU argv:
any gpu worker has the CPU encoders too (``workers.capabilities.check_worker``).

Segmented renditions (HLS/DASH) have no GPU variant here: ``workers.segmenting`` keeps its
muxer options private, and its forced-keyframe options know only libx264/libx265.

References: https://docs.nvidia.com/video-technologies/video-codec-sdk/ffmpeg-with-nvidia-gpu/,
https://ffmpeg.org/ffmpeg-filters.html#scale_005fcuda, https://ffmpeg.org/ffmpeg-codecs.html.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.routing import WorkerCaps, gpu_encode_on, nvenc_encoder
from workers.ffmpeg_cmd import CPU_VIDEO, VideoPath
from workers.probe import ProbeInfo, VideoInfo
from workers.video_codecs import is_two_pass
from workers.video_filters import needs_cpu_filters

EncodeOn = Literal["gpu", "cpu"]
#: Source codec → (min width, min height, max width, max height) of the coded frames NVDEC
#: decodes on every GPU from Turing to Hopper (H100 included), from the capability tables of
#: https://docs.nvidia.com/video-technologies/video-codec-sdk/nvdec-application-note/ and
#: https://docs.nvidia.com/video-technologies/video-codec-sdk/nvdec-video-decoder-api-prog-guide/.
#: No av1: Turing, A100 and H100 have no AV1 NVDEC, and FFmpeg decodes AV1 with libdav1d,
#: which has no hwaccel, unless told ``-c:v av1``.
NVDEC_LIMITS: Mapping[str, tuple[int, int, int, int]] = {
    "h264": (48, 16, 4096, 4096),
    "hevc": (144, 144, 8192, 8192),
    "vp9": (128, 128, 8192, 8192),
    "mpeg2video": (48, 16, 4080, 4080),
    "mpeg4": (48, 16, 2032, 2032),
    "vc1": (48, 16, 2048, 2048),
}
#: Source pixel format → format of the CUDA frames NVDEC returns. 4:2:0 only: NVDEC has no
#: 4:2:2 before Blackwell, and 4:4:4 HEVC only from Turing on.
NVDEC_FORMATS: Mapping[str, str] = {
    "yuv420p": "nv12",
    "yuvj420p": "nv12",
    "nv12": "nv12",
    "yuv420p10le": "p010le",
}
#: NVDEC decodes 10-bit HEVC (Main 10) only: no H.264 High 10 before Blackwell.
NVDEC_10BIT_CODECS = frozenset({"hevc"})
#: CPU encoder → NVENC encoder.
NVENC_FOR = {"libx264": "h264_nvenc", "libx265": "hevc_nvenc"}
#: x264/x265 Preset → NVENC preset, matched on the names NVENC gives p1-p7
#: (``ffmpeg -h encoder=h264_nvenc``: p1 fastest, p2 faster, p3 fast, p4 medium, p5 slow,
#: p6 slower, p7 slowest).
NVENC_PRESETS: Mapping[str, str] = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p2",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}
#: B-frames between references, as x264 uses by default; set, not left to the preset and
#: driver, so the GOP structure is the same on every machine. NVENC has H.264 B-frames on
#: every generation and HEVC B-frames from Turing on
#: (https://docs.nvidia.com/video-technologies/video-codec-sdk/nvenc-application-note/).
DEFAULT_B_FRAMES = 3
#: CPU encoder options that mean the same to NVENC and pass through unchanged.
_SHARED_OPTIONS = ("b:v", "maxrate", "bufsize", "g", "profile:v", "tag:v", "fps_mode:v")


# --- decoding -----------------------------------------------------------------------------


def nvdec_format(video: VideoInfo | None) -> str | None:
    """The CUDA frames' format when NVDEC decodes ``video``, or None when the CPU must.

    With ``-hwaccel_output_format cuda``, a source NVDEC turns down would reach the CUDA
    filters as CPU frames and fail, so only what every GPU decodes goes to NVDEC. A rotated
    source decodes on the CPU too: FFmpeg skips auto-rotation for hardware frames, and
    ``output_dimensions`` gives the rotated size.
    """
    if video is None or video.codec not in NVDEC_LIMITS or video.rotation:
        return None
    min_w, min_h, max_w, max_h = NVDEC_LIMITS[video.codec]
    if not (min_w <= video.width <= max_w and min_h <= video.height <= max_h):
        return None
    decoded = NVDEC_FORMATS.get(video.pix_fmt or "")
    if decoded == "p010le" and video.codec not in NVDEC_10BIT_CODECS:
        return None
    return decoded


# --- the video path -----------------------------------------------------------------------


@dataclass(frozen=True)
class GpuVideo:
    """A ``workers.ffmpeg_cmd.VideoPath`` through the GPU.

    Attributes:
        decoded: the CUDA frames' format out of NVDEC, or None when the CPU decodes.
        target: the format the encoder (or ``hwdownload``) gets from the GPU.
        encode_on: ``gpu`` (NVENC) or ``cpu`` (download, then libx264/libx265).
    """

    decoded: str | None
    target: str
    encode_on: EncodeOn

    def input_options(self) -> dict[str, Any]:
        if self.decoded is None:
            return {}
        # NVDEC decodes, and -hwaccel_output_format cuda keeps its frames in GPU memory
        # rather than copying each one back to the CPU
        # (https://docs.nvidia.com/video-technologies/video-codec-sdk/ffmpeg-with-nvidia-gpu/).
        return {"hwaccel": "cuda", "hwaccel_output_format": "cuda"}

    def filter(self, stream, rate: float | None, size: tuple[int, int] | None):
        if rate:
            # Before scaling, so dropped frames are never scaled. fps works on CUDA frames:
            # it only drops or repeats frames (https://ffmpeg.org/ffmpeg-filters.html#fps-1).
            stream = stream.filter("fps", f"{rate:g}")
        if self.decoded is None:
            # The CPU converts to the exact format wanted, so FFmpeg inserts no scaler of its
            # own; hwupload_cuda (unlike hwupload) opens its own CUDA device
            # (https://ffmpeg.org/ffmpeg-filters.html#hwupload_005fcuda).
            stream = stream.filter("format", self.target).filter("hwupload_cuda")
        stream = self._scale(stream, size)
        if self.encode_on == "cpu":
            # Back to system memory for libx264/libx265, in the format they were told.
            stream = stream.filter("hwdownload").filter("format", self.target)
        return stream

    def _scale(self, stream, size: tuple[int, int] | None):
        convert = (self.decoded or self.target) != self.target
        if size is None and not convert:
            return stream
        # scale_cuda resizes and converts pixel formats on the GPU; an unchanged size with a
        # new format still needs it (https://ffmpeg.org/ffmpeg-filters.html#scale_005fcuda).
        extra = {"format": self.target} if convert else {}
        stream = stream.filter("scale_cuda", *(size or ()), **extra)
        if size is None:
            return stream
        # As on the CPU: the scaled size already shows the display shape. setsar only
        # rewrites the frames' aspect-ratio field, so it takes CUDA frames
        # (https://ffmpeg.org/ffmpeg-filters.html#setdar_002c-setsar).
        return stream.filter("setsar", 1)

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        if self.encode_on == "cpu":
            return options  # its -pix_fmt is self.target: nothing left to convert
        return nvenc_options(options)


def gpu_video_path(
    probe: ProbeInfo, config: Mapping[str, Any], encode_on: EncodeOn
) -> GpuVideo | None:
    """The ``GpuVideo`` for an output, or None when the CPU builder's argv is the right one.

    None when the output has no video for the GPU (see ``shared.routing.nvenc_encoder``)
    and, with ``encode_on="cpu"``, when NVDEC cannot decode the source either.

    Raises:
        ValueError: ``encode_on`` is neither ``gpu`` nor ``cpu``.
    """
    if encode_on not in ("gpu", "cpu"):
        raise ValueError(f"encode_on must be 'gpu' or 'cpu', not {encode_on!r}")
    if probe.video is None or nvenc_encoder(config) is None:
        return None
    if config.get("Watermarks"):
        return None  # drawn on CPU frames (workers.watermark); routing sends them to a CPU
    if needs_cpu_filters(probe, config):
        return None  # crop, pad, deinterlacing, fields: filters only the CPU path has
    if encode_on == "gpu" and is_two_pass(config):
        return None  # x264/x265 statistics passes; NVENC's multipass is another thing
    decoded = nvdec_format(probe.video)
    if encode_on == "cpu" and decoded is None:
        return None  # uploading only to scale, then downloading, costs more than it saves
    pix_fmt = config.get("Video", {}).get("PixFmt", "yuv420p")
    if encode_on == "gpu" and pix_fmt == "yuv420p":
        # The same 8-bit 4:2:0 picture; nv12 is the layout NVDEC writes and NVENC reads.
        pix_fmt = "nv12"
    return GpuVideo(decoded, pix_fmt, encode_on)


# --- NVENC options --------------------------------------------------------------------------


def _nvenc_rate_control(options: Mapping[str, Any]) -> dict[str, Any]:
    """NVENC's -rc for the CPU builder's rate control (it already resolved TransMode)."""
    if "crf" in options:  # fixCRF
        # NVENC's target-quality mode is VBR with -cq (the 0-51 scale of x264's CRF, not the
        # same quality). -b:v 0: no average-bitrate target competes with it (FFmpeg's nvenc
        # clears it in this mode anyway, and -bufsize with it); only -maxrate, when given,
        # caps the rate (https://docs.nvidia.com/video-technologies/video-codec-sdk/nvenc-video-encoder-api-prog-guide/,
        # "Rate control", target quality).
        return {"rc": "vbr", "cq": options["crf"], "b:v": "0"}
    if "minrate" in options:  # CBR: -b:v, -maxrate and -bufsize pass through
        return {"rc": "cbr"}
    return {"rc": "vbr"}  # onepass: -b:v (and -maxrate/-bufsize) pass through


def nvenc_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The NVENC equivalent of the CPU builder's video options.

    Args:
        options: ``workers.ffmpeg_cmd``'s video options (``c:v``, rate control, ``g``,
            ``preset``, ``profile:v``, ``pix_fmt``, ``tag:v``…).

    Returns:
        Options for ``h264_nvenc``/``hevc_nvenc``; ``options`` unchanged for a copy.
    """
    encoder = NVENC_FOR.get(options["c:v"])
    if encoder is None:
        return dict(options)
    # No -pix_fmt: CUDA frames carry their format, and asking for another would make
    # FFmpeg insert a CPU scaler that cannot read them. No -x265-params: x265 only.
    args = {key: options[key] for key in _SHARED_OPTIONS if key in options}
    args |= {"c:v": encoder, **_nvenc_rate_control(options)}
    if "preset" in options:
        args["preset"] = NVENC_PRESETS[options["preset"]]
    # The baseline profile has no B-frames.
    args["bf"] = 0 if options.get("profile:v") == "baseline" else DEFAULT_B_FRAMES
    return args


# --- choosing the path ------------------------------------------------------------------------


def video_path_for(
    worker: WorkerCaps | None, probe: ProbeInfo, config: Mapping[str, Any]
) -> VideoPath:
    """Where this worker runs an output's video: ``CPU_VIDEO``, or through its GPU.

    Args:
        worker: this worker as it announced itself, when the output came from a ``gpu``
            queue; None on the CPU path.

    Returns:
        ``build_ffmpeg_args``'s ``video_path``: NVENC where ``shared.routing.gpu_encode_on``
        says the worker has the encoder, else NVDEC and CUDA scaling before a CPU encode;
        ``CPU_VIDEO`` when the GPU has nothing to do (``gpu_video_path`` is None).
    """
    if worker is None:
        return CPU_VIDEO
    return gpu_video_path(probe, config, gpu_encode_on(worker, config)) or CPU_VIDEO
