from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from shared.config import Settings
from workers.capabilities import WorkerNotCapable, check_worker, parse_encoders

SAMPLE = """Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 A..... aac                  AAC (Advanced Audio Coding)
 A....D libmp3lame           libmp3lame MP3 (MPEG audio layer 3) (codec mp3)
 S..... srt                  SubRip subtitle
"""


def test_parse_encoders():
    assert parse_encoders(SAMPLE) == {"libx264", "h264_nvenc", "aac", "libmp3lame", "srt"}


def test_missing_ffmpeg_says_how_to_fix():
    with pytest.raises(WorkerNotCapable, match="install FFmpeg"):
        check_worker(Settings(ffmpeg_bin="/nonexistent/ffmpeg"), ["cpu"])


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="FFmpeg not installed")


@pytest.mark.integration
@needs_ffmpeg
def test_cpu_worker_passes_on_this_machine():
    assert {"libx264", "libx265", "aac", "libmp3lame"} <= check_worker(Settings(), ["cpu"])


@pytest.mark.integration
@needs_ffmpeg
@pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None, reason="the refusal is for machines without a GPU"
)
def test_gpu_worker_refuses_to_start_without_a_working_gpu():
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--queues", "gpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("mcfarm worker:")
    assert "--queues cpu" in proc.stderr or "NVENC" in proc.stderr
    assert "Traceback" not in proc.stderr
