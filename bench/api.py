"""The API under load with a big history: req/s and p50/p99 of submit, Get and List(50).

``python -m bench.api [--jobs N] [--seconds S] [--connections C]`` (``make bench-api``):

1. starts a private redis-server and the API (granian, as ``mcfarm api`` runs it; no
   worker), with one paused pipeline, so a submitted job is stored and held, never run;
2. stores ``N`` (100,000) finished jobs, each a copy of one real submitted job ended
   ``Complete`` with a real output detail, and prints the job store's memory per job; then
   has Redis rewrite its append-only file (``settle_aof``), so that no rewrite the history
   asked for runs during a measurement;
3. runs wrk (Debian's package) for ``S`` seconds with ``C`` connections against: REST
   submit (``POST /v1/jobs``), signed ICE submit (``SubmitMediaConvertJob``, each request
   signed beforehand with its own nonce, as the API refuses a nonce twice), Get
   (``GET /v1/jobs/{id}`` over the stored jobs) and List (``GET /v1/jobs?PageSize=50``).

It prints req/s, p50 and p99 per call, beside them the issue's figures from before this work
and the targets, and writes ``bench-results/api.json``. Exit status 1 if a call is answered
with an error (any non-2xx). The targets are measured, not asserted: on 2 cores wrk shares
the machine with the API.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.common import BenchFailed, arg_parser, in_temp_dir, write_results
from bench.flood import signed_headers, wait_healthy
from cli.client import Client
from cli.processes import api_argv
from shared import keys
from shared.clock import new_job_id, now_us, wire_time
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from shared.stores import Stores
from tests.servers.farm import farm_env, start_process, stop_processes
from tests.servers.redis import redis_server
from workers.filemeta import out_file_meta
from workers.probe import run_probe

#: (call, target req/s or None, target p99 ms)
TARGETS = {
    "submit REST": (1000, 30),
    "submit ICE": (1000, 30),
    "Get": (None, 10),
    "List(50)": (None, 30),
}
#: (req/s, p99 ms) as the issue measured them before any of this work (no ICE figure).
BEFORE = {"submit REST": (388, 131), "Get": (1840, 30), "List(50)": (190, 340)}
#: The job-store memory target per finished job, bytes.
MEMORY_TARGET = 8 * 1024


@dataclass(frozen=True)
class Load:
    call: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def _config(pipeline: str) -> dict:
    source = {"InputFile": {"Type": "OSS", "Media": "oss://media/in.mp4"}}
    output = {
        "Name": "hd",
        "TemplateId": "S00000001-200030",
        "OutputFile": {"Type": "OSS", "Media": "oss://results/bench-api/{JobId}.mp4"},
    }
    return {"Config": {"Inputs": [source], "Outputs": [output]}, "PipelineId": pipeline}


def _input(env: dict[str, str], tmp: Path) -> dict:
    """Upload a real 2 s clip as the jobs' input; its OutFileMeta, for the stored jobs."""
    clip = tmp / "in.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:duration=2"),
            *("-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-c:a", "aac"),
            *("-shortest", str(clip)),
        ],
        check=True,
    )
    settings = Settings.from_env(env)
    storage = make_storage(settings)
    storage.ensure_bucket("media")
    storage.upload(clip, StorageRef(kind="object", bucket="media", key="in.mp4"))
    probe = run_probe(str(clip), settings)
    return out_file_meta(probe, file_name="x.mp4", file_url="oss://results/x.mp4")


def store_history(stores: Stores, model_id: str, meta: dict, count: int) -> float:
    """Store ``count`` finished copies of job ``model_id``; bytes of Redis memory per job."""
    jobs = stores.jobs
    model = jobs.get(model_id)
    before = _memory_used(stores)
    result = {"OutputFile": {"Type": "OSS", "Media": "oss://results/bench-api/x.mp4"}}

    def one(_: int) -> None:
        job_id = new_job_id()
        jobs.create(
            job_id=job_id, owner=model.owner, doc=model.doc, specs=model.specs, groups=model.groups
        )
        jobs.set_output(
            job_id,
            0,
            Status="Success",
            Code="",
            Worker="bench@host",
            FinishTime=wire_time(now_us()),
            Result={**result, "OutFileMeta": meta},
        )
        jobs.transition(job_id, "Complete", allowed_from={"Inited"}, finish_us=now_us())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    return (_memory_used(stores) - before) / count


