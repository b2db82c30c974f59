"""Boost: one long output on 1 worker (Standard) and in chunks on K workers (Boost).

``python -m bench.boost [--minutes M] [--chunk-seconds S …] [--workers K]``
(``make bench-boost``) generates a ``M``-minute 1080p source once (kept in
``bench-results/cache/``), then, each on a fresh farm with a private redis-server:

- (a) Standard: 1 worker process pinned to 1 core encodes one 720p H.264 output;
- (b) Boost: K worker processes (default: every core), each pinned to its own core, encode
  the same output in chunks of ``S`` seconds (every ``--chunk-seconds`` given, one run each).

It prints the wall times (submit to Complete), the speed-up of each Boost run over
Standard, the speed-up per core, how many chunks were encoded again (a wrong frame
count) and the median chunk's input read as a share of the source (its piece), checks
that every output has the source's frames, and writes ``bench-results/boost.json``. Exit status 1 if a job fails, a frame count differs, or
the best speed-up per core is below ``--min-per-core`` (0.9).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import (
    BUCKET,
    RESULTS_DIR,
    BenchFailed,
    arg_parser,
    in_temp_dir,
    pinned_farm,
    seed,
    write_results,
)
from cli.client import Client
from tests.e2e.observe import log_lines
from tests.servers.farm import dump_logs
from tests.servers.redis import redis_server

TEMPLATE = "S00000001-200030"  # MP4-HD: H.264 1280x720, 1800 kb/s, preset medium
SOURCE = "boost-source.mp4"


@dataclass(frozen=True)
class BoostRun:
    mode: str
    workers: int
    chunk_seconds: int | None
    seconds: float
    frames: int
    #: chunks whose frame count was wrong and were encoded again (each costs a chunk)
    reencoded: int = 0
    #: the median chunk's input read (its piece), as a share of the source's size
    piece_share: float | None = None


def per_core(standard: BoostRun, boost: BoostRun) -> tuple[float, float]:
    """``(speed-up, speed-up per worker)`` of a Boost run over the Standard one."""
    speed = standard.seconds / boost.seconds
    return speed, speed / boost.workers


def format_report(standard: BoostRun, boosts: list[BoostRun]) -> str:
    head = f"{'mode':<9} {'workers':>7} {'chunk s':>7} {'seconds':>8} {'speed-up':>8} {'/core':>6}"
    lines = [f"{head} {'again':>5} {'read':>6}"]
    lines.append(
        f"{'standard':<9} {1:>7} {'-':>7} {standard.seconds:>8.1f} {'1.00':>8} {'1.00':>6} {'-':>5}"
    )
    for run in boosts:
        speed, core = per_core(standard, run)
        lines.append(
            f"{'boost':<9} {run.workers:>7} {run.chunk_seconds:>7} {run.seconds:>8.1f} "
            f"{speed:>8.2f} {core:>6.2f} {run.reencoded:>5} {run.piece_share or 0:>6.4f}"
        )
    return "\n".join(lines)


def make_source(minutes: float) -> Path:
    """The 1080p 29.97 fps source with audio, made once with lavfi (x264, veryfast)."""
    path = RESULTS_DIR / "cache" / f"{minutes:g}min-1080p-{SOURCE}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    video = f"testsrc2=size=1920x1080:rate=30000/1001:duration={seconds}"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    partial = path.with_suffix(".part.mp4")
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video]
    argv += ["-f", "lavfi", "-i", audio, "-c:v", "libx264", "-preset", "veryfast", "-g", "60"]
    argv += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(partial)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    partial.rename(path)
    return path


def _frames(path: Path) -> int:
    argv = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets"]
    argv += ["-show_entries", "stream=nb_read_packets", "-of", "json", str(path)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return int(json.loads(done.stdout)["streams"][0]["nb_read_packets"])


def _job(label: str, pipeline: str | None) -> dict:
    output = {
        "Name": label,
        "TemplateId": TEMPLATE,
        "OutputFile": {"Type": "OSS", "Media": f"oss://results/boost/{label}.mp4"},
    }
    source = {"InputFile": {"Type": "OSS", "Media": f"oss://{BUCKET}/{SOURCE}"}}
    body: dict = {"Config": {"Inputs": [source], "Outputs": [output]}}
    return {**body, "PipelineId": pipeline} if pipeline else body


def _timed(client: Client, body: dict, log_dir: Path, timeout: float) -> tuple[float, dict]:
    """Submit ``body`` and wait for its job; returns the seconds it took and the job."""
    started = time.monotonic()
    job_id = client.submit(body)["JobId"]
    while (job := client.get(job_id))["State"] not in ("Complete", "Error", "Cancelled"):
        if time.monotonic() - started > timeout:
            raise BenchFailed(f"job {job_id} not done after {timeout} s\n{dump_logs(log_dir)}")
        time.sleep(0.5)
    if job["State"] != "Complete":
        raise BenchFailed(f"job ended {job['State']}: {json.dumps(job)}\n{dump_logs(log_dir)}")
    return time.monotonic() - started, job


def one_run(
    redis_url: str, tmp: Path, source: Path, workers: int, chunk: int | None, timeout: float
) -> BoostRun:
    """Encode the output on a fresh farm: Standard when ``chunk`` is None, else Boost."""
    extra = {"MCFARM_BOOST_CHUNK_SECONDS": str(chunk)} if chunk else {}
    with pinned_farm(redis_url, tmp, workers, MCFARM_TASK_TIME_LIMIT="7200", **extra) as (
        client,
        env,
        log_dir,
    ):
        seed(env, source, SOURCE)
        pipeline = None
        if chunk:
            made = client.call("POST", "/v1/pipelines", {"Name": "boost", "Speed": "Boost"})
            pipeline = made["Pipeline"]["PipelineId"]
        label = f"boost-{chunk}s" if chunk else "standard"
        seconds, job = _timed(client, _job(label, pipeline), log_dir, timeout)
        read = [c.get("InputBytes", 0) for c in job["OutputDetails"][0].get("Chunks", [])]
        output = Path(env["MCFARM_STORAGE_ROOT"]) / "results" / "boost" / f"{label}.mp4"
        mode = "boost" if chunk else "standard"
        again = sum(len(log_lines(p, "more lead-in")) for p in log_dir.glob("*.log"))
        piece = round(statistics.median(read) / source.stat().st_size, 4) if read else None
        return BoostRun(mode, workers, chunk, round(seconds, 2), _frames(output), again, piece)


def bench(args: argparse.Namespace, tmp: Path) -> tuple[BoostRun, list[BoostRun]]:
    source = make_source(args.minutes)
    expected = _frames(source)
    runs = []
    with redis_server(tmp / "redis") as redis_url:
        plan = [(1, None)] + [(args.workers, c) for c in args.chunk_seconds]
        for db, (workers, chunk) in enumerate(plan, start=1):
            what = f"Boost, {chunk} s chunks" if chunk else "Standard"
            print(f"{what} on {workers} worker(s)…", file=sys.stderr, flush=True)
            run = one_run(
                f"{redis_url}/{db}", tmp / f"run{db}", source, workers, chunk, args.timeout
            )
            if run.frames != expected:
                raise BenchFailed(f"{what}: {run.frames} frames, the source has {expected}")
            runs.append(run)
    return runs[0], runs[1:]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = arg_parser("boost", __doc__)
    parser.add_argument("--minutes", type=float, default=4, help="source length (default 4)")
    parser.add_argument(
        "--chunk-seconds", type=int, nargs="+", default=[20], help="Boost chunk lengths (20)"
    )
    parser.add_argument(
        "--workers", type=int, default=len(os.sched_getaffinity(0)), help="Boost workers (cores)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run (3600)")
    parser.add_argument("--min-per-core", type=float, default=0.9, help="pass mark (0.9)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.workers < 1 or min(args.chunk_seconds) < 2:
        parser.error("--minutes and --workers must be positive, --chunk-seconds at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = in_temp_dir("bench-boost", lambda tmp: bench(args, tmp))
    if result is None:
        return 1
    standard, boosts = result
    print(format_report(standard, boosts))
    best = max(per_core(standard, run)[1] for run in boosts)
    doc = {
        "benchmark": "boost",
        "template": TEMPLATE,
        "source": {"minutes": args.minutes, "size": "1920x1080", "fps": "30000/1001"},
        "cpu_count": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "standard": asdict(standard),
        "boost": [{**asdict(r), "speed_up": round(per_core(standard, r)[0], 3)} for r in boosts],
        "best_speed_up_per_core": round(best, 3),
    }
    write_results("boost.json", doc)
    if best < args.min_per_core:
        print(
            f"bench-boost failed: {best:.2f} per core, below {args.min_per_core}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
