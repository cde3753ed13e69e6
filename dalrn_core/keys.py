"""Key files that live outside the repository, readable by their owner only.

`DALRN_KEYS_DIR` chooses the folder; by default `~/.config/dalrn/keys`. Production keeps
the same secrets in Prefect Secret blocks (see `blocks/`), which hand the bytes to the
functions here instead of a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from dalrn_core.redact import remember_secret
from dalrn_core.settings import setting


def keys_dir() -> Path:
    """The folder of key files (created with mode 0700)."""
    default = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "dalrn" / "keys"
    configured: Path | None = setting("keys_dir")  # DALRN_KEYS_DIR
    folder = configured or default
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def created_at(name: str) -> float | None:
    """When the key file `name` was written (Unix time; a key file is never rewritten), or None."""
    try:
        return (keys_dir() / name).stat().st_mtime
    except FileNotFoundError:
        return None


def load_or_create(name: str, generate: Callable[[], bytes]) -> bytes:
    """Read the key file `name`, or write one from `generate()` with mode 0600.

    The key is remembered for redaction (`redact.remember_secret`): no error or log line of
    this process can then quote it.
    """
    secret = _load_or_create(keys_dir() / name, generate)
    remember_secret(secret)
    return secret


def _load_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    if path.exists():
        return path.read_bytes()
    secret = generate()
    # Written whole under a name of its own, then linked into place: a process that loses
    # the race reads the winner's complete key, never a file still being written (two
    # gateways starting at once read an empty JWT key that way and refused each other's tokens).
    draft = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:  # another process published its key first: use theirs
            return path.read_bytes()
    finally:
        draft.unlink(missing_ok=True)
    return secret
