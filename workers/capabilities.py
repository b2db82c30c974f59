"""What this machine's FFmpeg can do, checked before a worker takes any task.

A worker that would fail every task it takes is worse than one that refuses to start: the
check names what is missing and how to fix it (STYLE 14).
"""

from __future__ import annotations

import re
import socket
import subprocess

from shared.config import Settings

CPU_ENCODERS = ("libx264", "libx265", "aac", "libmp3lame")
GPU_ENCODERS = ("h264_nvenc", "hevc_nvenc")
_ENCODER_LINE = re.compile(r"^\s*[VAS][.A-Z]{5}\s+([\w-]+)\s", re.MULTILINE)


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


def _gpu_test_encode(settings: Settings) -> None:
    """One tiny NVENC encode: listing the encoder proves only that FFmpeg was built with it."""
    argv = [
        settings.ffmpeg_bin,
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "color=size=256x256:rate=25:duration=0.2",
        "-c:v",
        "h264_nvenc",
        "-f",
        "null",
        "-",
    ]
    done = _run(argv, 60)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise WorkerNotCapable(
            f"this machine cannot encode on the GPU ({tail}); run this worker with --queues cpu, "
            "or fix the NVIDIA driver / FFmpeg NVENC build"
        )


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
        _gpu_test_encode(settings)
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
        "gpu": {"encode": True, "decode": True} if "gpu" in queues else None,
    }
