"""kombu's Redis transport with one fix, so a Redis restart cannot stop a worker for good.

When a worker loses its Redis connection while it holds a message (a task running, or a
retry waiting for its countdown) and is also waiting for more work, Celery first closes the
transport (``Connection.collect``), then the channel. Closing the channel puts the unacked
messages back on their queue (``QoS.restore_unacked_once``); with the transport gone it
cannot even build its Redis client, and the ``AttributeError`` from kombu's
``Channel._connparams`` is not a connection error: the worker logs "Unrecoverable error" and
shuts down. Reproduced with kombu 5.7 and a restarted redis-server (``tests/e2e/test_faults.py``).

Here the channel keeps the address it last connected to: the restore then fails as a
connection error (Redis is down), which the close ignores, the consumer reconnects, and a
task that was running meanwhile is still acknowledged when it ends. The messages the worker
no longer holds (a retry waiting for its countdown is dropped on a lost connection) stay in
kombu's ``unacked`` set, where the watchdog finds them (``workers/lost_messages.py``).

``celery_config`` selects this transport with ``broker_transport``; the broker URL is
unchanged.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError


class _KeepsAddress:
    """A channel that keeps the address it last connected to (see the module docstring)."""

    _last_params: dict | None = None

    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is not None:
            params = super()._connparams(asynchronous=asynchronous)
            self._last_params = dict(params)
            return params
        if self._last_params is None:
            raise ConnectionError("the broker connection is already closed")
        # The same server as before: the restore can run once Redis is back, and a task
        # that was running when the connection dropped can still be acknowledged.
        return dict(self._last_params)


class Channel(_KeepsAddress, kombu_redis.Channel):
    pass


class SentinelChannel(_KeepsAddress, kombu_redis.SentinelChannel):
    """The same for a Sentinel set: once the transport is gone the sentinels cannot be asked
    for the master, so the restore fails as a connection error; the messages stay in
    ``unacked`` for the watchdog."""

    def _sentinel_managed_pool(self, asynchronous: bool = False):
        if self.connection.client is None:
            raise ConnectionError("the broker connection is already closed")
        return super()._sentinel_managed_pool(asynchronous)


class Transport(kombu_redis.Transport):
    """The Redis transport, with :class:`Channel`."""

    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    """The Redis Sentinel transport (``MCFARM_REDIS_URL=sentinel://…``), with
    :class:`SentinelChannel`."""

    Channel = SentinelChannel
