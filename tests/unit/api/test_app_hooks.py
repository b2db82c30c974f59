"""``api.create_app``'s Flask subclass: ``ensure_sync`` answers from what it remembered."""

from __future__ import annotations

import pytest

from api import create_app
from shared.config import Settings

#: No Redis listens there: nothing below needs one.
NO_REDIS = "redis://127.0.0.1:1/0"


class View:
    def get(self) -> str:
        return "ok"


async def coroutine_view() -> str:
    return "ok"


def test_a_sync_view_is_returned_as_is_and_remembered_once_per_function():
    app = create_app(Settings(redis_url=NO_REDIS))
    before = len(app.async_functions)
    methods = [View().get for _ in range(100)]  # a MethodView's: a new bound method each time
    assert all(app.ensure_sync(m) is m for m in methods)
    assert len(app.async_functions) == before + 1
    assert app.async_functions[View.get] is False


def test_a_coroutine_view_is_still_wrapped_as_flask_does():
    app = create_app(Settings(redis_url=NO_REDIS))
    # Flask wraps it with asgiref, which mcfarm does not install: Flask's own error says so.
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine_view)
    assert app.async_functions[coroutine_view] is True
