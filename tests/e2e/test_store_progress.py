"""Progress kept in the real job store never goes backwards."""

from __future__ import annotations

import pytest

from shared import keys
from shared.stores import Stores

pytestmark = pytest.mark.e2e


def test_progress_only_rises(redis_base):
    store = Stores.connect(f"{redis_base}/13").jobs
    store.redis.flushdb()
    for value in (10, 40, 20, 0, 55, 150):
        store.set_progress("f" * 32, 0, value)
    assert store.redis.hget(keys.job("f" * 32), "pct:0") == "100"
    store.set_progress("f" * 32, 1, -5)
    assert store.redis.hget(keys.job("f" * 32), "pct:1") == "0"
