"""``mcfarm``: run the farm's processes and talk to its API.

User errors print one line and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cli import devkeys
from cli.client import ApiCallFailed, Client
from cli.processes import api_argv, flower_argv, worker_argv
from shared.config import Settings, SettingsError

TERMINAL = {"Complete", "Error", "Cancelled"}
EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2


def _exec(argv: list[str]) -> int:
    os.execvp(argv[0], argv)
    return EXIT_USAGE  # not reached


def cmd_up(args, settings: Settings) -> int:
    from cli.up import run_up

    return run_up(settings, dict(os.environ), args.concurrency)


def cmd_api(args, settings: Settings) -> int:
    return _exec(
        api_argv(
            settings.api_bind, args.workers, settings.api_threads, log_format=settings.log_format
        )
    )


def cmd_worker(args, settings: Settings) -> int:
    from workers.capabilities import WorkerNotCapable, check_worker

    try:
        check_worker(settings, args.queues.split(","))
    except WorkerNotCapable as err:
        raise SystemExit(f"mcfarm worker: {err}") from None
    name = f"{args.queues.replace(',', '-')}-{os.getpid()}@%h"
    argv = worker_argv(name, args.queues, args.concurrency, args.loglevel)
    if args.metrics_port:
        os.environ["MCFARM_WORKER_METRICS_PORT"] = str(args.metrics_port)
    return _exec(argv)


def cmd_flower(args, settings: Settings) -> int:
    if not settings.flower_basic_auth and not args.dev:
        raise SystemExit(
            "mcfarm flower: set MCFARM_FLOWER_BASIC_AUTH=user:password (or pass --dev on a dev machine)"
        )
    if settings.flower_basic_auth:
        os.environ["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth
    return _exec(flower_argv(settings.flower_port, args.address))


def _client(args, settings: Settings) -> Client:
    url = args.api or os.environ.get("MCFARM_API_URL") or f"http://{settings.api_bind}"
    if settings.access_keys:
        key = next(iter(settings.access_keys.values()))
        key_id, secret = key.key_id, key.secret
    else:
        pair = devkeys.load(settings.var_dir)
        if pair is None:
            raise SystemExit(
                "mcfarm: no access key: set MCFARM_ACCESS_KEYS=id:secret (or run 'make run' here first)"
            )
        key_id, secret = pair
    return Client(url, key_id, secret)


def _print(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False))


def format_eta(seconds: int) -> str:
    """``37`` → ``0:37``, ``125`` → ``2:05``, ``3725`` → ``1:02:05``."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_bar(job: dict[str, Any], width: int = 30) -> str:
    """One line of ``--wait``'s progress: id, state, bar, percent and, when the job
    document has ``EtaSeconds``, the time left."""
    pct = int(job.get("Percent", 0))
    done = width * pct // 100
    line = f"{job['JobId'][:8]}  {job['State']:<9} [{'#' * done}{'.' * (width - done)}] {pct:3d}%"
    if job.get("EtaSeconds") is not None:
        line += f"  ETA {format_eta(job['EtaSeconds'])}"
    return line


def wait_for(
    client: Client, job_id: str, interval: float = 0.5, timeout: float | None = None
) -> dict[str, Any]:
    """Poll a job until it is terminal, drawing a progress bar on stderr."""
    deadline = None if timeout is None else time.monotonic() + timeout
    drawn = 0  # the longest line drawn: a shorter one pads over its end
    while True:
        job = client.get(job_id)
        line = progress_bar(job)
        print(f"\r{line:<{drawn}}", end="", file=sys.stderr, flush=True)
        drawn = max(drawn, len(line))
        if job["State"] in TERMINAL:
            print(file=sys.stderr)
            return job
        if deadline is not None and time.monotonic() > deadline:
            print(file=sys.stderr)
            raise SystemExit(f"mcfarm: gave up waiting for {job_id} after {timeout:g} s")
        time.sleep(interval)


