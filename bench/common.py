"""What every benchmark shares: where results go, how it fails, how it runs in a temp dir."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cli.client import ApiCallFailed, Client
from cli.processes import api_argv, worker_argv
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.servers.farm import dump_logs, farm_env, start_process, stop_processes

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench-results"
T = TypeVar("T")


class BenchFailed(Exception):
    """A job failed, a process died, a call was answered wrongly or something took too long."""


def in_temp_dir(name: str, body: Callable[[Path], T]) -> T | None:
    """Run ``body`` in a fresh temp dir; on a failure, say why and return None.

    Args:
        name: the benchmark, for the temp dir and the message (``bench-scale``…).
    """
    try:
        with tempfile.TemporaryDirectory(prefix=f"mcfarm-{name}-") as tmp:
            return body(Path(tmp))
    except (
        BenchFailed,
        ApiCallFailed,
        subprocess.CalledProcessError,
        RuntimeError,
        OSError,
    ) as err:
        print(f"{name} failed: {err}", file=sys.stderr)
        return None


def arg_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The command line of ``python -m bench.<module>``, described by its docstring's first line."""
    return argparse.ArgumentParser(prog=f"python -m bench.{module}", description=doc.split("\n")[0])


def write_results(file_name: str, doc: dict) -> Path:
    """Write ``doc`` with the time to ``bench-results/<file_name>`` and say where."""
    path = RESULTS_DIR / file_name
    RESULTS_DIR.mkdir(exist_ok=True)
    doc = {**doc, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}", file=sys.stderr)
    return path


BUCKET = "media"


def pinned(argv: list[str], core: int, taskset: str | None) -> list[str]:
    """``argv`` run on CPU ``core`` only (its children inherit the affinity), if we can."""
    return [taskset, "-c", str(core), *argv] if taskset else list(argv)


def seed(env: dict[str, str], path: Path, key: str) -> None:
    """Store ``path`` as ``oss://media/<key>`` in the farm's storage."""
    storage = make_storage(Settings.from_env(env))
    storage.ensure_bucket(BUCKET)
    storage.upload(path, StorageRef(kind="object", bucket=BUCKET, key=key))


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


def wait_ready(base: str, procs: list[subprocess.Popen], workers: int, log_dir: Path) -> None:
    """Until ``/readyz`` lists ``workers`` live workers (each has booted and checked FFmpeg)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            raise BenchFailed(f"a farm process exited during start-up\n{dump_logs(log_dir)}")
        doc = _get_json(f"{base}/readyz")
        if doc and len(doc.get("Workers", [])) >= workers:
            return
        time.sleep(0.2)
    raise BenchFailed(f"{workers} worker(s) not ready after 90 s\n{dump_logs(log_dir)}")


@contextmanager
def pinned_farm(
    redis_url: str, tmp: Path, workers: int, **extra_env: str
) -> Iterator[tuple[Client, dict[str, str], Path]]:
    """The API and ``workers`` single-process workers, each pinned to its own core (FFmpeg,
    their child, too), on ``redis_url``; yields a client, the farm's environment and its
    log folder, and stops every process at the end."""
    env = farm_env(redis_url, tmp, **extra_env)
    log_dir, taskset = tmp / "logs", shutil.which("taskset")
    cores = sorted(os.sched_getaffinity(0))
    procs: list[subprocess.Popen] = []
    try:
        procs.append(start_process("api", api_argv(env["MCFARM_API_BIND"], 1), env, log_dir))
        for n in range(workers):
            argv = pinned(
                worker_argv(f"bench{workers}-{n}@%h", "cpu", 1), cores[n % len(cores)], taskset
            )
            procs.append(start_process(f"worker{n}", argv, env, log_dir))
        base = f"http://{env['MCFARM_API_BIND']}"
        wait_ready(base, procs, workers, log_dir)
        key_id, secret = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
        yield Client(base, key_id, secret), env, log_dir
    finally:
        stop_processes(procs)
