"""``mcfarm cancel``, ``mcfarm pipelines …`` and ``mcfarm templates …`` over the REST API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _print(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False))


def _api_arg(parser) -> None:
    parser.add_argument("--api", help="API base URL (default http://MCFARM_API_BIND)")


def _command(
    parser,
    client_factory: Callable,
    method: str,
    path: Callable[[Any], str],
    body: Callable[[Any], Any] | None = None,
) -> None:
    """Wire a subcommand to one REST call whose answer is printed as JSON."""

    def run(args, settings) -> int:
        _print(
            client_factory(args, settings).call(method, path(args), body(args) if body else None)
        )
        return 0

    _api_arg(parser)
    parser.set_defaults(func=run)


def _template_body(args) -> dict[str, Any]:
    try:
        config = json.loads(Path(args.config_file).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"mcfarm templates create: {args.config_file}: {err}") from None
    return {"Name": args.name, "TemplateConfig": config}


def add_parsers(sub, client_factory: Callable) -> None:
    """Add the cancel, workers, pipelines and templates commands to the ``mcfarm`` parser."""
    cancel = sub.add_parser("cancel", help="cancel an Inited or Running job")
    cancel.add_argument("job_id")
    _command(cancel, client_factory, "POST", lambda a: f"/v1/jobs/{a.job_id}/cancel")

    _command(
        sub.add_parser("workers", help="the live workers, their capabilities and tasks"),
        client_factory,
        "GET",
        lambda a: "/v1/workers",
    )
    _pipeline_parsers(sub, client_factory)
    _template_parsers(sub, client_factory)


def _pipeline_parsers(sub, client_factory: Callable) -> None:
    pipelines = sub.add_parser("pipelines", help="list, create, pause, resume or delete pipelines")
    psub = pipelines.add_subparsers(dest="pipelines_command", required=True)
    _command(psub.add_parser("list"), client_factory, "GET", lambda a: "/v1/pipelines")
    create = psub.add_parser("create")
    create.add_argument("name")
    create.add_argument(
        "--speed", default="Standard", choices=["Standard", "Boost", "NarrowBandHDV2"]
    )
    create.add_argument("--priority", type=int, default=6)
    _command(
        create,
        client_factory,
        "POST",
        lambda a: "/v1/pipelines",
        lambda a: {"Name": a.name, "Speed": a.speed, "Priority": a.priority},
    )
    for verb, status in (("pause", "Paused"), ("resume", "Active")):
        p = psub.add_parser(verb)
        p.add_argument("pipeline_id")
        _command(
            p,
            client_factory,
            "PATCH",
            lambda a: f"/v1/pipelines/{a.pipeline_id}",
            lambda a, status=status: {"Status": status},
        )
    delete = psub.add_parser("delete")
    delete.add_argument("pipeline_id")
    _command(delete, client_factory, "DELETE", lambda a: f"/v1/pipelines/{a.pipeline_id}")


def _template_parsers(sub, client_factory: Callable) -> None:
    templates = sub.add_parser("templates", help="list, show, create or delete custom templates")
    tsub = templates.add_subparsers(dest="templates_command", required=True)
    _command(tsub.add_parser("list"), client_factory, "GET", lambda a: "/v1/templates?PageSize=100")
    _command(
        tsub.add_parser("system"),
        client_factory,
        "GET",
        lambda a: "/v1/system-templates?PageSize=100",
    )
    get = tsub.add_parser("get")
    get.add_argument("template_id")
    _command(get, client_factory, "GET", lambda a: f"/v1/templates/{a.template_id}")
    tcreate = tsub.add_parser("create")
    tcreate.add_argument("name")
    tcreate.add_argument("config_file", help="a JSON file holding the TemplateConfig")
    _command(tcreate, client_factory, "POST", lambda a: "/v1/templates", _template_body)
    tdelete = tsub.add_parser("delete")
    tdelete.add_argument("template_id")
    _command(tdelete, client_factory, "DELETE", lambda a: f"/v1/templates/{a.template_id}")
