"""Container facts, in one table: what each ``Container.Format`` holds and how it is written.

Every rule that depends on the container reads it here: the TemplateConfig schema (which
formats and codecs are accepted), planning (which formats an Hls or Dash group takes), the
routing decision (which formats have a GPU argv builder), the argv builders (muxer, muxer
options, file extension, the ``hvc1`` tag) and packaging (segment kind).

Codec names are the normalized ones of ``shared.templates`` (``H.264``, ``H.265``, ``aac``,
``mp3``, ``copy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from shared.errors import InvalidJob


class Kind(StrEnum):
    """What a container holds."""

    VIDEO = "video"  # one file, video and audio
    AUDIO = "audio"  # one file, audio only
    SEGMENTED = "segmented"  # one rendition of an Hls/Dash group: segments and a playlist


VIDEO_CODECS = ("H.264", "H.265", "copy")
AUDIO_CODECS = ("aac", "mp3", "copy")


@dataclass(frozen=True)
class Container:
    """One ``Container.Format``.

    Attributes:
        name: the format as ``Container.Format`` spells it, lower case.
        kind: video file, audio file, or a segmented rendition.
        muxer: FFmpeg's ``-f`` for a file (segmented renditions choose theirs by ``segments``).
        muxer_options: more output options of the file's muxer.
        extension: the file's extension; empty for segmented renditions (their muxer names
            the files).
        video_codecs: the ``Video.Codec`` values it carries (empty: no video).
        audio_codecs: the ``Audio.Codec`` values it carries.
        default_audio_codec: ``Audio.Codec`` when the config names none.
        sample_rates: the only ``Audio.Samplerate`` values it takes (empty: any).
        segments: ``ts``, ``fmp4`` or ``dash``, how a segmented rendition is cut (in a Dash
            group always ``dash``); None for files.
        group_types: the output group types (``Hls``, ``Dash``) that take this format.
        iso_bmff: written as ISO BMFF (MP4, fMP4 segments), where HEVC needs the ``hvc1``
            tag that Apple players ask for.
        gpu_builder: ``workers.gpu_cmd`` builds a GPU argv for it.
        media_type: a file's Content-Type.
        player: how the console previews a file: ``video`` and ``audio`` (the browser's
            element), ``mpegts`` (mpegts.js, for FLV, which no browser plays itself).
    """

    name: str
    kind: Kind
    muxer: str = ""
    muxer_options: Mapping[str, str] = field(default_factory=dict)
    extension: str = ""
    video_codecs: tuple[str, ...] = VIDEO_CODECS
    audio_codecs: tuple[str, ...] = AUDIO_CODECS
    default_audio_codec: str = "aac"
    sample_rates: tuple[int, ...] = ()
    segments: str | None = None
    group_types: tuple[str, ...] = ()
    iso_bmff: bool = False
    gpu_builder: bool = False
    media_type: str = "application/octet-stream"
    player: str = ""

    @property
    def has_video(self) -> bool:
        return bool(self.video_codecs)

    def segments_in(self, group_type: str | None) -> str | None:
        """How a rendition in a group of ``group_type`` is cut: a Dash group is all DASH."""
        return "dash" if group_type == "Dash" else self.segments


#: +faststart moves the moov index to the front so playback starts before the download
#: ends (https://ffmpeg.org/ffmpeg-formats.html#Options-8).
_FASTSTART = {"movflags": "+faststart"}

CONTAINERS: Mapping[str, Container] = {
    c.name: c
    for c in (
        Container(
            "mp4",
            Kind.VIDEO,
            "mp4",
            _FASTSTART,
            ".mp4",
            iso_bmff=True,
            gpu_builder=True,
            media_type="video/mp4",
            player="video",
        ),
        # FLV carries no HEVC, and its audio header has room for 22050 and 44100 Hz only
        # (ICE reference §2.2 MediaConvertAudio.Samplerate).
        Container(
            "flv",
            Kind.VIDEO,
            "flv",
            extension=".flv",
            video_codecs=("H.264", "copy"),
            sample_rates=(22050, 44100),
            gpu_builder=True,
            media_type="video/x-flv",
            player="mpegts",
        ),
        Container(
            "mp3",
            Kind.AUDIO,
            "mp3",
            extension=".mp3",
            video_codecs=(),
            audio_codecs=("mp3", "copy"),
            default_audio_codec="mp3",
            media_type="audio/mpeg",
            player="audio",
        ),
        # ipod is the mp4 muxer with the M4A brand that iTunes/Apple players expect.
        Container(
            "m4a",
            Kind.AUDIO,
            "ipod",
            _FASTSTART,
            ".m4a",
            video_codecs=(),
            audio_codecs=("aac", "copy"),
            media_type="audio/mp4",
            player="audio",
        ),
        Container("m3u8", Kind.SEGMENTED, segments="ts", group_types=("Hls",)),
        Container("hls-fmp4", Kind.SEGMENTED, segments="fmp4", group_types=("Hls",), iso_bmff=True),
        Container("mpd", Kind.SEGMENTED, segments="dash", group_types=("Dash",), iso_bmff=True),
        Container(
            "cmaf", Kind.SEGMENTED, segments="fmp4", group_types=("Hls", "Dash"), iso_bmff=True
        ),
    )
}
#: The playlist (manifest) extension of each output group type.
PLAYLIST_EXTENSIONS: Mapping[str, str] = {"Hls": ".m3u8", "Dash": ".mpd"}
#: The Content-Type of the files of a package (manifests, playlists, segments).
PACKAGE_MEDIA_TYPES: Mapping[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
}


def media_type(name: str) -> str:
    """The Content-Type of a file that mcfarm wrote, by its name's extension."""
    extension = "." + name.rpartition(".")[2].lower() if "." in name else ""
    if extension in PACKAGE_MEDIA_TYPES:
        return PACKAGE_MEDIA_TYPES[extension]
    found = (c.media_type for c in CONTAINERS.values() if c.extension and c.extension == extension)
    return next(found, "application/octet-stream")


#: Formats of the ICE catalog that mcfarm does not write yet (images, other audio formats).
NOT_YET: tuple[str, ...] = ("ogg", "flac", "gif", "webp")


def names(kind: Kind | None = None, group_type: str | None = None) -> tuple[str, ...]:
    """The formats of one kind, or taken by one group type (``Hls``/``Dash``), or all."""
    return tuple(
        c.name
        for c in CONTAINERS.values()
        if (kind is None or c.kind is kind) and (group_type is None or group_type in c.group_types)
    )


def container(fmt: str) -> Container:
    """The container of a normalized ``Container.Format``.

    Raises:
        InvalidJob: not a format mcfarm writes (validated configs never get here).
    """
    try:
        return CONTAINERS[fmt]
    except KeyError:
        raise InvalidJob(f"unknown container {fmt!r}") from None
