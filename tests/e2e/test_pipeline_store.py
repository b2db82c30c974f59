"""PipelineStore against a real redis-server (DB 10 of the session's private server)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.clock import new_job_id, parse_wire_time
from shared.errors import ApiError
from shared.pipelines import Pipeline, PipelineStore

pytestmark = pytest.mark.e2e

OWNER, OTHER = "acct-a", "acct-b"


@pytest.fixture
def client(redis_base) -> redis.Redis:
    conn = redis.Redis.from_url(f"{redis_base}/10", decode_responses=True)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def store(client) -> PipelineStore:
    return PipelineStore(client)


def _code(excinfo) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.http_status


# --- the default pipeline -------------------------------------------------------------


def test_default_pipeline_shape_and_stability(store):
    first = store.default(OWNER)
    assert first.is_default
    wire = first.to_wire()
    assert set(wire) == {
        "PipelineId",
        "Name",
        "Speed",
        "Priority",
        "Status",
        "CreateTime",
        "ModifiedTime",
    }
    assert (wire["Name"], wire["Speed"], wire["Priority"], wire["Status"]) == (
        "Default",
        "Standard",
        6,
        "Active",
    )
    assert len(wire["PipelineId"]) == 32 and wire["PipelineId"] == wire["PipelineId"].lower()
    parse_wire_time(wire["CreateTime"])  # the wire format, or it raises
    assert store.default(OWNER) == first
    assert store.default(OTHER).pipeline_id != first.pipeline_id


def test_default_pipeline_is_created_once_under_concurrent_first_access(store):
    barrier = threading.Barrier(16)

    def first_access(_):
        barrier.wait()
        return store.default(OWNER).pipeline_id

    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(first_access, range(16)))
    assert len(ids) == 1
    listed = store.list(OWNER)
    assert [p.pipeline_id for p in listed] == list(ids)


def test_default_pipeline_cannot_be_deleted(store):
    default = store.default(OWNER)
    with pytest.raises(ApiError) as excinfo:
        store.delete(OWNER, default.pipeline_id)
    assert _code(excinfo) == ("OperationDenied.DefaultPipeline", 403)
    assert store.get(OWNER, default.pipeline_id) == default


# --- CRUD -----------------------------------------------------------------------------


def test_create_get_list_update_delete(store):
    boost = store.create(OWNER, "fast lane", "Boost", priority=9)
    assert (boost.name, boost.speed, boost.priority, boost.status) == (
        "fast lane",
        "Boost",
        9,
        "Active",
    )
    assert not boost.is_default
    standard = store.create(OWNER, "bulk", "Standard")
    assert standard.priority == 6
    assert store.get(OWNER, boost.pipeline_id) == boost
    assert store.require(OWNER, boost.pipeline_id) == boost

    listed = store.list(OWNER)
    assert [p.name for p in listed] == ["Default", "fast lane", "bulk"]
    assert [p.pipeline_id for p in store.list(OWNER, speed="Boost")] == [boost.pipeline_id]
    assert store.list(OWNER, speed="NarrowBandHDV2") == []

    renamed, resumed = store.update(OWNER, boost.pipeline_id, name="turbo", priority=10)
    assert (renamed.name, renamed.priority, resumed) == ("turbo", 10, False)
    assert renamed.create_us == boost.create_us and renamed.modified_us >= boost.modified_us
    assert store.get(OWNER, boost.pipeline_id) == renamed

    store.delete(OWNER, boost.pipeline_id)
    assert store.get(OWNER, boost.pipeline_id) is None
    assert [p.name for p in store.list(OWNER)] == ["Default", "bulk"]
    with pytest.raises(ApiError) as excinfo:
        store.delete(OWNER, boost.pipeline_id)
    assert _code(excinfo) == ("ResourceNotFound", 404)


def test_update_without_changes_returns_the_pipeline(store):
    pipeline = store.create(OWNER, "p", "Standard")
    assert store.update(OWNER, pipeline.pipeline_id) == (pipeline, False)


def test_create_stores_edge_values(store):
    """Names, speeds and priorities arrive checked (tests/unit/api/test_actions.py)."""
    made = store.create(OWNER, "x" * 128, "NarrowBandHDV2", priority=1)
    assert store.get(OWNER, made.pipeline_id) == made
    assert (made.name, made.speed, made.priority) == ("x" * 128, "NarrowBandHDV2", 1)


def test_unknown_and_malformed_ids(store):
    for bogus in ("", "nope", "../x", "A" * 32, new_job_id(), None, 7):
        assert store.get(OWNER, bogus) is None
    for bogus in ("", "nope", new_job_id()):
        with pytest.raises(ApiError) as excinfo:
            store.require(OWNER, bogus)
        assert _code(excinfo) == ("ResourceNotFound", 404)


# --- owners ---------------------------------------------------------------------------


def test_foreign_pipeline_behaves_like_an_unknown_one(store):
    theirs = store.create(OTHER, "theirs", "Standard")
    store.update(OTHER, theirs.pipeline_id, status="Paused")
    store.hold(OTHER, theirs.pipeline_id, "job-1", 6, 1)
    pid = theirs.pipeline_id
    assert store.get(OWNER, pid) is None
    assert pid not in {p.pipeline_id for p in store.list(OWNER)}
    calls = [
        lambda: store.require(OWNER, pid),
        lambda: store.update(OWNER, pid, status="Active"),
        lambda: store.delete(OWNER, pid),
        lambda: store.hold(OWNER, pid, "job-2", 6, 2),
        lambda: store.release(OWNER, pid),
        lambda: store.held(OWNER, pid),
        lambda: store.unhold(OWNER, pid, "job-1"),
    ]
    for call in calls:
        with pytest.raises(ApiError) as excinfo:
            call()
        assert _code(excinfo) == ("ResourceNotFound", 404)
    # Nothing of theirs changed.
    assert store.get(OTHER, pid).status == "Paused"
    assert store.held(OTHER, pid) == ["job-1"]


# --- pause, resume, held jobs ---------------------------------------------------------


def test_paused_to_active_reports_resumed_once(store):
    pipeline = store.create(OWNER, "p", "Standard")
    assert store.update(OWNER, pipeline.pipeline_id, status="Active")[1] is False
    paused, resumed = store.update(OWNER, pipeline.pipeline_id, status="Paused")
    assert (paused.status, resumed) == ("Paused", False)
    assert store.update(OWNER, pipeline.pipeline_id, status="Paused")[1] is False
    active, resumed = store.update(OWNER, pipeline.pipeline_id, status="Active")
    assert (active.status, resumed) == ("Active", True)
    assert store.update(OWNER, pipeline.pipeline_id, status="Active")[1] is False


def test_concurrent_resume_reports_true_to_exactly_one_caller(store):
    pipeline = store.create(OWNER, "p", "Standard")
    for _ in range(5):
        store.update(OWNER, pipeline.pipeline_id, status="Paused")
        barrier = threading.Barrier(8)

        def resume(_, barrier=barrier):
            barrier.wait()
            return store.update(OWNER, pipeline.pipeline_id, status="Active")[1]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(resume, range(8)))
        assert results.count(True) == 1


def _paused(store: PipelineStore, owner: str = OWNER) -> Pipeline:
    pipeline = store.create(owner, "held", "Standard")
    return store.update(owner, pipeline.pipeline_id, status="Paused")[0]


def test_hold_on_an_active_pipeline_says_release_now(store):
    default = store.default(OWNER)
    assert store.hold(OWNER, default.pipeline_id, "job-1", 6, 1) is False
    assert store.release(OWNER, default.pipeline_id) == ["job-1"]


def test_release_order_priority_then_age_then_id(store):
    pid = _paused(store).pipeline_id
    jobs = [
        ("low-old", 1, 100),
        ("mid-new", 6, 300),
        ("top-new", 10, 500),
        ("mid-old", 6, 200),
        ("top-old", 10, 50),
        ("mid-same-b", 6, 250),
        ("mid-same-a", 6, 250),
        # create_us values near 2**53 and beyond: a float score would merge these.
        ("big-2", 7, 2**60 + 2),
        ("big-1", 7, 2**60 + 1),
    ]
    for job_id, priority, create_us in jobs:
        assert store.hold(OWNER, pid, job_id, priority, create_us) is True
    expected = [
        "top-old",
        "top-new",
        "big-1",
        "big-2",
        "mid-old",
        "mid-same-a",
        "mid-same-b",
        "mid-new",
        "low-old",
    ]
    assert store.held(OWNER, pid) == expected
    assert store.held(OWNER, pid) == expected  # held() does not remove
    assert store.release(OWNER, pid) == expected
    assert store.release(OWNER, pid) == []
    assert store.held(OWNER, pid) == []


def test_many_equal_priority_jobs_release_in_creation_order(store):
    pid = _paused(store).pipeline_id
    base = 1_700_000_000_000_000
    ids = [new_job_id() for _ in range(500)]
    for offset, job_id in reversed(list(enumerate(ids))):
        store.hold(OWNER, pid, job_id, 6, base + offset)
    released = store.release(OWNER, pid)
    assert released == ids


def test_hold_twice_keeps_one_entry_with_the_new_priority(store):
    pid = _paused(store).pipeline_id
    store.hold(OWNER, pid, "a", 5, 10)
    store.hold(OWNER, pid, "b", 5, 20)
    store.hold(OWNER, pid, "b", 9, 20)
    assert store.held(OWNER, pid) == ["b", "a"]


def test_unhold(store):
    pid = _paused(store).pipeline_id
    for i, job_id in enumerate(["a", "b", "c"]):
        store.hold(OWNER, pid, job_id, 6, i)
    assert store.unhold(OWNER, pid, "b") is True
    assert store.unhold(OWNER, pid, "b") is False
    assert store.unhold(OWNER, pid, "zzz") is False
    assert store.release(OWNER, pid) == ["a", "c"]


def test_hold_refuses_what_its_member_cannot_order(store):
    pid = _paused(store).pipeline_id
    for priority, create_us, job_id in (
        (0, 1, "a"),
        (11, 1, "a"),
        (6, -1, "a"),
        (6, 10**20, "a"),
        (6, 1, ""),
    ):
        with pytest.raises(ValueError):
            store.hold(OWNER, pid, job_id, priority, create_us)
    assert store.held(OWNER, pid) == []


def test_concurrent_release_never_returns_a_job_twice(store):
    pid = _paused(store).pipeline_id
    total = 2000
    holders_done = threading.Event()
    got: list[list[str]] = [[], []]

    def hold_all():
        for i in range(total):
            store.hold(OWNER, pid, f"job-{i:05d}", 1 + i % 10, i)
        holders_done.set()

    def drain(slot: int):
        while True:
            done = holders_done.is_set()
            got[slot].extend(store.release(OWNER, pid))
            if done:
                got[slot].extend(store.release(OWNER, pid))
                return

    threads = [threading.Thread(target=hold_all)]
    threads += [threading.Thread(target=drain, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(got[0] + got[1])
    assert len(counts) == total
    assert max(counts.values()) == 1
    assert store.held(OWNER, pid) == []


def test_concurrent_release_of_one_batch(store):
    pid = _paused(store).pipeline_id
    for i in range(300):
        store.hold(OWNER, pid, f"j{i}", 1 + i % 10, i)
    expected = store.held(OWNER, pid)
    barrier = threading.Barrier(2)

    def release(_):
        barrier.wait()
        return store.release(OWNER, pid)

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(release, range(2))
    assert sorted([a, b], key=len) == [[], expected]


def test_delete_refuses_a_pipeline_with_held_jobs(store):
    pid = _paused(store).pipeline_id
    store.hold(OWNER, pid, "job-1", 6, 1)
    with pytest.raises(ApiError) as excinfo:
        store.delete(OWNER, pid)
    assert _code(excinfo) == ("OperationDenied.PipelineNotEmpty", 403)
    assert "1 job" in excinfo.value.message
    assert store.held(OWNER, pid) == ["job-1"]
    store.unhold(OWNER, pid, "job-1")
    store.delete(OWNER, pid)
    assert store.get(OWNER, pid) is None


def test_a_job_held_while_resuming_is_released_exactly_once(store):
    """The protocol: the resumer releases; a submitter told False releases itself."""
    for _ in range(30):
        pid = _paused(store).pipeline_id
        barrier = threading.Barrier(2)
        released: list[str] = []

        def submit(pid=pid, barrier=barrier, released=released):
            barrier.wait()
            if not store.hold(OWNER, pid, "job", 6, 1):
                released.extend(store.release(OWNER, pid))

        def resume(pid=pid, barrier=barrier, released=released):
            barrier.wait()
            _, resumed = store.update(OWNER, pid, status="Active")
            if resumed:
                released.extend(store.release(OWNER, pid))

        threads = [threading.Thread(target=submit), threading.Thread(target=resume)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert released == ["job"]
        assert store.held(OWNER, pid) == []