def _read_job_file(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SystemExit(f"mcfarm submit: {path}: no such file") from None
    except json.JSONDecodeError as err:
        raise SystemExit(
            f"mcfarm submit: {path}: not JSON ({err.msg}, line {err.lineno})"
        ) from None
    if not isinstance(doc, dict):
        raise SystemExit(f"mcfarm submit: {path}: expected a JSON object")
    # A file may hold the whole request or just its Config.
    return doc if "Config" in doc else {"Config": doc}


def cmd_submit(args, settings: Settings) -> int:
    body = _read_job_file(args.file)
    if args.client_token:
        body["ClientToken"] = args.client_token
    client = _client(args, settings)
    job = client.submit(body)
    if not args.wait:
        _print(job)
        return EXIT_OK
    print(f"submitted {job['JobId']}", file=sys.stderr)
    job = wait_for(client, job["JobId"], timeout=args.timeout)
    _print(job)
    return EXIT_OK if job["State"] == "Complete" else EXIT_JOB_FAILED


def cmd_get(args, settings: Settings) -> int:
    client = _client(args, settings)
    job = wait_for(client, args.job_id) if args.wait else client.get(args.job_id)
    _print(job)
    return EXIT_OK


def cmd_list(args, settings: Settings) -> int:
    page = _client(args, settings).list(
        status=args.status,
        page_size=args.page_size,
        next_page_token=args.page_token,
        order_by=args.order_by,
    )
    if args.json:
        _print(page)
        return EXIT_OK
    for job in page["Jobs"]:
        name = job["Config"].get("JobName", "")
        print(
            f"{job['JobId']}  {job['State']:<9}  {job['CreateTime']}  {job.get('Code') or ''}  {name}"
        )
    if page.get("NextPageToken"):
        print(f"(more: --page-token {page['NextPageToken']})", file=sys.stderr)
    return EXIT_OK


def _add_list_arguments(parser: argparse.ArgumentParser) -> None:
    """``mcfarm list``'s options: ListMediaConvertJobs' Status, PageSize, NextPageToken and
    OrderBy (``--state`` is the old spelling of ``--status``)."""
    parser.add_argument(
        "--status", "--state", default="", help="Inited, Running, Complete, Error or Cancelled"
    )
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--page-token", default="", help="the NextPageToken of the last page")
    parser.add_argument("--order-by", default="", choices=["CreateTimeDesc", "CreateTimeAsc"])
    parser.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcfarm", description="A self-hosted media transcoding farm."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", help="run the all-in-one farm in the foreground (redis, worker, API, Flower)"
    )
    up.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    up.set_defaults(func=cmd_up)
    api = sub.add_parser("api", help="serve the API (granian) on MCFARM_API_BIND")
    api.add_argument("--workers", type=int, default=2)
    api.set_defaults(func=cmd_api)
    worker = sub.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--queues", default="cpu", choices=["cpu", "gpu", "cpu,gpu"])
    worker.add_argument(
        "--concurrency", type=int, default=0, help="processes (default: one per core)"
    )
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve this node's Prometheus metrics on this port (MCFARM_WORKER_METRICS_ADDRESS, "
        "default 127.0.0.1; bearer MCFARM_METRICS_TOKEN when set)",
    )
    worker.set_defaults(func=cmd_worker)
    flower = sub.add_parser(
        "flower", help="run the Flower dashboard (needs MCFARM_FLOWER_BASIC_AUTH)"
    )
    flower.add_argument("--address", default="127.0.0.1")
    flower.add_argument("--dev", action="store_true", help="allow no password (dev machines only)")
    flower.set_defaults(func=cmd_flower)
    for name, func, helptext in (
        ("submit", cmd_submit, "submit a job file"),
        ("get", cmd_get, "show a job"),
        ("list", cmd_list, "list jobs, newest first"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--api", help="API base URL (default http://MCFARM_API_BIND)")
        p.set_defaults(func=func)
        if name == "submit":
            p.add_argument(
                "file", help="JSON file: a Config, or {Config, ClientToken, UserData, PipelineId}"
            )
            p.add_argument(
                "--wait", action="store_true", help="wait for the job, with a progress bar"
            )
            p.add_argument("--client-token", help="idempotency token")
            p.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
        elif name == "get":
            p.add_argument("job_id")
            p.add_argument("--wait", action="store_true")
        else:
            _add_list_arguments(p)
    from cli import events, resources

    resources.add_parsers(sub, _client)
    events.add_parsers(sub, _client)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except SettingsError as err:
        print(f"mcfarm: {err}", file=sys.stderr)
    except ApiCallFailed as err:
        print(f"mcfarm: {err.code}: {err.message}", file=sys.stderr)
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
