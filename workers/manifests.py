"""HLS manifests of an output group: codec strings, segment bit rates, the master playlist.

Everything here is pure: it reads playlist text, file sizes and ffprobe JSON that the caller
gathered, and returns text. DASH's combined MPD is in ``workers.dash_mpd`` (``merge_mpd``,
re-exported here).

References: RFC 8216 (https://datatracker.ietf.org/doc/html/rfc8216), RFC 6381 (codecs
parameter), Apple's HLS authoring spec
(https://developer.apple.com/documentation/http-live-streaming/hls-authoring-specification-for-apple-devices),
https://ffmpeg.org/ffmpeg-formats.html#hls-2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import m3u8

from shared.errors import InputContentBad, InvalidJob
from workers.dash_mpd import merge_mpd
from workers.probe import parse_probe
from workers.subtitles import DEFAULT_GROUP as DEFAULT_SUBTITLE_GROUP
from workers.subtitles import SubtitleTrack, media_lines

__all__ = [
    "Measured",
    "Rendition",
    "codecs_string",
    "master_playlist",
    "measure_playlist",
    "merge_mpd",
    "rendition_from_output",
]

#: ffprobe's H.264 profile name → (profile_idc, constraint-flags byte) of ``avc1.PPCCLL``.
#: ffprobe does not print the SPS constraint flags, so each profile gets the byte its
#: canonical codec string uses (Constrained Baseline: constraint_set0..2 → ``e0``).
AVC_PROFILES: Mapping[str, tuple[int, int]] = {
    "Constrained Baseline": (66, 0xE0),
    "Baseline": (66, 0x00),
    "Main": (77, 0x00),
    "Extended": (88, 0x00),
    "High": (100, 0x00),
    "High 10": (110, 0x00),
    "High 4:2:2": (122, 0x00),
    "High 4:4:4 Predictive": (244, 0x00),
}
#: ffprobe's HEVC profile name → (general_profile_idc, compatibility flags, bit-reversed hex).
HEVC_PROFILES: Mapping[str, tuple[int, str]] = {"Main": (1, "6"), "Main 10": (2, "4")}
#: ffprobe's AAC profile name → MPEG-4 audio object type (``mp4a.40.<type>``).
AAC_OBJECT_TYPES: Mapping[str, int] = {
    "Main": 1,
    "LC": 2,
    "SSR": 3,
    "LTP": 4,
    "HE-AAC": 5,
    "HE-AACv2": 29,
}
#: Other audio codecs by ffprobe name; MP3 as Apple lists it (MPEG-1/2 Layer III, type 34).
AUDIO_CODECS: Mapping[str, str] = {"mp3": "mp4a.40.34", "ac3": "ac-3", "eac3": "ec-3"}


# --- CODECS -------------------------------------------------------------------------------


def _level(stream: Mapping[str, Any]) -> int:
    level = stream.get("level")
    if not isinstance(level, int) or level <= 0:  # ffprobe prints -99 when it does not know
        raise InputContentBad(f"ffprobe does not know the {stream.get('codec_name')} level")
    return level


def _unknown(stream: Mapping[str, Any]) -> InputContentBad:
    name = f"{stream.get('codec_name')} ({stream.get('profile') or 'no profile'})"
    return InputContentBad(f"{name} has no HLS/DASH codec string; re-encode it instead of copying")


def _avc(stream: Mapping[str, Any]) -> str:
    """``avc1.PPCCLL``: profile_idc, constraint flags, level_idc (RFC 6381 3.3)."""
    try:
        profile_idc, constraints = AVC_PROFILES[stream.get("profile")]
    except KeyError:
        raise _unknown(stream) from None
    return f"avc1.{profile_idc:02x}{constraints:02x}{_level(stream):02x}"


def _hevc(stream: Mapping[str, Any]) -> str:
    """``hvc1.1.6.L93.B0``: profile, compatibility, Main tier + level, constraint bytes.

    ffprobe's ``level`` is general_level_idc (30 × the level number); it prints no tier,
    so Main tier (``L``) is assumed, as x265 writes by default (ISO/IEC 14496-15 E.3).
    """
    try:
        profile_idc, compatibility = HEVC_PROFILES[stream.get("profile")]
    except KeyError:
        raise _unknown(stream) from None
    tag = "hev1" if stream.get("codec_tag_string") == "hev1" else "hvc1"
    return f"{tag}.{profile_idc}.{compatibility}.L{_level(stream)}.B0"


def _video_codec(stream: Mapping[str, Any]) -> str:
    codec = stream.get("codec_name")
    if codec == "h264":
        return _avc(stream)
    if codec == "hevc":
        return _hevc(stream)
    raise _unknown(stream)


def _audio_codec(stream: Mapping[str, Any]) -> str:
    codec = stream.get("codec_name")
    if codec == "aac":
        object_type = AAC_OBJECT_TYPES.get(stream.get("profile"))
        if object_type is None:
            raise _unknown(stream)
        return f"mp4a.40.{object_type}"
    if codec not in AUDIO_CODECS:
        raise _unknown(stream)
    return AUDIO_CODECS[codec]


def _first(probe_json: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for stream in probe_json.get("streams") or ():
        cover = (stream.get("disposition") or {}).get("attached_pic")
        if stream.get("codec_type") == kind and not cover:
            return stream
    return None


def codecs_string(probe_json: Mapping[str, Any]) -> str:
    """The RFC 6381 ``CODECS`` value of a rendition: video first, then audio.

    Args:
        probe_json: ``run_probe`` of the rendition (its playlist, or a segment that ffprobe
            can read on its own).

    Returns:
        e.g. ``avc1.64001f,mp4a.40.2``; ``hvc1.1.6.L93.B0``; ``mp4a.40.5``.

    Raises:
        InputContentBad: a codec, profile or level without a codec string (typically a
            copied stream HLS cannot carry), or a rendition with neither stream.
    """
    video, audio = _first(probe_json, "video"), _first(probe_json, "audio")
    parts = []
    if video is not None:
        parts.append(_video_codec(video))
    if audio is not None:
        parts.append(_audio_codec(audio))
    if not parts:
        raise InputContentBad("the rendition has no audio or video stream")
    return ",".join(parts)


# --- measuring a variant playlist ---------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """Segment sizes and bit rates of one variant (media) playlist.

    Attributes:
        segments: ``(uri, duration s, size bytes)`` per media segment, in order.
        total_duration: the sum of the EXTINF durations, in seconds.
        peak_bps: the peak segment bit rate (RFC 8216 4.3.4.2 BANDWIDTH), rounded up.
        average_bps: all media segment bytes × 8 / total duration (AVERAGE-BANDWIDTH).
    """

    segments: list[tuple[str, float, int]]
    total_duration: float
    peak_bps: int
    average_bps: int


def _peak(segments: list[tuple[str, float, int]], target: float) -> float:
    """The largest bit rate of any run of segments lasting 0.5 to 1.5 target durations.

    That is the HLS spec's "peak segment bit rate" (RFC 8216 and its 8216bis revision,
    BANDWIDTH of EXT-X-STREAM-INF); for segments of about the target duration
    it is the largest single segment's rate, while a short last segment (whose keyframe
    alone would look like a burst) is only counted together with its neighbour.
    """
    best = 0.0
    for start in range(len(segments)):
        size, duration = 0, 0.0
        for _, seconds, nbytes in segments[start:]:
            size, duration = size + nbytes, duration + seconds
            if duration > 1.5 * target:
                break
            if duration >= 0.5 * target:
                best = max(best, size * 8 / duration)
    if best == 0.0:  # the whole playlist is shorter than half a target duration
        best = max((n * 8 / d for _, d, n in segments if d > 0), default=0.0)
    return best


def measure_playlist(playlist_text: str, sizes: Mapping[str, int]) -> Measured:
    """Measure a rendition's media playlist against the sizes of its segment files.

    The Media Initialization Section (fMP4's ``EXT-X-MAP`` init file) is not counted: the
    HLS bit rates are those of Media Segments, and a player fetches the init once per
    switch. Its few hundred bytes would not change BANDWIDTH anyway.

    Args:
        playlist_text: the ``<stem>.m3u8`` FFmpeg wrote.
        sizes: bytes per segment URI as the playlist writes it (the file name).

    Returns:
        The per-segment list, total duration, peak and average bit rates.

    Raises:
        ValueError: a segment the playlist names has no size, or the playlist is empty.
    """
    playlist = m3u8.loads(playlist_text)
    missing = [seg.uri for seg in playlist.segments if seg.uri not in sizes]
    if missing or not playlist.segments:
        raise ValueError(f"no size for segments {missing}" if missing else "empty playlist")
    segments = [(seg.uri, float(seg.duration), sizes[seg.uri]) for seg in playlist.segments]
    total = sum(duration for _, duration, _ in segments)
    target = playlist.target_duration or max(duration for _, duration, _ in segments)
    average = sum(size for _, _, size in segments) * 8 / total if total else 0.0
    return Measured(segments, total, math.ceil(_peak(segments, target)), round(average))


# --- master playlist ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Rendition:
    """One rendition as the master playlist lists it.

    Attributes:
        playlist: its media playlist, relative to the master (``video/720p.m3u8``).
        kind: ``video`` (audio comes from ``audio_group``), ``audio`` (an EXT-X-MEDIA of
            ``group``) or ``hybrid`` (audio and video in the same segments; ICE's default).
        peak_bps: ``Measured.peak_bps``.
        average_bps: ``Measured.average_bps``.
        width: pixels, None without video.
        height: pixels, None without video.
        frame_rate: frames per second, None without video or when unknown.
        codecs: ``codecs_string`` of the rendition.
        group: GROUP-ID of an audio rendition (ICE ``HlsGroupConfig.Group``).
        audio_group: the AUDIO group a video rendition plays with (``AudioGroup``).
        name: NAME of an audio rendition; its language or playlist stem when None.
        language: LANGUAGE (RFC 5646), left out when None.
        is_default: ``"true"``/``"false"``; None: the first audio rendition of its group
            is the default.
        autoselect: ``"true"``/``"false"``; None means ``YES``, and a DEFAULT rendition is
            always ``YES`` (RFC 8216 4.3.4.1).
        subtitle_group: the SUBTITLES group a variant plays with (``SubtitleGroup``).
    """

    playlist: str
    kind: str
    peak_bps: int
    average_bps: int
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    codecs: str
    group: str = "audio"
    audio_group: str = "audio"
    name: str | None = None
    language: str | None = None
    is_default: str | None = None
    autoselect: str | None = None
    subtitle_group: str = DEFAULT_SUBTITLE_GROUP


def rendition_from_output(
    playlist: str, hls: Mapping[str, Any], measured: Measured, probe_json: Mapping[str, Any]
) -> Rendition:
    """A ``Rendition`` from an output's ICE ``HlsGroupConfig`` and what was measured.

    Args:
        playlist: the media playlist relative to the master.
        hls: the output's normalized ``HlsGroupConfig`` (``{}`` for the defaults).
        measured: ``measure_playlist`` of the rendition.
        probe_json: ``run_probe`` of the rendition's playlist.
    """
    info = parse_probe(probe_json).video
    return Rendition(
        playlist=playlist,
        kind=hls.get("Type", "hybrid"),
        peak_bps=measured.peak_bps,
        average_bps=measured.average_bps,
        width=info.width if info else None,
        height=info.height if info else None,
        frame_rate=info.fps if info else None,
        codecs=codecs_string(probe_json),
        group=hls.get("Group", "audio"),
        audio_group=hls.get("AudioGroup", "audio"),
        name=hls.get("Name"),
        language=hls.get("Language"),
        is_default=hls.get("IsDefault"),
        autoselect=hls.get("AutoSelect"),
        subtitle_group=hls.get("SubtitleGroup", DEFAULT_SUBTITLE_GROUP),
    )


def _quoted(text: str) -> str:
    """An HLS quoted-string: no double quote, CR or LF inside (RFC 8216 4.2)."""
    return '"' + text.replace('"', "'").replace("\r", " ").replace("\n", " ") + '"'


def _yes(flag: bool) -> str:
    return "YES" if flag else "NO"


def _media_lines(audio: list[Rendition]) -> list[str]:
    """EXT-X-MEDIA lines, grouped; the first of a group is DEFAULT unless one says which."""
    lines = []
    for group in dict.fromkeys(r.group for r in audio):
        members = [r for r in audio if r.group == group]
        chosen = any(r.is_default is not None for r in members)
        for i, r in enumerate(members):
            default = r.is_default == "true" if chosen else i == 0
            # DEFAULT=YES needs AUTOSELECT=YES (RFC 8216 4.3.4.1).
            auto = default or r.autoselect != "false"
            name = r.name or r.language or r.playlist.rsplit("/", 1)[-1].removesuffix(".m3u8")
            attrs = [f"TYPE=AUDIO,GROUP-ID={_quoted(group)},NAME={_quoted(name)}"]
            if r.language:
                attrs.append(f"LANGUAGE={_quoted(r.language)}")
            attrs.append(f"DEFAULT={_yes(default)},AUTOSELECT={_yes(auto)}")
            attrs.append(f"URI={_quoted(r.playlist)}")
            lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    return lines


def _joined_codecs(codecs: Iterable[str]) -> str:
    parts = [part for value in codecs for part in value.split(",")]
    return ",".join(dict.fromkeys(parts))


def _stream_inf(r: Rendition, audio: list[Rendition], subtitles: bool) -> tuple[int, str]:
    """(BANDWIDTH, EXT-X-STREAM-INF line + URI) of a variant, its audio group included."""
    peak, average, codecs = r.peak_bps, r.average_bps, [r.codecs]
    if audio:
        # The loudest combination a player may pick: this video with the group's largest
        # audio (RFC 8216 4.3.4.2, BANDWIDTH and AVERAGE-BANDWIDTH).
        peak += max(a.peak_bps for a in audio)
        average += max(a.average_bps for a in audio)
        codecs += [a.codecs for a in audio]
    attrs = [f"BANDWIDTH={peak}", f"AVERAGE-BANDWIDTH={average}"]
    if r.width and r.height:
        attrs.append(f"RESOLUTION={r.width}x{r.height}")
    attrs.append(f"CODECS={_quoted(_joined_codecs(codecs))}")
    if r.frame_rate:
        attrs.append(f"FRAME-RATE={r.frame_rate:.3f}")
    if audio:
        attrs.append(f"AUDIO={_quoted(r.audio_group)}")
    if subtitles:
        attrs.append(f"SUBTITLES={_quoted(r.subtitle_group)}")
    return peak, f"#EXT-X-STREAM-INF:{','.join(attrs)}\n{r.playlist}"


def _audio_of(r: Rendition, audio: list[Rendition]) -> list[Rendition]:
    if r.kind != "video" or not audio:
        return []
    members = [a for a in audio if a.group == r.audio_group]
    if not members:
        groups = ", ".join(sorted({a.group for a in audio}))
        raise InvalidJob(
            f"rendition {r.playlist} plays with audio group {r.audio_group!r}, "
            f"but the audio renditions are in {groups}"
        )
    return members


def master_playlist(
    renditions: list[Rendition],
    *,
    fmp4: bool = False,
    subtitles: Sequence[SubtitleTrack] = (),
) -> str:
    """The HLS master (multivariant) playlist of an output group.

    Audio renditions become ``EXT-X-MEDIA`` entries, video and hybrid ones
    ``EXT-X-STREAM-INF`` variants sorted by BANDWIDTH. A group with audio renditions only
    lists each of them as a variant instead, since a player starts from a variant.

    Args:
        renditions: every rendition of the group.
        fmp4: the renditions are fMP4 (``EXT-X-VERSION:7``); MPEG-TS otherwise (``3``).
        subtitles: the group's subtitle rendition(s), ``EXT-X-MEDIA`` of every
            ``subtitle_group`` its variants name (``workers.subtitles.media_lines``).

    Returns:
        The playlist text, ending with a newline.

    Raises:
        InvalidJob: a video rendition names an audio group that has no rendition.
        ValueError: no renditions, or a kind other than video, audio or hybrid.
    """
    if not renditions or {r.kind for r in renditions} - {"video", "audio", "hybrid"}:
        raise ValueError("master_playlist needs renditions of kind video, audio or hybrid")
    audio = [r for r in renditions if r.kind == "audio"]
    variants = [r for r in renditions if r.kind != "audio"]
    if not variants:  # audio only: each rendition is a variant of its own
        variants, audio = audio, []
    streams = sorted(
        (_stream_inf(r, _audio_of(r, audio), bool(subtitles)) for r in variants),
        key=lambda item: item[0],
    )
    head = ["#EXTM3U", f"#EXT-X-VERSION:{7 if fmp4 else 3}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    texts = media_lines(subtitles, [r.subtitle_group for r in variants], _quoted)
    sections = [head, _media_lines(audio), texts, [line for _, line in streams]]
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"
