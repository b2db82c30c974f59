"""Where and how urgently a job's work runs: its queue, its Celery priority, CPU or GPU.

``route_start`` (a job's start message, sent at submit and at a pipeline's release) and
``route_output`` (each output's message, sent by ``start_job`` and by the watchdog's
requeue) are the one decision every sender uses: the queue is the kind (``cpu``/``gpu``,
``choose_queue``) in the account's fair-share slot (``shared.fair_share``); the priority is
the output's ``Priority`` shifted by its pipeline's (``effective_priority``).

Pure, so the API can route at submit time without importing worker code. The inputs are the
job record, the output's normalized TemplateConfig and ``Features``, the live workers (as
announced at start, see ``workers.capabilities.describe_worker``) and the operator's GPU
policy.

Two kinds of machine take ``gpu`` work: those with NVENC (decode, scale and encode on the
GPU) and those with NVDEC only, such as the H100 (decode and scale on the GPU, encode on the
CPU). ``gpu_encode_on`` tells a worker which of the two it does for an output;
``workers.gpu_cmd.video_path_for`` picks the video path for either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.config import SettingsError
from shared.containers import container
from shared.errors import InvalidJob
from shared.fair_share import slot_queue
from shared.units import Unit, chunk_number

if TYPE_CHECKING:
    from shared.jobrecord import JobRecord
    from shared.planning import OutputSpec

#: The kinds of queue; a worker consumes one or both (``mcfarm worker --queues``).
KINDS = ("cpu", "gpu")
#: ICE's default output and pipeline priority (reference §2.2 ``Priority``: 1–10, default 6).
DEFAULT_PRIORITY = 6
GpuPolicy = Literal["auto", "never", "prefer"]
GPU_POLICIES: tuple[GpuPolicy, ...] = ("auto", "never", "prefer")
HARDWARE_VALUES = ("gpu", "cpu")
#: The NVENC encoder for each ``Video.Codec`` (https://docs.nvidia.com/video-technologies/video-codec-sdk/ffmpeg-with-nvidia-gpu/).
NVENC_ENCODERS: Mapping[str, str] = {"H.264": "h264_nvenc", "H.265": "hevc_nvenc"}
#: ``Video.PixFmt`` values the GPU path produces: scale_cuda converts to them and NVENC
#: encodes them. yuv422p (no NVENC 4:2:2), yuvj420p (full range) and yuv420p10le stay on the CPU.
GPU_PIX_FMTS = ("yuv420p", "nv12", "yuv444p")


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


def celery_priority(priority: int) -> int:
    """ICE priority 1–10 (higher first) → Redis transport priority 0–9 (0 first)."""
    return 10 - max(1, min(10, int(priority)))


def effective_priority(output: int, pipeline: int = DEFAULT_PRIORITY) -> int:
    """An output's priority (1–10) shifted by its pipeline's (6 is neutral)."""
    return max(1, min(10, int(output) + int(pipeline) - DEFAULT_PRIORITY))


@dataclass(frozen=True)
class Route:
    """Where a message goes and how urgent it is.

    Attributes:
        queue: the queue, e.g. ``cpu.3`` (a kind's fair-share slot).
        priority: the Celery/Redis transport priority, 0 (first) to 9.
        reason: why this kind of queue, for logs and Flower.
    """

    queue: str
    priority: int
    reason: str = ""


def route_start(job: JobRecord) -> Route:
    """The route of a job's start message (probe, then fan out): a cpu task, as urgent as
    the job's most urgent output."""
    top = max((s.priority for s in job.specs), default=DEFAULT_PRIORITY)
    priority = celery_priority(effective_priority(top, job.pipeline_priority))
    return Route(slot_queue("cpu", job.slot), priority, "the job's start")


def route_output(
    job: JobRecord, spec: OutputSpec, workers: Sequence[WorkerCaps], policy: GpuPolicy
) -> Route:
    """The route of one output's message, first sent or requeued alike.

    Raises:
        InvalidJob: ``Features.Hardware`` is neither gpu nor cpu.
    """
    kind, reason = choose_queue(spec.config, spec.features, workers, policy)
    priority = celery_priority(effective_priority(spec.priority, job.pipeline_priority))
    return Route(slot_queue(kind, job.slot), priority, reason)


def route_unit(
    job: JobRecord, unit: Unit, workers: Sequence[WorkerCaps], policy: GpuPolicy
) -> Route:
    """The route of any unit's message (``shared.units``), first sent or requeued alike.

    A whole output and a chunk of a split one go where ``route_output`` sends the output;
    a split output's audio and its join have no video to encode, so they run on a CPU, as
    urgent as the output.
    """
    route = route_output(job, job.specs[unit.index], workers, policy)
    if unit.part and chunk_number(unit.part) is None:
        return Route(slot_queue("cpu", job.slot), route.priority, f"{unit.part} on a CPU")
    return route


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

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> WorkerCaps:
        """From what the worker announced in the registry (``describe_worker``)."""
        gpu = info.get("gpu") or {}
        return cls(
            hostname=info["hostname"],
            queues=tuple(info.get("queues", ())),
            concurrency=int(info.get("concurrency") or 0),
            encoders=frozenset(info.get("encoders", ())),
            gpu_encode=bool(gpu.get("encode")),
            gpu_decode=bool(gpu.get("decode")),
        )

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
    # Segmented renditions (HLS/DASH) have no GPU builder yet (``Container.gpu_builder``):
    # on a gpu worker they would be encoded on its CPU anyway.
    if not container(config["Container"]["Format"]).gpu_builder or video.get("Remove"):
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
    2b    ``Features.Watermarks``: drawtext and overlay run on CPU frames
          (an NVENC path would download and upload every frame for them)   cpu
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
    if (features or {}).get("Watermarks"):
        return "cpu", "watermarks are drawn on the CPU"
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

    The result is ``workers.gpu_cmd.gpu_video_path``'s ``encode_on``.
    """
    encoder = nvenc_encoder(config)
    has_encoder = encoder is not None and worker.gpu_encode and encoder in worker.encoders
    return "gpu" if has_encoder else "cpu"
