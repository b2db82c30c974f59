"""The farm is really horizontal: workers on other "machines" share nothing but the network.

Every other end-to-end test runs its workers beside the API, where a shortcut (a path on the
API's disk, a service on 127.0.0.1, the other worker's scratch folder) would go unnoticed.
Here each worker node runs in its own network namespace, linked to the host by a veth on a
bridge, and its own mount namespace, in which the test session's temp dir (the API's
storage root, the other node's work dir, the source clip) is covered by an empty tmpfs.
Redis and SeaweedFS (S3) listen on the bridge's address only. A Boost job whose chunks run
on both nodes can then complete only through Redis and S3.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import boto3
import pytest

from cli.processes import api_argv, worker_argv
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from shared.stores import Stores
from tests.e2e.conftest import MEDIA_BUCKET, _ffmpeg, client_for, wait_job
from tests.e2e.exactness import stream_facts
from tests.e2e.observe import wait_until
from tests.servers.farm import ROOT, FarmInfo, dump_logs, farm_env, start_process, stop_processes
from tests.servers.netns import NamespacesUnavailable, Network, bridged_namespaces, leftovers
from tests.servers.ports import free_port
from tests.servers.redis import RedisServer
from tests.servers.seaweed import SeaweedInfo, seaweed_server

pytestmark = pytest.mark.e2e

SOURCE = "nodes-24s.mp4"
SECONDS, CHUNK_SECONDS, FPS = 24, 4, 25
NODES = ("nodeA", "nodeB")
RESULTS = "results"

# Run inside a node (nsenter): which paths exist there, which host:port answer a connect.
PROBE = """
import json, os, socket, sys

