"""Checking a streaming package as a player sees it: keyframes, and playback in Chromium."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urlencode

from tests.servers.players import is_blank, play_in_chromium
from tests.servers.static_server import StaticServer

# hls.js reports stalls on a slow machine as non-fatal errors; they say nothing of the package.
STALL_WARNINGS = ("hls.js mediaError/bufferStalledError", "hls.js mediaError/bufferNudgeOnStall")


def keyframes(path: Path) -> list[float]:
    """The presentation times (seconds, to the millisecond) of the video's keyframes."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-select_streams", "v:0"),
            *("-show_entries", "packet=pts_time,flags", "-of", "json", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    packets = json.loads(out.stdout)["packets"]
    return [round(float(p["pts_time"]), 3) for p in packets if "K" in p.get("flags", "")]


def plays_in_chromium(root: Path, mode: str, manifest: str, assets: Path, screenshot: Path) -> None:
    """hls.js / dash.js in headless Chromium play the package for 3 s, no error, not blank."""
    with StaticServer(root, mounts={"/player/": assets}) as server:
        page = server.url("/player/player.html?" + urlencode({"mode": mode, "src": manifest}))
        result = play_in_chromium(page, seconds=3.0, timeout=45, screenshot=screenshot)
    assert result.error is None, (result.errors, server.requests[-10:])
    assert [e for e in result.errors if not e.startswith(STALL_WARNINGS)] == []
    assert result.played_seconds >= 3.0 and result.audio_decoded_bytes > 0
    assert result.screenshot is not None and not is_blank(result.screenshot)
