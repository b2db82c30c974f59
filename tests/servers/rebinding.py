"""A DNS rebinding set-up for end-to-end tests: a rigged resolver and a public address.

``rebinding_env`` rigs the resolver of the farm's processes (``rebinding_site/
sitecustomize.py``). ``public_origin`` serves a folder at a public-looking address that only
this machine routes: a network namespace behind a veth pair, built with iproute2 (root
only, as on CI) and removed when the block ends, whatever happens in it. A real public IP
would not do: a TCP connect to one from this machine reaches a transparent proxy whose
answers cannot be predicted.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers.farm import stop_processes

SITE_DIR = Path(__file__).resolve().parent / "rebinding_site"
# Public for the SSRF check (``ipaddress`` calls 11.0.0.0/8 global); one /30 of it is routed
# to the namespace, on this machine only, while a test runs.
_NET = "11.111"
_REQUEST_RE = re.compile(r'"GET (\S+) HTTP/')


def rebinding_env(name: str, first: str, then: str) -> dict[str, str]:
    """Extra environment that makes ``name`` resolve to ``first`` once, then to ``then``.

    Args:
        name: the host name to rig (lower case).
        first: the address of a process's first lookup of ``name``.
        then: the address of every later lookup.

    Returns:
        ``PYTHONPATH`` (with the rigged ``sitecustomize``) and ``MCFARM_TEST_REBIND``.
    """
    pythonpath = os.pathsep.join(filter(None, [str(SITE_DIR), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": pythonpath, "MCFARM_TEST_REBIND": f"{name}={first},{then}"}


@dataclass(frozen=True)
class PublicOrigin:
    """A static HTTP server at ``address:port`` inside a network namespace."""

    address: str
    port: int
    log: Path

    def requests(self) -> list[str]:
        """The paths it was asked for, in order."""
        return _REQUEST_RE.findall(self.log.read_text()) if self.log.exists() else []


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()} (needs root and iproute2)")


@contextmanager
def _namespace(name: str, host_side: str, inside: str) -> Iterator[None]:
    """Namespace ``name`` reached through a veth pair: ``host_side`` here, ``inside`` there."""
    veth = f"{name}h"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", veth, "type", "veth", "peer", "name", f"{name}n", "netns", name)
        _ip("addr", "add", f"{host_side}/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("-n", name, "addr", "add", f"{inside}/30", "dev", f"{name}n")
        _ip("-n", name, "link", "set", f"{name}n", "up")
        yield
    finally:
        # Deleting one end of a veth pair deletes both; either may be missing after a failure.
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _wait_listening(address: str, port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the origin in the namespace exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the origin at {address}:{port} did not start listening")


@contextmanager
def public_origin(root: Path, port: int, log_dir: Path) -> Iterator[PublicOrigin]:
    """Serve ``root`` (``python -m http.server``) at a public-looking address, on ``port``.

    Raises:
        RuntimeError: the namespace could not be built (not root, no iproute2) or the
            server did not start.
    """
    pid = os.getpid()
    third, fourth = divmod(pid % 16384 * 4, 256)  # one /30 per test process
    host_side, inside = f"{_NET}.{third}.{fourth + 1}", f"{_NET}.{third}.{fourth + 2}"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "public-origin.log"
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", inside]
    with ExitStack() as stack:
        stack.enter_context(_namespace(f"mcf{pid}", host_side, inside))
        out = stack.enter_context(log.open("ab"))
        proc = subprocess.Popen(
            ["ip", "netns", "exec", f"mcf{pid}", *argv, "--directory", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        stack.callback(stop_processes, [proc])
        _wait_listening(inside, port, proc, log)
        yield PublicOrigin(inside, port, log)