def answers(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True

paths, targets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({
    "exists": {path: os.path.exists(path) for path in paths},
    "answers": {f"{host}:{port}": answers(host, port) for host, port in targets},
}))
"""


@pytest.fixture
def network() -> Iterator[Network]:
    """A bridge and one namespace per node, checked gone afterwards.

    Skipped, with the reason, only where namespaces cannot be made (not root, or a kernel
    or container that refuses ``ip netns add``).
    """
    with ExitStack() as stack:
        try:
            net = stack.enter_context(bridged_namespaces(len(NODES)))
        except NamespacesUnavailable as err:
            pytest.skip(f"cannot make network namespaces: {err}")
        yield net
    assert leftovers(net) == [], "the bridge, a veth or a namespace was left behind"


@pytest.fixture
def services(network, tmp_path) -> Iterator[tuple[RedisServer, SeaweedInfo]]:
    """Redis and S3 on the bridge's address: the only way the nodes reach the farm's state."""
    redis_server = RedisServer(tmp_path / "redis", bind=network.host_ip)
    try:
        redis_server.start()
        with seaweed_server(tmp_path / "seaweed", ip=network.host_ip) as s3:
            yield redis_server, s3
    finally:
        redis_server.stop()


@pytest.fixture
def source(tmp_path) -> Path:
    """24 s of 640×360 at 25 fps with a tone, a keyframe every 2 s: six 4 s chunks."""
    path = tmp_path / SOURCE
    _ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac"),
        str(path),
    )
    return path


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture
def farm(network, services, source, tmp_path, tmp_path_factory) -> Iterator[FarmInfo]:
    """The API on the host (bound to the bridge) and one single-process worker per node.

    A node's work and var dirs lie under the session's temp dir, which its own tmpfs covers:
    it sees its own folders only, never the API's storage root or the other node's work.
    """
    hide = tmp_path_factory.getbasetemp()
    for needed in (ROOT, Path(sys.executable)):
        assert not needed.resolve().is_relative_to(hide.resolve()), f"{needed} is under {hide}"
    redis_server, s3 = services
    host = network.host_ip
    env = farm_env(
        f"{redis_server.url}/0",
        tmp_path,
        MCFARM_API_BIND=f"{host}:{free_port()}",
        MCFARM_S3_ENDPOINT=s3.endpoint,
        MCFARM_S3_ACCESS_KEY_ID=s3.access_key,
        MCFARM_S3_SECRET_ACCESS_KEY=s3.secret_key,
        MCFARM_S3_REGION=s3.region,
        MCFARM_BOOST_CHUNK_SECONDS=str(CHUNK_SECONDS),
        NO_PROXY=f"127.0.0.1,localhost,{host}",
    )
    # The API's storage root exists on the host (with S3 nothing else would make it), so
    # that its absence inside a node proves the node cannot see it.
    Path(env["MCFARM_STORAGE_ROOT"]).mkdir(parents=True)
    storage = make_storage(Settings.from_env(env))
    for bucket in (MEDIA_BUCKET, RESULTS):
        storage.ensure_bucket(bucket)
    storage.upload(source, StorageRef(kind="object", bucket=MEDIA_BUCKET, key=SOURCE))

    log_dir = tmp_path / "logs"
    procs = {"api": start_process("api", api_argv(env["MCFARM_API_BIND"]), env, log_dir)}
    try:
        for name, node in zip(NODES, network.nodes, strict=True):
            work = tmp_path / name / "work"
            node_env = {
                **env,
                "MCFARM_WORK_DIR": str(work),
                "MCFARM_VAR_DIR": str(tmp_path / name / "var"),
            }
            argv = network.argv(node, worker_argv(f"{name}@%h", "cpu", 1), hide=hide, make=work)
            procs[name] = start_process(name, argv, node_env, log_dir)
        key_id, secret = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
        info = FarmInfo(
            api_url=f"http://{env['MCFARM_API_BIND']}",
            key_id=key_id,
            secret=secret,
            env=env,
            log_dir=log_dir,
            processes=procs,
        )

        def up() -> bool:
            exited = [name for name, proc in procs.items() if proc.poll() is not None]
            if exited:
                pytest.fail(f"{exited} exited at start\n{dump_logs(log_dir)}")
            return _healthy(f"{info.api_url}/healthz")

        wait_until(up, "the API answers /healthz", farm=info)
        workers = Stores.connect(env["MCFARM_REDIS_URL"]).workers
        wait_until(
            lambda: up() and len(workers.alive()) == len(NODES),
            "both nodes registered through Redis",
            farm=info,
        )
        yield info
    finally:
        stop_processes(list(procs.values()))


def _namespaces(pid: int | str) -> tuple[int, int]:
    """The (network, mount) namespace inodes of a process: equal inodes, same namespace."""
    return tuple(os.stat(f"/proc/{pid}/ns/{kind}").st_ino for kind in ("net", "mnt"))


def _probe(pid: int, paths: list[Path], targets: list[tuple[str, int]]) -> dict:
    """Run ``PROBE`` in the network and mount namespaces of process ``pid``."""
    result = subprocess.run(
        [
            *("nsenter", "-t", str(pid), "-n", "-m"),
            *(sys.executable, "-c", PROBE, json.dumps([str(p) for p in paths])),
            json.dumps(targets),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    return json.loads(result.stdout)


def _assert_isolated(farm: FarmInfo, network: Network, tmp_path: Path) -> None:
    """Each node is in namespaces of its own, sees neither the API's storage root nor the
    other node's work dir, and reaches the bridge's services but not the host's loopback."""
    host_ns = _namespaces("self")
    pids = [farm.processes[name].pid for name in NODES]
    spaces = [_namespaces(pid) for pid in pids]
    for space in spaces:
        assert space[0] != host_ns[0] and space[1] != host_ns[1], (space, host_ns)
    assert spaces[0][0] != spaces[1][0] and spaces[0][1] != spaces[1][1], spaces

    s3_port = int(farm.env["MCFARM_S3_ENDPOINT"].rsplit(":", 1)[1])
    redis_port = int(farm.env["MCFARM_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    storage_root = Path(farm.env["MCFARM_STORAGE_ROOT"])
    assert storage_root.is_dir() and (tmp_path / SOURCE).is_file()  # on the host, that is
    with socket.create_server(("127.0.0.1", 0)) as loopback:
        # Something on the host's loopback that the host itself does reach.
        local = ("127.0.0.1", loopback.getsockname()[1])
        socket.create_connection(local, timeout=2).close()
        for index, (name, pid) in enumerate(zip(NODES, pids, strict=True)):
            other = NODES[1 - index]
            own_work = tmp_path / name / "work"
            other_work = tmp_path / other / "work"
            seen = _probe(
                pid,
                [own_work, other_work, storage_root, tmp_path / SOURCE],
                [local, (network.host_ip, redis_port), (network.host_ip, s3_port)],
            )
            assert seen["exists"] == {
                str(own_work): True,
                str(other_work): False,
                str(storage_root): False,
                str(tmp_path / SOURCE): False,
            }, (name, seen)
            assert seen["answers"] == {
                f"127.0.0.1:{local[1]}": False,
                f"{network.host_ip}:{redis_port}": True,
                f"{network.host_ip}:{s3_port}": True,
            }, (name, seen)
        # Nor are the nodes' work dirs on the host: each lives in its node's tmpfs only.
        assert not any((tmp_path / name / "work").exists() for name in NODES)


def test_a_boost_job_runs_on_two_isolated_nodes(farm, network, services, source, tmp_path):
    _assert_isolated(farm, network, tmp_path)

    client = client_for(farm)
    pipeline = client.call("POST", "/v1/pipelines", {"Name": "fast", "Speed": "Boost"})
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{SOURCE}"}}],
        "Outputs": [
            {
                "Name": "boost",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": f"oss://{RESULTS}/nodes/out.mp4"},
                "OverrideParams": {"Video": {"Width": 320, "Preset": "ultrafast"}},
            }
        ],
    }
    body = {"Config": config, "PipelineId": pipeline["Pipeline"]["PipelineId"]}
    job = wait_job(client, client.submit(body)["JobId"], farm, timeout=300)
    assert job["State"] == "Complete", f"{job}\n{dump_logs(farm.log_dir)}"

    detail = job["OutputDetails"][0]
    chunks = SECONDS // CHUNK_SECONDS
    assert detail["Boost"]["Split"] is True and detail["Boost"]["Chunks"] == chunks, detail
    assert [c["Status"] for c in detail["Chunks"]] == ["Success"] * chunks, detail["Chunks"]
    ran_on = {c["Worker"].split("@")[0] for c in detail["Chunks"]}
    assert ran_on == set(NODES), detail["Chunks"]  # the chunks ran on both nodes
    # Each chunk fetched its piece of the input from S3, not the whole 24 s.
    size = source.stat().st_size
    assert all(0 < c["InputBytes"] < size / 2 for c in detail["Chunks"]), (size, detail)

    _, s3 = services
    output = tmp_path / "out.mp4"
    boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
    ).download_file(RESULTS, "nodes/out.mp4", str(output))
    assert stream_facts(output)["frames"] == SECONDS * FPS
    # Nothing went through the API's disk: every part travelled through S3.
    assert not (Path(farm.env["MCFARM_STORAGE_ROOT"]) / RESULTS).exists()
