"""A Redis Sentinel set for a test: a master, a replica and three sentinels, all real
``redis-server`` processes on free loopback ports, failing over within a few seconds."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.servers.ports import free_port
from tests.servers.redis import RedisServer

MASTER_NAME = "mcfarm"


@dataclass
class SentinelSet:
    master: RedisServer
    replica: RedisServer
    sentinel_ports: list[int]

    @property
    def url(self) -> str:
        """``MCFARM_REDIS_URL`` for database 0 of the set."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"sentinel://{hosts}/{MASTER_NAME}/0"

    def master_port(self) -> int:
        """The port of the master the sentinels name now."""
        client = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        try:
            return int(client.info("sentinel")["master0"]["address"].rpartition(":")[2])
        finally:
            client.close()


def _sentinel(tmp_dir: Path, port: int, master_port: int) -> subprocess.Popen:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    conf = tmp_dir / "sentinel.conf"  # sentinel rewrites its config: one file each
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_dir}\nlogfile {tmp_dir / 'sentinel.log'}\n"
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
        f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
        f"sentinel failover-timeout {MASTER_NAME} 5000\n"
        f"sentinel parallel-syncs {MASTER_NAME} 1\n"
    )
    binary = RedisServer(tmp_dir).binary
    return subprocess.Popen([binary, str(conf), "--sentinel"], stdin=subprocess.DEVNULL)


def _wait(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the sentinel set: {what} not after {timeout} s")


@contextmanager
def sentinel_set(tmp_dir: Path) -> Iterator[SentinelSet]:
    """Start the set and wait until every sentinel sees the master, the replica and the
    other two sentinels (so a failover can be agreed on); stop everything after."""
    master = RedisServer(tmp_dir / "master")
    master.start()
    replica = RedisServer(tmp_dir / "replica", extra=("--replicaof", "127.0.0.1", str(master.port)))
    procs: list[subprocess.Popen] = []
    try:
        replica.start()
        ports = [free_port() for _ in range(3)]
        procs = [_sentinel(tmp_dir / f"sentinel{n}", p, master.port) for n, p in enumerate(ports)]
        clients = [redis.Redis(port=p, decode_responses=True) for p in ports]

        def ready() -> bool:
            masters = [client.info("sentinel").get("master0", {}) for client in clients]
            return all(m.get("slaves") == 1 and m.get("sentinels") == 3 for m in masters)

        _wait(ready, "every sentinel sees the replica and the others")
        replica_client = redis.Redis(port=replica.port, decode_responses=True)
        _wait(lambda: replica_client.info("replication")["master_link_status"] == "up", "sync")
        yield SentinelSet(master, replica, ports)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        replica.stop()
        master.stop()
