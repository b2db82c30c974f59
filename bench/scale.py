"""More worker processes, more throughput: the same batch of jobs on 1 and on 2 workers.

``python -m bench.scale [--jobs N] [--seconds S] [--warmup W]`` (``make bench-scale``) starts
a private redis-server and, for each run, the API and the workers on a fresh Redis database.
Every worker is one Celery process of concurrency 1 pinned to its own core with ``taskset``, so
FFmpeg (a child of the worker) stays on that core too: run 1 uses core 0, run 2 cores 0 and 1.
After one untimed warm-up job per worker (``--warmup``), the wall time runs from the first
submit of the batch to the moment every job is terminal. The table goes to stdout and the
numbers to ``bench-results/scale.json``; everything else lives in a temp dir, and every
process started is stopped at the end. Exit status 1 if any job fails or anything times out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import (
    BUCKET,
    BenchFailed,
    arg_parser,
    in_temp_dir,
    pinned_farm,
    seed,
    write_results,
)
from cli.client import Client
from tests.servers.farm import dump_logs
from tests.servers.redis import redis_server

TEMPLATE = "S00000001-200010"  # MP4 H.264 640 wide, 400 kb/s
CLIP = "clip.mp4"
TERMINAL = {"Complete", "Error", "Cancelled"}
POLL_S = 0.1


@dataclass(frozen=True)
class RunResult:
    workers: int
    jobs: int
    seconds: float

    @property
    def jobs_per_min(self) -> float:
        return jobs_per_minute(self.jobs, self.seconds)


# --- pure parts (tested in tests/unit/test_bench_scale.py) ----------------------------------


def jobs_per_minute(jobs: int, seconds: float) -> float:
    """Throughput of ``jobs`` finished in ``seconds`` of wall time."""
    if seconds <= 0:
        raise ValueError(f"wall time must be positive, got {seconds}")
    return jobs * 60 / seconds


def speed_up(base: RunResult, other: RunResult) -> float:
    """How many times ``other``'s throughput is ``base``'s (2.0 = twice as many jobs/min)."""
    return other.jobs_per_min / base.jobs_per_min


def format_table(runs: list[RunResult]) -> str:
    """The runs as an aligned table, then the speed-up of the last run over the first."""
    lines = [f"{'workers':>7}  {'jobs':>4}  {'seconds':>7}  {'jobs/min':>8}"]
    for run in runs:
        lines.append(
            f"{run.workers:>7}  {run.jobs:>4}  {run.seconds:>7.2f}  {run.jobs_per_min:>8.1f}"
        )
    if len(runs) > 1:
        first, last = runs[0], runs[-1]
        factor = speed_up(first, last)
        lines.append(f"speed-up {factor:.2f}x ({last.workers} workers vs {first.workers})")
    return "\n".join(lines)


def job_body(label: str, index: int) -> dict:
    """One job: the clip to one H.264 MP4, x264 preset medium (a second or two per encode)."""
    output = {
        "Name": "o",
        "TemplateId": TEMPLATE,
        "OutputFile": {"Type": "OSS", "Media": f"oss://results/{label}/job{index:03d}.mp4"},
        "OverrideParams": json.dumps({"Video": {"Preset": "medium"}}),
    }
    source = {"Name": "in", "InputFile": {"Type": "OSS", "Media": f"oss://{BUCKET}/{CLIP}"}}
    return {"Config": {"JobName": f"{label}-{index}", "Inputs": [source], "Outputs": [output]}}


# --- processes ------------------------------------------------------------------------------


def make_clip(path: Path, seconds: float) -> None:
    """A 640x360 25 fps test pattern with a 440 Hz tone, made with FFmpeg's lavfi sources."""
    video = f"testsrc2=size=640x360:rate=25:duration={seconds}"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video]
    argv += ["-f", "lavfi", "-i", audio, "-c:v", "libx264", "-preset", "ultrafast"]
    argv += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


