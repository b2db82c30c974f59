"""cli.api_server: the API server's command line and logging."""

from __future__ import annotations

import logging.config

from cli.api_server import log_config
from cli.processes import api_argv


def test_the_api_runs_under_our_server_module_with_its_threads_and_log_format():
    argv = api_argv("127.0.0.1:9000", 3, 6, log_format="json")
    assert argv[1:3] == ["-m", "cli.api_server"]
    assert argv[3:] == [
        *("--bind", "127.0.0.1:9000", "--workers", "3", "--threads", "6"),
        *("--log-format", "json"),
    ]


def test_granian_logs_json_in_the_json_format_and_its_own_lines_otherwise():
    assert log_config("plain") == {}
    config = log_config("json")
    assert config["formatters"]["json"]["()"] == "shared.logs.JsonFormatter"
    assert config["loggers"]["_granian"]["handlers"] == ["console"]
    # A complete dictConfig once granian adds its version: it applies as is.
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, **config})
    assert logging.getLogger("_granian").handlers[0].formatter.__class__.__name__ == (
        "JsonFormatter"
    )
