"""Running the real FFmpeg in tests: to make inputs with lavfi and to inspect outputs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> str:
    """Run ``ffmpeg`` quietly (errors only, overwriting); its stdout.

    Raises:
        AssertionError: it failed, with FFmpeg's error lines.
    """
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)]
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stderr[-2000:]}"
    return done.stdout
