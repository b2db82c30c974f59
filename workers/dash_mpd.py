"""One DASH manifest for an output group, merged from the per-rendition MPDs FFmpeg wrote.

Each rendition is encoded on its own (``workers.segmenting``), so FFmpeg's dash muxer
writes one MPD per rendition with a single Representation. ``merge_mpd`` puts those
Representations side by side: all video in one AdaptationSet (players switch between them
at the aligned segment boundaries), audio in one AdaptationSet per language.

A rendition that keeps audio and video in one FFmpeg run would give two Representations
in its MPD; ``workers.segmenting.segment_args`` refuses that, so the caller splits such an
output into a video rendition (``Audio.Remove``) and an audio one (``Video.Remove``), and
``merge_mpd`` refuses a part with more than one Representation.

References: ISO/IEC 23009-1 (MPD), https://ffmpeg.org/ffmpeg-formats.html#dash-2.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from shared.errors import InvalidJob

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
LIVE_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
_NS = {"d": DASH_NS}
# Serialize DASH elements without a prefix (no "ns0:"). ElementTree's default_namespace
# argument cannot be used: it refuses the MPD's unqualified attributes
# (https://github.com/python/cpython/issues/61292).
ET.register_namespace("", DASH_NS)
#: ISO 8601 durations as FFmpeg writes them: PT10.0S, PT1H2M3.4S (days for completeness).
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
#: Attributes a Representation inherits from its AdaptationSet (ISO/IEC 23009-1 5.3.7).
_INHERITED = ("mimeType", "codecs", "frameRate", "sar", "audioSamplingRate", "width", "height")


def _q(tag: str) -> str:
    return f"{{{DASH_NS}}}{tag}"


def _seconds(duration: str | None) -> float:
    """``PT1H2M3.5S`` → 3723.5; None or unparsable → 0."""
    match = _DURATION.match(duration or "")
    if not match:
        return 0.0
    parts = {key: float(value or 0) for key, value in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


@dataclass(frozen=True)
class _Part:
    """One rendition's MPD, reduced to what the merged manifest needs."""

    content: str  # "video" or "audio"
    lang: str | None
    representation: ET.Element
    root: ET.Element


def _content_type(adaptation: ET.Element, representation: ET.Element) -> str:
    mime = representation.get("mimeType") or adaptation.get("mimeType") or ""
    content = adaptation.get("contentType") or mime.partition("/")[0]
    if content not in ("video", "audio"):
        raise InvalidJob(f"a DASH rendition of content type {content!r} cannot be merged")
    return content


def _template(adaptation: ET.Element, representation: ET.Element, prefix: str) -> ET.Element:
    """The SegmentTemplate (the Representation's or inherited), URLs under ``prefix``."""
    found = representation.find("d:SegmentTemplate", _NS)
    if found is None:
        found = adaptation.find("d:SegmentTemplate", _NS)
    if found is None:
        raise InvalidJob("a DASH rendition without a SegmentTemplate cannot be merged")
    template = copy.deepcopy(found)
    for attr in ("initialization", "media"):
        if template.get(attr):
            template.set(attr, prefix + template.get(attr))
    return template


def _representation(adaptation: ET.Element, source: ET.Element, prefix: str) -> ET.Element:
    """A copy of ``source`` that stands alone: inherited attributes, its own template."""
    rep = ET.Element(_q("Representation"), source.attrib)
    for attr in _INHERITED:
        if rep.get(attr) is None and adaptation.get(attr) is not None:
            rep.set(attr, adaptation.get(attr))
    for child in source:
        if child.tag != _q("SegmentTemplate"):
            rep.append(copy.deepcopy(child))
    rep.append(_template(adaptation, source, prefix))
    return rep


def _read_part(prefix: str, text: str) -> _Part:
    root = ET.fromstring(text)
    found = [
        (adaptation, rep)
        for adaptation in root.iterfind("d:Period/d:AdaptationSet", _NS)
        for rep in adaptation.iterfind("d:Representation", _NS)
    ]
    if len(found) != 1:
        raise InvalidJob(
            f"the DASH rendition in {prefix or './'} has {len(found)} representations; "
            "each must carry one stream (encode video and audio as separate renditions)"
        )
    adaptation, source = found[0]
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    lang = adaptation.get("lang") or source.get("lang")
    return _Part(
        content=_content_type(adaptation, source),
        lang=lang,
        representation=_representation(adaptation, source, prefix),
        root=root,
    )


