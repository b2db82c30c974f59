"""What every benchmark shares: where results go, how it fails, how it runs in a temp dir."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cli.client import ApiCallFailed

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench-results"
T = TypeVar("T")


class BenchFailed(Exception):
    """A job failed, a process died, a call was answered wrongly or something took too long."""


def in_temp_dir(name: str, body: Callable[[Path], T]) -> T | None:
    """Run ``body`` in a fresh temp dir; on a failure, say why and return None.

    Args:
        name: the benchmark, for the temp dir and the message (``bench-scale``…).
    """
    try:
        with tempfile.TemporaryDirectory(prefix=f"mcfarm-{name}-") as tmp:
            return body(Path(tmp))
    except (
        BenchFailed,
        ApiCallFailed,
        subprocess.CalledProcessError,
        RuntimeError,
        OSError,
    ) as err:
        print(f"{name} failed: {err}", file=sys.stderr)
        return None


def arg_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The command line of ``python -m bench.<module>``, described by its docstring's first line."""
    return argparse.ArgumentParser(prog=f"python -m bench.{module}", description=doc.split("\n")[0])


def write_results(file_name: str, doc: dict) -> Path:
    """Write ``doc`` with the time to ``bench-results/<file_name>`` and say where."""
    path = RESULTS_DIR / file_name
    RESULTS_DIR.mkdir(exist_ok=True)
    doc = {**doc, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}", file=sys.stderr)
    return path