def wait_all(client: Client, job_ids: list[str], log_dir: Path, timeout: float) -> None:
    """Until every job is terminal; raise on the first that is not Complete.

    Jobs are checked in submission order and a round stops at the first unfinished one: the
    queue is FIFO, so this costs one or two GETs per round and keeps the API's (and so the
    cores') load from polling negligible.
    """
    pending = list(job_ids)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise BenchFailed(
                f"{len(pending)} job(s) not done after {timeout} s\n{dump_logs(log_dir)}"
            )
        while pending:
            job = client.get(pending[0])
            if job["State"] not in TERMINAL:
                break
            if job["State"] != "Complete":
                raise BenchFailed(
                    f"job ended {job['State']}: {json.dumps(job)}\n{dump_logs(log_dir)}"
                )
            pending.pop(0)
        if pending:
            time.sleep(POLL_S)


def timed_batch(client: Client, label: str, jobs: int, log_dir: Path, timeout: float) -> float:
    """Submit ``jobs`` jobs and wait for all of them; the seconds from first submit to last."""
    started = time.monotonic()
    ids = [client.submit(job_body(label, i))["JobId"] for i in range(jobs)]
    wait_all(client, ids, log_dir, timeout)
    return time.monotonic() - started


def run_batch(
    workers: int, redis_url: str, tmp: Path, clip: Path, args: argparse.Namespace
) -> RunResult:
    """Start the API and ``workers`` pinned workers on ``redis_url``, run the batch, stop all.

    ``args.warmup`` jobs per worker run first, untimed: a worker's first job pays one-off
    costs (imports, FFmpeg's first start, the input cache's first fill) that would
    otherwise count as lost throughput.
    """
    with pinned_farm(redis_url, tmp, workers) as (client, env, log_dir):
        seed(env, clip, CLIP)
        if args.warmup:
            timed_batch(client, f"warmup{workers}", args.warmup * workers, log_dir, args.timeout)
        seconds = timed_batch(client, f"w{workers}", args.jobs, log_dir, args.timeout)
        return RunResult(workers, args.jobs, seconds)


def save(runs: list[RunResult], args: argparse.Namespace, taskset: str | None, load: float) -> None:
    doc = {
        "benchmark": "scale",
        "template": TEMPLATE,
        "clip": {"seconds": args.seconds, "size": "640x360", "fps": 25},
        "warmup_jobs_per_worker": args.warmup,
        "cpu_count": os.cpu_count(),
        "pinned": bool(taskset),
        "load_avg_1m_before": round(load, 2),
        "runs": [{**asdict(run), "jobs_per_min": round(run.jobs_per_min, 2)} for run in runs],
        "speed_up": round(speed_up(runs[0], runs[-1]), 3),
    }
    write_results("scale.json", doc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = arg_parser("scale", __doc__)
    parser.add_argument("--jobs", type=int, default=8, help="jobs per run (default 8)")
    parser.add_argument("--seconds", type=float, default=4, help="input clip length (default 4)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed jobs per worker first (default 1)"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.seconds <= 0 or args.timeout <= 0 or args.warmup < 0:
        parser.error("--jobs, --seconds and --timeout must be positive, --warmup not negative")
    return args


def bench(args: argparse.Namespace, tmp: Path) -> list[RunResult]:
    clip = tmp / CLIP
    make_clip(clip, args.seconds)
    runs = []
    with redis_server(tmp / "redis") as redis_url:
        for db, workers in enumerate((1, 2), start=1):  # a fresh database per run
            print(f"running {args.jobs} jobs on {workers} worker(s)…", file=sys.stderr, flush=True)
            run_tmp = tmp / f"run{workers}"
            runs.append(run_batch(workers, f"{redis_url}/{db}", run_tmp, clip, args))
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    taskset = shutil.which("taskset")
    if taskset is None:
        print("warning: taskset not found; workers run unpinned", file=sys.stderr)
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 cores; expect no speed-up", file=sys.stderr)
    load = os.getloadavg()[0]
    if load > 0.5:  # others' work takes the cores that the second worker needs
        print(f"warning: load average {load:.2f}; numbers may be noisy", file=sys.stderr)
    runs = in_temp_dir("bench-scale", lambda tmp: bench(args, tmp))
    if runs is None:
        return 1
    print(format_table(runs))
    save(runs, args, taskset, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
