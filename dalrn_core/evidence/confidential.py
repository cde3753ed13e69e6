"""The server's side of confidential evidence: ciphertexts by CID, checked, never opened.

A confidential evidence item reaches the server as the CID of an envelope its tenant
uploaded (`dalrn_core.evidence.envelope`). The server checks, without any key, that the
envelope is well formed and bound to this dispute, this item and the tenant whose party it
is, and keeps the CID; it has no key that opens it.

`ReaderKeys` is the server's directory of the tenants' X25519 *public* keys, so a tenant
can wrap a dispute's data key for the other party's tenant. It holds public keys only, as
JSON at ``data_dir()/keys/envelope-keys.json``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from dalrn_core.atomic import write_json_atomic
from dalrn_core.config import sub_dir
from dalrn_core.dispute.model import Dispute, Evidence
from dalrn_core.errors import InputError, IntegrityError, Problem
from dalrn_core.evidence.envelope import EnvelopeHeader, key_id_of, parse_public_key, read_header
from dalrn_core.evidence.store import ContentStore


def owner_tenant(dispute: Dispute, party: str) -> str:
    """The tenant that speaks for `party`: its own tenant, or the submitter's when it names none."""
    named = next((p.tenant for p in dispute.parties if p.id == party), None)
    return named or dispute.tenant


def envelope_problem(header: EnvelopeHeader, *, tenant: str, dispute_id: str, evidence_id: str) -> str | None:
    """Why an envelope does not belong to this item; None when it does."""
    expected = (tenant, dispute_id, evidence_id)
    if (header.tenant, header.dispute, header.evidence) != expected:
        return (f"is an envelope of {header.tenant}/{header.dispute}/{header.evidence}, "
                f"not of {'/'.join(expected)} (tenant/dispute/evidence)")
    return None


def check_envelope(data: bytes, *, tenant: str, dispute_id: str, evidence_id: str) -> EnvelopeHeader:
    """The header of an uploaded envelope, after checking it belongs to this item; InputError otherwise."""
    try:
        header = read_header(data)
    except IntegrityError as exc:
        raise InputError.one("ciphertext_cid", f"is not an evidence envelope ({exc})") from None
    problem = envelope_problem(header, tenant=tenant, dispute_id=dispute_id, evidence_id=evidence_id)
    if problem is not None:
        raise InputError.one("ciphertext_cid", problem)
    return header


def evidence_cids(dispute: Dispute, evidence: Sequence[Evidence], store: ContentStore) -> dict[str, str]:
    """Each item's CID in `store`: a public text stored now, a confidential envelope checked.

    Nothing is stored unless every confidential item's envelope is in the store and belongs
    to its item; every problem names its field (``evidence[i].ciphertext_cid``).
    """
    problems: list[Problem] = []
    for i, doc in enumerate(evidence):
        if not doc.confidential:
            continue
        field = f"evidence[{i}].ciphertext_cid"
        assert doc.ciphertext_cid is not None  # the model requires it of a confidential item
        if not store.has(doc.ciphertext_cid):
            problems.append(Problem(field, f"{doc.ciphertext_cid} is not in the content store: upload the "
                                           "envelope first (POST /v1/content)"))
            continue
        try:
            check_envelope(store.get(doc.ciphertext_cid), tenant=owner_tenant(dispute, doc.party),
                           dispute_id=dispute.id, evidence_id=doc.id)
        except InputError as exc:
            problems.append(Problem(field, exc.problems[0].rule))
    if problems:
        raise InputError(problems, subject="dispute")
    cids = {}
    for doc in evidence:
        if doc.text is not None:
            cids[doc.id] = store.put(doc.text.encode())
        else:
            assert doc.ciphertext_cid is not None
            cids[doc.id] = doc.ciphertext_cid
    return cids


@dataclass(frozen=True)
class ReaderKey:
    """A tenant's registered X25519 public key for confidential evidence."""

    tenant: str
    public_key: str  # base64 of the 32 raw bytes
    key_id: str
    registered_at: str

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.public_key)


class ReaderKeys:
    """The tenants' X25519 public keys (public data), persisted as JSON."""

    _lock = threading.Lock()

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else sub_dir("keys") / "envelope-keys.json"

    def _read(self) -> dict[str, ReaderKey]:
        if not self.path.exists():
            return {}
        return {item["tenant"]: ReaderKey(**item) for item in json.loads(self.path.read_text())}

    def register(self, tenant: str, public_key: bytes, now: datetime | None = None) -> ReaderKey:
        """Make `public_key` the tenant's current key (a new one replaces the old)."""
        parse_public_key(public_key)
        with self._lock:
            keys = self._read()
            known = keys.get(tenant)
            if known is not None and known.raw == public_key:
                return known
            record = ReaderKey(tenant, base64.b64encode(public_key).decode(), key_id_of(public_key),
                               (now or datetime.now(UTC)).isoformat())
            keys[tenant] = record
            write_json_atomic(self.path, [asdict(k) for k in keys.values()], indent=1, sort_keys=False)
            return record

    def get(self, tenant: str) -> ReaderKey | None:
        return self._read().get(tenant)
