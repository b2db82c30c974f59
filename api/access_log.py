"""One log line per request, in the JSON log format (``MCFARM_LOG_FORMAT=json``).

granian's access log is plain text and knows neither the account nor the job; in JSON
mode ``mcfarm api`` turns it off and the app writes this line instead, with the request's
bound fields (``shared.logs``): request id, account, job id.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

log = logging.getLogger("mcfarm.access")


def request_log(app: Flask) -> None:
    @app.after_request
    def _log_request(response):
        started = g.get("started")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        log.info(
            "%s %s %d %s ms",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
        )
        return response
