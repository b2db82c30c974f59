"""``mcfarm up``: the whole farm on one machine, in the foreground.

Starts a private redis-server (AOF on, data under ``./var/redis``), one CPU worker, the API
and Flower; seeds the example bucket; prints where everything is. Ctrl-C stops all of it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cli import devkeys
from cli.processes import api_argv, flower_argv, worker_argv
from shared.config import Settings
from shared.examples import EXAMPLE_BUCKET, EXAMPLES_DIR

DEFAULT_REDIS_PORT = 6390


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


@dataclass
class Supervisor:
    """Owns the child processes; stops them all, in reverse order, exactly once."""

    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path | None = None
    ) -> None:
        # Own session: the terminal's Ctrl-C reaches only us, and we stop children in order.
        if log_dir is None:
            proc = subprocess.Popen(argv, env=env, start_new_session=True)
        else:
            with (log_dir / f"{name}.log").open("ab") as out:  # the child keeps its own copy
                proc = subprocess.Popen(
                    argv, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
                )
        self.children.append((name, proc))

    def dead(self) -> str | None:
        return next((name for name, proc in self.children if proc.poll() is not None), None)

    def stop(self, grace: float = 15) -> None:
        # Last started, first stopped: the workers finish while Redis is still there.
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()


def _start_redis(sup: Supervisor, settings: Settings, env: dict[str, str]) -> str:
    if not shutil.which("redis-server"):
        raise SystemExit(
            "redis-server is not installed: run 'make run' (it installs it) or apt-get install redis-server"
        )
    port = DEFAULT_REDIS_PORT if _port_free(DEFAULT_REDIS_PORT) else _free_port()
    data = settings.var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
    ]
    sup.start("redis", argv, env, settings.var_dir)
    if not _wait_port("127.0.0.1", port, 10):
        raise SystemExit(f"redis-server did not start; see {settings.var_dir / 'redis.log'}")
    return f"redis://127.0.0.1:{port}/0"


def seed_examples(settings: Settings) -> int:
    """Put the shipped example media into the ``mcfarm-examples`` bucket."""
    from shared.storage import StorageRef, make_storage

    media = EXAMPLES_DIR / "media"
    if not media.is_dir():
        return 0
    storage = make_storage(settings)
    storage.ensure_bucket(EXAMPLE_BUCKET)
    count = 0
    for path in sorted(media.iterdir()):
        if path.is_file():
            storage.upload(path, StorageRef(kind="object", bucket=EXAMPLE_BUCKET, key=path.name))
            count += 1
    return count


def _interrupt(signum, frame) -> None:
    # Ignore further signals while the children are being stopped in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the farm (even where SIGINT was inherited as ignored)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def run_up(settings: Settings, env: dict[str, str], concurrency: int) -> int:
    sup = Supervisor()
    env = dict(env, PYTHONUNBUFFERED="1")
    # All-in-one on one machine: file:// inputs are the user's own files. A shared farm
    # keeps them off (the default), or any key could read any file a worker can.
    env.setdefault("MCFARM_ALLOW_FILE_URLS", "on")
    if not settings.access_keys:
        key_id, secret = devkeys.load_or_create(settings.var_dir)
        env["MCFARM_ACCESS_KEYS"] = f"{key_id}:{secret}"
    key_id, secret = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":", 1)
    _stop_on_signals()
    try:
        if not env.get("MCFARM_REDIS_URL"):
            env["MCFARM_REDIS_URL"] = _start_redis(sup, settings, env)
        settings = Settings.from_env(env)
        seeded = seed_examples(settings)
        sup.start("worker", worker_argv("cpu1@%h", "cpu", concurrency), env)
        argv = api_argv(
            settings.api_bind, threads=settings.api_threads, log_format=settings.log_format
        )
        sup.start("api", argv, env)
        sup.start("flower", flower_argv(settings.flower_port), env, settings.var_dir)
        host, _, port = settings.api_bind.rpartition(":")
        _wait_port(host or "127.0.0.1", int(port), 20)
        print(
            f"\nmcfarm is up.\n  API:        http://{settings.api_bind}\n"
            f"  Console:    http://{settings.api_bind}/console  (sign in with the access key)\n"
            f"  Flower:     http://127.0.0.1:{settings.flower_port}\n"
            f"  Access key: {key_id}:{secret}   (kept in {settings.var_dir / devkeys.KEY_FILE})\n"
            f"  Redis:      {env['MCFARM_REDIS_URL']} (AOF under {settings.var_dir / 'redis'})\n"
            f"  Storage:    {settings.s3_endpoint or settings.storage_root}"
            f"  ({seeded} example file(s) in bucket {EXAMPLE_BUCKET})\n"
            f"Try: mcfarm submit examples/mp4-ladder.json --wait     Ctrl-C stops everything.\n",
            flush=True,
        )
        while (dead := sup.dead()) is None:
            time.sleep(0.5)
        print(f"mcfarm: {dead} exited; stopping the farm", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmcfarm: stopping…", file=sys.stderr)
        return 0
    finally:
        sup.stop()
