"""Real farm processes for end-to-end tests: Celery workers and the API (granian)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cli.processes import api_argv, worker_argv
from shared.stores import Stores
from tests.servers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FarmInfo:
    api_url: str
    key_id: str
    secret: str
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen]


def farm_env(redis_url: str, tmp_dir: Path, **extra: str) -> dict[str, str]:
    """A fresh environment for one farm; dev keys generated at run time."""
    key_id, secret = "test" + secrets.token_hex(4), secrets.token_urlsafe(18)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCFARM_")}
    env.update(
        MCFARM_REDIS_URL=redis_url,
        MCFARM_ACCESS_KEYS=f"{key_id}:{secret},other{key_id}:{secret}x",
        MCFARM_VAR_DIR=str(tmp_dir / "var"),
        MCFARM_STORAGE_ROOT=str(tmp_dir / "storage"),
        MCFARM_WORK_DIR=str(tmp_dir / "work"),
        MCFARM_API_BIND=f"127.0.0.1:{free_port()}",
        MCFARM_TASK_TIME_LIMIT="120",
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    (tmp_dir / "work").mkdir(parents=True, exist_ok=True)
    return env


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s\n{log.read_text()[-3000:]}")


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each (a Celery worker then finishes its task and stops its pool); SIGKILL the
    process group of one still running after 20 s (each runs in its own session)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_process(
    name: str, argv: list[str], env: dict[str, str], log_dir: Path
) -> subprocess.Popen:
    """Start a farm process in its own session (so a test can kill its whole group)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as out:  # the child keeps its own copy
        return subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@contextmanager
def running_farm(env: dict[str, str], log_dir: Path, *, concurrency: int = 2) -> Iterator[FarmInfo]:
    """Start one Celery worker (``concurrency`` processes) and the API; stop both after."""
    procs: list[subprocess.Popen] = []
    try:
        argv = api_argv(env["MCFARM_API_BIND"], log_format=env.get("MCFARM_LOG_FORMAT", "plain"))
        api = start_process("api", argv, env, log_dir)
        procs.append(api)
        procs.append(
            start_process(
                "worker",
                worker_argv(f"test-{log_dir.parent.name}@%h", "cpu", concurrency),
                env,
                log_dir,
            )
        )
        base = f"http://{env['MCFARM_API_BIND']}"
        _wait_http(f"{base}/healthz", api, log_dir / "api.log")
        _wait_http(f"{base}/readyz", api, log_dir / "worker.log", timeout=60)
        key_id, secret = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
        yield FarmInfo(
            api_url=base,
            key_id=key_id,
            secret=secret,
            env=env,
            log_dir=log_dir,
            processes={"api": procs[0], "worker": procs[1]},
        )
    finally:
        stop_processes(procs)


def dump_logs(log_dir: Path) -> str:
    return json.dumps({p.name: p.read_text()[-4000:] for p in log_dir.glob("*.log")}, indent=1)


@contextmanager
def two_worker_farm(env: dict[str, str], log_dir: Path) -> Iterator[FarmInfo]:
    """``running_farm`` with one single-process worker (``worker``), plus a second one
    (``second``): two "nodes", each running one task at a time."""
    with running_farm(env, log_dir, concurrency=1) as farm:
        second = start_process("second", worker_argv("second@%h", "cpu", 1), env, log_dir)
        try:
            workers = Stores.connect(env["MCFARM_REDIS_URL"]).workers
            deadline = time.monotonic() + 60
            while len(workers.alive()) < 2:
                if second.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the second worker never came up\n{dump_logs(log_dir)}")
                time.sleep(0.1)
            yield FarmInfo(**{**farm.__dict__, "processes": {**farm.processes, "second": second}})
        finally:
            stop_processes([second])
