"""api.access_log.PlainAccessLog: gunicorn's access line, one write per request."""

from __future__ import annotations

import os
import re
from contextlib import suppress

import pytest

from api.access_log import PlainAccessLog

LINE = re.compile(
    r"^127\.0\.0\.1 - - \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(?P<method>\w+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3}) (?P<ms>\d+\.\d)\n$'
)


def _environ(method: str = "GET", path: str = "/v1/jobs/j1") -> dict:
    return {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "PageSize=5",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


@pytest.fixture
def pipe():
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with suppress(OSError):  # closed by the test
            os.close(fd)


def _lines(read: int) -> list[str]:
    return os.read(read, 65536).decode().splitlines(keepends=True)


def test_each_request_writes_its_line_with_the_status_the_app_started(pipe):
    read, write = pipe
    started = []

    def app(environ, start_response):
        start_response("201 CREATED", [("Content-Type", "application/json")])
        return [b"{}"]

    logged = PlainAccessLog(app, write)
    body = logged(_environ("POST", "/v1/jobs"), lambda *args: started.append(args))
    assert body == [b"{}"]
    assert started == [("201 CREATED", [("Content-Type", "application/json")], None)]
    logged(_environ(), lambda *args: None)
    first, second = (LINE.match(line) for line in _lines(read))
    assert (first["method"], first["path"], first["status"]) == ("POST", "/v1/jobs", "201")
    assert (second["method"], second["path"], second["status"]) == ("GET", "/v1/jobs/j1", "201")


def test_an_app_that_raises_is_logged_500_and_its_error_goes_on(pipe):
    read, write = pipe

    def app(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        PlainAccessLog(app, write)(_environ(), lambda *args: None)
    (line,) = _lines(read)
    assert LINE.match(line)["status"] == "500"


def test_the_time_taken_is_the_apps(pipe, monkeypatch):
    read, write = pipe
    clock = iter([100.0, 100.0375])
    monkeypatch.setattr("api.access_log.time.perf_counter", lambda: next(clock))

    def app(environ, start_response):
        start_response("200 OK", [])
        return []

    PlainAccessLog(app, write)(_environ(), lambda *args: None)
    (line,) = _lines(read)
    assert LINE.match(line)["ms"] == "37.5"


def test_a_log_closed_under_the_app_does_not_fail_the_request(pipe):
    read, write = pipe
    os.close(read)  # the reader is gone: a write fails with EPIPE

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    assert PlainAccessLog(app, write)(_environ(), lambda *args: None) == [b"ok"]
