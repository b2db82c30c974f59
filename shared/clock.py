"""Ids and times in the ICE wire formats."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

WIRE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_job_id() -> str:
    """A job id: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def new_request_id() -> str:
    """A request id: an uppercase dashed UUID, as Alibaba's gateway returns."""
    return str(uuid.uuid4()).upper()


def now_us() -> int:
    """Microseconds since the epoch; orders jobs created within one second."""
    return time.time_ns() // 1000


def wire_time(us: int) -> str:
    """Format microseconds since the epoch as ``yyyy-MM-ddTHH:mm:ssZ`` (UTC)."""
    # time.gmtime, not datetime: a List of 50 jobs formats hundreds of these.
    return time.strftime(WIRE_TIME_FORMAT, time.gmtime(us // 1_000_000))


def parse_wire_time(text: str) -> int:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ`` into microseconds since the epoch.

    Raises:
        ValueError: when ``text`` is not in that format.
    """
    parsed = datetime.strptime(text, WIRE_TIME_FORMAT).replace(tzinfo=UTC)
    return int(parsed.timestamp()) * 1_000_000
