"""Transaction intents: what was signed for a purpose (anchoring one root), on disk before it
is broadcast.

A process can die between broadcasting a transaction and seeing it mined. So before every
broadcast the sender writes, and fsyncs, the intent: chain id, sender, nonce and every signed
version of the transaction (raw bytes, hash, fees, when it went out). After a restart the
sender reads it back instead of signing anew: it waits for a version that is mined,
rebroadcasts the latest if the node forgot it, replaces it (same nonce, higher fees) if it
is stuck. Only when the nonce was taken by a transaction that is none of ours, so none of
ours can ever be mined, is the intent given up. Once a version is mined the intent records
its block; the caller removes the intent after it has recorded the result.

Each intent is one JSON file, replaced atomically and durably (`dalrn_core.durable`), so a
crash leaves the old intent or the new one, never half of one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dalrn_core.durable import remove_durably, write_json_durably
from dalrn_core.errors import IntegrityError

INTENT_VERSION = "dalrn.chain.intent/1"


@dataclass(frozen=True)
class SignedVersion:
    """One signed version of the transaction: its raw bytes (hex), hash and fees."""

    tx_hash: str
    raw: str
    max_fee_wei: int
    tip_wei: int
    sent_at: float  # Unix time of its broadcast: the stuck timer survives a restart


@dataclass
class TxIntent:
    """Every version signed for one nonce of one sender on one chain, and where it was mined."""

    chain_id: int
    sender: str
    nonce: int
    tx: dict[str, Any] = field(default_factory=dict)  # the fields every version shares (to, data, gas...)
    versions: list[SignedVersion] = field(default_factory=list)
    mined: dict[str, Any] | None = None  # {"tx_hash", "block_hash", "block_number"}

    @property
    def tx_hashes(self) -> list[str]:
        return [v.tx_hash for v in self.versions]


class IntentFile:
    """The intent kept at `path` (one purpose: one root on one chain and contract)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> TxIntent | None:
        """The recorded intent, or None; a file that does not parse is refused by name."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            if data.get("version") != INTENT_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            return TxIntent(chain_id=int(data["chain_id"]), sender=str(data["sender"]), nonce=int(data["nonce"]),
                            tx=dict(data["tx"]), versions=[SignedVersion(**v) for v in data["versions"]],
                            mined=data.get("mined"))
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"transaction intent {self.path} is unreadable ({exc}); it records what was "
                                 "broadcast: check the sender's transactions on chain before removing it") from None

    def save(self, intent: TxIntent) -> None:
        """Write `intent` durably; returns only once it is on disk."""
        write_json_durably(self.path, {"version": INTENT_VERSION, **asdict(intent)})

    def remove(self) -> None:
        """Forget the intent (its result is recorded elsewhere)."""
        remove_durably(self.path)
