"""Planned outputs for the tests of job records and their views."""

from __future__ import annotations

from shared.planning import OutputSpec


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
