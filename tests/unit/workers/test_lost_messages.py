"""workers.lost_messages: what becomes of a message that no live worker holds."""

from __future__ import annotations

import base64
import json

import pytest

from workers.lost_messages import Action, OutputView, Unacked, decide, parse_unacked

JOB = "5eac1163af4c498d8dc8e316fea7315c"
TASK_ID = "6f994d62-bddf-4cab-b452-02288639d8bf"


def unacked_entry(task: str, args: list, *, eta: str | None = None) -> str:
    """An ``unacked`` hash value as kombu 5.7 stores a Celery (protocol 2) JSON message."""
    body = json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None}])
    message = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": task, "id": TASK_ID, "eta": eta, "retries": 0},
        "properties": {
            "delivery_info": {"exchange": "", "routing_key": "cpu.0d8808161243"},
            "priority": 4,
            "body_encoding": "base64",
            "delivery_tag": "e0d8b700-71b4-4dfe-bac1-c2750aedc6a1",
        },
    }
    return json.dumps([message, "", "cpu.0d8808161243"])


def test_parse_reads_task_id_and_args():
    raw = unacked_entry("workers.transcode_output", [JOB, 0])
    assert parse_unacked("tag1", raw.encode(), 1700.5) == Unacked(
        "tag1", "workers.transcode_output", TASK_ID, (JOB, 0), 1700.5
    )


@pytest.mark.parametrize("raw", ["not json", "[]", json.dumps([{"body": "x"}, "", "cpu"])])
def test_parse_ignores_what_is_not_a_celery_message(raw):
    assert parse_unacked("tag", raw, 0) is None


def transcode(task_id: str = TASK_ID) -> Unacked:
    return Unacked("tag", "workers.transcode_output", task_id, (JOB, 0), 0)


@pytest.mark.parametrize(
    ("output", "action"),
    [
        (OutputView(exists=False), Action.DROP),
        (OutputView(exists=True, job_terminal=True, status="Running"), Action.DROP),
        (OutputView(exists=True, status="Success"), Action.DROP),
        (OutputView(exists=True, status="Failed", beating=True), Action.DROP),
        # The watchdog requeued the output as another message: that one runs it.
        (OutputView(exists=True, status="Scheduled", dispatch="newer"), Action.DROP),
        (OutputView(exists=True, status="Running", beating=True, dispatch="newer"), Action.DROP),
        (OutputView(exists=True, status="Scheduled", taken_back=True), Action.DROP),
        # Running and beating (or stale): the heartbeat watchdog decides.
        (OutputView(exists=True, status="Running", beating=True), Action.KEEP),
        (OutputView(exists=True, status="Running", beating=True, dispatch=TASK_ID), Action.KEEP),
        # Dropped by its worker (retry countdown, reserved) or lost before it beat: run it.
        (OutputView(exists=True, status="Scheduled"), Action.RESTORE),
        (OutputView(exists=True, status="Init"), Action.RESTORE),
        (OutputView(exists=True, status="Scheduled", dispatch=TASK_ID), Action.RESTORE),
        (OutputView(exists=True, status="Running", beating=False), Action.RESTORE),
    ],
)
def test_a_transcode_message(output, action):
    assert decide(transcode(), output) is action


@pytest.mark.parametrize(
    "task", ["workers.start_job", "workers.finalize_job", "workers.deliver_event"]
)
def test_other_farm_tasks_are_idempotent_so_they_run_again(task):
    assert decide(Unacked("tag", task, TASK_ID, (JOB,), 0), None) is Action.RESTORE
