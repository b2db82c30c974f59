from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import AccessKey, Settings, SettingsError, parse_access_keys


def test_defaults_and_env_names(tmp_path):
    s = Settings.from_env({"MCFARM_VAR_DIR": str(tmp_path)})
    assert s.api_bind == "127.0.0.1:8080" and s.storage_root == tmp_path / "storage"
    assert not s.s3_enabled and not s.allow_file_urls and not s.allow_private_inputs
    s = Settings.from_env(
        {
            "MCFARM_API_BIND": "0.0.0.0:9000",
            "MCFARM_REDIS_URL": "redis://r:1/2",
            "MCFARM_STORAGE_ROOT": "/srv/x",
            "MCFARM_S3_ENDPOINT": "http://s3:8333",
            "MCFARM_S3_REGION": "eu",
            "MCFARM_ALLOW_PRIVATE_INPUTS": "on",
            "MCFARM_TASK_TIME_LIMIT": "600",
        }
    )
    assert (s.api_bind, s.redis_url, s.storage_root, s.s3_region) == (
        "0.0.0.0:9000",
        "redis://r:1/2",
        Path("/srv/x"),
        "eu",
    )
    assert s.s3_enabled and s.allow_private_inputs and s.task_time_limit == 600
    assert Settings().api_remembered_jobs == 4096
    assert Settings.from_env({"MCFARM_API_REMEMBERED_JOBS": "0"}).api_remembered_jobs == 0
    assert Settings().api_active_threads == 1
    assert Settings.from_env({"MCFARM_API_ACTIVE_THREADS": "0"}).api_active_threads == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MCFARM_ALLOW_FILE_URLS", "maybe"),
        ("MCFARM_TASK_TIME_LIMIT", "x"),
        ("MCFARM_MAX_OUTPUTS", "0"),
        ("MCFARM_API_REMEMBERED_JOBS", "-1"),
        ("MCFARM_ACCESS_KEYS", "nosecret"),
    ],
)
def test_bad_values_are_refused_by_name(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_access_keys_accounts_and_actions():
    keys = parse_access_keys("k1:s1, k2:s2:acme ,ro:s3:acme:ice:Get*|ice:List*")
    assert keys["k1"] == AccessKey("k1", "s1", "k1", ("ice:*",))
    assert keys["k2"].account == "acme" and keys["k2"].allows("SubmitMediaConvertJob")
    ro = keys["ro"]
    assert ro.actions == ("ice:Get*", "ice:List*")
    assert ro.allows("GetMediaConvertJob") and ro.allows("ListPipelines")
    assert not ro.allows("SubmitMediaConvertJob")
    assert AccessKey("a", "b", "1234").user_id == 1234
    assert 0 < AccessKey("a", "b", "acme").user_id < 10**16


def test_access_key_action_patterns_must_be_ice():
    with pytest.raises(SettingsError, match="ice:Get"):
        parse_access_keys("k:s:acct:Get*")


def test_gpu_policy():
    assert Settings.from_env({}).gpu_policy == "auto"
    assert Settings.from_env({"MCFARM_GPU_POLICY": " Prefer "}).gpu_policy == "prefer"
    with pytest.raises(SettingsError, match="MCFARM_GPU_POLICY"):
        Settings.from_env({"MCFARM_GPU_POLICY": "always"})