def _longest(parts: list[_Part], attr: str) -> str | None:
    values = [part.root.get(attr) for part in parts if part.root.get(attr)]
    return max(values, key=_seconds, default=None)


def _mpd_root(parts: list[_Part]) -> ET.Element:
    attrs = {"profiles": LIVE_PROFILE, "type": "static"}
    for attr in ("mediaPresentationDuration", "maxSegmentDuration", "minBufferTime"):
        value = _longest(parts, attr)
        if value is not None:
            attrs[attr] = value
    attrs.setdefault("minBufferTime", "PT2.0S")  # mandatory; FFmpeg always writes one
    return ET.Element(_q("MPD"), attrs)


def _video_set(reps: list[ET.Element], set_id: int) -> ET.Element:
    attrs = {
        "id": str(set_id),
        "contentType": "video",
        # Every rendition's segments start at the same forced keyframes.
        "segmentAlignment": "true",
        "startWithSAP": "1",
    }
    for attr, key in (("maxWidth", "width"), ("maxHeight", "height")):
        sizes = [int(rep.get(key)) for rep in reps if rep.get(key)]
        if sizes:
            attrs[attr] = str(max(sizes))
    rates = [rep.get("frameRate") for rep in reps if rep.get("frameRate")]
    if rates:
        attrs["maxFrameRate"] = max(rates, key=Fraction)
    adaptation = ET.Element(_q("AdaptationSet"), attrs)
    adaptation.extend(reps)
    return adaptation


def _audio_set(reps: list[ET.Element], lang: str | None, set_id: int) -> ET.Element:
    attrs = {"id": str(set_id), "contentType": "audio"}
    if lang:
        attrs["lang"] = lang
    attrs |= {"segmentAlignment": "true", "startWithSAP": "1"}
    adaptation = ET.Element(_q("AdaptationSet"), attrs)
    adaptation.extend(reps)
    return adaptation


def _numbered(parts: list[_Part], content: str, letter: str) -> list[_Part]:
    chosen = [part for part in parts if part.content == content]
    for i, part in enumerate(chosen):
        part.representation.set("id", f"{letter}{i}")
    return chosen


def _adaptation_sets(parts: list[_Part]) -> list[ET.Element]:
    video = _numbered(parts, "video", "v")
    audio = _numbered(parts, "audio", "a")
    sets = [_video_set([part.representation for part in video], 0)] if video else []
    for lang in dict.fromkeys(part.lang for part in audio):
        reps = [part.representation for part in audio if part.lang == lang]
        sets.append(_audio_set(reps, lang, len(sets)))
    return sets


def merge_mpd(
    parts: list[tuple[str, str]],
    *,
    attributes: Sequence[Mapping[str, str]] | None = None,
) -> str:
    """Merge per-rendition MPDs into one static MPD for the whole output group.

    Representations are renumbered ``v0, v1…`` (video, in part order) and ``a0, a1…``
    (audio); each keeps its own SegmentTemplate (timescale, startNumber, SegmentTimeline),
    with ``initialization`` and ``media`` prefixed by the part's folder.
    ``mediaPresentationDuration``, ``maxSegmentDuration`` and ``minBufferTime`` are the
    largest of the parts'.

    Args:
        parts: ``(folder prefix relative to the merged MPD, e.g. "video/" or "", MPD text)``
            per rendition.
        attributes: optional Representation attributes per part, set last, e.g. a full
            ``codecs`` string (FFmpeg 5.1 writes a bare ``hvc1`` for HEVC) or a measured
            ``bandwidth`` (FFmpeg writes the target bitrate, else its own estimate).

    Returns:
        The MPD as text, DASH namespace as the default one.

    Raises:
        InvalidJob: a part with other than one Representation (audio and video encoded
            together), of another content type, or without a SegmentTemplate.
        ValueError: no parts, or ``attributes`` of another length; ``ET.ParseError`` for
            text that is not XML.
    """
    if not parts or (attributes is not None and len(attributes) != len(parts)):
        raise ValueError("merge_mpd needs one or more parts, and one attributes entry each")
    read = [_read_part(prefix, text) for prefix, text in parts]
    for part, extra in zip(read, attributes or [{}] * len(read), strict=True):
        for key, value in extra.items():
            part.representation.set(key, str(value))
    root = _mpd_root(read)
    period = ET.SubElement(root, _q("Period"), {"id": "0", "start": "PT0.0S"})
    period.extend(_adaptation_sets(read))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
