"""Typed access to ICE request parameters, with ICE errors for bad values: the edge.

RPC parameters arrive as strings (query or form); REST bodies as JSON values (already
loaded by the schemas of ``api/rest_schemas.py``). ``Params`` reads both the same way, so
one action function serves both APIs, and the stores behind the actions get typed values
they need not check again. ``required`` is the one "MissingParameter" check of the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from shared.clock import parse_wire_time
from shared.errors import invalid_parameter, missing_parameter

_Value = TypeVar("_Value")
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: ``strptime`` alone would also take ``2026-1-5T0:0:0Z``.
_WIRE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


#: Longest pipeline or template name.
MAX_NAME = 128


def required(value: _Value | None, name: str) -> _Value:
    """``value``, unless it is None or ``""``: every "you left out a required parameter".

    Raises:
        ApiError: 400 ``MissingParameter`` naming ``name``.
    """
    if value is None or value == "":
        raise missing_parameter(name)
    return value


class Params:
    """One request's parameters, read by name into typed, checked values.

    A value that is absent, None or ``""`` reads as absent: the default, or
    ``MissingParameter`` where ``required``. Every refusal is a 400 naming the parameter.
    """

    def __init__(self, values: Mapping[str, Any]):
        self.values = dict(values)

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: str, default: Any = None, *, required: bool = False) -> Any:
        """The value as given (any type), or ``default`` when absent."""
        if required:
            self.required(name)
        value = self.values.get(name)
        return default if value in (None, "") else value

    def required(self, name: str) -> Any:
        """The value as given; ``MissingParameter`` when absent."""
        return required(self.values.get(name), name)

    def str(
        self, name: str, default: str = "", *, max_len: int = 1024, required: bool = False
    ) -> str:
        """A string of at most ``max_len`` characters, or ``default``."""
        value = self.raw(name, default, required=required)
        if not isinstance(value, str):
            raise invalid_parameter(name, "It must be a string.")
        if len(value) > max_len:
            raise invalid_parameter(name, f"It is longer than {max_len} characters.")
        return value

    def choice(
        self,
        name: str,
        choices: tuple[str, ...],
        default: str | None = None,
        *,
        ignore_case: bool = False,
        required: bool = False,
    ) -> str | None:
        """One of ``choices``, in its own spelling (``boost`` reads ``Boost`` with
        ``ignore_case``); ``default`` when absent."""
        value = self.raw(name, required=required)
        if value is None:
            return default
        for choice in choices:
            if value == choice or (
                ignore_case and isinstance(value, str) and value.strip().lower() == choice.lower()
            ):
                return choice
        raise invalid_parameter(name, f"Use one of {', '.join(choices)}.")

    def name(self, name: str = "Name", *, required: bool = False) -> str | None:
        """A pipeline or template name: not blank, at most ``MAX_NAME`` characters."""
        value = self.str(name, max_len=MAX_NAME, required=required)
        if not value:
            return None
        if not value.strip():
            raise invalid_parameter(name, "It must not be blank.")
        return value

    def int(
        self,
        name: str,
        default: int | None = None,
        *,
        lo: int | None = None,
        hi: int | None = None,
        required: bool = False,
    ) -> int | None:
        """An integer (or a string of digits, as RPC sends it) from ``lo`` to ``hi``."""
        value = self.raw(name, default, required=required)
        if value is None:
            return None
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise invalid_parameter(name, "It must be an integer.")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise invalid_parameter(name, f"It must be between {lo} and {hi}.")
        return number

    def wire_time(self, name: str) -> int | None:
        """A ``yyyy-MM-ddTHH:mm:ssZ`` time as microseconds since the epoch; None when absent."""
        text = self.str(name, max_len=32)
        if not text:
            return None
        try:
            if not _WIRE_TIME.fullmatch(text):
                raise ValueError(text)
            return parse_wire_time(text)
        except ValueError:
            raise invalid_parameter(name, "Use yyyy-MM-ddTHH:mm:ssZ.") from None

    def json_object(self, name: str, *, required: bool = False) -> dict[str, Any] | None:
        """A JSON object, given as an object or as its JSON text; None when absent."""
        value = self.raw(name, required=required)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise invalid_parameter(
                    name, f"It is not JSON ({err.msg} at column {err.colno})."
                ) from None
        if not isinstance(value, Mapping):
            raise invalid_parameter(name, "It must be a JSON object.")
        return dict(value)


def unflatten(values: Mapping[str, str], prefix: str) -> Any | None:
    """Rebuild an object the SDK flattened into ``Prefix.A.1.B=v`` keys (1-based lists).

    Returns:
        The object, or None when no key starts with ``prefix.``.

    Raises:
        ApiError: ``InvalidParameter`` for keys that do not form one consistent object.
    """
    lead = prefix + "."
    pairs = [(k[len(lead) :].split("."), v) for k, v in values.items() if k.startswith(lead)]
    if not pairs:
        return None
    root: dict[str, Any] = {}
    for path, value in pairs:
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise invalid_parameter(
                    prefix, f"Key {'.'.join(path)} clashes with another flattened key."
                )
        if not path[-1] or isinstance(node.get(path[-1]), dict):
            raise invalid_parameter(
                prefix, f"Key {'.'.join(path)} clashes with another flattened key."
            )
        node[path[-1]] = value
    return _lists(root, prefix)


def _lists(node: Any, where: str) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        indexes = sorted(int(k) for k in node)
        if indexes != list(range(1, len(indexes) + 1)):
            raise invalid_parameter(where, "Flattened list indexes must run 1, 2, 3…")
        return [_lists(node[str(i)], f"{where}.{i}") for i in indexes]
    return {k: _lists(v, f"{where}.{k}") for k, v in node.items()}
