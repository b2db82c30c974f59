"""The API's JSON answers come from orjson: compact, keys in order, UTF-8, one newline."""

from __future__ import annotations

import json

from flask import Flask

from api.json_provider import OrjsonProvider


class _App(Flask):
    json_provider_class = OrjsonProvider


def test_answers_are_compact_ordered_json_with_a_newline():
    app = _App("t")
    with app.app_context():
        response = app.json.response({"Job": {"State": "Inited", "JobId": "é1"}, "A": [1, 2.5]})
    body = response.get_data()
    assert body == '{"Job":{"State":"Inited","JobId":"é1"},"A":[1,2.5]}\n'.encode()
    assert response.mimetype == "application/json"
    assert json.loads(body) == app.json.loads(body)
    assert app.json.dumps({"b": 1, "a": 2}) == '{"b":1,"a":2}'
    assert app.json.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'  # the standard encoder
