"""Kill workers and restart Redis under load, and count what was lost: nothing, it must be.

``python -m bench.soak [--jobs N] [--kill-every S] [--timeout S] [--seed N]`` (``make soak``)
starts a private redis-server (AOF on) and a farm in a temp dir: the API and 3 Celery
workers of concurrency 1, local storage. It submits ``--jobs`` jobs (a 4 s lavfi clip, one
MP4 output, and an MP3 output on every other job), then, until every job is terminal:
SIGKILLs a random worker every ``--kill-every`` seconds (its whole process group, FFmpeg
included, as when a machine dies) and starts a replacement, and restarts Redis once
(SIGTERM, then the same port and directory) when half of the jobs are done.

At the end it prints the jobs submitted, completed, errored and lost (a submitted id whose
record is gone, that is missing from the job list, or that never ended), and the outputs
produced twice. Productions are counted in the worker logs, each worker process having its
own: an output was produced by a run when that run's FFmpeg started for it ("running
ffmpeg …/mcfarm-{job}-{output}-…") and the same run then returned it ``Success`` (Celery's
"Task workers.transcode_output[…] succeeded … 'TaskId': '{job}-{output}', 'Status':
'Success'"), with no other output encoded in between (each worker runs one task at a time);
a redelivery that finds the output done returns without encoding, and a run killed
mid-encode never returns. Exit status 1 if any job is lost or any output was produced
twice, or when the farm fails to start.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import arg_parser, in_temp_dir, seed, wait_ready
from bench.scale import CLIP, make_clip
from cli.client import ApiCallFailed, Client
from cli.processes import api_argv, worker_argv
from shared.stores import Stores
from tests.servers.farm import farm_env, start_process, stop_processes
from tests.servers.redis import RedisServer

TERMINAL = {"Complete", "Error", "Cancelled"}
WORKERS = 3
POLL_S = 1.0


# --- pure parts (tested in tests/unit/test_bench_soak.py) -----------------------------------


def job_body(index: int) -> dict:
    """One job: the clip to an MP4 (x264 slow), plus an MP3 on every other job."""
    outputs = [
        {
            "Name": "mp4",
            "TemplateId": "S00000001-200010",
            "OutputFile": {"Media": f"oss://results/soak/{index:03d}.mp4"},
            "OverrideParams": {"Video": {"Preset": "slow"}},
        }
    ]
    if index % 2:
        outputs.append(
            {
                "Name": "mp3",
                "TemplateId": "S00000001-300010",
                "OutputFile": {"Media": f"oss://results/soak/{index:03d}.mp3"},
            }
        )
    source = {"InputFile": {"Media": "oss://media/clip.mp4"}}
    return {"Config": {"JobName": f"soak-{index}", "Inputs": [source], "Outputs": outputs}}


_ENCODE = re.compile(r"running \S*ffmpeg .*/mcfarm-([0-9a-f]{32})-(\d+)-")
_SUCCESS = re.compile(
    r"workers\.transcode_output\[[^\]]+\] succeeded .*'TaskId': '([0-9a-f]{32})-(\d+)', "
    r"'Status': 'Success'"
)


def count_productions(log_lines: Iterable[str]) -> Counter[tuple[str, int]]:
    """How many times each ``(job, output)`` was encoded and returned by one worker's runs.

    Args:
        log_lines: one worker process's log (concurrency 1: one task at a time).
    """
    produced: Counter[tuple[str, int]] = Counter()
    encoding = None
    for line in log_lines:
        if match := _ENCODE.search(line):
            encoding = (match[1], int(match[2]))
        elif (match := _SUCCESS.search(line)) and encoding == (match[1], int(match[2])):
            produced[encoding] += 1
            encoding = None
    return produced


@dataclass
class Summary:
    """What became of the jobs, and what the workers did, at the end of a soak."""

    submitted: int
    completed: int = 0
    errored: int = 0
    lost: list[str] = field(default_factory=list)
    outputs_done: int = 0
    produced: Counter[tuple[str, int]] = field(default_factory=Counter)
    kills: int = 0
    redis_restarts: int = 0
    seconds: float = 0.0

    @property
    def twice(self) -> list[tuple[str, int]]:
        return sorted(key for key, n in self.produced.items() if n > 1)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.twice


def format_summary(s: Summary) -> str:
    lines = [
        f"jobs submitted            {s.submitted}",
        f"jobs completed            {s.completed}",
        f"jobs errored              {s.errored}",
        f"jobs lost                 {len(s.lost)}",
        f"outputs succeeded         {s.outputs_done}",
        f"outputs produced (logs)   {len(s.produced)}",
        f"outputs produced twice    {len(s.twice)}",
        f"workers SIGKILLed         {s.kills}",
        f"redis restarts            {s.redis_restarts}",
        f"wall time                 {s.seconds:.1f} s",
    ]
    if len(s.produced) != s.outputs_done:
        lines.append(
            f"  note: {s.outputs_done} outputs succeeded but the logs show {len(s.produced)} "
            "produced (a worker killed between its upload and its log line, or a log change)"
        )
    lines += [f"  lost: {job_id}" for job_id in s.lost]
    lines += [f"  produced twice: job {job} output {index}" for job, index in s.twice]
    lines.append("result: " + ("OK" if s.ok else "FAILED"))
    return "\n".join(lines)


# --- processes ------------------------------------------------------------------------------


def say(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)


class Farm:
    """The API and the workers of one soak, and the chaos done to them."""

    def __init__(self, env: dict[str, str], log_dir: Path, rng: random.Random):
        self.env, self.log_dir, self.rng = env, log_dir, rng
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.started = 0
        self.kills = 0
        self.names: dict[int, str] = {}

    def start(self) -> Client:
        self.api = start_process(
            "api", api_argv(self.env["MCFARM_API_BIND"], 1), self.env, self.log_dir
        )
        for _ in range(WORKERS):
            self.add_worker()
        base = f"http://{self.env['MCFARM_API_BIND']}"
        wait_ready(base, [self.api, *self.workers], WORKERS, self.log_dir)
        key_id, secret = self.env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
        return Client(base, key_id, secret, timeout=60)

    def add_worker(self) -> None:
        self.started += 1
        name = f"soak{self.started}"
        argv = worker_argv(f"{name}@%h", "cpu", 1)
        proc = start_process(name, argv, self.env, self.log_dir)
        self.names[proc.pid] = name
        self.workers.append(proc)

    def kill_one(self, running_on: dict[str, list[tuple[str, int]]]) -> str:
        """SIGKILL a random worker's whole process group; start a replacement.

        Args:
            running_on: what each worker encodes now (``Heartbeats.running_on``), to say it.
        """
        victim = self.rng.choice(self.workers)
        name = self.names[victim.pid]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        self.workers.remove(victim)
        self.kills += 1
        self.add_worker()
        doing = [
            f"{job_id}:{index}"
            for host, outs in running_on.items()
            if host.startswith(f"{name}@")
            for job_id, index in outs
        ]
        what = f"while it encoded {', '.join(doing)}" if doing else "while it was idle"
        return f"SIGKILLed {name} {what}; started soak{self.started}"

    def stop(self) -> None:
        stop_processes([p for p in [*self.workers, self.api] if p is not None])


def poll(client: Client, pending: set[str], states: dict[str, str], gone: set[str]) -> None:
    """Refresh the state of every pending job (a vanished record counts as gone)."""
    for job_id in sorted(pending):
        try:
            states[job_id] = client.get(job_id)["State"]
        except ApiCallFailed as err:
            if err.code == "ResourceNotFound":
                gone.add(job_id)
            continue  # Redis restarting: next round
        if states[job_id] in TERMINAL:
            pending.discard(job_id)


def run_soak(args: argparse.Namespace, tmp: Path) -> Summary:
    rng, started = random.Random(args.seed), time.monotonic()
    say(
        f"soak: {args.jobs} jobs on {WORKERS} workers of concurrency 1; a random worker "
        f"SIGKILLed every {args.kill_every:g} s, Redis restarted once at half; seed {args.seed}",
        started,
    )
    clip = tmp / "clip.mp4"
    make_clip(clip, 4)
    server = RedisServer(tmp / "redis")
    env = farm_env(f"{server.url}/0", tmp, MCFARM_HEARTBEAT_TIMEOUT="5")
    farm = Farm(env, tmp / "logs", rng)
    try:
        server.start()
        seed(env, clip, CLIP)
        client = farm.start()
        say(f"farm up: API and {WORKERS} workers; submitting {args.jobs} jobs", started)
        ids = [client.submit(job_body(n))["JobId"] for n in range(args.jobs)]
        summary = chaos(args, client, farm, server, ids, started)
        summary.produced = sum(
            (
                count_productions(p.read_text().splitlines())
                for p in (tmp / "logs").glob("soak*.log")
            ),
            Counter(),
        )
        return summary
    finally:
        farm.stop()
        server.stop()


def chaos(
    args: argparse.Namespace,
    client: Client,
    farm: Farm,
    server: RedisServer,
    ids: list[str],
    started: float,
) -> Summary:
    """Kill, restart and poll until every job ended or the time is up."""
    summary = Summary(submitted=len(ids))
    beats = Stores.connect(server.url + "/0").heartbeats
    pending, states, gone = set(ids), {}, set()
    next_kill = time.monotonic() + args.kill_every
    deadline = time.monotonic() + args.timeout
    while pending - gone and time.monotonic() < deadline:
        poll(client, pending, states, gone)
        now = time.monotonic()
        if pending and now >= next_kill:
            say(farm.kill_one(beats.running_on()), started)
            next_kill = now + args.kill_every
        if not summary.redis_restarts and len(pending) <= len(ids) // 2:
            say("restarting redis-server (SIGTERM, same port and directory)", started)
            server.restart(down_s=1)
            summary.redis_restarts = 1
            say("redis-server is back", started)
        time.sleep(POLL_S)
    summary.seconds = time.monotonic() - started
    summary.kills = farm.kills
    stuck = sorted(pending - gone)
    for job_id in stuck:
        say(f"not terminal after {args.timeout:.0f} s: {job_id} ({states.get(job_id)})", started)
    listed = client.job_ids()
    summary.lost = sorted(gone | set(stuck) | (set(ids) - listed))
    for job_id in sorted(set(ids) - set(summary.lost)):
        job = client.get(job_id)
        summary.completed += job["State"] == "Complete"
        summary.errored += job["State"] == "Error"
        summary.outputs_done += sum(d["Status"] == "Success" for d in job["OutputDetails"])
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = arg_parser("soak", __doc__)
    parser.add_argument("--jobs", type=int, default=50, help="jobs to submit (default 50)")
    parser.add_argument(
        "--kill-every", type=float, default=10, help="seconds between worker kills (default 10)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="overall seconds (default 600)")
    parser.add_argument("--seed", type=int, default=1, help="which workers die (default 1)")
    args = parser.parse_args(argv)
    if args.jobs < 2 or args.kill_every <= 0 or args.timeout <= 0:
        parser.error("--jobs must be 2 or more, --kill-every and --timeout positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = in_temp_dir("soak", lambda tmp: run_soak(args, tmp))
    if summary is None:
        return 1
    print(format_summary(summary), flush=True)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
