"""The subtitle stream of an input, as ``workers.probe.parse_probe`` reports it.

Only text subtitles can be written again as ``mov_text`` (MP4) or WebVTT (HLS): FFmpeg
converts between text formats, never from pictures (DVD, DVB, Blu-ray PGS) to text
(https://trac.ffmpeg.org/wiki/ExtractSubtitles). So the stream mcfarm carries is the
input's first *text* subtitle stream; picture subtitles are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ffprobe codec names of the subtitle decoders that give text (FFmpeg's ``-codecs``, ``S``
#: lines that are not bitmaps).
TEXT_SUBTITLE_CODECS = frozenset(
    {
        "subrip",
        "srt",
        "ass",
        "ssa",
        "webvtt",
        "mov_text",
        "text",
        "subviewer",
        "subviewer1",
        "microdvd",
        "jacosub",
        "sami",
        "realtext",
        "stl",
        "pjs",
        "vplayer",
        "mpl2",
    }
)


@dataclass(frozen=True)
class SubtitleInfo:
    """The input's first text subtitle stream.

    Attributes:
        index: the stream's index in the input (``-map 0:<index>``).
        codec: ffprobe's short codec name, e.g. ``subrip``, ``mov_text``.
        language: its ``language`` tag (ISO 639-2, e.g. ``eng``), None when absent or ``und``.
        title: its ``title`` tag, None when absent.
    """

    index: int
    codec: str
    language: str | None = None
    title: str | None = None


def first_text_subtitle(probe_json: Mapping[str, Any]) -> SubtitleInfo | None:
    """The first subtitle stream of ``ffprobe -show_streams`` JSON whose codec is text."""
    for stream in probe_json.get("streams") or ():
        codec = str(stream.get("codec_name") or "")
        if stream.get("codec_type") != "subtitle" or codec not in TEXT_SUBTITLE_CODECS:
            continue
        tags = stream.get("tags") or {}
        language = str(tags.get("language") or "").strip()
        title = str(tags.get("title") or "").strip()
        return SubtitleInfo(
            index=int(stream.get("index") or 0),
            codec=codec,
            language=language if language and language != "und" else None,
            title=title or None,
        )
    return None
