"""Fair share: every account's work waits in a queue slot of its own, and workers take turns.

Redis lists are first in, first out: one account's 500 queued outputs would make everyone
else's wait behind them. So each kind of queue (``cpu``, ``gpu``) has ``SLOTS`` sub-queues
(``cpu.0`` … ``cpu.15``); an account's work goes to its slot, and workers consume every slot
of their kinds in rotation (kombu's ``round_robin`` queue order), highest priority first.

The slots are fixed: every worker consumes all of them from its start, so an account's first
job starts as fast as any other, with no queue to announce to workers and no broadcast to
miss. Accounts get slots in order of first use (``FairShare.slot``), so up to ``SLOTS``
active accounts have one each; beyond that, accounts share a slot two by two, and so on.
"""

from __future__ import annotations

import redis

from shared import keys

SLOTS = 16

# Hand out the next slot to an account that has none, atomically (two API processes may
# see an account's first jobs at once).
_ASSIGN = """
local slot = redis.call('HGET', KEYS[1], ARGV[1])
if slot then return tonumber(slot) end
slot = (redis.call('INCR', KEYS[2]) - 1) % tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], slot)
return slot
"""


def slot_queue(kind: str, slot: int) -> str:
    """``cpu.3``: slot ``slot`` of the queues of one kind."""
    return f"{kind}.{slot % SLOTS}"


def slot_queues(kind: str) -> list[str]:
    """Every slot queue of one kind, which every worker of that kind consumes."""
    return [slot_queue(kind, slot) for slot in range(SLOTS)]


class FairShare:
    """Which slot each account's work goes to (``shared.keys.ACCOUNT_SLOTS``)."""

    def __init__(self, client: redis.Redis):
        self.redis = client
        #: Slots never change once given, so each process asks Redis once per account.
        self._known: dict[str, int] = {}

    def slot(self, account: str) -> int:
        """The account's slot, given on first use."""
        if account not in self._known:
            slot = self.redis.eval(
                _ASSIGN, 2, keys.ACCOUNT_SLOTS, keys.ACCOUNT_SLOTS_NEXT, account, SLOTS
            )
            self._known[account] = int(slot)
        return self._known[account]
