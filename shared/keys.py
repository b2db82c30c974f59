"""Every Redis key mcfarm writes, named in one place (all under ``mcfarm:``).

The stores (``shared.jobstore``, ``shared.heartbeats``, ``shared.pipelines``,
``shared.template_store``, ``shared.events``, ``shared.worker_registry``, ``shared.guards``,
``shared.fair_share``) are the only readers and writers; each documents what its keys hold.
Kombu's and Celery's own keys (queues, ``unacked``, results) are theirs, not listed here.
"""

from __future__ import annotations

PREFIX = "mcfarm:"

# --- jobs (shared.jobstore) -------------------------------------------------------------


def job(job_id: str) -> str:
    """Hash: the job's document, state and per-output fields."""
    return f"{PREFIX}job:{job_id}"


def job_index(owner: str, state: str | None = None) -> str:
    """Sorted set of ``{create_us:020d}:{job_id}``: all the owner's jobs, or one state's."""
    return f"{PREFIX}idx:{owner}:" + (f"state:{state}" if state else "all")


def job_state_indexes(state: str) -> str:
    """The ``SCAN`` pattern of every owner's index of one state."""
    return f"{PREFIX}idx:*:state:{state}"


def client_token(owner: str, token: str) -> str:
    """String: the job id a ``ClientToken`` made (the idempotency index)."""
    return f"{PREFIX}token:{owner}:{token}"


# --- running outputs (shared.heartbeats) --------------------------------------------------

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

# --- fair share (shared.fair_share) -------------------------------------------------------

#: Hash: account → its queue slot.
ACCOUNT_SLOTS = f"{PREFIX}account-slots"
#: Counter of the slots handed out so far.
ACCOUNT_SLOTS_NEXT = f"{PREFIX}account-slots-next"

# --- pipelines (shared.pipelines) -----------------------------------------------------------


def pipeline(pipeline_id: str) -> str:
    return f"{PREFIX}pipe:{pipeline_id}"


def pipelines(owner: str) -> str:
    return f"{PREFIX}pipes:{owner}"


def default_pipeline(owner: str) -> str:
    return f"{PREFIX}pipe-default:{owner}"


def held_jobs(pipeline_id: str) -> str:
    return f"{PREFIX}pipe-held:{pipeline_id}"


def held_members(pipeline_id: str) -> str:
    return f"{PREFIX}pipe-held-members:{pipeline_id}"


# --- custom templates (shared.template_store) ------------------------------------------------


def template(template_id: str) -> str:
    return f"{PREFIX}tpl:{template_id}"


def templates(owner: str) -> str:
    return f"{PREFIX}tpls:{owner}"


def default_template(owner: str, type_: int, subtype: int) -> str:
    return f"{PREFIX}tpl-default:{owner}:{type_}:{subtype}"


# --- event callbacks (shared.events) ---------------------------------------------------------


def event_callback(owner: str) -> str:
    return f"{PREFIX}evcb:{owner}"


def delivery(delivery_id: str) -> str:
    return f"{PREFIX}dlv:{delivery_id}"


def dead_letters(owner: str | None = None) -> str:
    """Sorted set of dead delivery ids: every owner's, or one owner's."""
    return f"{PREFIX}dead" + (f":{owner}" if owner is not None else "")


# --- live workers (shared.worker_registry) ----------------------------------------------------


def worker(hostname: str) -> str:
    return f"{PREFIX}worker:{hostname}"


def holding(hostname: str) -> str:
    return f"{PREFIX}holding:{hostname}"


WORKERS_PATTERN = worker("*")
HOLDING_PATTERN = holding("*")

# --- request guards (shared.guards) -------------------------------------------------------------


def nonce(key_id: str, value: str) -> str:
    # Key ids never contain ":" (MCFARM_ACCESS_KEYS splits on it), so keys cannot collide.
    return f"{PREFIX}nonce:{key_id}:{value}"


def rate(key_id: str, second: int) -> str:
    return f"{PREFIX}rate:{key_id}:{second}"
