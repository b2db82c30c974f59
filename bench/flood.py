"""A flood of forged signatures must not slow good ICE requests by more than 2x.

``python -m bench.flood [--threads 8] [--requests 1000] [--delay-ms MS]`` (``make bench-flood``) starts a
private redis-server and the API (gunicorn, as ``mcfarm api`` runs it; no worker is needed),
submits a few jobs, then times signed ``ListMediaConvertJobs`` calls (ACS3-HMAC-SHA256, one
at a time, a new connection each, as the SDK makes them): first alone, then while
``--threads`` threads in another process send the same call signed with a wrong secret as
fast as the API answers them. It prints the median and p95 latency of both runs, their
ratio and the flood's request rate; the numbers also go to ``bench-results/flood.json``.
Exit status 1 when the median under flood is more than ``--max-ratio`` (2) times the median
alone, when a good call fails or a forged one gets anything but ``SignatureDoesNotMatch``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from api.signature import ACS3, REQUIRED_SIGNED_HEADERS, SignedRequest, acs3_string_to_sign
from bench.common import BenchFailed, arg_parser, in_temp_dir, write_results
from cli.client import Client
from cli.processes import api_argv
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.servers.farm import dump_logs, farm_env, start_process
from tests.servers.redis import redis_server

ACTION, VERSION = "ListMediaConvertJobs", "2020-11-09"
QUERY = {"PageSize": "10"}
JOBS = 5


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p95_ms: float


@dataclass(frozen=True)
class FloodResult:
    alone: Latency
    flooded: Latency
    flood_requests: int
    flood_seconds: float

    @property
    def ratio(self) -> float:
        return self.flooded.median_ms / self.alone.median_ms

    @property
    def flood_rate(self) -> float:
        return self.flood_requests / self.flood_seconds


# --- pure parts (tested in tests/unit/test_bench_flood.py) ----------------------------------


def latency(samples_s: list[float]) -> Latency:
    """Median and 95th percentile (nearest rank) of ``samples_s`` seconds, in milliseconds."""
    if not samples_s:
        raise ValueError("no samples")
    ordered = sorted(samples_s)
    p95 = ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]
    return Latency(round(statistics.median(ordered) * 1000, 3), round(p95 * 1000, 3))


def format_report(result: FloodResult, threads: int) -> str:
    return "\n".join(
        [
            f"{'':>22}  {'median ms':>9}  {'p95 ms':>8}",
            f"{'good calls alone':>22}  {result.alone.median_ms:>9.2f}  {result.alone.p95_ms:>8.2f}",
            f"{f'under a {threads}-thread flood':>22}  "
            f"{result.flooded.median_ms:>9.2f}  {result.flooded.p95_ms:>8.2f}",
            f"ratio (median) {result.ratio:.2f}x; p95 ratio "
            f"{result.flooded.p95_ms / result.alone.p95_ms:.2f}x",
            f"flood: {result.flood_requests} forged calls in {result.flood_seconds:.1f} s "
            f"= {result.flood_rate:.0f}/s, every one refused with SignatureDoesNotMatch",
        ]
    )


def signed_headers(
    host: str,
    key_id: str,
    secret: str,
    query: dict[str, str],
    *,
    now: datetime | None = None,
    action: str = ACTION,
) -> dict[str, str]:
    """The ACS3-HMAC-SHA256 headers of a bodiless ``POST /?query`` call of ``action``."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": VERSION,
        "x-acs-date": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": secrets.token_hex(16),
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    names = sorted(REQUIRED_SIGNED_HEADERS)
    req = SignedRequest("POST", "/", sorted(query.items()), [], headers, b"")
    to_sign = acs3_string_to_sign(req, names, headers["x-acs-content-sha256"])
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ACS3} Credential={key_id},SignedHeaders={';'.join(names)},Signature={signature}"
    )
    return headers


# --- the clients ----------------------------------------------------------------------------


