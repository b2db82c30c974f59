"""What an output's watermarks read on the worker: its images, staged like inputs, and fonts.

``stage_watermarks`` runs in ``workers.unit_run.prepare_encode``, after the measuring
passes and in the same way: it folds the output's planned watermarks
(``OutputSpec.features``) into the copy of its config that the argv builders read
(``workers.watermark.WATERMARKS``), each image with the local file it was staged to
(``workers.watermark.IMAGE_PATH``). An image is an input like any other (STYLE 30): the
same URL rules, SSRF checks and size limit (``workers.inputs.Stager``), in a folder of its
own under the unit's work dir, then ffprobed with the input options, so a file that holds
no picture fails the output with ``InputContentBad`` before FFmpeg runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.errors import InputContentBad, TranscodeError
from shared.fonts import FONT_PACKAGES, font_file
from shared.planning import OutputSpec
from shared.storage import parse_storage_url
from workers.context import TaskContext
from workers.inputs import Stager
from workers.watermark import IMAGE_PATH, WATERMARKS


def _stage_image(ctx: TaskContext, mark: dict[str, Any], where: str, folder: Path) -> Path:
    media, field = mark["InputFile"]["Media"], f"{where}.InputFile.Media"
    ref = parse_storage_url(media, settings=ctx.settings, field=field)
    folder.mkdir()
    path = Stager(ctx.storage, ctx.settings, folder, field).stage(ref)
    probe = ctx.prober(str(path), ctx.settings)
    if not any(s.get("codec_type") == "video" for s in probe.get("streams", [])):
        raise InputContentBad(f"The watermark image {media} ({field}) holds no picture.")
    return path


def _check_font(mark: dict[str, Any], where: str) -> None:
    path = font_file(mark["FontName"], mark["Content"])
    if not Path(path).is_file():
        raise TranscodeError(
            f"{where}.FontName {mark['FontName']}: the font file {path} is missing on this "
            f"worker; install {' and '.join(FONT_PACKAGES)} (make system-deps)."
        )


def stage_watermarks(
    ctx: TaskContext, spec: OutputSpec, config: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    """``config`` with ``spec``'s watermarks folded in, their images staged under ``workdir``.

    Raises:
        InputMissing, InputContentBad, InvalidJob: an image that cannot be read or is not one.
        StorageUnavailable: storage away for the whole retry window.
        TranscodeError: a font file missing on this worker.
    """
    marks = spec.features.get("Watermarks") or []
    if not marks:
        return config
    folded = []
    for i, mark in enumerate(marks):
        where = f"Features.Watermarks[{i}]"
        if mark["Type"] == "Image":
            mark = {**mark, IMAGE_PATH: str(_stage_image(ctx, mark, where, workdir / f"mark{i}"))}
        else:
            _check_font(mark, where)
        folded.append(mark)
    return {**config, WATERMARKS: folded}