def settle_aof(client, timeout_s: float = 300) -> float:
    """Rewrite Redis's append-only file now and wait for it: seconds taken.

    Storing the history doubles the file again and again, and Redis rewrites it each time
    (a fork, then seconds of a child's CPU and disk). Without this, the rewrite that the
    history's last part asks for fell inside a measured run (seen: ICE submit's p99 at 50 ms
    while a rewrite ran, 27 ms without). After it, the measured runs add less than the
    file's size, so no rewrite starts during them; a farm's Redis does the same rewrites,
    on its own cores.
    """
    started = time.monotonic()

    def wait_while(busy) -> None:
        while busy(client.info("persistence")):
            if time.monotonic() - started > timeout_s:
                raise BenchFailed(f"Redis's AOF rewrite did not end within {timeout_s} s")
            time.sleep(0.2)

    # One the history started first: BGREWRITEAOF would only schedule another.
    wait_while(lambda info: info["aof_rewrite_in_progress"])
    client.bgrewriteaof()
    wait_while(lambda info: info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"])
    return time.monotonic() - started


def _memory_used(stores: Stores) -> int:
    """Redis's ``used_memory``: what the job store (and all else in it) takes."""
    return int(stores.jobs.redis.info("memory")["used_memory"])


def _recent_ids(stores: Stores, owner: str, count: int) -> list[str]:
    """The ids of the owner's ``count`` newest jobs."""
    members = stores.jobs.redis.zrevrangebylex(keys.job_index(owner), "+", "-", start=0, num=count)
    return [member.rpartition(":")[2] for member in members]


_LUA_SIGNED = """
local lines, n = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = (counter or 0) + 1
end
function init(args)
  local id, step = tonumber(wrk.thread:get("id")) or 0, tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % step == id then
      local fields = {}
      for field in string.gmatch(line, "[^\\t]+") do fields[#fields + 1] = field end
      local headers = {}
      for k = 2, #fields, 2 do headers[fields[k]] = fields[k + 1] end
      n = n + 1
      lines[n] = wrk.format("POST", fields[1], headers, "")
    end
    i = i + 1
  end
  n = 0
end
function request()
  n = n + 1
  return lines[n] or lines[1]
end
"""

_LUA_IDS = """
local ids, n = {}, 0
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
end
function request()
  n = n + 1
  return wrk.format("GET", "/v1/jobs/" .. ids[(n % #ids) + 1], headers)
end
"""


def _wrk(
    base: str, script: Path, seconds: int, connections: int, *args: str
) -> tuple[float, float, float, int]:
    """Run wrk; ``(req/s, p50 ms, p99 ms, non-2xx answers)``."""
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    done = subprocess.run(
        [*argv, base, *(("--", *args) if args else ())],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(done.stdout)


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    """``(req/s, p50 ms, p99 ms, non-2xx answers)`` from wrk's ``--latency`` report."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (rate, _ms(out, "50%"), _ms(out, "99%"), int(errors.group(1)) if errors else 0)


def _ms(out: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _basic_script(tmp: Path, name: str, method: str, path: str, auth: str, body: str = "") -> Path:
    script = tmp / f"{name}.lua"
    script.write_text(
        f'wrk.method = "{method}"\nwrk.path = {json.dumps(path)}\n'
        f'wrk.headers["Authorization"] = "{auth}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return script


def _signed_requests(tmp: Path, host: str, key: tuple[str, str], config: dict, count: int) -> Path:
    """``count`` signed SubmitMediaConvertJob calls, one per line: path, then header pairs."""
    query = {"Config": json.dumps(config["Config"]), "PipelineId": config["PipelineId"]}
    path = "/?" + urlencode(query)
    lines = []
    for _ in range(count):
        headers = signed_headers(host, *key, query, action="SubmitMediaConvertJob")
        del headers["host"]  # signed as wrk sends it: wrk writes the Host header itself
        lines.append("\t".join([path, *(v for pair in headers.items() for v in pair)]))
    out = tmp / "signed.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def bench(args: argparse.Namespace, tmp: Path) -> dict:
    if shutil.which("wrk") is None:
        raise BenchFailed("wrk is not installed (make bench-api installs Debian's wrk)")
    with redis_server(tmp / "redis") as redis_url:
        env = farm_env(f"{redis_url}/0", tmp)
        key = tuple(env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2])
        log_dir = tmp / "logs"
        api = start_process("api", api_argv(env["MCFARM_API_BIND"]), env, log_dir)
        try:
            base = f"http://{env['MCFARM_API_BIND']}"
            wait_healthy(base, api, log_dir)
            return _measure(args, tmp, env, base, key)
        finally:
            stop_processes([api])


def _measure(args, tmp: Path, env: dict, base: str, key: tuple[str, str]) -> dict:
    meta = _input(env, tmp)
    client = Client(base, *key)
    pipeline = client.call("POST", "/v1/pipelines", {"Name": "held", "Speed": "Standard"})
    pipeline_id = pipeline["Pipeline"]["PipelineId"]
    client.call("PATCH", f"/v1/pipelines/{pipeline_id}", {"Status": "Paused"})
    body = _config(pipeline_id)
    model = client.submit(body)["JobId"]
    stores = Stores.connect(env["MCFARM_REDIS_URL"])
    print(f"storing {args.jobs} finished jobs…", flush=True)
    started = time.monotonic()
    per_job = store_history(stores, model, meta, args.jobs)
    print(f"  {time.monotonic() - started:.0f} s; {per_job:.0f} bytes of Redis memory per job")
    print(f"  Redis's append-only file rewritten in {settle_aof(stores.jobs.redis):.0f} s")
    ids = tmp / "ids.txt"
    owner = stores.jobs.get(model).owner
    ids.write_text("\n".join(_recent_ids(stores, owner, 2000)) + "\n")
    auth = "Basic " + client.headers["Authorization"].removeprefix("Basic ")
    host = env["MCFARM_API_BIND"]
    scripts = {
        "submit REST": (_basic_script(tmp, "submit", "POST", "/v1/jobs", auth, json.dumps(body)),),
        "submit ICE": (
            tmp / "signed.lua",
            str(_signed_requests(tmp, host, key, body, args.seconds * 3000)),
            "2",
        ),
        "Get": (tmp / "get.lua", str(ids)),
        "List(50)": (_basic_script(tmp, "list", "GET", "/v1/jobs?PageSize=50", auth),),
    }
    (tmp / "signed.lua").write_text(_LUA_SIGNED)
    (tmp / "get.lua").write_text(f'headers = {{["Authorization"] = "{auth}"}}\n' + _LUA_IDS)
    loads = []
    for call, (script, *script_args) in scripts.items():
        print(f"wrk: {call}…", flush=True)
        rate, p50, p99, errors = _wrk(base, script, args.seconds, args.connections, *script_args)
        loads.append(Load(call, rate, p50, p99, errors))
    return {"jobs": args.jobs, "bytes_per_job": round(per_job), "loads": [asdict(x) for x in loads]}


def format_report(result: dict) -> str:
    head = f"{'call':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    lines = [f"{head}   {'before (issue)':<22} target"]
    for load in result["loads"]:
        rate, p99 = TARGETS[load["call"]]
        target = (f"≥ {rate}/s, " if rate else "") + f"p99 ≤ {p99} ms"
        before = BEFORE.get(load["call"])
        was = f"{before[0]}/s, p99 {before[1]} ms" if before else "-"
        lines.append(
            f"{load['call']:<12} {load['requests_per_s']:>8.0f} {load['p50_ms']:>8.2f} "
            f"{load['p99_ms']:>8.2f} {load['errors']:>6}   {was:<22} {target}"
        )
    per_job = result["bytes_per_job"]
    lines.append(f"job store: {per_job} bytes per finished job (target ≤ {MEMORY_TARGET})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = arg_parser("api", __doc__)
    parser.add_argument("--jobs", type=int, default=100_000, help="finished jobs stored first")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run's length")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    result = in_temp_dir("bench-api", lambda tmp: bench(args, tmp))
    if result is None:
        return 1
    print(format_report(result))
    write_results("api.json", {"benchmark": "api", **result})
    return 1 if any(load["errors"] for load in result["loads"]) else 0


if __name__ == "__main__":
    sys.exit(main())
