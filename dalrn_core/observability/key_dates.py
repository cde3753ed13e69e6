"""When the signing keys in use were made, for the rotation alert (`DalrnKeyRotationDue`).

`dalrn_key_created_timestamp_seconds{key}` has one series per key: `jwt_signing` and
`receipt_signing` (the gateway sets them at each scrape, from its database) and `anchorer`
(set by each process that opens an anchoring client with that key: the dispute workers,
the served flows). A key file is written once and never changed, so its modification time
is when the key was made; a key held in a Prefect Secret block was made when the block was
last saved.
"""

from __future__ import annotations

from datetime import datetime

from dalrn_core.observability import metrics

JWT_SIGNING, RECEIPT_SIGNING, ANCHORER = "jwt_signing", "receipt_signing", "anchorer"
KEYS = (JWT_SIGNING, RECEIPT_SIGNING, ANCHORER)


def record_key_created(key: str, created: datetime | float | None) -> None:
    """Export when `key` (one of KEYS) was made; None (not known) exports nothing."""
    if key not in KEYS:
        raise ValueError(f"unknown key {key!r}; known: {', '.join(KEYS)}")
    if created is None:
        return
    metrics.KEY_CREATED.labels(key).set(created.timestamp() if isinstance(created, datetime) else float(created))
