"""Container facts, in one table: what each ``Container.Format`` holds and how it is written.

Every rule that depends on the container reads it here: the TemplateConfig schema (which
formats and codecs are accepted), planning (which formats an Hls or Dash group takes), the
routing decision (which formats have a GPU argv builder), the argv builders (muxer, muxer
options, file extension, the ``hvc1`` tag) and packaging (segment kind).

Codec names are the normalized ones of ``shared.templates`` (``H.264``, ``H.265``, ``copy``)
and ``shared.template_audio`` (FFmpeg's audio codec names: ``aac``, ``mp3``, ``opus``…).
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
    IMAGE = "image"  # an animated image (GIF, WebP): video only, its own codec


VIDEO_CODECS = ("H.264", "H.265", "AV1", "copy")
#: The audio codecs of a segmented rendition: those whose HLS/DASH codec string
#: ``workers.manifests`` knows (TS and fMP4 hold all four).
AUDIO_CODECS = ("aac", "mp3", "ac3", "eac3", "copy")
#: MP4 also holds MPEG-1 Layer II and Opus (ISO/IEC 14496-3 object type 0x6B, "Opus in
#: ISOBMFF"); FLAC in MP4 is experimental in FFmpeg 5.1 and Vorbis has no MP4 mapping.
MP4_AUDIO_CODECS = ("aac", "mp3", "ac3", "eac3", "mp2", "opus", "copy")


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
        player: how the console previews a file: ``video``, ``audio`` and ``image`` (the
            browser's element), ``mpegts`` (mpegts.js, for FLV, which no browser plays itself).
        default_video_codec: ``Video.Codec`` when the config names none.
        max_audio_channels: the most ``Audio.Channels`` it takes.
        subtitle_codecs: the subtitle encoders it holds, the default first (empty: none);
            ``subtitles_in`` says which a rendition of a group takes.
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
    default_video_codec: str = "H.264"
    max_audio_channels: int = 8
    subtitle_codecs: tuple[str, ...] = ()

    @property
    def has_video(self) -> bool:
        return bool(self.video_codecs)

    def segments_in(self, group_type: str | None) -> str | None:
        """How a rendition in a group of ``group_type`` is cut: a Dash group is all DASH."""
        return "dash" if group_type == "Dash" else self.segments

    def subtitles_in(self, group_type: str | None) -> tuple[str, ...]:
        """The subtitle encoders an output in a group of ``group_type`` takes: an Hls
        rendition writes WebVTT beside its segments (a ``TYPE=SUBTITLES`` rendition of the
        master); a Dash group writes none (``workers.dash_mpd`` merges video and audio)."""
        return () if group_type == "Dash" else self.subtitle_codecs


#: +faststart moves the moov index to the front so playback starts before the download
#: ends (https://ffmpeg.org/ffmpeg-formats.html#Options-8).
_FASTSTART = {"movflags": "+faststart"}
#: HLS carries subtitles as WebVTT segments (RFC 8216 3.5), whatever its media segments are.
_WEBVTT = ("webvtt",)


def _animated(name: str, codec: str) -> Container:
    """An animated image container (GIF, WebP): its own codec, no audio."""
    return Container(
        name,
        Kind.IMAGE,
        name,
        extension=f".{name}",
        video_codecs=(codec,),
        audio_codecs=(),
        default_audio_codec="",
        media_type=f"image/{name}",
        player="image",
        default_video_codec=codec,
    )


CONTAINERS: Mapping[str, Container] = {
    c.name: c
    for c in (
        Container(
            "mp4",
            Kind.VIDEO,
            "mp4",
            _FASTSTART,
            ".mp4",
            audio_codecs=MP4_AUDIO_CODECS,
            iso_bmff=True,
            # Timed text in MP4 is 3GPP (tx3g), FFmpeg's mov_text
            # (https://ffmpeg.org/ffmpeg-codecs.html#Subtitles-Decoders).
            subtitle_codecs=("mov_text",),
            gpu_builder=True,
            media_type="video/mp4",
            player="video",
        ),
        # FLV carries no HEVC, and its audio header has room for 22050 and 44100 Hz only
        # (ICE reference §2.2 MediaConvertAudio.Samplerate). Its audio formats are AAC,
        # MP3 and linear PCM (SoundFormat 3, little endian: FLV spec v10.1 §E.4.2.1).
        Container(
            "flv",
            Kind.VIDEO,
            "flv",
            extension=".flv",
            video_codecs=("H.264", "copy"),
            audio_codecs=("aac", "mp3", "pcm_s16le", "copy"),
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
        # ipod is the mp4 muxer with the M4A brand that iTunes/Apple players expect; of
        # ICE's codecs it takes AAC and AC-3.
        Container(
            "m4a",
            Kind.AUDIO,
            "ipod",
            _FASTSTART,
            ".m4a",
            video_codecs=(),
            audio_codecs=("aac", "ac3", "copy"),
            media_type="audio/mp4",
            player="audio",
        ),
        # Ogg holds Vorbis, its classic codec and the default here, Opus (RFC 7845) and
        # FLAC (https://xiph.org/flac/ogg_mapping.html).
        Container(
            "ogg",
            Kind.AUDIO,
            "ogg",
            extension=".ogg",
            video_codecs=(),
            audio_codecs=("vorbis", "opus", "flac", "copy"),
            default_audio_codec="vorbis",
            media_type="audio/ogg",
            player="audio",
        ),
        Container(
            "flac",
            Kind.AUDIO,
            "flac",
            extension=".flac",
            video_codecs=(),
            audio_codecs=("flac", "copy"),
            default_audio_codec="flac",
            media_type="audio/flac",
            player="audio",
        ),
        # AV1 has no MPEG-TS mapping that players read: it goes in fMP4 (hls-fmp4, cmaf).
        Container(
            "m3u8",
            Kind.SEGMENTED,
            video_codecs=("H.264", "H.265", "copy"),
            segments="ts",
            group_types=("Hls",),
            subtitle_codecs=_WEBVTT,
        ),
        Container(
            "hls-fmp4",
            Kind.SEGMENTED,
            segments="fmp4",
            group_types=("Hls",),
            iso_bmff=True,
            subtitle_codecs=_WEBVTT,
        ),
        # The reference: "If the Format parameter is set to MPD, you cannot set [Channels]
        # to 8".
        Container(
            "mpd",
            Kind.SEGMENTED,
            segments="dash",
            group_types=("Dash",),
            iso_bmff=True,
            max_audio_channels=6,
        ),
        Container(
            "cmaf",
            Kind.SEGMENTED,
            segments="fmp4",
            group_types=("Hls", "Dash"),
            iso_bmff=True,
            subtitle_codecs=_WEBVTT,
        ),
        _animated("gif", "GIF"),
        _animated("webp", "WEBP"),
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


#: Formats of the ICE catalog that mcfarm does not write yet (none at present).
NOT_YET: tuple[str, ...] = ()


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
