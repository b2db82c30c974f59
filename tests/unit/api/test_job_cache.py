"""api.job_cache: each API process shows jobs from memory while what it shows cannot change.

The store here counts its reads; the cache is the thing under test.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from api.job_cache import JobViews, Shown
from api.json_provider import JSON_OPTIONS
from shared.jobrecord import JobRecord
from shared.jobview import job_document
from tests.unit.specs import output_spec


def record(job_id: str, state: str = "Complete", status: str = "Success") -> JobRecord:
    return JobRecord(
        job_id=job_id,
        owner="acme",
        doc={"Config": {}},
        specs=[output_spec(0)],
        create_us=1,
        state=state,
        outputs={0: {"Status": status}},
    )


class CountingStore:
    """Jobs by id; notes what each read asked for."""

    def __init__(self, *records: JobRecord):
        self.jobs = {r.job_id: r for r in records}
        self.reads: list[tuple[str, list[str]]] = []

    def get(self, job_id: str) -> JobRecord | None:
        self.reads.append(("get", [job_id]))
        return self.jobs.get(job_id)

    def states(self, job_ids: list[str]) -> list[str | None]:
        self.reads.append(("states", list(job_ids)))
        return [self.jobs[j].state if j in self.jobs else None for j in job_ids]

    def get_listed(self, job_ids: list[str]) -> list[JobRecord]:
        self.reads.append(("get_listed", list(job_ids)))
        return [self.jobs[j] for j in job_ids if j in self.jobs]


def answer(document) -> bytes:
    """The JSON an answer holding ``document`` is (as the API's encoder writes it)."""
    return orjson.dumps({"RequestId": "r", "Job": document}, option=JSON_OPTIONS)


def test_a_settled_job_is_read_once_then_served_from_memory_as_json():
    store, views = CountingStore(record("a")), JobViews()
    first = views.get(store, "a")
    assert first.owner == "acme" and isinstance(first.document, orjson.Fragment)
    assert answer(first.document) == answer(job_document(record("a")))
    store.jobs["a"] = replace(store.jobs["a"], message="changed behind the cache")
    assert views.get(store, "a") is first
    assert store.reads == [("get", ["a"])]


def test_an_unsettled_job_is_read_every_time():
    running = record("r", state="Running", status="Running")
    cancelled = record("c", state="Cancelled", status="Running")  # its output still ends
    store, views = CountingStore(running, cancelled), JobViews()
    for _ in range(2):
        assert views.get(store, "r") == Shown("acme", job_document(running))
        assert views.get(store, "c") == Shown("acme", job_document(cancelled))
    assert len(store.reads) == 4


def test_an_unknown_job_is_not_remembered():
    store, views = CountingStore(), JobViews()
    assert views.get(store, "x") is None and views.get(store, "x") is None
    assert len(store.reads) == 2


def rows(*records: JobRecord) -> list[dict]:
    return [job_document(r, detail=False) for r in records]


def test_a_list_renders_each_row_once_per_state_and_running_ones_always():
    inited, running = record("i", state="Inited", status="Init"), record("r", "Running", "Running")
    cancelled = record("c", state="Cancelled", status="Running")
    store, views = CountingStore(inited, running, cancelled), JobViews()
    page = ["r", "x", "c", "i"]
    assert views.list_rows(store, page) == rows(running, cancelled, inited)
    # The rows of jobs whose state did not move are not read again; a running one is.
    assert views.list_rows(store, page) == rows(running, cancelled, inited)
    assert store.reads == [
        ("states", page),
        ("get_listed", ["r", "c", "i"]),
        ("states", page),
        ("get_listed", ["r"]),
    ]


def test_a_row_is_rendered_again_once_its_job_moves_on():
    store, views = CountingStore(record("i", state="Inited", status="Init")), JobViews()
    views.list_rows(store, ["i"])
    store.jobs["i"] = done = record("i")
    assert views.list_rows(store, ["i"]) == rows(done)
    assert store.reads[-1] == ("get_listed", ["i"])


def test_an_empty_page_reads_nothing_more_than_its_states():
    store, views = CountingStore(), JobViews()
    assert views.list_rows(store, []) == []
    assert store.reads == [("states", [])]


def test_the_oldest_remembered_job_goes_first_past_the_capacity():
    records = [record(str(i)) for i in range(3)]
    store, views = CountingStore(*records), JobViews(capacity=2)
    for r in records:
        views.get(store, r.job_id)
    store.reads.clear()
    views.get(store, "2"), views.get(store, "1"), views.get(store, "0")
    assert store.reads == [("get", ["0"])]
    assert len(views.whole) == 2


def test_a_capacity_of_0_keeps_nothing():
    store, views = CountingStore(record("a")), JobViews(capacity=0)
    views.get(store, "a"), views.get(store, "a")
    views.list_rows(store, ["a"]), views.list_rows(store, ["a"])
    assert (len(views.whole), len(views.rows)) == (0, 0)
    reads = [name for name, _ in store.reads]
    assert reads == ["get", "get", "states", "get_listed", "states", "get_listed"]
