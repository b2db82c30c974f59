"""MCFARM_REDIS_URL: one server, or a Sentinel set with its master's name."""

from __future__ import annotations

import pytest

from shared.celery_config import celery_config
from shared.config import Settings, SettingsError
from shared.redis_url import RedisUrlError, parse_redis_url


def test_a_plain_url_is_used_as_it_is():
    target = parse_redis_url("redis://:pw@cache:6380/3")
    assert not target.sentinel and target.celery_url() == "redis://:pw@cache:6380/3"
    assert target.transport_options() == {}


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_db():
    target = parse_redis_url("sentinel://:p%40ss@s1:26379,s2:26380,s3/mcfarm-main/2")
    assert target.sentinels == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert (target.master, target.db, target.password) == ("mcfarm-main", 2, "p@ss")
    assert target.celery_url() == (
        "sentinel://:p%40ss@s1:26379/2;sentinel://:p%40ss@s2:26380/2;sentinel://:p%40ss@s3:26379/2"
    )
    assert target.transport_options() == {"master_name": "mcfarm-main"}
    assert parse_redis_url("sentinel://s1:26379/main").db == 0


@pytest.mark.parametrize(
    "url",
    ["sentinel://s1:26379", "sentinel:///main/0", "sentinel://s1:x/main", "sentinel://s1/m/x"],
)
def test_a_sentinel_url_without_what_it_needs_is_refused(url):
    with pytest.raises(RedisUrlError):
        parse_redis_url(url)
    with pytest.raises(SettingsError, match="MCFARM_REDIS_URL"):
        Settings.from_env({"MCFARM_REDIS_URL": url})


def test_celery_takes_the_sentinel_set_for_its_broker_and_results():
    settings = Settings.from_env({"MCFARM_REDIS_URL": "sentinel://s1:1,s2:2/main/1"})
    conf = celery_config(settings)
    assert conf["broker_url"] == conf["result_backend"] == "sentinel://s1:1/1;sentinel://s2:2/1"
    assert conf["broker_transport"] == "shared.broker:SentinelTransport"
    assert conf["broker_transport_options"]["master_name"] == "main"
    assert conf["result_backend_transport_options"]["master_name"] == "main"
    plain = celery_config(Settings.from_env({"MCFARM_REDIS_URL": "redis://r:6379/0"}))
    assert plain["broker_transport"] == "shared.broker:Transport"
