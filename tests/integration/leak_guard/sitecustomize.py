"""Loaded by every Python process of the server side in the leak test (through PYTHONPATH):
any file operation on a path under `DALRN_GUARDED_PATHS` (the tenants' folders) is refused
with PermissionError and written to `DALRN_GUARD_LOG`, so the test both makes the tenant
folders unreadable to the server (the test runs as root, where file modes do not) and knows
whether any server process ever tried."""

from __future__ import annotations

import os
import sys

_ROOTS = tuple(os.path.abspath(p) + os.sep for p in os.environ.get("DALRN_GUARDED_PATHS", "").split(os.pathsep) if p)
_LOG = os.environ.get("DALRN_GUARD_LOG", "")
_EVENTS_WITH_A_PATH = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.rename", "os.remove", "os.rmdir",
                       "os.chmod", "os.chown", "os.truncate", "os.link", "os.symlink", "os.utime",
                       "shutil.copyfile", "shutil.copytree", "shutil.rmtree", "os.exec", "os.posix_spawn")


def _guard(event: str, args: tuple) -> None:
    if event not in _EVENTS_WITH_A_PATH or not args:
        return
    path = args[0]
    if isinstance(path, int) or path is None:
        return
    try:
        full = os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):
        return
    if not (full + os.sep).startswith(_ROOTS):
        return
    if _LOG:
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {event} {full}\n")
    raise PermissionError(13, "the server side may not touch a tenant's folder", full)


if _ROOTS:
    sys.addaudithook(_guard)
