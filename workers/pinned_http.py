"""HTTP requests sent to an address that passed the SSRF check, never to a second lookup.

``shared.storage_urls.pin_http_input`` resolves a host once and checks every address; a
request made here connects to one of those addresses while still naming the host: ``Host``
carries the name, TLS sends it (SNI) and verifies the certificate against it. A name whose
DNS answers differently when asked again (rebinding) cannot move the connection to loopback
or a private network. Worker input fetches (``workers.inputs``) and event deliveries
(``workers.notify``) both go through ``send``.
"""

from __future__ import annotations

from dataclasses import dataclass

import urllib3

from shared.storage_urls import PinnedHost

#: Pools are keyed by address and TLS name (``plan``): a pooled connection is reused only
#: for a host that resolved to that same checked address.
_POOLS = urllib3.PoolManager(retries=False)


@dataclass(frozen=True)
class PinnedRequest:
    """Where and how to send a request for a URL whose host is pinned (``plan``)."""

    scheme: str
    port: int
    addresses: tuple[str, ...]
    target: str
    headers: dict[str, str]
    tls: dict[str, str]


def plan(url: str, pinned: PinnedHost, headers: dict[str, str] | None = None) -> PinnedRequest:
    """How to request ``url`` from ``pinned``'s addresses without resolving its host again."""
    parsed = urllib3.util.parse_url(url)
    return PinnedRequest(
        scheme=(parsed.scheme or "http").lower(),
        port=pinned.port,
        addresses=pinned.addresses,
        target=parsed.request_uri,
        headers={"Host": parsed.netloc or pinned.host, **(headers or {})},
        tls={"server_hostname": pinned.host, "assert_hostname": pinned.host},
    )


def send(
    method: str,
    url: str,
    pinned: PinnedHost,
    *,
    timeout: urllib3.Timeout,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> urllib3.BaseHTTPResponse:
    """Send the request to each checked address in turn until one connects.

    Redirects are not followed (the caller checks and pins each hop); the body is streamed
    (``preload_content=False``): the caller reads it and releases the connection.

    Raises:
        urllib3.exceptions.HTTPError: no address answered, or the exchange broke off.
    """
    request = plan(url, pinned, headers)
    failed: Exception | None = None
    for address in request.addresses:
        pool = _POOLS.connection_from_host(
            address, request.port, request.scheme, pool_kwargs=request.tls
        )
        try:
            return pool.urlopen(
                method,
                request.target,
                body=body,
                headers=request.headers,
                redirect=False,
                timeout=timeout,
                preload_content=False,
            )
        except urllib3.exceptions.ConnectTimeoutError as exc:  # NewConnectionError too
            failed = exc  # the next address, as urllib3 does when it resolves the name itself
    raise failed or urllib3.exceptions.HTTPError(f"{url}: no address to connect to")
