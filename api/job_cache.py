"""What the API shows of jobs, remembered by each API process while it cannot change.

A job list and a Get read the same jobs over and over: the console lists jobs all day, a
client polls a job it already saw finish. Most of what they show never changes:

- **A list row** shows the submitted document (fixed at submit), the state, and the code,
  message and finish time, which are written in the one step that ends the job. So a row
  rendered in a state other than ``Running`` (whose percent and ETA move) stays true while
  the job is in that state, and for ever once the state is terminal. A list reads only the
  page's states (one short script call), and renders afresh only the rows whose state moved.
- **A whole job** (Get) is fixed once it is ``settled`` (``shared.jobview``): over, and so is
  every output, chunk and packaged group, which the store refuses to change after that. It
  is kept as its document's JSON (an ``orjson.Fragment``, which the answer's encoder copies
  as it is): rendered once, and 2.2 KB for a one-output job where its parsed record took
  12 KB (tracemalloc).

Each process keeps the last ``capacity`` of each (``MCFARM_API_REMEMBERED_JOBS``; a one-output
job takes about 2.2 KB whole and 2.4 KB as a row). Jobs are never deleted, so nothing kept can
outlive its job. The job console reads through ``services.get_job`` and
``services.list_jobs`` instead, uncached: it shows FFmpeg logs and live fields too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from api.json_provider import JSON_OPTIONS
from shared.jobstore import JobStore
from shared.jobview import job_document, settled

#: What each process keeps of each kind (whole jobs, list rows) unless told otherwise.
CAPACITY = 4096

_V = TypeVar("_V")


class _Recent(Generic[_V]):
    """A bounded map, oldest entry out first; reads take no lock."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: dict[str, _V] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> _V | None:
        return self._items.get(key)

    def put(self, key: str, value: _V) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.capacity:
                del self._items[next(iter(self._items))]

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Shown:
    """What GetMediaConvertJob shows of a job: its ``document`` (``job_document``: a dict,
    or the ``orjson.Fragment`` of one once remembered) and its ``owner``, whom each call
    checks (``shared.errors.require_found``)."""

    owner: str
    document: Any


class JobViews:
    """Settled jobs whole, and list rows by the state they were rendered in."""

    def __init__(self, capacity: int = CAPACITY):
        self.whole: _Recent[Shown] = _Recent(capacity)
        self.rows: _Recent[tuple[str, dict[str, Any]]] = _Recent(capacity)

    def get(self, store: JobStore, job_id: str) -> Shown | None:
        """The job whole, as ``store.get`` reads it; from memory once it is settled."""
        shown = self.whole.get(job_id)
        if shown is not None:
            return shown
        record = store.get(job_id)
        if record is None:
            return None
        document = job_document(record)
        if not settled(record):
            return Shown(record.owner, document)
        # orjson's bytes keep all of its working buffer (16 KB for 2 KB of JSON, by
        # tracemalloc): what is kept is a copy of just the JSON.
        json = bytes(memoryview(orjson.dumps(document, option=JSON_OPTIONS)))
        shown = Shown(record.owner, orjson.Fragment(json))
        self.whole.put(job_id, shown)
        return shown

    def list_rows(self, store: JobStore, job_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The list documents (``job_document(detail=False)``) of the jobs of ``job_ids``
        that exist, in that order. Shared: a caller must not change them."""
        job_ids = list(job_ids)
        rows: dict[str, dict[str, Any]] = {}
        stale = []
        for job_id, state in zip(job_ids, store.states(job_ids), strict=True):
            kept = self.rows.get(job_id) if state not in (None, "Running") else None
            if kept is not None and kept[0] == state:
                rows[job_id] = kept[1]
            elif state is not None:
                stale.append(job_id)
        for record in store.get_listed(stale) if stale else ():
            rows[record.job_id] = row = job_document(record, detail=False)
            if record.state != "Running":
                self.rows.put(record.job_id, (record.state, row))
        return [rows[j] for j in job_ids if j in rows]
