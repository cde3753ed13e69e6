"""The tenant's own folder: its secret keys and local state, never the server's.

`DALRN_TENANT_HOME` chooses it; by default `.dalrn-tenant` in the current directory, beside
(never inside) the server's default `.dalrn`, so the embedded demo plays both roles with
two folders and nothing the tenant keeps lands where the server reads and writes. It holds:

- ``keys/tenant-<tenant>.ckks``: the CKKS key pair of the tenant's encrypted precedent search;
- ``keys/envelope-<tenant>.x25519``: the X25519 private key that unwraps the data keys of
  confidential evidence (its public half is registered with the gateway);
- ``disputes/<tenant>/<dispute>.key``: the 256-bit data key of each dispute's confidential
  evidence;
- ``embeddings/<model>/``: the tenant's cache of its own evidence embeddings.

Folders are created with mode 0700 and secret files with mode 0600. No server process
(gateway, Prefect, workers) calls anything here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.redact import remember_secret
from dalrn_core.settings import setting

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a tenant or dispute id (model.Identifier)


def tenant_home() -> Path:
    """The tenant's folder (created, mode 0700)."""
    configured: Path | None = setting("tenant_home")  # DALRN_TENANT_HOME
    root = (configured or Path.cwd() / ".dalrn-tenant").resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def tenant_dir(*parts: str) -> Path:
    """A folder inside the tenant's folder (created, mode 0700)."""
    path = tenant_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _checked(value: str, field: str) -> str:
    if not _NAME.match(value):
        raise InputError.one(field, "must be an id (letters, digits, '.', '_', '-'; at most 64)")
    return value


def _secret_file(path: Path, size: int, generate: Callable[[], bytes]) -> bytes:
    """Read a secret file of `size` bytes, or create it from `generate()` with mode 0600; the key
    is remembered for redaction, so no error or log line of this process can quote it."""
    secret = _read_or_make(path, size, generate)
    remember_secret(secret)
    return secret


def _read_or_make(path: Path, size: int, generate: Callable[[], bytes]) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this tenant made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secret)
            return bytes(secret)
    data = path.read_bytes()
    if len(data) != size:
        raise IntegrityError(f"{path} holds {len(data)} bytes, not a {size}-byte key")
    return data


def ckks_key_path(tenant: str) -> Path:
    return tenant_dir("keys") / f"tenant-{_checked(tenant, 'tenant')}.ckks"


def envelope_key(tenant: str) -> X25519PrivateKey:
    """The tenant's X25519 private key for confidential evidence, created on first use."""
    from dalrn_core.evidence.envelope import private_bytes

    path = tenant_dir("keys") / f"envelope-{_checked(tenant, 'tenant')}.x25519"
    raw = _secret_file(path, 32, lambda: private_bytes(X25519PrivateKey.generate()))
    return X25519PrivateKey.from_private_bytes(raw)


def dispute_data_key(tenant: str, dispute_id: str) -> bytes:
    """The 256-bit data key of this tenant's confidential evidence in one dispute."""
    from dalrn_core.evidence.envelope import KEY_BYTES, new_data_key

    path = tenant_dir("disputes", _checked(tenant, "tenant")) / f"{_checked(dispute_id, 'dispute_id')}.key"
    return _secret_file(path, KEY_BYTES, new_data_key)


def embeddings_dir(model: str) -> Path:
    return tenant_dir("embeddings", model)
