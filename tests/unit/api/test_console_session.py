"""api.console.session.ConsoleSessions: a session is opened under the console's path only."""

from __future__ import annotations

from flask import Flask, session
from flask.sessions import NullSession

from api.console.session import ConsoleSessions


def _app() -> Flask:
    app = Flask("t")
    app.secret_key = "k" * 32
    app.config["SESSION_COOKIE_PATH"] = "/console"
    app.session_interface = ConsoleSessions()

    @app.get("/console/in")
    def sign_in():
        session["key"] = "abc"
        return "ok"

    @app.get("/console/who")
    def who():
        return session.get("key", "nobody")

    @app.get("/v1/jobs")
    def jobs():
        return type(session._get_current_object()).__name__

    return app


def test_the_console_keeps_its_session_and_the_api_opens_none():
    client = _app().test_client()
    assert client.get("/console/in").status_code == 200
    assert client.get("/console/who").text == "abc"
    assert client.get("/v1/jobs").text == NullSession.__name__
