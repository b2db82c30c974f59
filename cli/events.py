"""``mcfarm events dead`` and ``mcfarm events replay ID``: event callbacks that gave up."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

EXIT_OK = 0


def cmd_dead(args, settings, client_factory: Callable) -> int:
    """List the caller's dead-lettered deliveries, newest first."""
    doc = client_factory(args, settings).call("GET", f"/v1/events/dead?limit={args.limit}")
    dead: list[dict[str, Any]] = doc.get("DeadLetters", [])
    if args.json:
        print(json.dumps(dead, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not dead:
        print("no dead letters", file=sys.stderr)
    for item in dead:
        print(
            f"{item['DeliveryId']}  {item['FailTime']}  {item['EventType']:<31}  "
            f"{item['Attempts']:>4} tries  {item['URL']}  {item['LastError']}"
        )
    return EXIT_OK


def cmd_replay(args, settings, client_factory: Callable) -> int:
    """Send one dead letter again."""
    path = f"/v1/events/dead/{quote(args.delivery_id, safe='')}/replay"
    doc = client_factory(args, settings).call("POST", path, {})
    print(f"{doc.get('DeliveryId', args.delivery_id)} queued for delivery")
    return EXIT_OK


def add_parsers(subparsers, client_factory: Callable) -> None:
    """Add ``events dead|replay`` to the ``mcfarm`` parser.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.
        client_factory: ``(args, settings) -> cli.client.Client``; each command's ``func``
            is then called as ``func(args, settings)``.
    """
    events = subparsers.add_parser("events", help="event callbacks that could not be delivered")
    sub = events.add_subparsers(dest="events_command", required=True)
    dead = sub.add_parser("dead", help="list dead-lettered callbacks, newest first")
    dead.add_argument("--limit", type=int, default=100, help="at most this many (1-1000)")
    dead.add_argument("--json", action="store_true", help="print the raw JSON")
    dead.set_defaults(func=lambda args, settings: cmd_dead(args, settings, client_factory))
    replay = sub.add_parser("replay", help="deliver a dead-lettered callback again")
    replay.add_argument("delivery_id", metavar="ID")
    replay.set_defaults(func=lambda args, settings: cmd_replay(args, settings, client_factory))
    for parser in (dead, replay):
        parser.add_argument("--api", help="API base URL (default http://MCFARM_API_BIND)")
