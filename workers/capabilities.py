"""What this machine's FFmpeg can do, checked before a worker takes any task.

A worker that would fail every task it takes is worse than one that refuses to start: the
check names what is missing and how to fix it (STYLE 14).
"""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from shared.config import Settings
from shared.template_audio import AUDIO_CODECS
from workers.video_codecs import VIDEO_ENCODERS

#: Every encoder a CPU argv may name, from the codec tables themselves: a worker whose FFmpeg
#: lacks one refuses to start, rather than fail the jobs that need it.
CPU_ENCODERS = tuple(
    sorted(
        {*VIDEO_ENCODERS.values()}
        | {codec.encoder for codec in AUDIO_CODECS.values() if not codec.homeless}
    )
)
GPU_ENCODERS = ("h264_nvenc", "hevc_nvenc")
_ENCODER_LINE = re.compile(r"^\s*[VAS][.A-Z]{5}\s+([\w-]+)\s", re.MULTILINE)


#: The last GPU self-test of this process, per FFmpeg binary (announced in the registry).
_GPU_RESULTS: dict[str, dict] = {}


class WorkerNotCapable(RuntimeError):
    """This machine cannot serve the queues asked for; the message says how to fix it."""


def parse_encoders(text: str) -> set[str]:
    """Encoder names from ``ffmpeg -encoders`` output."""
    return set(_ENCODER_LINE.findall(text))


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise WorkerNotCapable(
            f"{argv[0]!r} not found: install FFmpeg (apt-get install ffmpeg) or set MCFARM_FFMPEG_BIN"
        ) from None
    except subprocess.TimeoutExpired:
        raise WorkerNotCapable(
            f"{' '.join(argv[:3])} did not answer within {timeout:g} s"
        ) from None


def _gpu_failure(done: subprocess.CompletedProcess, what: str) -> WorkerNotCapable:
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return WorkerNotCapable(
        f"this machine cannot {what} on the GPU ({tail}); run this worker with --queues cpu, "
        "or fix the NVIDIA driver / FFmpeg CUDA build"
    )


def gpu_self_test(settings: Settings) -> dict:
    """One second encoded with NVENC, then decoded with NVDEC: listing proves only the build.

    Returns:
        ``{"encode": True, "decode": True, "encode_s": …, "decode_s": …}``.

    Raises:
        WorkerNotCapable: saying which half failed (a GPU without NVENC, like the H100, fails
            the encode: such a worker refuses to start).
    """
    base = [settings.ffmpeg_bin, "-hide_banner", "-loglevel", "error", "-y"]
    with tempfile.TemporaryDirectory(prefix="mcfarm-gpu-test-") as tmp:
        clip = str(Path(tmp) / "gpu-test.mp4")
        started = time.monotonic()
        done = _run(
            [
                *base,
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=25:duration=1",
                "-c:v",
                "h264_nvenc",
                clip,
            ],
            60,
        )
        if done.returncode != 0:
            raise _gpu_failure(done, "encode")
        encoded = time.monotonic()
        done = _run(
            [
                *base,
                "-hwaccel",
                "cuda",
                "-hwaccel_output_format",
                "cuda",
                "-i",
                clip,
                "-f",
                "null",
                "-",
            ],
            60,
        )
        if done.returncode != 0:
            raise _gpu_failure(done, "decode")
    return {
        "encode": True,
        "decode": True,
        "encode_s": round(encoded - started, 3),
        "decode_s": round(time.monotonic() - encoded, 3),
    }


def list_encoders(settings: Settings) -> set[str]:
    """The encoders ``ffmpeg -encoders`` lists."""
    return parse_encoders(_run([settings.ffmpeg_bin, "-hide_banner", "-encoders"], 30).stdout)


def check_worker(settings: Settings, queues: list[str]) -> set[str]:
    """Raise ``WorkerNotCapable`` unless FFmpeg can serve ``queues``; return its encoders."""
    encoders = list_encoders(settings)
    missing = [e for e in CPU_ENCODERS if e not in encoders]
    if missing:
        raise WorkerNotCapable(
            f"FFmpeg at {settings.ffmpeg_bin!r} lacks encoders {', '.join(missing)}: install a full build "
            "(Debian's ffmpeg package has them)"
        )
    if "gpu" in queues:
        absent = [e for e in GPU_ENCODERS if e not in encoders]
        if absent:
            raise WorkerNotCapable(
                f"FFmpeg lacks {', '.join(absent)}: a gpu worker needs an NVENC-enabled build"
            )
        _GPU_RESULTS[settings.ffmpeg_bin] = gpu_self_test(settings)
    return encoders


def ffmpeg_version(settings: Settings) -> str:
    """``5.1.9-0+deb12u1`` from the first line of ``ffmpeg -version``."""
    first = (_run([settings.ffmpeg_bin, "-version"], 30).stdout.splitlines() or [""])[0]
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[:2] == ["ffmpeg", "version"] else first


def describe_worker(
    settings: Settings, queues: list[str], concurrency: int, encoders: set[str]
) -> dict:
    """What a worker announces in the registry: ``mcfarm workers`` and ``/v1/workers`` show it."""
    # NVENC counts as usable only where the test encode proved it (gpu workers).
    wanted = CPU_ENCODERS + (GPU_ENCODERS if "gpu" in queues else ())
    usable = sorted(e for e in encoders if e in wanted)
    return {
        "node": socket.gethostname(),
        "queues": sorted(queues),
        "concurrency": concurrency,
        "ffmpeg": ffmpeg_version(settings),
        "encoders": usable,
        # A gpu worker only starts after its NVENC test encode passed (check_worker).
        "gpu": _GPU_RESULTS.get(settings.ffmpeg_bin) if "gpu" in queues else None,
    }
