"""shared.jobview's time left: ``output_eta``, ``job_eta`` and the document's ``EtaSeconds``."""

from __future__ import annotations

from typing import Any

import pytest

from shared import clock
from shared.jobrecord import JobRecord
from shared.jobview import job_document, job_eta, output_eta, settled
from tests.unit.specs import hls_group
from tests.unit.specs import output_spec as spec

S = 1_000_000  # microseconds in a second


def job(
    statuses: list[str],
    percents: list[int],
    starts: list[int | None],
    *,
    state: str = "Running",
    run_us: int | None = 0,
    **more: Any,
) -> JobRecord:
    """A job whose output ``i`` has ``statuses[i]``, ``percents[i]`` and began at
    ``starts[i]`` (None: no ``start:{i}``)."""
    return JobRecord(
        job_id="j" * 32,
        owner="acme",
        doc={"Config": {}},
        specs=[spec(i) for i in range(len(statuses))],
        create_us=0,
        state=state,
        run_us=run_us,
        outputs={i: {"Status": status, "Name": f"o{i}"} for i, status in enumerate(statuses)},
        progress=dict(enumerate(percents)),
        starts={i: {"us": us, "worker": "w"} for i, us in enumerate(starts) if us is not None},
        **more,
    )


@pytest.mark.parametrize(
    ("status", "percent", "start", "now", "eta"),
    [
        ("Running", 25, 0, 10 * S, 30),  # 10 s for 25 %: 30 s for the other 75 %
        ("Running", 30, 0, 10 * S, 24),  # 23.33 s, rounded up
        ("Running", 50, 4 * S, 5 * S, 1),  # 1 s for half
        ("Running", 99, 0, 99 * S, 1),
        ("Running", 1, 0, 1 * S, 99),
        ("Running", 0, 0, 10 * S, None),  # no progress yet: no speed
        ("Running", 100, 0, 10 * S, None),
        ("Running", 50, None, 10 * S, None),  # no start recorded
        ("Running", 50, 10 * S, 10 * S, None),  # no time has passed
        ("Running", 50, 11 * S, 10 * S, None),  # another host's clock ahead of ours
        ("Scheduled", 50, 0, 10 * S, None),
        ("Success", 50, 0, 10 * S, None),
    ],
)
def test_an_outputs_eta_is_its_elapsed_time_scaled_by_what_is_left(
    status, percent, start, now, eta
):
    assert output_eta(job([status], [percent], [start]), 0, now) == eta


def test_a_split_outputs_eta_counts_from_the_jobs_first_run():
    plan = {"chunks": [{"frames": 100}, {"frames": 300}]}
    rec = job(
        ["Running"],
        [0],
        [None],
        run_us=2 * S,
        plans={0: plan},
        part_progress={0: {"c0": 100, "c1": 0}},
    )
    # 100 of 400 frames (25 %) in the 10 s since the first chunk began.
    assert output_eta(rec, 0, 12 * S) == 30


@pytest.mark.parametrize(
    ("statuses", "percents", "starts", "eta"),
    [
        (["Running", "Running"], [25, 50], [0, 5 * S], 30),  # the slower: 30 s vs 5 s
        (["Success", "Running"], [100, 50], [0, 5 * S], 5),  # the ended one waits for none
        (["Running", "Failed"], [25, 0], [0, None], 30),
        # The second has not begun: the job's own, 25 % (the mean) in 10 s since run_us.
        (["Running", "Scheduled"], [50, 0], [0, None], 30),
        (["Running", "Running"], [50, 0], [0, 8 * S], 30),  # the second has no progress
        (["Scheduled", "Scheduled"], [0, 0], [None, None], None),  # the job has none either
    ],
)
def test_a_jobs_eta_is_its_slowest_outputs_or_else_its_own(statuses, percents, starts, eta):
    assert job_eta(job(statuses, percents, starts), 10 * S) == eta


def test_a_job_without_a_first_run_falls_back_to_nothing():
    rec = job(["Running", "Scheduled"], [50, 0], [0, None], run_us=None)
    assert job_eta(rec, 10 * S) is None


@pytest.mark.parametrize("state", ["Inited", "Complete", "Error", "Cancelled"])
def test_only_a_running_job_has_an_eta(state):
    assert job_eta(job(["Running"], [50], [0], state=state), 10 * S) is None


@pytest.mark.parametrize("detail", [True, False])
def test_the_document_has_eta_seconds_while_known(detail):
    running = job(["Running"], [25], [0])
    assert job_document(running, detail=detail, now_us=10 * S)["EtaSeconds"] == 30
    assert "EtaSeconds" not in job_document(running, detail=detail, now_us=0)
    waiting = job(["Scheduled"], [0], [None])
    assert "EtaSeconds" not in job_document(waiting, detail=detail, now_us=10 * S)
    ended = job(["Success"], [100], [0], state="Complete", finish_us=10 * S)
    assert "EtaSeconds" not in job_document(ended, detail=detail, now_us=10 * S)


def test_the_document_reads_the_clock_by_default(monkeypatch):
    monkeypatch.setattr(clock, "now_us", lambda: 10 * S)
    assert job_document(job(["Running"], [25], [0]))["EtaSeconds"] == 30


# --- settled: nothing the document shows can change any more -------------------------


def _over(**more: Any) -> JobRecord:
    return job(["Success", "Failed"], [100, 0], [0, 0], state="Error", **more)


def test_a_finished_job_whose_outputs_are_over_is_settled():
    assert settled(_over())


@pytest.mark.parametrize("state", ["Inited", "Running"])
def test_an_unfinished_job_is_not_settled(state):
    assert not settled(job(["Success", "Success"], [100, 100], [0, 0], state=state))


def test_a_cancelled_job_with_an_output_still_running_is_not_settled():
    assert not settled(job(["Success", "Running"], [100, 40], [0, 0], state="Cancelled"))


def test_a_split_output_settles_with_its_last_chunk():
    plan = {0: {"chunks": [{"frames": 10}, {"frames": 10}]}}
    running = {0: {"c0": {"Status": "Success"}, "c1": {"Status": "Running"}}}
    assert not settled(_over(plans=plan, parts=running))
    assert settled(
        _over(plans=plan, parts={0: {"c0": {"Status": "Success"}, "c1": {"Status": "Failed"}}})
    )


def test_a_packaged_group_settles_when_its_packaging_ends():
    groups = [hls_group(manifest="a.m3u8")]
    assert not settled(_over(groups=groups, group_states={0: {"Status": "Running"}}))
    assert settled(_over(groups=groups, group_states={0: {"Status": "Success"}}))
