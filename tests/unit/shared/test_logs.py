"""JSON log lines carry the fields bound around the work that wrote them."""

from __future__ import annotations

import json
import logging

from shared import logs


def _line(message: str, exc: BaseException | None = None) -> dict:
    record = logging.LogRecord("mcfarm.test", logging.WARNING, __file__, 1, message, (), None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    logs.ContextFilter().filter(record)
    return json.loads(logs.JsonFormatter().format(record))


def test_bound_fields_reach_every_line_written_inside_and_none_after():
    with logs.bind(job_id="j1", output=2, part=None):
        logs.bind_more(account="acme")
        inside = _line("encoding")
        with logs.bind(part="c3"):
            nested = _line("chunk")
    after = _line("idle")
    assert inside["job_id"] == "j1" and inside["output"] == 2 and inside["account"] == "acme"
    assert "part" not in inside and nested["part"] == "c3" and nested["job_id"] == "j1"
    assert not {"job_id", "output", "account", "part"} & after.keys()
    assert inside["level"] == "WARNING" and inside["logger"] == "mcfarm.test"
    assert inside["message"] == "encoding" and inside["time"].endswith("+00:00")


def test_a_new_request_starts_from_nothing():
    logs.start(request_id="r1", account="a")
    logs.start(request_id="r2", job_id=None)
    line = _line("GET /v1/jobs")
    assert line["request_id"] == "r2" and "account" not in line and "job_id" not in line
    logs.start()


def test_an_exception_is_kept_in_the_line():
    try:
        raise ValueError("bad frame")
    except ValueError as err:
        line = _line("failed", err)
    assert "ValueError: bad frame" in line["exc_info"]
