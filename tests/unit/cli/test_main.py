"""cli.main's progress line for ``submit --wait`` / ``get --wait`` (pure formatting)."""

from __future__ import annotations

import pytest

from cli.main import format_eta, progress_bar, wait_for

JOB_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (7, "0:07"), (37, "0:37"), (60, "1:00"), (125, "2:05"), (3599, "59:59")]
    + [(3600, "1:00:00"), (3725, "1:02:05"), (100 * 3600, "100:00:00"), (-5, "0:00")],
)
def test_the_eta_reads_as_minutes_and_seconds_or_hours(seconds, text):
    assert format_eta(seconds) == text


def test_the_bar_shows_the_eta_when_the_job_has_one():
    job = {"JobId": JOB_ID, "State": "Running", "Percent": 52, "EtaSeconds": 37}
    assert progress_bar(job, width=10) == "01234567  Running   [#####.....]  52%  ETA 0:37"


def test_the_bar_has_no_eta_without_one():
    job = {"JobId": JOB_ID, "State": "Complete", "Percent": 100}
    assert progress_bar(job, width=10) == "01234567  Complete  [##########] 100%"
    assert progress_bar({"JobId": JOB_ID, "State": "Inited"}, width=4) == (
        "01234567  Inited    [....]   0%"
    )


class Polled:
    """Stands in for ``cli.client.Client``: answers each ``get`` with the next document."""

    def __init__(self, *docs: dict):
        self.docs = list(docs)

    def get(self, job_id: str) -> dict:
        return self.docs.pop(0)


def test_waiting_redraws_each_line_over_the_longer_one_before(capsys):
    running = {"JobId": JOB_ID, "State": "Running", "Percent": 52, "EtaSeconds": 37}
    done = {"JobId": JOB_ID, "State": "Complete", "Percent": 100}
    assert wait_for(Polled(running, done), JOB_ID, interval=0) == done
    first, last = progress_bar(running), progress_bar(done)
    assert capsys.readouterr().err == f"\r{first}\r{last.ljust(len(first))}\n"
