"""Measuring passes: what an output's argv needs to know of its source that ffprobe does not
say (the black borders of ``Video.Crop: "border"``, the loudness of ``Audio.Volume`` with
``Method: "dynamic"``), measured by an FFmpeg run of its own and folded into the output's
config, so the pure argv builders read it like any other setting.

A ``Measure`` is pure but for its run: ``needed`` (does this config ask for it), ``argv``
(the measuring FFmpeg run over the whole input), ``parse`` (FFmpeg's stderr tail → a JSON
value) and ``fold`` (the config with that value in). ``resolve`` runs the ones a config
needs, each at most once per job and input (the value is kept on the job, as the probe
is), so every output, chunk and retry of a job reads the same measurement.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.jobrecord import JobRecord
from shared.units import Unit
from workers.context import TaskContext, run_recorded
from workers.probe import ProbeInfo

Config = dict[str, Any]


@dataclass(frozen=True)
class Measure:
    """One kind of measuring pass (see the module docstring).

    Attributes:
        name: its key on the job (``measure:{input}:{name}``).
        needed: whether a normalized TemplateConfig asks for it of this source (a
            loudness pass has nothing to measure in a source without audio).
        argv: the FFmpeg argv measuring the whole input ``src``.
        parse: FFmpeg's stderr tail → a JSON value; raises ``InputContentBad`` when the
            run found nothing to measure.
        fold: a copy of the config with the measured value in.
    """

    name: str
    needed: Callable[[Config, ProbeInfo], bool]
    argv: Callable[[str, ProbeInfo, Config, Settings], list[str]]
    parse: Callable[[str], Any]
    fold: Callable[[Config, Any], Config]


#: Every measure, in the order they run (a module defining one appends it here).
MEASURES: list[Measure] = []


def needs_measuring(config: Config, probe: ProbeInfo) -> bool:
    """Whether an output of ``config`` from ``probe``'s source waits for a measuring pass."""
    return any(measure.needed(config, probe) for measure in MEASURES)


def resolve(
    ctx: TaskContext,
    job: JobRecord,
    unit: Unit,
    probe: ProbeInfo,
    config: Config,
    whole: Path | None,
) -> Config:
    """``config`` with every measurement it needs folded in.

    Args:
        whole: the staged whole input, if the unit has it; a chunk (which reads a piece)
            passes None, and the input is staged here when a measurement is still missing.
    """
    wanted = [measure for measure in MEASURES if measure.needed(config, probe)]
    spec = job.specs[unit.index]
    for measure in wanted:
        value = ctx.store.cached_measure(job.job_id, spec.input_index, measure.name)
        if value is None:
            value = _measure(ctx, job, unit, probe, config, measure, whole)
            ctx.store.cache_measure(job.job_id, spec.input_index, measure.name, value)
        config = measure.fold(config, value)
    return config


def _measure(ctx, job, unit, probe, config, measure: Measure, whole: Path | None) -> Any:
    if whole is not None:
        argv = measure.argv(str(whole), probe, config, ctx.settings)
        return measure.parse(run_recorded(ctx, unit, argv, timeout=ctx.settings.task_time_limit))
    from workers.unit_run import stage_input  # a chunk's unit: stage the whole input once

    spec = job.specs[unit.index]
    with tempfile.TemporaryDirectory(prefix="mcfarm-measure-", dir=ctx.settings.work_dir) as d:
        staged = stage_input(ctx, spec.input_media, spec.input_index, Path(d))
        return _measure(ctx, job, unit, probe, config, measure, staged)


# Every measure registers itself in MEASURES when its module is imported.
from workers import crop, loudness  # noqa: E402,F401
