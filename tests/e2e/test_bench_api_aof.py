"""``bench.api.settle_aof`` against a real redis-server: the rewrite it asks for has ended,
and succeeded, when it returns."""

from __future__ import annotations

import pytest
import redis

from bench.api import settle_aof

pytestmark = pytest.mark.e2e


def test_the_append_only_file_is_rewritten_before_the_measurements(redis_base):
    client = redis.Redis.from_url(f"{redis_base}/20")
    before = client.info("persistence")
    assert before["aof_enabled"] == 1
    client.set("bench-aof", "x" * 1000)
    assert settle_aof(client, timeout_s=60) >= 0
    after = client.info("persistence")
    assert not after["aof_rewrite_in_progress"] and not after["aof_rewrite_scheduled"]
    assert after["aof_last_bgrewrite_status"] == "ok"
    assert after["aof_rewrites"] == before["aof_rewrites"] + 1
