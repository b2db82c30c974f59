"""Planned outputs for the tests of job records and their views."""

from __future__ import annotations

from shared.planning import GroupSpec, OutputSpec


def output_spec(index: int) -> OutputSpec:
    """A plain MP4 output ``index`` of ``oss://media/in.mp4``."""
    return OutputSpec(
        index=index,
        name=f"o{index}",
        input_index=0,
        input_media="oss://media/in.mp4",
        output_media=f"oss://out/o{index}.mp4",
        template_id="S00000001-200010",
        config={},
    )


def hls_group(base: str = "oss://out/hls/", manifest: str = "master.m3u8") -> GroupSpec:
    """Group 0: an Hls group of MPEG-TS renditions under ``base``."""
    return GroupSpec(
        index=0,
        name="hls",
        type="Hls",
        base_media=base,
        manifest_media=base + manifest,
        segments="ts",
    )
