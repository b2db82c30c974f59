"""Flask's JSON, by orjson: a List of 50 jobs is a large document, and the standard
library's encoder was a measurable share of its answer time (``make bench-api``).

Keys keep their order (``sort_keys`` is off, as before), the output is compact UTF-8 (the
standard encoder escaped non-ASCII; both are the same JSON to a client). A value orjson
does not know falls back to the standard encoder's ``default`` handling in Flask.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

#: orjson's options for every answer (``api.job_cache`` renders remembered jobs with them).
JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # indent, sort_keys…: what only the standard encoder offers
            return super().dumps(obj, **kwargs)
        return orjson.dumps(obj, default=self.default, option=JSON_OPTIONS).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """What a view's dict becomes: compact JSON and a newline, as Flask writes it."""
        obj = self._prepare_response_obj(args, kwargs)
        body = orjson.dumps(
            obj, default=self.default, option=JSON_OPTIONS | orjson.OPT_APPEND_NEWLINE
        )
        return self._app.response_class(body, mimetype=self.mimetype)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s) if not kwargs else super().loads(s, **kwargs)
