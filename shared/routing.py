"""Which queue an output goes to, ``cpu`` or ``gpu``, and how a gpu worker then encodes it.

Pure and stdlib-only, so the API can route at submit time without importing worker code.
The inputs are the output's normalized TemplateConfig, its ``Features``, the live workers
(as announced at start, see ``workers.capabilities.describe_worker``) and the operator's
GPU policy.

Two kinds of machine take ``gpu`` work: those with NVENC (decode, scale and encode on the
GPU) and those with NVDEC only, such as the H100 (decode and scale on the GPU, encode on the
CPU). ``gpu_encode_on`` tells a worker which of the two it does for an output;
``workers.gpu_cmd.build_gpu_ffmpeg_args`` builds the argv for either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.config import SettingsError
from shared.errors import InvalidJob

GpuPolicy = Literal["auto", "never", "prefer"]
GPU_POLICIES: tuple[GpuPolicy, ...] = ("auto", "never", "prefer")
HARDWARE_VALUES = ("gpu", "cpu")
#: The NVENC encoder for each ``Video.Codec`` (https://docs.nvidia.com/video-technologies/video-codec-sdk/ffmpeg-with-nvidia-gpu/).
NVENC_ENCODERS: Mapping[str, str] = {"H.264": "h264_nvenc", "H.265": "hevc_nvenc"}
#: ``Video.PixFmt`` values the GPU path produces: scale_cuda converts to them and NVENC
#: encodes them. yuv422p (no NVENC 4:2:2), yuvj420p (full range) and yuv420p10le stay on the CPU.
GPU_PIX_FMTS = ("yuv420p", "nv12", "yuv444p")
#: Containers that ``workers.gpu_cmd`` builds a GPU argv for. Segmented renditions (HLS/DASH)
#: have no GPU builder yet: on a gpu worker they would be encoded on its CPU anyway.
GPU_CONTAINERS = ("mp4", "flv")


def parse_gpu_policy(text: str) -> GpuPolicy:
    """Read the operator's GPU policy (``auto``, ``never`` or ``prefer``, any case).

    Raises:
        SettingsError: on anything else, empty text included.
    """
    value = text.strip().lower()
    for policy in GPU_POLICIES:
        if value == policy:
            return policy
    raise SettingsError(f"MCFARM_GPU_POLICY={text!r}: expected one of {', '.join(GPU_POLICIES)}")


@dataclass(frozen=True)
class WorkerCaps:
    """What a live worker announced at start.

    Attributes:
        hostname: the worker's node name.
        queues: the queues it consumes (``cpu``, ``gpu``).
        concurrency: how many tasks it runs at once; 0 takes none.
        encoders: FFmpeg encoder names it has (``libx264``, ``h264_nvenc``…).
        gpu_encode: its NVENC test encode passed.
        gpu_decode: it decodes (NVDEC) and scales (CUDA) on a GPU.
    """

    hostname: str
    queues: tuple[str, ...]
    concurrency: int
    encoders: frozenset[str]
    gpu_encode: bool
    gpu_decode: bool

    @property
    def takes_gpu_tasks(self) -> bool:
        """It consumes the ``gpu`` queue and has room to run something."""
        return "gpu" in self.queues and self.concurrency > 0

    def encodes_on_gpu(self, encoder: str) -> bool:
        """It takes gpu tasks and can run ``encoder`` (e.g. ``hevc_nvenc``) on its GPU."""
        return self.takes_gpu_tasks and self.gpu_encode and encoder in self.encoders

    @property
    def decodes_on_gpu(self) -> bool:
        """It takes gpu tasks and decodes and scales on its GPU."""
        return self.takes_gpu_tasks and self.gpu_decode


def hardware_feature(features: Mapping[str, Any] | None) -> str | None:
    """``Features.Hardware``, lowercased: ``"gpu"``, ``"cpu"``, or None when not given.

    Raises:
        InvalidJob: a value other than gpu or cpu.
    """
    value = (features or {}).get("Hardware")
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in HARDWARE_VALUES:
        return value.strip().lower()
    raise InvalidJob(
        f'The specified parameter "Features.Hardware" is not valid: {value!r} (use gpu or cpu).'
    )


def nvenc_encoder(config: Mapping[str, Any]) -> str | None:
    """The NVENC encoder for the output's video, or None when a GPU has nothing to do.

    None for: a container without a GPU builder (audio-only, segmented), ``Video.Remove``,
    a copied video stream, and a ``PixFmt`` outside ``GPU_PIX_FMTS``.
    """
    video = config.get("Video", {})
    if config["Container"]["Format"] not in GPU_CONTAINERS or video.get("Remove"):
        return None
    if video.get("PixFmt", "yuv420p") not in GPU_PIX_FMTS:
        return None
    return NVENC_ENCODERS.get(video.get("Codec", "H.264"))  # None for "copy"


def choose_queue(
    config: Mapping[str, Any],
    features: Mapping[str, Any] | None,
    workers: Sequence[WorkerCaps],
    policy: GpuPolicy,
) -> tuple[str, str]:
    """The queue for one output, and a short reason for logs and Flower.

    The first matching row decides:

    ====  ===============================================================  =====
    row   condition                                                        queue
    ====  ===============================================================  =====
    1     policy ``never`` (the operator's policy wins, even over
          ``Features.Hardware`` ``gpu``)                                   cpu
    2     ``Features.Hardware`` ``cpu``                                    cpu
    3     nothing for a GPU (``nvenc_encoder`` is None): copy, audio-only,
          ``Video.Remove``, segmented, a PixFmt NVENC cannot take          cpu
    4     a live gpu worker has NVENC for the codec                        gpu
    5     Hardware ``gpu`` or policy ``prefer``, and a live gpu worker
          decodes on its GPU (it encodes on its CPU)                       gpu
    6     otherwise: with Hardware ``gpu`` the job still runs, on a CPU    cpu
    ====  ===============================================================  =====

    So ``auto`` uses a GPU only where it encodes, ``prefer`` also where it only decodes,
    and Hardware ``gpu`` asks for either whatever the policy (unless ``never``).

    Args:
        config: the output's normalized TemplateConfig.
        features: the output's ``Features`` (``Hardware``), or None.
        workers: the live workers.
        policy: from ``parse_gpu_policy``.

    Returns:
        ``("cpu" | "gpu", reason)``.

    Raises:
        InvalidJob: ``Features.Hardware`` is neither gpu nor cpu.
    """
    hardware = hardware_feature(features)
    if policy == "never":
        return "cpu", "GPU policy is never"
    if hardware == "cpu":
        return "cpu", "Features.Hardware is cpu"
    encoder = nvenc_encoder(config)
    if encoder is None:
        return "cpu", "nothing to do on a GPU (copy, audio-only, segmented or pixel format)"
    if any(worker.encodes_on_gpu(encoder) for worker in workers):
        return "gpu", f"a live GPU worker has {encoder}"
    if (hardware == "gpu" or policy == "prefer") and any(w.decodes_on_gpu for w in workers):
        return "gpu", "a live GPU worker decodes on the GPU and encodes on its CPU"
    return "cpu", f"no live GPU worker can run {encoder} or decode on the GPU"


def gpu_encode_on(worker: WorkerCaps, config: Mapping[str, Any]) -> Literal["gpu", "cpu"]:
    """Where a gpu worker encodes an output: ``gpu`` when it has the NVENC encoder, else ``cpu``.

    The result is ``build_gpu_ffmpeg_args``'s ``encode_on``.
    """
    encoder = nvenc_encoder(config)
    has_encoder = encoder is not None and worker.gpu_encode and encoder in worker.encoders
    return "gpu" if has_encoder else "cpu"
