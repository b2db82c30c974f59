"""Log lines that name the job: JSON lines (``MCFARM_LOG_FORMAT=json``) with the context of
the work at hand.

Whoever starts a piece of work binds what it is about (``bind``): the API binds the
request id and the caller's account, and the job id a route names; a worker binds the job
id, output index, part and account of the unit it runs (``workers.unit_run``), and Celery's
task id is read from the running task. Every log line written meanwhile, by any logger,
carries those fields (``ContextFilter``); ``JsonFormatter`` writes a line as one JSON
object: ``time``, ``level``, ``logger``, ``message``, the bound fields, and ``exc_info`` when
there is one. In the plain format the fields are not shown (the messages already name
units by ``{job_id}:{index}``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

#: The fields a line may carry, in the order they are written.
FIELDS = ("job_id", "output", "part", "task_id", "account", "request_id")

_bound: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "mcfarm_log", default=MappingProxyType({})
)


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (None values are left out)."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def bind_more(**fields: Any) -> None:
    """Add ``fields`` until the enclosing ``bind`` (or the request) ends."""
    _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})


def start(**fields: Any) -> None:
    """Bind only ``fields`` from now on in this thread: a new request, nothing of the last."""
    _bound.set({k: v for k, v in fields.items() if v is not None})


def _task_id() -> str | None:
    """The id of the Celery task this thread runs, if any."""
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover (celery is a dependency)
        return None
    request = getattr(current_task, "request", None) if current_task else None
    return getattr(request, "id", None)


class ContextFilter(logging.Filter):
    """Puts the bound fields (and the running task's id) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.mcfarm = {**_bound.get()}
        if "task_id" not in record.mcfarm and (task_id := _task_id()):
            record.mcfarm["task_id"] = task_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        context = getattr(record, "mcfarm", {})
        line |= {name: context[name] for name in FIELDS if name in context}
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def use_json(handlers: list[logging.Handler] | None = None) -> None:
    """Write JSON lines: on ``handlers`` (Celery's), or on one stderr handler of the root
    logger at INFO (the API, which has no handler of its own)."""
    if handlers is None:
        root = logging.getLogger()
        handler = logging.StreamHandler(sys.stderr)
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        handlers = [handler]
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
