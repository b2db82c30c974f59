"""Messages that no live worker holds any more go back on their queue (or away, if done).

kombu's Redis transport emulates acknowledgements: a delivered message waits in the
``unacked`` hash (delivery times in ``unacked_index``) until its task ends, and goes back on
its queue only after ``visibility_timeout`` (hours here, since an encode may take hours). A
message can lose its worker earlier than that:

- the worker died with its machine (SIGKILL, OOM, power) while holding it;
- the worker lost its Redis connection (a Redis restart): Celery then forgets every message
  it held but had not started, including retries waiting for their countdown
  (``Consumer.on_close``), and kombu's own attempt to put them back fails, Redis being down.

Every worker announces the ids of the tasks it holds (``WorkerRegistry.hold``, renewed by its
heartbeat). The watchdog leader reads the ``unacked`` set and, for each message delivered
more than ``grace_s`` ago that no live worker holds, decides with :func:`decide`. The running
transcodes are left to the heartbeat watchdog (``workers.watchdog.sweep``), which sees them
stop within ``MCFARM_HEARTBEAT_TIMEOUT``; this covers the rest, which have no heartbeat.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shared.dispatch import TRANSCODE_OUTPUT, TRANSCODE_PART
from shared.heartbeats import Heartbeats
from shared.jobrecord import TERMINAL_OUTPUT_STATES
from shared.jobstore import JobStore
from shared.units import Unit

log = logging.getLogger(__name__)


class Action(Enum):
    KEEP = "keep"  # someone holds it, or the heartbeat watchdog owns it
    DROP = "drop"  # its work is done or was handed to a newer message: forget it
    RESTORE = "restore"  # lost: back on its queue, as after the visibility timeout


@dataclass(frozen=True)
class Unacked:
    """One message of kombu's ``unacked`` hash, as much as the decision needs."""

    tag: str
    task: str
    task_id: str
    args: tuple
    delivered_s: float


@dataclass(frozen=True)
class OutputView:
    """What the job store says about the output a transcode message is for."""

    exists: bool
    job_terminal: bool = False
    status: str = ""
    beating: bool = False
    dispatch: str | None = None
    #: In the watchdog's requeue outbox: a new message is about to be sent.
    taken_back: bool = False


def parse_unacked(tag: str, raw: str | bytes, delivered_s: float) -> Unacked | None:
    """Decode one ``unacked`` entry (``[message, exchange, routing_key]`` as JSON).

    Returns:
        None for a message that is not a Celery task (protocol 2, JSON body).
    """
    try:
        message = json.loads(raw)[0]
        headers = message.get("headers") or {}
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return Unacked(tag, headers["task"], headers["id"], tuple(args), delivered_s)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def decide(message: Unacked, output: OutputView | None) -> Action:
    """What to do with a message that no live worker holds.

    Args:
        output: for a message that runs a unit (an output, or a part of a split one), the
            unit in the job store; None otherwise.
    """
    if message.task not in (TRANSCODE_OUTPUT, TRANSCODE_PART) or output is None:
        return Action.RESTORE  # every other farm task is idempotent: run it again
    if not output.exists or output.job_terminal or output.status in TERMINAL_OUTPUT_STATES:
        return Action.DROP
    if output.taken_back or (output.dispatch is not None and output.dispatch != message.task_id):
        return Action.DROP  # the watchdog requeued the output since: that message runs it
    if output.status == "Running" and output.beating:
        return Action.KEEP  # the heartbeat watchdog requeues it if its run went silent
    return Action.RESTORE


def output_view(store: JobStore, beats: Heartbeats, unit: Unit) -> OutputView:
    job = store.get(unit.job_id)
    if job is None:
        return OutputView(exists=False)
    return OutputView(
        exists=True,
        job_terminal=job.terminal,
        status=job.detail(unit).get("Status", ""),
        beating=beats.has_beat(*unit),
        dispatch=store.dispatch(*unit),
        taken_back=beats.is_taken_back(*unit),
    )


def _view_for(store: JobStore, beats: Heartbeats, message: Unacked) -> OutputView | None:
    """The unit a transcode message runs: ``(job_id, index)``, or ``(job_id, index, part)``."""
    if message.task == TRANSCODE_OUTPUT and len(message.args) == 2:
        job_id, index = message.args
        return output_view(store, beats, Unit(str(job_id), int(index)))
    if message.task == TRANSCODE_PART and len(message.args) == 3:
        job_id, index, part = message.args
        return output_view(store, beats, Unit(str(job_id), int(index), str(part)))
    return None


def recover(
    channel: Any,
    store: JobStore,
    beats: Heartbeats,
    *,
    held: Callable[[], set[str]],
    grace_s: float,
    now_s: float,
) -> dict[Action, list[str]]:
    """Drop or restore the messages of ``channel``'s ``unacked`` set that were lost.

    Args:
        channel: a kombu Redis channel (its ``client``, key names and ``qos``).
        held: the ids of the tasks live workers hold (``WorkerRegistry.held``).
        grace_s: a message delivered more recently may not be announced yet by its worker.
        now_s: the time, as kombu stamps deliveries (``time.time()``).

    Returns:
        The task ids dropped and restored.
    """
    client = channel.client
    old = client.zrangebyscore(channel.unacked_index_key, "-inf", now_s - grace_s, withscores=True)
    done: dict[Action, list[str]] = {Action.DROP: [], Action.RESTORE: []}
    if not old:
        return done
    holding = held()
    for raw_tag, delivered_s in old:
        tag = raw_tag.decode() if isinstance(raw_tag, bytes) else raw_tag
        raw = client.hget(channel.unacked_key, tag)
        message = parse_unacked(tag, raw, delivered_s) if raw else None
        if message is None or message.task_id in holding:
            continue
        action = decide(message, _view_for(store, beats, message))
        if action is Action.DROP:
            client.pipeline().zrem(channel.unacked_index_key, tag).hdel(
                channel.unacked_key, tag
            ).execute()
        elif action is Action.RESTORE:
            channel.qos.restore_by_tag(tag, client=client)
        else:
            continue
        log.warning(
            "%s %s[%s]: no live worker held it", action.value, message.task, message.task_id
        )
        done[action].append(message.task_id)
    return done
