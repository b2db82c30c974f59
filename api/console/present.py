"""What the console's pages show, as pure functions of a ``JobRecord`` (no Flask here).

The pages render these; ``tests/unit/api/test_console_present.py`` checks them exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.containers import container
from shared.jobrecord import JobRecord
from shared.jobview import job_eta, job_percent, output_eta, output_percent
from shared.planning import GroupSpec, OutputSpec

#: The submit form's fields; an API error naming one of them is shown next to it.
FORM_FIELDS = ("Config", "PipelineId", "UserData")
#: The states a job may still change from: the list and detail pages poll while one shows.
LIVE_STATES = frozenset({"Inited", "Running"})


def format_eta(seconds: int | None) -> str:
    """``0:07``, ``12:30``, ``1:02:03``; empty when there is no estimate."""
    if seconds is None:
        return ""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def error_field(message: str) -> str:
    """The form field an API error is about: the first quoted parameter's root
    (``"Config.Outputs[0].TemplateId"`` → ``Config``); ``Config`` when it names none."""
    for name in re.findall(r'"([A-Za-z]+)[^"]*"', message):
        if name in FORM_FIELDS:
            return name
    return "Config"


def progress(rec: JobRecord, now_us: int) -> dict[str, Any]:
    """A job's live figures: what the list's and detail's progress bars poll."""
    eta = job_eta(rec, now_us)
    return {
        "State": rec.state,
        "Percent": job_percent(rec),
        "EtaSeconds": eta,
        "Eta": format_eta(eta),
        "Live": rec.state in LIVE_STATES,
    }


@dataclass(frozen=True)
class Preview:
    """How the detail page plays a finished output or group.

    Attributes:
        player: ``video``, ``audio``, ``mpegts`` (FLV), ``hls`` or ``dash``.
        output: the output's index (a file) or None (a group).
        group: the group's index (a package) or None.
        name: what to ask for: a group's manifest, relative to its folder.
    """

    player: str
    output: int | None = None
    group: int | None = None
    name: str = ""


def file_preview(rec: JobRecord, spec: OutputSpec) -> Preview | None:
    """A finished file output's preview, where a browser can play its container."""
    if spec.segmented or rec.outputs.get(spec.index, {}).get("Status") != "Success":
        return None
    player = container(spec.config.get("Container", {}).get("Format", "mp4")).player
    return Preview(player, output=spec.index) if player else None


def group_preview(rec: JobRecord, group: GroupSpec) -> Preview | None:
    """A packaged Hls/Dash group's preview: its manifest, in hls.js or dash.js."""
    if rec.group_states.get(group.index, {}).get("Status") != "Success":
        return None
    base = group.base_media.rstrip("/") + "/"
    if not group.manifest_media.startswith(base):
        return None
    return Preview(group.type.lower(), group=group.index, name=group.manifest_media[len(base) :])


def scrub(value: Any) -> Any:
    """``value`` without the storage URLs (``Url``, ``FileUrl``) a job's details carry: they
    may name a private endpoint; the console links its own media URLs instead."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in ("Url", "FileUrl")}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


@dataclass(frozen=True)
class UnitRun:
    """One FFmpeg run shown on the detail page: a whole output's, or a Boost part's."""

    label: str
    command: str
    log: str


def ffmpeg_runs(rec: JobRecord, index: int) -> list[UnitRun]:
    """The FFmpeg commands and stderr tails of an output: its own, then its parts' in
    order (chunks ``c0``, ``c1``…, the audio, the join)."""
    runs = []
    if index in rec.ffmpeg:
        own = rec.ffmpeg[index]
        runs.append(UnitRun("", own.get("Command", ""), own.get("Log", "")))
    parts = rec.part_ffmpeg.get(index, {})
    for part in sorted(parts, key=_part_order):
        runs.append(UnitRun(part, parts[part].get("Command", ""), parts[part].get("Log", "")))
    return runs


def _part_order(part: str) -> tuple[int, int]:
    if part[:1] == "c" and part[1:].isdigit():
        return 0, int(part[1:])
    return (1, 0) if part == "audio" else (2, 0)


def output_figures(rec: JobRecord, index: int, now_us: int) -> dict[str, Any]:
    """An output's percent and ETA, for its row on the detail page."""
    eta = output_eta(rec, index, now_us)
    return {"Percent": output_percent(rec, index), "Eta": format_eta(eta)}
