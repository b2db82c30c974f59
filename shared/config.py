"""Settings: the one place that reads ``os.environ``.

Every setting is named ``MCFARM_*``; ``Settings.from_env()`` builds a frozen value that is
passed explicitly to whatever needs it (no module globals).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.redis_url import RedisUrlError, parse_redis_url

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A ``MCFARM_*`` variable holds a value mcfarm cannot use."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r}: expected one of on/off, true/false, 1/0")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r}: must be at least {minimum}")
    return value


@dataclass(frozen=True)
class AccessKey:
    """One key pair, the account it acts for and the actions it may call.

    Attributes:
        account: who owns what the key creates; keys of one account share jobs,
            pipelines, templates and callback settings. Defaults to the key id.
        actions: RAM-style patterns (``ice:*``, ``ice:Get*``, ``ice:SubmitMediaConvertJob``).
    """

    key_id: str
    secret: str
    account: str
    actions: tuple[str, ...] = ("ice:*",)

    def allows(self, action: str) -> bool:
        """Whether ``action`` (e.g. ``GetMediaConvertJob``) matches one of the patterns."""
        return any(fnmatch.fnmatchcase(f"ice:{action}", pattern) for pattern in self.actions)

    @property
    def user_id(self) -> int:
        return user_id_for(self.account)


def user_id_for(account: str) -> int:
    """A numeric id for an account, for event envelopes (ICE's ``UserId`` is a number).

    A numeric account is its own id; any other name maps to a stable 16-digit number.
    """
    if account.isdigit():
        return int(account)
    return int(hashlib.sha256(account.encode()).hexdigest(), 16) % 10**16


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or default).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


def parse_access_keys(raw: str) -> dict[str, AccessKey]:
    """Parse ``id:secret[:account[:pattern|pattern…]][,…]`` into ``{id: AccessKey}``.

    Examples: ``k1:s1`` (account ``k1``, every action); ``k2:s2:acme`` (account ``acme``);
    ``ro:s3:acme:ice:Get*|ice:List*`` (a read-only key of ``acme``).

    Raises:
        SettingsError: on an entry without id or secret, or an action pattern not ``ice:…``.
    """
    keys: dict[str, AccessKey] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        parts = entry.split(":", 3)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise SettingsError(
                f"MCFARM_ACCESS_KEYS entry {entry.split(':')[0]!r}: expected id:secret"
            )
        key_id, secret = parts[0], parts[1]
        account = parts[2] if len(parts) > 2 and parts[2] else key_id
        actions = (
            tuple(a.strip() for a in parts[3].split("|") if a.strip())
            if len(parts) > 3
            else ("ice:*",)
        )
        bad = [a for a in actions if not a.startswith("ice:")]
        if bad or not actions:
            raise SettingsError(
                f"MCFARM_ACCESS_KEYS entry {key_id!r}: actions look like ice:Get* (got {bad})"
            )
        keys[key_id] = AccessKey(key_id, secret, account, actions)
    return keys


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a farm process. See README "Configuration"."""

    api_bind: str = "127.0.0.1:8080"
    access_keys: Mapping[str, AccessKey] = field(default_factory=dict)
    redis_url: str = "redis://127.0.0.1:6379/0"
    var_dir: Path = Path("var").resolve()
    storage_root: Path = Path("var/storage").resolve()
    s3_endpoint: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"
    allow_private_inputs: bool = False
    trusted_input_hosts: frozenset[str] = frozenset()
    allow_file_urls: bool = False
    ffmpeg_bin: str = "ffmpeg"
    ffprobe_bin: str = "ffprobe"
    work_dir: Path = Path(tempfile.gettempdir())
    input_cache_dir: Path | None = None
    task_time_limit: int = 6 * 3600
    probe_timeout: int = 60
    max_outputs: int = 64
    max_inputs: int = 16
    max_request_bytes: int = 1024 * 1024
    max_deliveries: int = 3
    heartbeat_timeout: int = 60
    redis_retry_window: int = 20
    allow_private_callbacks: bool = False
    callback_give_up_after: int = 24 * 3600
    callback_max_backoff: int = 60
    nonce_window: int = 900
    gpu_policy: str = "auto"
    rate_limit: int = 0
    auth_failure_delay_ms: int = 100
    api_threads: int = 8
    api_active_threads: int = 1
    api_remembered_jobs: int = 4096
    job_max_runtime: int = 24 * 3600
    storage_retry_window: int = 300
    max_input_bytes: int = 64 * 1024**3
    # Fixed rather than a share of the disk, so a worker's footprint does not depend on
    # the machine: room for a few mezzanine sources (a 4 GB source and its ladder) at once.
    input_cache_bytes: int = 20 * 1024**3
    max_input_duration: int = 12 * 3600
    max_input_resolution: int = 8192
    #: Split outputs of inputs longer than this (seconds) into chunks; 0: only on Boost
    #: pipelines (``workers.boost``).
    boost_min_seconds: int = 0
    #: Chunk length (seconds): measured by ``make bench-boost`` (README "Benchmark"): 10 s
    #: costs 4 % more, 30 s gains nothing, 20 s spreads a long output over more workers.
    boost_chunk_seconds: int = 20
    flower_port: int = 5555
    flower_basic_auth: str | None = None
    #: Bearer token of ``/metrics`` and the workers' metrics port; unset: ``/metrics`` is off.
    metrics_token: str | None = None
    #: ``json``: log lines as JSON objects naming their job, output, task, account
    #: (``shared.logs``).
    log_format: str = "plain"
    #: A worker node's metrics port (``mcfarm worker --metrics-port``); 0: none.
    worker_metrics_port: int = 0
    worker_metrics_address: str = "127.0.0.1"
    #: The console's session cookie is sent over HTTPS only (set it behind TLS).
    console_secure_cookie: bool = False

    @property
    def s3_enabled(self) -> bool:
        return bool(self.s3_endpoint)

    @property
    def input_cache_path(self) -> Path:
        """The worker's input cache folder (``workers.input_cache``).

        ``MCFARM_INPUT_CACHE_DIR``, else ``mcfarm-input-cache`` in ``work_dir``: on the
        filesystem of the tasks' work folders, so a task's copy is a hard link.
        """
        return self.input_cache_dir or self.work_dir / "mcfarm-input-cache"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``MCFARM_*`` variables (``os.environ`` by default).

        Raises:
            SettingsError: when a variable is set to something unusable.
        """
        env = os.environ if environ is None else environ
        return cls(**_places(cls, env), **_policies(cls, env), **_limits(cls, env))


def _redis_url(url: str) -> str:
    """``MCFARM_REDIS_URL``, checked (``shared.redis_url``)."""
    try:
        parse_redis_url(url)
    except RedisUrlError as err:
        raise SettingsError(f"MCFARM_REDIS_URL={err}") from None
    return url


def _places(cls: type[Settings], env: Mapping[str, str]) -> dict[str, Any]:
    """Where things are: binds, keys, Redis, folders, S3, binaries."""
    var_dir = Path(env.get("MCFARM_VAR_DIR") or "var").resolve()
    cache_dir = env.get("MCFARM_INPUT_CACHE_DIR")
    return {
        "api_bind": env.get("MCFARM_API_BIND") or cls.api_bind,
        "access_keys": parse_access_keys(env.get("MCFARM_ACCESS_KEYS", "")),
        "redis_url": _redis_url(env.get("MCFARM_REDIS_URL") or cls.redis_url),
        "var_dir": var_dir,
        "storage_root": Path(env.get("MCFARM_STORAGE_ROOT") or var_dir / "storage").resolve(),
        "s3_endpoint": env.get("MCFARM_S3_ENDPOINT") or None,
        "s3_access_key_id": env.get("MCFARM_S3_ACCESS_KEY_ID") or None,
        "s3_secret_access_key": env.get("MCFARM_S3_SECRET_ACCESS_KEY") or None,
        "s3_region": env.get("MCFARM_S3_REGION") or cls.s3_region,
        "ffmpeg_bin": env.get("MCFARM_FFMPEG_BIN") or cls.ffmpeg_bin,
        "ffprobe_bin": env.get("MCFARM_FFPROBE_BIN") or cls.ffprobe_bin,
        "work_dir": Path(env.get("MCFARM_WORK_DIR") or tempfile.gettempdir()),
        "input_cache_dir": Path(cache_dir) if cache_dir else None,
        "flower_port": _int(env, "MCFARM_FLOWER_PORT", cls.flower_port),
        "flower_basic_auth": env.get("MCFARM_FLOWER_BASIC_AUTH") or None,
        "metrics_token": env.get("MCFARM_METRICS_TOKEN") or None,
        "log_format": _choice(env, "MCFARM_LOG_FORMAT", ("plain", "json"), cls.log_format),
        "worker_metrics_port": _int(env, "MCFARM_WORKER_METRICS_PORT", 0, 0),
        "worker_metrics_address": env.get("MCFARM_WORKER_METRICS_ADDRESS") or "127.0.0.1",
    }


def _policies(cls: type[Settings], env: Mapping[str, str]) -> dict[str, Any]:
    """What is allowed, and how work is placed."""
    trusted = env.get("MCFARM_TRUSTED_INPUT_HOSTS", "").split(",")
    return {
        "allow_private_inputs": _flag(env, "MCFARM_ALLOW_PRIVATE_INPUTS", False),
        "trusted_input_hosts": frozenset(h.strip().lower() for h in trusted if h.strip()),
        "allow_file_urls": _flag(env, "MCFARM_ALLOW_FILE_URLS", False),
        "allow_private_callbacks": _flag(env, "MCFARM_ALLOW_PRIVATE_CALLBACKS", False),
        "console_secure_cookie": _flag(env, "MCFARM_CONSOLE_SECURE_COOKIE", False),
        "gpu_policy": _choice(
            env, "MCFARM_GPU_POLICY", ("auto", "never", "prefer"), cls.gpu_policy
        ),
    }


def _limits(cls: type[Settings], env: Mapping[str, str]) -> dict[str, Any]:
    """Sizes, counts and times, each with its lowest sensible value."""
    return {
        "task_time_limit": _int(env, "MCFARM_TASK_TIME_LIMIT", cls.task_time_limit, 10),
        "probe_timeout": _int(env, "MCFARM_PROBE_TIMEOUT", cls.probe_timeout),
        "max_outputs": _int(env, "MCFARM_MAX_OUTPUTS", cls.max_outputs),
        "max_inputs": _int(env, "MCFARM_MAX_INPUTS", cls.max_inputs),
        "max_request_bytes": _int(env, "MCFARM_MAX_REQUEST_BYTES", cls.max_request_bytes, 1024),
        "max_deliveries": _int(env, "MCFARM_MAX_DELIVERIES", cls.max_deliveries),
        "heartbeat_timeout": _int(env, "MCFARM_HEARTBEAT_TIMEOUT", cls.heartbeat_timeout, 3),
        "redis_retry_window": _int(env, "MCFARM_REDIS_RETRY_WINDOW", cls.redis_retry_window, 0),
        "callback_give_up_after": _int(
            env, "MCFARM_CALLBACK_GIVE_UP_AFTER", cls.callback_give_up_after
        ),
        "callback_max_backoff": _int(env, "MCFARM_CALLBACK_MAX_BACKOFF", cls.callback_max_backoff),
        "nonce_window": _int(env, "MCFARM_SIGNATURE_WINDOW", cls.nonce_window, 60),
        "rate_limit": _int(env, "MCFARM_RATE_LIMIT", cls.rate_limit, 0),
        "auth_failure_delay_ms": _int(
            env, "MCFARM_AUTH_FAILURE_DELAY_MS", cls.auth_failure_delay_ms, 0
        ),
        "api_threads": _int(env, "MCFARM_API_THREADS", cls.api_threads, 1),
        "api_active_threads": _int(env, "MCFARM_API_ACTIVE_THREADS", cls.api_active_threads, 0),
        "api_remembered_jobs": _int(env, "MCFARM_API_REMEMBERED_JOBS", cls.api_remembered_jobs, 0),
        "job_max_runtime": _int(env, "MCFARM_JOB_MAX_RUNTIME", cls.job_max_runtime, 0),
        "storage_retry_window": _int(
            env, "MCFARM_STORAGE_RETRY_WINDOW", cls.storage_retry_window, 0
        ),
        "max_input_bytes": _int(env, "MCFARM_MAX_INPUT_BYTES", cls.max_input_bytes, 1024),
        "input_cache_bytes": _int(env, "MCFARM_INPUT_CACHE_BYTES", cls.input_cache_bytes, 0),
        "max_input_duration": _int(env, "MCFARM_MAX_INPUT_DURATION", cls.max_input_duration, 1),
        "max_input_resolution": _int(
            env, "MCFARM_MAX_INPUT_RESOLUTION", cls.max_input_resolution, 16
        ),
        "boost_min_seconds": _int(env, "MCFARM_BOOST_MIN_SECONDS", cls.boost_min_seconds, 0),
        "boost_chunk_seconds": _int(env, "MCFARM_BOOST_CHUNK_SECONDS", cls.boost_chunk_seconds, 2),
    }
