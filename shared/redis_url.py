"""``MCFARM_REDIS_URL``: one Redis server, or a Redis Sentinel set that names the master.

- ``redis://[:password@]host:port/db`` (and ``rediss://``, ``unix://``): one server.
- ``sentinel://[:password@]host:port[,host:port…]/master-name[/db]``: the sentinels to ask
  and the name of the master they watch. Every client of the farm (the job store, the
  Celery broker and the result backend) then asks the sentinels for the current master and
  asks again after a failover; the password is the master's (and its replicas').

The broker and the result backend take kombu's and Celery's own spelling of the same set
(``celery_url``: ``sentinel://h1:p1/db;sentinel://h2:p2/db``, with ``master_name`` as a
transport option), made here, so the set is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit


class RedisUrlError(ValueError):
    """``MCFARM_REDIS_URL`` names no usable Redis or Sentinel set."""


@dataclass(frozen=True)
class RedisTarget:
    """Where the farm's Redis is (see the module docstring)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    password: str | None = None

    @property
    def sentinel(self) -> bool:
        return bool(self.sentinels)

    def celery_url(self) -> str:
        """The URL Celery's broker and result backend take."""
        if not self.sentinel:
            return self.url
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return ";".join(
            f"sentinel://{auth}{host}:{port}/{self.db}" for host, port in self.sentinels
        )

    def transport_options(self) -> dict[str, str]:
        """What kombu's and Celery's Sentinel transports need besides the URL."""
        return {"master_name": self.master} if self.sentinel else {}


def parse_redis_url(url: str) -> RedisTarget:
    """Read ``MCFARM_REDIS_URL``.

    Raises:
        RedisUrlError: a ``sentinel://`` URL without sentinels or master name, a bad port
            or database number.
    """
    if not url.startswith("sentinel://"):
        return RedisTarget(url=url)
    parts = urlsplit(url)
    auth, _, hosts = parts.netloc.rpartition("@")
    password = unquote(auth.partition(":")[2]) if auth else None
    path = [p for p in parts.path.split("/") if p]
    if not hosts or not path:
        raise RedisUrlError(
            f"{url!r}: a Sentinel URL is sentinel://host:port[,host:port…]/master-name[/db]"
        )
    try:
        sentinels = tuple(_host_port(item) for item in hosts.split(","))
        db = int(path[1]) if len(path) > 1 else 0
    except ValueError as err:
        raise RedisUrlError(f"{url!r}: {err}") from None
    return RedisTarget(url, sentinels, unquote(path[0]), db, password or None)


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.strip().rpartition(":")
    if not host:
        return item.strip(), 26379
    if not port.isdigit():
        raise ValueError(f"{item!r} is not host:port")
    return host, int(port)
