"""Typed access to ICE request parameters, with ICE errors for bad values.

RPC parameters arrive as strings (query or form); REST bodies as JSON values. ``Params``
reads both the same way, so one action function serves both APIs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.errors import invalid_parameter, missing_parameter


class Params:
    def __init__(self, values: Mapping[str, Any]):
        self.values = dict(values)

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value in (None, "") else value

    def required(self, name: str) -> Any:
        if name not in self:
            raise missing_parameter(name)
        return self.values[name]

    def str(
        self, name: str, default: str = "", *, max_len: int = 1024, choices: tuple[str, ...] = ()
    ) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str):
            raise invalid_parameter(name, "It must be a string.")
        if len(value) > max_len:
            raise invalid_parameter(name, f"It is longer than {max_len} characters.")
        if choices and value not in choices:
            raise invalid_parameter(name, f"Use one of {', '.join(choices)}.")
        return value

    def int(
        self, name: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        value = self.raw(name, default)
        if value is None:
            return None
        try:
            number = int(value)
            if isinstance(value, float | bool) or (
                isinstance(value, str) and not value.strip().lstrip("-").isdigit()
            ):
                raise ValueError
        except (TypeError, ValueError):
            raise invalid_parameter(name, "It must be an integer.") from None
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise invalid_parameter(name, f"It must be between {lo} and {hi}.")
        return number

    def json_object(self, name: str, *, required: bool = False) -> dict[str, Any] | None:
        if required:
            self.required(name)
        value = self.raw(name)
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