def call(host: str, key_id: str, secret: str) -> tuple[int, dict]:
    """One signed call on a new connection; its status and JSON body."""
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        headers = signed_headers(host, key_id, secret, QUERY)
        conn.request("POST", "/?" + urlencode(QUERY), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def timed_calls(host: str, key_id: str, secret: str, count: int) -> list[float]:
    """``count`` good calls one after the other; their latencies in seconds."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = call(host, key_id, secret)
        samples.append(time.perf_counter() - started)
        if status != 200 or len(body.get("Jobs", [])) != JOBS:
            raise BenchFailed(f"a good call failed: {status} {body}")
    return samples


def flood(host: str, key_id: str, threads: int, stop, results) -> None:
    """In its own process: ``threads`` threads of forged calls until ``stop`` is set."""
    counts = [0] * threads
    errors: list[str] = []

    def forge(index: int) -> None:
        while not stop.is_set():
            status, body = call(host, key_id, "wrong-secret")
            if (status, body.get("Code")) != (400, "SignatureDoesNotMatch"):
                errors.append(f"{status} {body}")
                return
            counts[index] += 1

    workers = [threading.Thread(target=forge, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((sum(counts), time.monotonic() - started, errors[:3]))


# --- the run --------------------------------------------------------------------------------


def seed_jobs(env: dict[str, str], base: str, key_id: str, secret: str, tmp: Path) -> None:
    """``JOBS`` jobs for the account to list; no worker runs them (they stay Inited)."""
    clip = tmp / "in.mp4"
    clip.write_bytes(b"\0" * 1024)  # submit only checks that the input exists
    storage = make_storage(Settings.from_env(env))
    storage.ensure_bucket("media")
    storage.upload(clip, StorageRef(kind="object", bucket="media", key="in.mp4"))
    client = Client(base, key_id, secret)
    for n in range(JOBS):
        output = {
            "TemplateId": "S00000001-200010",
            "OutputFile": {"Media": f"oss://results/flood/{n}.mp4"},
        }
        source = {"InputFile": {"Media": "oss://media/in.mp4"}}
        client.submit({"Config": {"Inputs": [source], "Outputs": [output]}})


def wait_healthy(base: str, api: subprocess.Popen, log_dir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise BenchFailed(f"the API exited during start-up\n{dump_logs(log_dir)}")
        try:
            conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchFailed(f"the API was not healthy after 30 s\n{dump_logs(log_dir)}")


def measure(host: str, key_id: str, secret: str, args: argparse.Namespace) -> FloodResult:
    timed_calls(host, key_id, secret, args.warmup)
    alone = latency(timed_calls(host, key_id, secret, args.requests))
    ctx = multiprocessing.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    flooder = ctx.Process(target=flood, args=(host, key_id, args.threads, stop, results))
    flooder.start()
    try:
        time.sleep(1.0)  # let the flood reach its pace
        flooded = latency(timed_calls(host, key_id, secret, args.requests))
    finally:
        stop.set()
        count, seconds, errors = results.get(timeout=60)
        flooder.join(30)
    if errors:
        raise BenchFailed(f"forged calls got other answers than SignatureDoesNotMatch: {errors}")
    return FloodResult(alone, flooded, count, seconds)


def run(args: argparse.Namespace, tmp: Path) -> FloodResult:
    with redis_server(tmp / "redis") as redis_url:
        extra = {}
        if args.delay_ms is not None:
            extra["MCFARM_AUTH_FAILURE_DELAY_MS"] = str(args.delay_ms)
        env = farm_env(f"{redis_url}/0", tmp, **extra)
        key_id, secret = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
        log_dir = tmp / "logs"
        api = start_process("api", api_argv(env["MCFARM_API_BIND"]), env, log_dir)
        try:
            base = f"http://{env['MCFARM_API_BIND']}"
            wait_healthy(base, api, log_dir)
            seed_jobs(env, base, key_id, secret, tmp)
            return measure(env["MCFARM_API_BIND"], key_id, secret, args)
        finally:
            api.terminate()
            api.wait(20)


def save(result: FloodResult, args: argparse.Namespace, load: float) -> None:
    doc = {
        "benchmark": "flood",
        "action": ACTION,
        "threads": args.threads,
        "failure_delay_ms": args.delay_ms,
        "requests": args.requests,
        "cpu_count": os.cpu_count(),
        "load_avg_1m_before": round(load, 2),
        "alone": asdict(result.alone),
        "flooded": asdict(result.flooded),
        "ratio": round(result.ratio, 3),
        "flood_requests_per_s": round(result.flood_rate, 1),
    }
    write_results("flood.json", doc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = arg_parser("flood", __doc__)
    parser.add_argument("--threads", type=int, default=8, help="flood threads (default 8)")
    parser.add_argument(
        "--requests", type=int, default=1000, help="good calls per run (default 1000)"
    )
    parser.add_argument(
        "--delay-ms",
        type=int,
        help="MCFARM_AUTH_FAILURE_DELAY_MS of the API (default: the farm's default; 0: off)",
    )
    parser.add_argument("--warmup", type=int, default=50, help="untimed good calls (default 50)")
    parser.add_argument(
        "--max-ratio", type=float, default=2.0, help="fail above this slow-down (default 2)"
    )
    args = parser.parse_args(argv)
    if args.threads < 1 or args.requests < 20 or args.warmup < 0 or args.max_ratio <= 0:
        parser.error("--threads ≥ 1, --requests ≥ 20, --warmup ≥ 0 and --max-ratio > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    if load > 0.5:  # others' work takes the cores that the API needs
        print(f"warning: load average {load:.2f}; numbers may be noisy", file=sys.stderr)
    result = in_temp_dir("bench-flood", lambda tmp: run(args, tmp))
    if result is None:
        return 1
    print(format_report(result, args.threads))
    save(result, args, load)
    if result.ratio > args.max_ratio:
        print(
            f"bench-flood failed: good calls were {result.ratio:.2f}x slower under the flood "
            f"(limit {args.max_ratio}x)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
