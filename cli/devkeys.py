"""The all-in-one dev access key: generated once, kept in ``./var/`` (never committed)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "dev-access-key"


def load_or_create(var_dir: Path) -> tuple[str, str]:
    path = var_dir / KEY_FILE
    if path.exists():
        key_id, _, secret = path.read_text().strip().partition(":")
        if key_id and secret:
            return key_id, secret
    var_dir.mkdir(parents=True, exist_ok=True)
    key_id, secret = "dev" + secrets.token_hex(6), secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{key_id}:{secret}\n")
    return key_id, secret


def load(var_dir: Path) -> tuple[str, str] | None:
    path = var_dir / KEY_FILE
    if not path.exists():
        return None
    key_id, _, secret = path.read_text().strip().partition(":")
    return (key_id, secret) if key_id and secret else None
