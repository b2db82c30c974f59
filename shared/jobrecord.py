"""A job as the store holds it (``JobRecord``), the questions a list asks (``JobQuery``),
and the states both use; pure, read by the store, the API and the workers alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.planning import GroupSpec, OutputSpec
from shared.units import Unit

JOB_STATES = ("Inited", "Running", "Complete", "Error", "Cancelled")
TERMINAL_JOB_STATES = frozenset({"Complete", "Error", "Cancelled"})
OUTPUT_STATES = ("Init", "Scheduled", "Running", "Success", "Failed", "Skipped")
TERMINAL_OUTPUT_STATES = frozenset({"Success", "Failed", "Skipped"})


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: the submitted document plus its live state."""

    job_id: str
    owner: str
    doc: dict[str, Any]
    specs: list[OutputSpec]
    create_us: int
    state: str
    code: str = ""
    message: str = ""
    finish_us: int | None = None
    #: When its first output or chunk began running (``JobStore.first_run``).
    run_us: int | None = None
    outputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    progress: dict[int, int] = field(default_factory=dict)
    #: Hls/Dash groups, their packaging state (``grp:{g}``) and their renditions' measures.
    groups: list[GroupSpec] = field(default_factory=list)
    group_states: dict[int, dict[str, Any]] = field(default_factory=dict)
    renditions: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Outputs split for Boost: their chunk plan (``plan:{i}``), their parts' details
    #: (``part:{i}:{part}``) and progress (``pct:{i}:{part}``).
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: The pieces each input (by index) was cut into for its chunks (``pieces:{i}``).
    pieces: dict[int, dict[str, Any]] = field(default_factory=dict)
    parts: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    part_progress: dict[int, dict[str, int]] = field(default_factory=dict)
    #: When and where each whole output's encode began (``start:{i}``: ``us``, ``worker``).
    starts: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Each unit's last FFmpeg run, ``{"Command", "Log"}``: a whole output's (``ffmpeg:{i}``)
    #: and a part's (``ffmpeg:{i}:{part}``). For the job console; never in the wire document.
    ffmpeg: dict[int, dict[str, str]] = field(default_factory=dict)
    part_ffmpeg: dict[int, dict[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES

    @property
    def pipeline_priority(self) -> int:
        """The priority (1–10) of the pipeline the job runs on, as it was when it started."""
        return int(self.doc.get("PipelinePriority", 6))

    @property
    def slot(self) -> int:
        """The owner's fair-share queue slot (``shared.fair_share``), fixed at submit."""
        return int(self.doc.get("QueueSlot", 0))

    @property
    def pipeline_speed(self) -> str:
        """``Standard`` or ``Boost`` (split long outputs into chunks): its pipeline's speed."""
        return str(self.doc.get("PipelineSpeed", "Standard"))

    def detail(self, unit: Unit) -> dict[str, Any]:
        """The stored detail of an output or of one part of it ({} when there is none)."""
        if unit.part:
            return self.parts.get(unit.index, {}).get(unit.part, {})
        return self.outputs.get(unit.index, {})


@dataclass(frozen=True)
class JobQuery:
    """Which of an owner's jobs a list wants, one page at a time.

    Attributes:
        state: only jobs in this state; None for all.
        after: the cursor of the previous page (exclusive); None for the first page.
        limit: at most this many jobs.
        newest_first: the order, by creation time.
        since_us, until_us: creation-time bounds in microseconds, both inclusive.
        pipeline_id: only the jobs submitted to this pipeline; None for all.
    """

    state: str | None = None
    after: str | None = None
    limit: int = 20
    newest_first: bool = True
    since_us: int | None = None
    until_us: int | None = None
    pipeline_id: str | None = None

    def admits(self, job: JobRecord) -> bool:
        """Whether ``job`` passes the state and time filters (not the paging)."""
        return (
            (self.state is None or job.state == self.state)
            and (self.since_us is None or job.create_us >= self.since_us)
            and (self.until_us is None or job.create_us <= self.until_us)
            and (self.pipeline_id is None or job.doc.get("PipelineId") == self.pipeline_id)
        )


def initial_detail(job_id: str, spec: OutputSpec, created: str) -> dict[str, Any]:
    """An output's ``OutputDetail`` as its job is submitted (``Init``)."""
    return {
        "Name": spec.name,
        "TaskId": f"{job_id}-{spec.index}",
        "Status": "Init",
        "Code": "",
        "Message": "",
        "CreateTime": created,
    }
