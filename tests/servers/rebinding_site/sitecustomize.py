"""A rebinding DNS answer for one host name, in every Python process started with this
folder on ``PYTHONPATH`` (``tests.servers.rebinding.rebinding_env``; test-only).

``MCFARM_TEST_REBIND=name=FIRST,THEN`` makes ``socket.getaddrinfo`` answer ``name`` as if it
were ``FIRST`` on the process's first lookup of it and ``THEN`` on every later one: what a
rebinding attacker's DNS server does with a zero TTL. Other names resolve as usual. Each
process counts its own lookups (a forked child starts from its parent's count).
"""

from __future__ import annotations

import itertools
import os
import socket

_SPEC = os.environ.get("MCFARM_TEST_REBIND", "")

if _SPEC:
    _NAME, _, _ANSWERS = _SPEC.partition("=")
    _FIRST, _, _THEN = _ANSWERS.partition(",")
    _LOOKUPS = itertools.count()
    _real_getaddrinfo = socket.getaddrinfo

    def _rebinding_getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str) or host.lower() != _NAME:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        # Resolving the literal keeps the answer's shape (family, flags) a real one.
        address = _FIRST if next(_LOOKUPS) == 0 else _THEN
        return _real_getaddrinfo(address, port, *args, **kwargs)

    socket.getaddrinfo = _rebinding_getaddrinfo
