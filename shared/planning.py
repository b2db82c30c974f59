"""From a validated ``Config`` to the list of outputs a job will produce.

Every output (top-level ``Outputs`` first, then each group's ``Outputs`` in order) becomes an
``OutputSpec`` with its template resolved and ``OverrideParams`` merged, its input and its
destination parsed. This runs at submit time, so a job that can never run is refused then;
the specs are stored on the job, so later template edits do not change running work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.config import Settings
from shared.errors import InvalidJob
from shared.storage import join_output, parse_storage_url
from shared.templates import merged_config

TemplateResolver = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class OutputSpec:
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputSpec:
        return cls(**data)


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


def _spec(index, output, where, inputs, output_media, resolve, group=None) -> OutputSpec:
    input_index = _input_index(inputs, output.get("InputRef"), where)
    template = _template(resolve, output["TemplateId"], where)
    return OutputSpec(
        index=index,
        name=output.get("Name") or f"output{index}",
        input_index=input_index,
        input_media=inputs[input_index]["InputFile"]["Media"],
        output_media=output_media,
        template_id=output["TemplateId"],
        config=merged_config(template, output["OverrideParams"], f"{where}.OverrideParams"),
        features=output["Features"],
        priority=output["Priority"],
        group=group,
    )


def plan_outputs(
    config: Mapping[str, Any], resolve: TemplateResolver, settings: Settings
) -> list[OutputSpec]:
    """Resolve every output of a validated ``Config`` (see ``shared.schemas.load_config``).

    Raises:
        InvalidJob: for an unknown template, an unsupported merged config, a bad storage URL
            or two outputs writing the same object.
    """
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
        specs.append(_spec(len(specs), output, where, inputs, media, resolve))
    for g, group in enumerate(config.get("OutputGroups", [])):
        base_media = group["GroupConfig"]["OutputFileBase"]["Media"]
        base_field = f"OutputGroups[{g}].GroupConfig.OutputFileBase.Media"
        base = parse_storage_url(
            base_media, settings=settings, for_output=True, field=base_field, folder=True
        )
        for o, output in enumerate(group["Outputs"]):
            where = f"OutputGroups[{g}].Outputs[{o}]"
            join_output(base, output["OutputFileName"], f"{where}.OutputFileName")
            media = base_media.rstrip("/") + "/" + output["OutputFileName"]
            specs.append(_spec(len(specs), output, where, inputs, media, resolve, group=g))
    _unique_destinations(specs)
    return specs


def _unique_destinations(specs: list[OutputSpec]) -> None:
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.output_media in seen:
            raise InvalidJob(
                f'The specified parameter "Config" is not valid: outputs '
                f"{seen[spec.output_media]} and {spec.index} both write {spec.output_media}."
            )
        seen[spec.output_media] = spec.index
