"""From a validated ``Config`` to the list of outputs a job will produce.

Every output (top-level ``Outputs`` first, then each group's ``Outputs`` in order) becomes an
``OutputSpec`` with its template resolved and ``OverrideParams`` merged, its input and its
destination parsed. This runs at submit time, so a job that can never run is refused then;
the specs are stored on the job, so later template edits do not change running work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings
from shared.containers import PLAYLIST_EXTENSIONS, Kind, container, names
from shared.errors import InvalidJob
from shared.records import Plain
from shared.storage import join_output, parse_storage_url
from shared.templates import merged_config
from shared.watermarks import WatermarkResolver, plan_watermarks

TemplateResolver = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class OutputSpec(Plain):
    """One output file of a job: what to read, how to encode it, where to write it."""

    index: int
    name: str
    input_index: int
    input_media: str
    output_media: str
    template_id: str
    config: dict[str, Any]
    features: dict[str, Any] = field(default_factory=dict)
    priority: int = 6
    #: Index in ``Config.OutputGroups``; None for a top-level output.
    group: int | None = None
    #: ``File``, ``Hls`` or ``Dash``: how the output is written (one file, or segments).
    group_type: str = "File"
    #: The rendition's ICE ``HlsGroupConfig`` (Hls groups only).
    hls: dict[str, Any] = field(default_factory=dict)

    @property
    def segmented(self) -> bool:
        return self.group_type in ("Hls", "Dash")


@dataclass(frozen=True)
class GroupSpec(Plain):
    """An Hls or Dash output group: its renditions are packaged under one manifest."""

    index: int
    name: str
    type: str
    base_media: str
    manifest_media: str
    #: ``ts`` or ``fmp4`` for Hls, ``dash`` for Dash.
    segments: str


def _input_index(inputs: list[dict], ref: str | None, where: str) -> int:
    if ref is None:
        return 0
    for i, item in enumerate(inputs):
        if item.get("Name") == ref:
            return i
    raise InvalidJob(
        f'The specified parameter "{where}.InputRef" is not valid: no input named {ref!r}.'
    )


def _template(resolve: TemplateResolver, template_id: str, where: str) -> Mapping[str, Any]:
    template = resolve(template_id)
    if template is None:
        raise InvalidJob(
            f'The resource operated "{where}.TemplateId" ({template_id}) cannot be found.',
            code="InvalidParameter.ResourceNotFound",
        )
    return template


def _spec(
    index, output, where, inputs, output_media, resolve, group=None, group_type="File", marks=None
) -> OutputSpec:
    input_index = _input_index(inputs, output.get("InputRef"), where)
    template = _template(resolve, output["TemplateId"], where)
    config = merged_config(template, output["OverrideParams"], f"{where}.OverrideParams")
    return OutputSpec(
        index=index,
        name=output.get("Name") or f"output{index}",
        input_index=input_index,
        input_media=inputs[input_index]["InputFile"]["Media"],
        output_media=output_media,
        template_id=output["TemplateId"],
        config=config,
        features=marks(output["Features"], config, where=where) if marks else output["Features"],
        priority=output["Priority"],
        group=group,
        group_type=group_type,
        hls=output.get("HlsGroupConfig", {}),
    )


def plan_outputs(
    config: Mapping[str, Any],
    resolve: TemplateResolver,
    settings: Settings,
    resolve_watermark: WatermarkResolver | None = None,
) -> list[OutputSpec]:
    """Resolve every output of a validated ``Config`` (see ``shared.schemas.load_config``).

    Args:
        resolve_watermark: finds the watermark templates that ``Features.Watermarks`` name
            (``shared.watermarks.plan_watermarks``); None knows none.

    Raises:
        InvalidJob: for an unknown template, an unsupported merged config, a bad storage URL
            or two outputs writing the same object.
    """
    marks = functools.partial(plan_watermarks, resolve=resolve_watermark, settings=settings)
    inputs = config["Inputs"]
    for i, item in enumerate(inputs):
        parse_storage_url(
            item["InputFile"]["Media"], settings=settings, field=f"Inputs[{i}].InputFile.Media"
        )
    specs: list[OutputSpec] = []
    for i, output in enumerate(config.get("Outputs", [])):
        where = f"Outputs[{i}]"
        media = output["OutputFile"]["Media"]
        parse_storage_url(
            media, settings=settings, for_output=True, field=f"{where}.OutputFile.Media"
        )
        specs.append(_spec(len(specs), output, where, inputs, media, resolve, marks=marks))
    for g, group in enumerate(config.get("OutputGroups", [])):
        base_media = group["GroupConfig"]["OutputFileBase"]["Media"]
        base_field = f"OutputGroups[{g}].GroupConfig.OutputFileBase.Media"
        base = parse_storage_url(
            base_media, settings=settings, for_output=True, field=base_field, folder=True
        )
        kind = group["GroupConfig"]["Type"]
        for o, output in enumerate(group["Outputs"]):
            where = f"OutputGroups[{g}].Outputs[{o}]"
            join_output(base, output["OutputFileName"], f"{where}.OutputFileName")
            media = base_media.rstrip("/") + "/" + _rendition_file(output["OutputFileName"], kind)
            spec = _spec(len(specs), output, where, inputs, media, resolve, g, kind, marks)
            specs.append(spec)
    for spec in specs:
        _check_container(spec)
    _unique_destinations(specs)
    return specs


def _rendition_file(name: str, kind: str) -> str:
    """A rendition's playlist (Hls: ``.m3u8``; Dash: ``.mpd``), extension added if missing."""
    ext = PLAYLIST_EXTENSIONS.get(kind, "")
    for known in PLAYLIST_EXTENSIONS.values():
        name = name.removesuffix(known) if ext else name
    return name + ext


