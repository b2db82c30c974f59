"""The example jobs shipped in ``examples/``: ``make run`` seeds their media, the CLI submits
them, and the console's submit form offers them one click away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
#: The bucket their inputs are read from and their outputs written to.
EXAMPLE_BUCKET = "mcfarm-examples"


def example_jobs(folder: Path = EXAMPLES_DIR) -> dict[str, dict[str, Any]]:
    """Each example's submit body (``Config``, maybe ``UserData``) by its file's stem, in
    name order; none where the examples are not installed (a wheel without the repo)."""
    found = {}
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and isinstance(doc.get("Config"), dict):
            found[path.stem] = doc
    return found
