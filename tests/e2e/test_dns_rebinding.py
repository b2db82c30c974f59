"""DNS rebinding: a worker connects to the address that passed the SSRF check, never to one
a second lookup of the same name answers.

The farm's resolver is rigged (``tests.servers.rebinding``: a ``sitecustomize`` on its
``PYTHONPATH``) so that ``rebind.mcfarm.test`` answers a public address on each process's
first lookup and 127.0.0.1 on every later one, as a rebinding attacker's DNS server with a
zero TTL would. A canary listens on 127.0.0.1 at the same port as the origin: a worker that
looked the name up again to connect would fetch from it.

Where the public address lives: a TCP connect to a real public IP from this machine reaches
a transparent proxy whose answers cannot be predicted, so the origin runs in a network
namespace behind a veth pair, at an address in 11.0.0.0/8 (public for the SSRF check, routed
only on this machine while the test runs). That shows more than a refusal: the fetch really
went to the first answer.

What the worker does, on one process (``concurrency=1``, so the count of lookups is known):
it fetches the input to probe it (the process's first lookup: public, checked, and the
connection goes to that address, so the origin serves it), then fetches it again to encode
it. That second fetch looks the name up afresh, gets 127.0.0.1 and is refused: the job ends
``Error`` with ``InvalidParameter``. Before the connection was pinned, urllib3 resolved the
name a second time to connect, so the canary served the probe.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import client_for, wait_job
from tests.servers.farm import farm_env, running_farm
from tests.servers.origin import http_origin
from tests.servers.rebinding import public_origin, rebinding_env

pytestmark = pytest.mark.e2e

NAME = "rebind.mcfarm.test"
OUTPUT = {
    "Name": "o",
    "TemplateId": "S00000001-200000",
    "OutputFile": {"Media": "oss://results/r.mp4"},
}


def test_a_name_that_rebinds_to_loopback_is_never_fetched_from_loopback(
    redis_base, tmp_path, media
):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "clip.mp4").write_bytes(media["silent.mp4"].read_bytes())
    with (
        http_origin() as canary,
        public_origin(tmp_path / "www", canary.port, tmp_path / "logs") as origin,
    ):
        canary.serve("/clip.mp4", media["silent.mp4"].read_bytes())
        rigged = rebinding_env(NAME, first=origin.address, then="127.0.0.1")
        env = farm_env(f"{redis_base}/29", tmp_path, **rigged)
        with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
            client = client_for(farm)
            url = f"http://{NAME}:{canary.port}/clip.mp4"
            config = {"Inputs": [{"InputFile": {"Media": url}}], "Outputs": [OUTPUT]}
            job = wait_job(client, client.submit({"Config": config})["JobId"], farm, timeout=40)
        assert canary.requests == []  # loopback was never contacted
        assert origin.requests() == ["/clip.mp4"]  # the probe's fetch went to the checked address
    detail = job["OutputDetails"][0]
    assert (job["State"], job["Code"], detail["Status"]) == ("Error", "InvalidParameter", "Failed")
    assert "127.0.0.1" in detail["Message"], detail  # refused for the address it rebound to