def _check_container(spec: OutputSpec) -> None:
    fmt = spec.config["Container"]["Format"]
    allowed = names(group_type=spec.group_type) if spec.group_type in PLAYLIST_EXTENSIONS else None
    where = "OutputGroups" if spec.group is not None else "Outputs"
    if allowed is None and container(fmt).kind is Kind.SEGMENTED:
        raise InvalidJob(
            f'The specified parameter "{where}" is not valid: output {spec.index} ({spec.template_id}) '
            f"writes {fmt}, which needs an OutputGroups entry of Type Hls or Dash."
        )
    if allowed is not None and fmt not in allowed:
        raise InvalidJob(
            f'The specified parameter "OutputGroups[{spec.group}]" is not valid: output {spec.index} '
            f"({spec.template_id}) writes {fmt}; a {spec.group_type} group needs {' or '.join(allowed)} "
            "(set OverrideParams Container.Format)."
        )
    if spec.config.get("Subtitles") and not container(fmt).subtitles_in(spec.group_type):
        raise InvalidJob(
            f'The specified parameter "OutputGroups[{spec.group}]" is not valid: output {spec.index} '
            f"({spec.template_id}) sets Subtitles, which a {spec.group_type} group cannot carry "
            "(subtitles go into MP4 files and Hls groups)."
        )


def plan_groups(config: Mapping[str, Any], specs: list[OutputSpec]) -> list[GroupSpec]:
    """The Hls/Dash groups of a planned job, with their manifest destinations.

    Raises:
        InvalidJob: when one Hls group mixes MPEG-TS and fMP4 renditions.
    """
    groups = []
    for g, group in enumerate(config.get("OutputGroups", [])):
        cfg = group["GroupConfig"]
        if cfg["Type"] == "File":
            continue
        kinds = {
            container(s.config["Container"]["Format"]).segments_in(cfg["Type"])
            for s in specs
            if s.group == g
        }
        if len(kinds) > 1:
            raise InvalidJob(
                f'The specified parameter "OutputGroups[{g}].Outputs" is not valid: one Hls group '
                "cannot mix m3u8 (MPEG-TS) and hls-fmp4/cmaf (fMP4) renditions."
            )
        ext = PLAYLIST_EXTENSIONS[cfg["Type"]]
        base = cfg["OutputFileBase"]["Media"].rstrip("/")
        groups.append(
            GroupSpec(
                g,
                group.get("Name") or f"group{g}",
                cfg["Type"],
                base,
                f"{base}/{cfg['ManifestName']}{ext}",
                kinds.pop(),
            )
        )
    return groups


def _unique_destinations(specs: list[OutputSpec]) -> None:
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.output_media in seen:
            raise InvalidJob(
                f'The specified parameter "Config" is not valid: outputs '
                f"{seen[spec.output_media]} and {spec.index} both write {spec.output_media}."
            )
        seen[spec.output_media] = spec.index
