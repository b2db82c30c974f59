"""Text watermark fonts: the ``FontName`` values mcfarm accepts and the files that draw them.

One table, read by the API (an unknown ``FontName`` is refused at submit, naming the
supported ones) and by the argv builder (``workers.watermark``: drawtext's ``fontfile``).
The files come from two Debian packages that ``make system-deps`` installs:

- ``fonts-wqy-microhei`` (WenQuanYi Micro Hei, about 5 MB installed): Chinese, Japanese
  and Korean. The Windows CJK names ICE defaults to (``SimSun``) and its neighbours map to
  it; they are not installed anywhere on Linux, so the same glyph coverage stands in.
- ``fonts-liberation``: metric-compatible stand-ins for Arial, Times New Roman and Courier
  New (Latin, Greek, Cyrillic only).

Text with a character outside those scripts is drawn with the CJK font whatever the
``FontName``, so it never comes out as empty boxes (``font_file``).
"""

from __future__ import annotations

from collections.abc import Mapping

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
_LIBERATION = "/usr/share/fonts/truetype/liberation/Liberation{}-Regular.ttf"
SANS, SERIF, MONO = (_LIBERATION.format(style) for style in ("Sans", "Serif", "Mono"))
#: The Debian packages holding the files below (``make system-deps``).
FONT_PACKAGES = ("fonts-wqy-microhei", "fonts-liberation")
#: ICE's ``FontName`` default (reference §2.2 MediaConvertJobFeatureWatermarks).
DEFAULT_FONT = "SimSun"
#: ``FontName`` → the file that draws it.
FONTS: Mapping[str, str] = {
    "SimSun": CJK_FONT,
    "SimHei": CJK_FONT,
    "Microsoft YaHei": CJK_FONT,
    "KaiTi": CJK_FONT,
    "FangSong": CJK_FONT,
    "WenQuanYi Micro Hei": CJK_FONT,
    "Arial": SANS,
    "Helvetica": SANS,
    "Liberation Sans": SANS,
    "Times New Roman": SERIF,
    "Liberation Serif": SERIF,
    "Courier New": MONO,
    "Liberation Mono": MONO,
}
_BY_LOWER = {name.lower(): name for name in FONTS}
#: The last code point of Cyrillic: Liberation covers Latin, Greek and Cyrillic below it.
_LIBERATION_LAST = 0x052F


def canonical_font(name: str) -> str | None:
    """The ``FONTS`` key for ``name`` (any case, outer spaces ignored), or None."""
    return _BY_LOWER.get(" ".join(name.split()).lower())


def font_file(name: str, text: str) -> str:
    """The font file that draws ``text`` in ``name`` (a ``FONTS`` key).

    A Latin font cannot draw CJK (or any other script past Cyrillic): such text takes the
    CJK font instead of coming out as boxes.
    """
    path = FONTS[name]
    if path != CJK_FONT and any(ord(ch) > _LIBERATION_LAST for ch in text):
        return CJK_FONT
    return path
