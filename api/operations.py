"""How an HTTP endpoint is declared: once, at its view, with ``@Operation(...)``.

The declaration under a route decorator says everything about one endpoint: the ICE action
it performs (what the keys' allowed-action lists, RAM, are checked against), the
marshmallow schemas of its body and query, the answers it documents per status, a summary,
an example body, and whether it is public. From it:

- the view loads its body and query with exactly the declared schemas (it gets them as the
  ``body`` and ``query`` keyword arguments) and runs the declared action with ``perform``;
- ``create_app`` authenticates every call that is not public and checks RAM against the
  declared action (``operation_of``);
- ``api/openapi.py`` writes the OpenAPI document, walking the app's url_map
  (``declared_operations``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, request
from marshmallow import Schema
from werkzeug.routing import Rule

from api.actions import ACTIONS, Call
from api.params import Params
from api.rest_schemas import load
from shared.errors import ApiError

#: Methods Flask answers itself; never declared.
_AUTOMATIC = {"HEAD", "OPTIONS"}


@functools.cache
def _schema(cls: type[Schema]) -> Schema:
    """One instance of each declared schema, made on first use: a schema holds no state
    of a load, and making one (with its nested fields) cost more than the load itself."""
    return cls()


@dataclass(frozen=True)
class Operation:
    """One endpoint and method: how it is called and what it answers.

    Attributes:
        summary: one line for the document.
        answers: success status → the JSON schema of the answer (``api/openapi_models.py``).
        action: the ICE action it performs, for RAM; None only where ``public``.
        body: the schema its JSON body is loaded with.
        query: the schema its query string is loaded with.
        public: answered without credentials (probes, the document, the ICE RPC endpoint,
            which checks request signatures itself).
        not_found: it may answer 404 without a path parameter too (an id in the body).
        example: a body that works, for readers (and schemathesis's examples phase).
        body_required: False where no body at all is a valid call (a PATCH changing nothing).
        headers: names of ``components.headers`` its success answers carry besides
            ``x-acs-request-id``.
        documented: False keeps it out of the OpenAPI document (the ICE RPC endpoint).
        description: for the document, where "the ICE action ``action``" does not say it.
    """

    summary: str
    answers: Mapping[int, dict[str, Any]] = field(default_factory=dict)
    action: str | None = None
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    public: bool = False
    not_found: bool = False
    example: dict[str, Any] | None = None
    body_required: bool = True
    headers: tuple[str, ...] = ()
    documented: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not self.public and self.action not in ACTIONS:
            raise ValueError(f"{self.summary!r}: an authenticated endpoint names no ICE action")

    def __call__(self, view: Callable) -> Callable:
        """Decorate ``view``: it gets ``body``/``query`` loaded with the declared schemas."""

        @functools.wraps(view)
        def declared(*args: Any, **kwargs: Any) -> Any:
            g.operation = self
            if self.query is not None:
                kwargs["query"] = load(_schema(self.query), request.args.to_dict())
            if self.body is not None:
                kwargs["body"] = load(_schema(self.body), _json_object(self.body_required))
            return view(*args, **kwargs)

        declared.operation = self  # type: ignore[attr-defined]
        return declared

    def error_statuses(self, path: str) -> list[int]:
        """Every error status this operation can answer with, at ``path``."""
        if self.public:
            return [503]
        statuses = [400, 401, 403, 503]
        if self.not_found or "{" in path:
            statuses.append(404)
        if self.body is not None:
            statuses.append(413)
        return sorted(statuses)


def _json_object(required: bool) -> dict[str, Any]:
    """The request's JSON object body; no body at all reads as ``{}`` where not ``required``.

    Raises:
        ApiError: ``InvalidParameter`` for a body that is not a JSON object, or none where
            one is required.
        RequestEntityTooLarge: past ``MAX_CONTENT_LENGTH`` (413).
    """
    if not required and not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            "The request body must be a JSON object (Content-Type: application/json).",
            code="InvalidParameter",
        )
    return body


def perform(params: Mapping[str, Any], action: str | None = None) -> dict[str, Any]:
    """Run the ICE action this endpoint declares (or ``action``) for the caller.

    Returns:
        The action's answer with this call's ``RequestId``: the same document as on the
        ICE RPC endpoint.
    """
    ctx = g._get_current_object()  # one proxy lookup, not one per use
    name = action or ctx.operation.action
    call = Call(owner=ctx.owner, params=Params(params), request_id=ctx.request_id)
    return {"RequestId": ctx.request_id, **ACTIONS[name](current_app.extensions["mcfarm"], call)}


def operation_of(view: Callable, method: str) -> Operation | None:
    """The declaration of ``view`` for ``method`` (HEAD is GET's); None if it has none."""
    handler = getattr(view, "view_class", None)  # a MethodView declares per method
    if method == "HEAD":
        method = "GET"
    func = view if handler is None else getattr(handler, method.lower(), None)
    return getattr(func, "operation", None)


def rule_operations(app: Flask, rule: Rule) -> dict[str, Operation]:
    """Each method of ``rule`` (without HEAD and OPTIONS) and its declaration.

    Raises:
        RuntimeError: for a method without one: every endpoint must be declared.
    """
    view = app.view_functions[rule.endpoint]
    operations = {}
    for method in sorted((rule.methods or set()) - _AUTOMATIC):
        operation = operation_of(view, method)
        if operation is None:
            raise RuntimeError(f"{method} {rule.rule} ({rule.endpoint}) has no @Operation")
        operations[method] = operation
    return operations


def declared_operations(app: Flask) -> Iterator[tuple[str, str, Operation]]:
    """``(path, method, operation)`` for every route of ``app``, paths in OpenAPI form
    (``/v1/jobs/{job_id}``) and methods in lower case.

    Raises:
        RuntimeError: as ``rule_operations``.
    """
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method, operation in rule_operations(app, rule).items():
            yield path, method.lower(), operation
