"""Helpers for driving mcfarm with the official ICE SDK (alibabacloud-ice20201109)."""

from __future__ import annotations

import json
import time
from typing import Any

from alibabacloud_ice20201109 import models as ice
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi import utils_models
from darabonba.runtime import RuntimeOptions

TERMINAL = {"Complete", "Error", "Cancelled"}


def sdk_client(api_url: str, key_id: str, secret: str, **config: Any) -> Client:
    """The SDK pointed at mcfarm, as the README tells users to do."""
    endpoint = api_url.removeprefix("http://")
    return Client(
        open_api_models.Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=endpoint,
            protocol="http",
            connect_timeout=5000,
            read_timeout=30000,
            **config,
        )
    )


def call(
    client: Client, action: str, query: dict[str, Any] | None = None, *, version: str = "2020-11-09"
) -> dict:
    """Any action, signed by the SDK's generic path (for actions the SDK lacks, or bad versions)."""
    params = utils_models.Params(
        action=action,
        version=version,
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(query={k: str(v) for k, v in (query or {}).items()})
    return client.call_api(params, request, RuntimeOptions())


def submit(client: Client, config: dict, **kwargs: Any) -> ice.SubmitMediaConvertJobResponseBodyJob:
    req = ice.SubmitMediaConvertJobRequest(config=json.dumps(config), **kwargs)
    return client.submit_media_convert_job(req).body.job


def wait(client: Client, job_id: str, timeout: float = 90) -> ice.GetMediaConvertJobResponseBodyJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id=job_id)).body.job
        if job.state in TERMINAL or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
