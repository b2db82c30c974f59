"""A private redis-server for a test session: free port, temp dir, nothing shared."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.servers.ports import free_port


class RedisServer:
    """One redis-server with AOF on in ``tmp_dir``, that can be stopped and started again.

    A restart keeps the port and the directory, so clients reconnect to the same URL and
    find what the AOF kept (``stop`` is a graceful SIGTERM: Redis flushes the AOF first).
    ``bind`` is the one address it listens on: loopback by default, another local address
    (a bridge's) for clients in other network namespaces, which cannot reach the host's
    loopback.
    """

    def __init__(
        self,
        tmp_dir: Path,
        port: int | None = None,
        bind: str = "127.0.0.1",
        extra: tuple[str, ...] = (),
    ):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.tmp_dir = tmp_dir
        self.bind = bind
        self.port = port or free_port()
        self.url = f"redis://{bind}:{self.port}"
        self.proc: subprocess.Popen | None = None
        #: More arguments (``--replicaof host port`` for a replica).
        self.extra = extra

    def _argv(self) -> list[str]:
        # Redis refuses clients from other addresses unless told not to; only a test server
        # listening on a private test network (bind not loopback) needs that.
        protected = [] if self.bind == "127.0.0.1" else ["--protected-mode", "no"]
        return [
            self.binary,
            "--bind",
            self.bind,
            "--port",
            str(self.port),
            "--dir",
            str(self.tmp_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            # One database per farm in a test session: more farms than the default 16.
            "--databases",
            "32",
            "--logfile",
            str(self.tmp_dir / "redis.log"),
            *protected,
            *self.extra,
        ]

    def start(self, timeout: float = 10) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return self.url
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        log = (self.tmp_dir / "redis.log").read_text()[-2000:]
                        self.stop()  # a server that never answered is not left running
                        raise RuntimeError(f"redis-server did not start: {log}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM (Redis writes the AOF out and exits), SIGKILL if it hangs."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self, down_s: float = 0) -> str:
        """Stop, stay down ``down_s`` seconds, start again on the same port and directory."""
        self.stop()
        time.sleep(down_s)
        return self.start()


@contextmanager
def redis_server(tmp_dir: Path) -> Iterator[str]:
    """Start redis-server with AOF on in ``tmp_dir``; yield its URL; stop it."""
    with restartable_redis(tmp_dir) as server:
        yield server.url


@contextmanager
def restartable_redis(tmp_dir: Path) -> Iterator[RedisServer]:
    """A started :class:`RedisServer` in ``tmp_dir``, stopped at the end."""
    server = RedisServer(tmp_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
