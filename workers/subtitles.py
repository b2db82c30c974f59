"""Subtitles: the input's text subtitle stream, carried into the outputs that can hold it.

- An MP4 file carries it as ``mov_text`` (3GPP timed text, the only text codec players
  read in MP4), in the codec ``Subtitles[0].Codec`` names or the container's default
  (``shared.containers.Container.subtitle_codecs``).
- An Hls group carries it once, as a WebVTT rendition. The group's first rendition that
  keeps video (its *carrier*, ``carries_subtitles``) maps it, and FFmpeg's hls muxer
  writes ``<stem>_vtt.m3u8`` and its ``<stem><n>.vtt`` segments beside the rendition's
  own, cut where the media segments are (https://ffmpeg.org/ffmpeg-formats.html#hls-2,
  ``hls_subtitle_path``). The master playlist lists it as an ``EXT-X-MEDIA`` of
  ``TYPE=SUBTITLES`` (``media_lines``), and every variant names that group
  (``SUBTITLES="subtitle"``: ICE's ``HlsGroupConfig.SubtitleGroup``, whose default that
  is) (RFC 8216 4.3.4.1 and 4.3.4.2). Beside MPEG-TS segments each WebVTT segment gets the
  ``X-TIMESTAMP-MAP`` that ties its cue times to theirs (``with_timestamp_map``).
- A Dash group, FLV and audio files hold none, and ``"Subtitles": []`` writes none.
- Boost does not split an output that carries subtitles (its chunks and its audio part are
  encoded without them): ``boost_reason``.

Pure, like ``workers.ffmpeg_cmd``, but for ``stamp_vtt_segments``, which rewrites the WebVTT
files a run left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.containers import container
from shared.planning import OutputSpec
from shared.template_mux import subtitle_codec
from workers.probe import ProbeInfo
from workers.probe_subtitles import SubtitleInfo

#: ICE ``HlsGroupConfig.SubtitleGroup``: "Default value: subtitle".
DEFAULT_GROUP = "subtitle"
#: Where FFmpeg's MPEG-TS segments start, at 90 kHz: the mpegts muxer delays every timestamp
#: by twice ``max_delay`` (``-muxdelay``, 0.7 s by default; libavformat/mpegtsenc.c), and the
#: hls muxer's WebVTT segments count from that start.
TS_START = 126000
#: An RFC 5646 language tag as the HLS ``LANGUAGE`` attribute takes it.
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def subtitle_encoder(probe: ProbeInfo, config: Mapping[str, Any]) -> str | None:
    """The encoder of the subtitle stream an output of ``config`` writes from an input of
    ``probe``, or None: no text subtitle stream, a container without subtitles, or
    ``Subtitles: []``."""
    if probe.subtitle is None:
        return None
    return subtitle_codec(container(config["Container"]["Format"]), config, None)


def with_subtitles(
    inp, probe: ProbeInfo, config: Mapping[str, Any], streams: list, options: dict[str, Any]
) -> tuple[list, dict[str, Any]]:
    """``streams`` and ``options`` (``ffmpeg_cmd.encode_streams``) with the input's text
    subtitle stream mapped by its index (a picture subtitle stream may come first) and
    encoded as the output takes it (``-c:s``), where it takes one."""
    codec = subtitle_encoder(probe, config)
    if codec is None:
        return streams, options
    return [*streams, inp[str(probe.subtitle.index)]], {**options, "c:s": codec}


def _wants(spec: OutputSpec) -> bool:
    box = container(spec.config["Container"]["Format"])
    return subtitle_codec(box, spec.config, spec.group_type) is not None


def carries_subtitles(specs: Sequence[OutputSpec], spec: OutputSpec) -> bool:
    """Whether ``spec`` maps its input's subtitle stream (when the input has one).

    A file does where its container holds subtitles; in an Hls group only the first
    rendition that keeps video does, so the group has one subtitle rendition.
    """
    if not _wants(spec):
        return False
    if not spec.segmented:
        return True
    carriers = [
        s
        for s in specs
        if s.group == spec.group
        and _wants(s)
        and not s.config.get("Video", {}).get("Remove")
        and s.hls.get("Type") != "audio"
    ]
    return carriers[0].index == spec.index if carriers else False


def boost_reason(specs: Sequence[OutputSpec], spec: OutputSpec, probe: ProbeInfo) -> str | None:
    """Why Boost cannot split ``spec`` for its subtitles, or None."""
    if probe.subtitle is not None and carries_subtitles(specs, spec):
        return "it carries the input's subtitles, which chunks do not"
    return None


# --- HLS ------------------------------------------------------------------------------------


def subtitle_playlist(stem: str) -> str:
    """The WebVTT media playlist a carrier rendition named ``stem`` writes."""
    return f"{stem}_vtt.m3u8"


def hls_subtitle_options(options: Mapping[str, Any], out_dir: Path, stem: str) -> dict[str, str]:
    """The hls muxer's subtitle playlist (``subtitle_playlist``), when ``options`` encode a
    subtitle stream; its segments are ``<stem><n>.vtt``, named after the main playlist."""
    if "c:s" not in options:
        return {}
    return {"hls_subtitle_path": str(out_dir / subtitle_playlist(stem))}


def with_timestamp_map(vtt: str, mpegts: int = TS_START) -> str:
    """A WebVTT segment of an MPEG-TS rendition with its ``X-TIMESTAMP-MAP`` header.

    Without the header a player must take cue time 0 for MPEG-TS time 0 (RFC 8216 3.5), 1.4
    s before FFmpeg's segments start; FFmpeg writes none. fMP4 renditions need none: their
    media time starts at 0.
    """
    head, _, rest = vtt.partition("\n")
    if not head.startswith("WEBVTT") or "X-TIMESTAMP-MAP=" in vtt.split("\n\n", 1)[0]:
        return vtt
    return f"{head}\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n{rest}"


def stamp_vtt_segments(out_dir: Path, stem: str) -> None:
    """Give every WebVTT segment that the rendition ``stem`` wrote into ``out_dir`` its
    ``with_timestamp_map`` header (the rendition is MPEG-TS)."""
    playlist = out_dir / subtitle_playlist(stem)
    names = playlist.read_text().splitlines() if playlist.is_file() else []
    for name in (line for line in names if line and not line.startswith("#")):
        segment = out_dir / name
        segment.write_text(with_timestamp_map(segment.read_text()))


@dataclass(frozen=True, kw_only=True)
class SubtitleTrack:
    """The subtitle rendition of an Hls group, as the master playlist lists it.

    Attributes:
        playlist: its WebVTT playlist, relative to the master (``video/720p_vtt.m3u8``).
        name: NAME: the stream's title, else its language, else ``Subtitles``.
        language: LANGUAGE (the stream's ``language`` tag), left out when None.
    """

    playlist: str
    name: str
    language: str | None = None


def track_for(rendition_playlist: str, info: SubtitleInfo) -> SubtitleTrack:
    """The track a carrier writes beside ``rendition_playlist`` (relative to the master,
    e.g. ``video/720p.m3u8``) from the input's subtitle stream ``info``."""
    folder, _, name = rendition_playlist.rpartition("/")
    playlist = subtitle_playlist(name.removesuffix(".m3u8"))
    language = info.language if info.language and _LANGUAGE.match(info.language) else None
    return SubtitleTrack(
        playlist=f"{folder}/{playlist}" if folder else playlist,
        name=info.title or language or "Subtitles",
        language=language,
    )


def media_lines(
    tracks: Sequence[SubtitleTrack], groups: Iterable[str], quoted: Callable[[str], str]
) -> list[str]:
    """``EXT-X-MEDIA`` lines of ``TYPE=SUBTITLES``: every track in every group a variant
    names. Not shown unless chosen (``DEFAULT=NO``), offered by language (``AUTOSELECT``).

    Args:
        quoted: makes an HLS quoted-string (``workers.manifests``).
    """
    lines = []
    for group in dict.fromkeys(groups) if tracks else ():
        for track in tracks:
            attrs = [f"TYPE=SUBTITLES,GROUP-ID={quoted(group)},NAME={quoted(track.name)}"]
            if track.language:
                attrs.append(f"LANGUAGE={quoted(track.language)}")
            attrs.append(f"DEFAULT=NO,AUTOSELECT=YES,URI={quoted(track.playlist)}")
            lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    return lines
