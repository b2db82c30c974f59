"""Separate "machines" on one host for end-to-end tests: Linux network namespaces on a bridge.

A farm is horizontal only if a worker needs nothing from the API's machine but the network:
no shared folder, no service on the host's loopback. Each namespace made here is such a
machine: its own loopback and one veth link to a bridge on the host, so it reaches exactly
what the host serves on the bridge's address. ``Network.argv`` also gives the process a
private mount namespace in which a folder (e.g. the test session's temp dir, holding the
API's storage and the other nodes' folders) is covered by an empty tmpfs.

Needs root and ``ip`` (iproute2), ``unshare`` and ``nsenter`` (util-linux).
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

#: Candidate subnets are 10.201.X.0/24; one is picked among those no local address is in.
_PREFIX = "10.201"


class NamespacesUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no ``ip``, a locked-down kernel)."""


@dataclass(frozen=True)
class Node:
    """One network namespace: its name (for ``ip netns exec``) and its address."""

    netns: str
    ip: str


@dataclass(frozen=True)
class Network:
    """A bridge on the host (``host_ip``) and the namespaces linked to it."""

    bridge: str
    host_ip: str
    nodes: tuple[Node, ...]

    def argv(self, node: Node, argv: Sequence[str], *, hide: Path, make: Path) -> list[str]:
        """``argv`` run in ``node``'s network namespace and a private mount namespace.

        There, an empty tmpfs covers ``hide`` (the host's files under it are out of sight)
        and ``make`` is created (a folder inside ``hide`` that only this process sees).
        Every step execs the next, so the returned process's pid is ``argv``'s own: what
        ``nsenter -t PID`` needs to look from where the process stands.
        """
        script = 'mount -t tmpfs tmpfs "$1" && mkdir -p "$2" && shift 2 && exec "$@"'
        return [
            *("ip", "netns", "exec", node.netns),
            *("unshare", "--mount", "--propagation", "private", "--"),
            *("sh", "-c", script, "sh", str(hide), str(make), *argv),
        ]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _taken_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks this host already has an address in or a route to."""
    taken = []
    for line in _ip("-o", "-4", "addr").stdout.splitlines():
        words = line.split()
        if "inet" in words:
            taken.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    for line in _ip("-4", "route").stdout.splitlines():
        # "10.0.0.0/8 via ...", "192.0.2.7 dev ...", "blackhole 10.9.0.0/16", "default via ...".
        for word in line.split()[:2]:
            with suppress(ValueError):
                taken.append(ipaddress.ip_network(word, strict=False))
                break
    return taken


def _free_subnet() -> str:
    """A 10.201.X (/24) that no local address or route falls in; picked at random among
    the free ones, so two runs at once rarely try the same."""
    taken = _taken_networks()
    free = [
        f"{_PREFIX}.{x}"
        for x in range(1, 255)
        if not any(ipaddress.ip_network(f"{_PREFIX}.{x}.0/24").overlaps(n) for n in taken)
    ]
    if not free:
        raise RuntimeError(f"no free {_PREFIX}.X.0/24 subnet on this host")
    return random.choice(free)


def _kill_members(netns: str) -> None:
    """SIGKILL what the test started in ``netns`` and left running (normally nothing): while
    a process holds the namespace, its veth end and so the bridge port would stay."""
    pids = _ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


@contextmanager
def bridged_namespaces(count: int) -> Iterator[Network]:
    """A bridge with an address on the host and ``count`` namespaces linked to it.

    Namespace ``i`` has ``lo`` up and 10.201.X.(2+i)/24 on its veth end; the bridge has
    10.201.X.1/24. There is no default route in a namespace: the bridge's subnet is all it
    reaches. Names carry a random token (and fit the 15-character limit of interfaces), so
    runs do not collide. Everything is removed at the end, also when setting up fails
    half-way or the body raises.

    Raises:
        NamespacesUnavailable: not root, or ``ip netns add`` is refused (the message says
            why).
    """
    if os.geteuid() != 0:
        raise NamespacesUnavailable("network namespaces need root")
    token = secrets.token_hex(3)
    bridge = f"mcb{token}"
    with ExitStack() as cleanup:
        probe = f"mcn{token}0"
        try:
            added = subprocess.run(
                ["ip", "netns", "add", probe], capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise NamespacesUnavailable("`ip` (iproute2) is not installed") from None
        if added.returncode != 0:
            raise NamespacesUnavailable(f"`ip netns add` failed: {added.stderr.strip()}")
        cleanup.callback(_ip, "netns", "del", probe, check=False)
        cleanup.callback(_kill_members, probe)

        subnet = _free_subnet()
        _ip("link", "add", "name", bridge, "type", "bridge")
        cleanup.callback(_ip, "link", "del", bridge, check=False)
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")

        nodes = []
        for i in range(count):
            netns = f"mcn{token}{i}"
            if i:
                _ip("netns", "add", netns)
                cleanup.callback(_ip, "netns", "del", netns, check=False)
                cleanup.callback(_kill_members, netns)
            host_end, ns_end = f"mcv{token}h{i}", f"mcv{token}n{i}"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", netns)
            # Deleting the namespace takes its end and so the pair; this covers a pair whose
            # namespace end somehow stayed on the host.
            cleanup.callback(_ip, "link", "del", host_end, check=False)
            _ip("link", "set", host_end, "master", bridge, "up")
            ip = f"{subnet}.{2 + i}"
            for args in (
                ("addr", "add", f"{ip}/24", "dev", ns_end),
                ("link", "set", ns_end, "up"),
                ("link", "set", "lo", "up"),
            ):
                _ip("-n", netns, *args)
            nodes.append(Node(netns, ip))
        yield Network(bridge, f"{subnet}.1", tuple(nodes))


def leftovers(network: Network) -> list[str]:
    """The bridge, veths and namespaces of ``network`` still present (none after the
    ``with``)."""
    token = network.bridge.removeprefix("mcb")
    ours = tuple(f"{kind}{token}" for kind in ("mcb", "mcv", "mcn"))
    links = [
        line.split()[1].split("@")[0].rstrip(":") for line in _ip("-o", "link").stdout.splitlines()
    ]
    spaces = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]
    return [name for name in links + spaces if name.startswith(ours)]
