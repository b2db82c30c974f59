"""Every Redis key mcfarm writes, named in one place (all under ``mcfarm:``).

The stores (``shared.jobstore``, ``shared.heartbeats``, ``shared.pipelines``,
``shared.template_store``, ``shared.events``, ``shared.worker_registry``, ``shared.guards``,
``shared.fair_share``) are the only readers and writers; each documents what its keys hold.
Kombu's and Celery's own keys (queues, ``unacked``, results) are theirs, not listed here.

A key function joins its arguments after its kind: ``job("ab12…")`` is ``mcfarm:job:ab12…``,
``default_template(owner, 1, 2)`` is ``mcfarm:tpl-default:{owner}:1:2``.
"""

from __future__ import annotations

from collections.abc import Callable

PREFIX = "mcfarm:"


def _named(kind: str) -> Callable[..., str]:
    """The key function of one kind of key; a ``None`` argument is left out."""

    head = f"{PREFIX}{kind}"

    def key(*parts: object) -> str:
        if len(parts) == 1 and parts[0] is not None:  # most keys (a list reads 50 at once)
            return head + ":" + str(parts[0])
        return ":".join([head, *(str(p) for p in parts if p is not None)])

    key.__name__ = key.__qualname__ = kind
    return key


# --- jobs (shared.jobstore) ---------------------------------------------------------------

#: Hash ``job:{id}``: the job's document, state and per-output fields.
job = _named("job")
#: String ``token:{owner}:{ClientToken}``: the job id a ``ClientToken`` made.
client_token = _named("token")
#: Sorted set of ``{create_us:020d}:{job_id}``: every owner's unfinished jobs.
UNFINISHED_JOBS = f"{PREFIX}idx-unfinished"


def job_index(owner: str, state: str | None = None, *, pipeline: str | None = None) -> str:
    """Sorted set of ``{create_us:020d}:{job_id}``: all the owner's jobs, one state's, or
    one pipeline's (``pipeline``, where ``state`` is ignored)."""
    if pipeline:
        return f"{PREFIX}idx:{owner}:pipe:{pipeline}"
    return f"{PREFIX}idx:{owner}:" + (f"state:{state}" if state else "all")


# --- running outputs (shared.heartbeats) ----------------------------------------------------

#: Sorted set: ``job_id:index`` → the time of its last heartbeat (microseconds).
RUNNING = f"{PREFIX}running"
#: Hash: ``job_id:index`` → the worker running it.
RUNNING_ON = f"{PREFIX}running-on"
#: Hash: ``job_id:index`` → the id of the run that owns its heartbeat.
RUN_OWNER = f"{PREFIX}running-run"
#: Sorted set: ``job_id:index`` of the outputs the watchdog took back, until requeued.
REQUEUE = f"{PREFIX}requeue"
#: String with a short expiry: the worker that runs the watchdog this round.
WATCHDOG_LOCK = f"{PREFIX}watchdog-lock"

# --- fair share (shared.fair_share) ---------------------------------------------------------

#: Hash: account → its queue slot.
ACCOUNT_SLOTS = f"{PREFIX}account-slots"
#: Counter of the slots handed out so far.
ACCOUNT_SLOTS_NEXT = f"{PREFIX}account-slots-next"

# --- pipelines (shared.pipelines) -------------------------------------------------------------

pipeline = _named("pipe")  # pipe:{pipeline_id}
pipelines = _named("pipes")  # pipes:{owner}
default_pipeline = _named("pipe-default")  # pipe-default:{owner}
held_jobs = _named("pipe-held")  # pipe-held:{pipeline_id}
held_members = _named("pipe-held-members")  # pipe-held-members:{pipeline_id}

# --- custom templates (shared.template_store) ---------------------------------------------------

template = _named("tpl")  # tpl:{template_id}
templates = _named("tpls")  # tpls:{owner}
default_template = _named("tpl-default")  # tpl-default:{owner}:{type}:{subtype}

# --- event callbacks (shared.events) ------------------------------------------------------------

event_callback = _named("evcb")  # evcb:{owner}
delivery = _named("dlv")  # dlv:{delivery_id}
#: Sorted set of dead delivery ids: ``dead`` (every owner's) or ``dead:{owner}``.
dead_letters = _named("dead")

# --- live workers (shared.worker_registry) ------------------------------------------------------

worker = _named("worker")  # worker:{hostname}
holding = _named("holding")  # holding:{hostname}
#: Sorted set: hostname → when its announcement expires (seconds since the epoch).
WORKERS = f"{PREFIX}workers"

# --- request guards (shared.guards) -------------------------------------------------------------

#: ``nonce:{key_id}:{nonce}``; key ids never contain ":" (MCFARM_ACCESS_KEYS splits on it).
nonce = _named("nonce")
rate = _named("rate")  # rate:{key_id}:{second}
