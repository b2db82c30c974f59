"""Fixtures for the tests of the worker modules that start child processes."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest


class Children(list[subprocess.Popen]):
    """The child processes a test's code started, in order (real ``Popen`` objects)."""

    def assert_one_killed(self) -> None:
        """One child, killed (SIGKILL: it did not get to end on its own) and reaped."""
        (child,) = self
        assert child.returncode == -signal.SIGKILL
        with pytest.raises(ProcessLookupError):  # not even a zombie is left
            os.kill(child.pid, 0)


@pytest.fixture
def children(monkeypatch) -> Children:
    """Every child process the code under test starts: the real ``Popen``, recorded, so a
    test sees how each child ended (its ``returncode``) instead of timing the call."""
    started = Children()

    class RecordedPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", RecordedPopen)
    return started
