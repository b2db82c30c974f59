"""A unit of work: what has its own message, heartbeat, delivery count and detail.

A whole output is a unit (``part`` empty). An output split for Boost (``workers.boost``) is
run as several units instead: its chunks (``c0``, ``c1``…), its audio (``audio``) and the
join (``join``). The watchdog, the delivery cap, the lost-message recovery and the routing
treat every unit alike.
"""

from __future__ import annotations

from typing import NamedTuple

AUDIO = "audio"
JOIN = "join"


def chunk_part(number: int) -> str:
    """The part name of chunk ``number``: ``c0``, ``c1``…"""
    return f"c{number}"


def chunk_number(part: str) -> int | None:
    """The chunk number of a part name, or None for a part that is not a chunk."""
    return int(part[1:]) if part[:1] == "c" and part[1:].isdigit() else None


class Unit(NamedTuple):
    job_id: str
    index: int
    part: str = ""

    @property
    def member(self) -> str:
        """How sorted sets and hashes name it: ``{job_id}:{index}[:{part}]``."""
        return f"{self.job_id}:{self.index}" + (f":{self.part}" if self.part else "")

    @classmethod
    def parse(cls, member: str) -> Unit:
        job_id, index, *part = member.split(":", 2)
        return cls(job_id, int(index), part[0] if part else "")

    def field(self, kind: str) -> str:
        """Its field of kind ``kind`` in the job's hash, e.g. ``deliveries:2`` or
        ``deliveries:2:c3``."""
        return f"{kind}:{self.index}" + (f":{self.part}" if self.part else "")

    @property
    def kind(self) -> str:
        """``output`` (a whole one), ``chunk``, ``audio`` or ``join``."""
        if not self.part:
            return "output"
        return "chunk" if chunk_number(self.part) is not None else self.part

    @property
    def detail_field(self) -> str:
        """Where its detail lives: an output's ``out:{i}``, a part's ``part:{i}:{part}``."""
        return self.field("part") if self.part else self.field("out")
